#!/usr/bin/env python3
"""HTTP driver of llama_cpp.sh: posts the 512 benchmark sentences to an OpenAI-style
/v1/embeddings in sequential requests of 1 and of 32 inputs, and as single-sentence requests
from 16 concurrent clients (what dynamic batching is for); after a warm-up pass it keeps the
best of ROUNDS passes and writes sentences/s and the vectors; `compare` prints the ratio of
two runs and the worst cosine between their vectors. Standard library only."""
import argparse
import concurrent.futures
import json
import math
import os
import sys
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from sentences import sentences  # noqa: E402

MODES = ("1", "32", "1x16")  # batch size, or batch size x concurrent clients


def post(base, model, texts):
    body = json.dumps({"model": model, "input": texts, "input_type": "query",
                       "encoding_format": "float"}).encode()
    req = urllib.request.Request(f"{base}/embeddings", body, {"content-type": "application/json"})
    with urllib.request.urlopen(req) as r:
        data = json.load(r)["data"]
    return [d["embedding"] for d in sorted(data, key=lambda d: d["index"])]


def one_pass(base, model, sents, mode):
    batch, _, clients = mode.partition("x")
    batch, clients = int(batch), int(clients or 1)
    groups = [sents[i:i + batch] for i in range(0, len(sents), batch)]
    t = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(clients) as pool:
        results = list(pool.map(lambda g: post(base, model, g), groups))
    rate = len(sents) / (time.perf_counter() - t)
    return rate, [v for r in results for v in r]


def run(args):
    sents = sentences()
    rounds = int(os.environ.get("ROUNDS", "3"))
    result = {"rates": {}, "vectors": None}
    for m in MODES:
        one_pass(args.base_url, args.model, sents, m)  # warm-up
        best = 0.0
        for _ in range(rounds):
            rate, vecs = one_pass(args.base_url, args.model, sents, m)
            best = max(best, rate)
        result["rates"][m] = best
        result["vectors"] = vecs
        print(f"batch {m:>4}: {best:8.1f} sent/s", file=sys.stderr)
    with open(args.out, "w") as f:
        json.dump(result, f)


def cos(a, b):
    d = sum(x * y for x, y in zip(a, b))
    return d / math.sqrt(sum(x * x for x in a) * sum(y * y for y in b))


def compare(args):
    ingot, peer = (json.load(open(p)) for p in (args.ingot, args.peer_json))
    worst = min(cos(a, b) for a, b in zip(ingot["vectors"], peer["vectors"]))
    print(f"batch | ingot sent/s | {args.peer} sent/s | ratio | min cosine")
    for m in MODES:
        i, p = ingot["rates"][m], peer["rates"][m]
        print(f"{m:>5} | {i:12.1f} | {p:{len(args.peer) + 7}.1f} | {i / p:5.2f}x | {worst:.5f}")


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("--base-url", required=True)
    r.add_argument("--model", required=True)
    r.add_argument("--out", required=True)
    c = sub.add_parser("compare")
    c.add_argument("ingot")
    c.add_argument("peer_json")
    c.add_argument("--peer", default="peer")
    args = ap.parse_args()
    run(args) if args.cmd == "run" else compare(args)


if __name__ == "__main__":
    main()
