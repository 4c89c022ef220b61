#!/usr/bin/env python3
"""Ranking benchmark driver: how well, and how fast, a server orders passages for a query.

  driver.py --base-url http://127.0.0.1:8000 --methods M1,M2,... [--data relevance.json]
            [--limit N] [--seed 0] [--concurrency 4] [--json-out FILE] [--api-key KEY] [--misses]

Each item of the relevance set (relevance.json next to this file) is one query, one passage
that answers it and five hard negatives on the same topic. The six passages of a query are
shuffled with a seed (the same order for every method), each method scores them, and the rank
of the answering passage gives MRR@10 and recall@1 (ties count against the method: a tie with
a negative ranks the answer below it). pairs/s is query-passage pairs scored per second of
wall clock over the whole set, after one untimed warm-up request.

Methods:
  ranking:MODEL    POST /v1/ranking (NIM reranker API), one request per query.
  biencoder:MODEL  POST /v1/embeddings: the query (input_type query) and its passages
                   (input_type passage) in two requests; ranked by cosine similarity.
  llm:MODEL        POST /v1/chat/completions per pair, pointwise yes/no, max_tokens 1,
                   temperature 0, top_logprobs 20; score = logsumexp(logprobs of top tokens
                   that read "yes") - logsumexp(those that read "no"), -30 for a missing side.
                   The pairs of one query go out concurrently (--concurrency threads).

--base-url may end in /v1 or not. Prints a table; --json-out writes the same numbers plus
per-query ranks. Exits non-zero when any request fails. Uses `requests` where importable
(keep-alive), else urllib.
"""
import argparse
import concurrent.futures
import json
import math
import os
import random
import sys
import threading
import time

try:
    import requests
except ImportError:  # stdlib fallback
    requests = None
    import urllib.error
    import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
MISSING = -30.0
SYSTEM = ("You judge search results. Given a question and a passage, say whether the passage "
          "answers the question. Reply with one word: yes or no.")
USER = ("Question: {q}\n\nPassage: {p}\n\n"
        "Does the passage answer the question? Answer yes or no.")


class RequestFailed(Exception):
    pass


class Client:
    """JSON POSTs to one server; one keep-alive session per thread."""

    def __init__(self, base, api_key, timeout):
        base = base.rstrip("/")
        self.base = base[:-3] if base.endswith("/v1") else base
        self.headers = {"content-type": "application/json"}
        if api_key:
            self.headers["authorization"] = f"Bearer {api_key}"
        self.timeout = timeout
        self.local = threading.local()

    def post(self, path, body):
        url = f"{self.base}/v1/{path}"
        data = json.dumps(body).encode()
        if requests is not None:
            s = getattr(self.local, "session", None)
            if s is None:
                s = self.local.session = requests.Session()
            try:
                r = s.post(url, data=data, headers=self.headers, timeout=self.timeout)
            except requests.RequestException as e:
                raise RequestFailed(f"POST {url}: {e}") from e
            if r.status_code != 200:
                raise RequestFailed(f"POST {url}: HTTP {r.status_code}: {r.text[:500]}")
            return r.json()
        req = urllib.request.Request(url, data=data, headers=self.headers, method="POST")
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as r:
                return json.load(r)
        except urllib.error.HTTPError as e:
            raise RequestFailed(f"POST {url}: HTTP {e.code}: {e.read()[:500]!r}") from e
        except (urllib.error.URLError, OSError) as e:
            raise RequestFailed(f"POST {url}: {e}") from e


# --- scorers: each returns one score per passage (higher = more relevant), or for the
# ranking endpoint the server's order. ---

def cosine(a, b):
    dot = sum(x * y for x, y in zip(a, b))
    na = math.sqrt(sum(x * x for x in a))
    nb = math.sqrt(sum(y * y for y in b))
    return dot / (na * nb) if na and nb else 0.0


def embed(client, model, texts, input_type):
    out = client.post("embeddings", {"model": model, "input": texts, "input_type": input_type,
                                     "encoding_format": "float"})
    data = sorted(out["data"], key=lambda d: d["index"])
    if len(data) != len(texts):
        raise RequestFailed(f"embeddings: {len(data)} vectors for {len(texts)} inputs")
    return [d["embedding"] for d in data]


def score_biencoder(client, model, query, passages, _pool):
    (qv,) = embed(client, model, [query], "query")
    pvs = embed(client, model, passages, "passage")
    return {"scores": [cosine(qv, pv) for pv in pvs]}


def score_ranking(client, model, query, passages, _pool):
    out = client.post("ranking", {"model": model, "query": {"text": query},
                                  "passages": [{"text": p} for p in passages],
                                  "truncate": "END"})
    ranks = out.get("rankings")
    if (not isinstance(ranks, list)
            or sorted(r["index"] for r in ranks) != list(range(len(passages)))):
        raise RequestFailed(
            f"ranking: 'rankings' is not a permutation of the passages: {out!r:.300}")
    logits = [r["logit"] for r in ranks]
    if any(a < b for a, b in zip(logits, logits[1:])):
        raise RequestFailed(f"ranking: rankings not sorted by logit desc: {logits}")
    scores = [0.0] * len(passages)
    for r in ranks:
        scores[r["index"]] = r["logit"]
    return {"scores": scores, "order": [r["index"] for r in ranks]}


def logsumexp(xs):
    if not xs:
        return MISSING
    m = max(xs)
    return m + math.log(sum(math.exp(x - m) for x in xs))


def yes_no(client, model, query, passage):
    out = client.post("chat/completions", {
        "model": model,
        "messages": [{"role": "system", "content": SYSTEM},
                     {"role": "user", "content": USER.format(q=query, p=passage)}],
        "max_tokens": 1, "temperature": 0, "logprobs": True, "top_logprobs": 20})
    try:
        first = out["choices"][0]["logprobs"]["content"][0]
        top = first["top_logprobs"]
    except (KeyError, IndexError, TypeError) as e:
        raise RequestFailed(f"chat: no top_logprobs in the response: {out!r:.300}") from e
    seen = {t["token"]: t["logprob"] for t in top}
    seen.setdefault(first["token"], first["logprob"])
    yes = [lp for tok, lp in seen.items() if tok.strip().lower() == "yes"]
    no = [lp for tok, lp in seen.items() if tok.strip().lower() == "no"]
    return logsumexp(yes) - logsumexp(no), not yes and not no


def score_llm(client, model, query, passages, pool):
    futs = [pool.submit(yes_no, client, model, query, p) for p in passages]
    res = [f.result() for f in futs]
    return {"scores": [s for s, _ in res], "no_signal": sum(1 for _, blank in res if blank)}


SCORERS = {"ranking": score_ranking, "biencoder": score_biencoder, "llm": score_llm}


def gold_rank(result, gold):
    """1-based rank of passage `gold`; ties with it count as ranked above it."""
    if "order" in result:
        return result["order"].index(gold) + 1
    s = result["scores"]
    return 1 + sum(1 for i, x in enumerate(s) if i != gold and x >= s[gold])


def load_items(path, limit, seed):
    items = json.load(open(path))
    if limit:
        items = items[:limit]
    out = []
    for qi, it in enumerate(items):
        passages = [it["relevant"], *it["distractors"]]
        order = list(range(len(passages)))
        random.Random(f"{seed}:{qi}").shuffle(order)
        out.append({"query": it["query"], "passages": [passages[i] for i in order],
                    "gold": order.index(0)})
    return out


def run_method(client, spec, items, concurrency, show_misses):
    kind, sep, model = spec.partition(":")
    if not sep or kind not in SCORERS or not model:
        raise SystemExit(f"bad method {spec!r}: want ranking:MODEL, biencoder:MODEL or llm:MODEL")
    scorer = SCORERS[kind]
    with concurrent.futures.ThreadPoolExecutor(max(1, concurrency)) as pool:
        scorer(client, model, items[0]["query"], items[0]["passages"][:2], pool)  # warm-up
        per_query, rr, hits, pairs, no_signal = [], 0.0, 0, 0, 0
        t0 = time.perf_counter()
        for it in items:
            res = scorer(client, model, it["query"], it["passages"], pool)
            rank = gold_rank(res, it["gold"])
            rr += 1.0 / rank if rank <= 10 else 0.0
            hits += rank == 1
            pairs += len(it["passages"])
            no_signal += res.get("no_signal", 0)
            per_query.append({"query": it["query"], "rank": rank,
                              "scores": [round(x, 4) for x in res["scores"]], "gold": it["gold"]})
            if show_misses and rank > 1:
                best = max(range(len(res["scores"])), key=lambda i: res["scores"][i])
                print(f"  [{spec}] rank {rank}: {it['query']}\n      top: {it['passages'][best]}",
                      file=sys.stderr)
        seconds = time.perf_counter() - t0
    n = len(items)
    out = {"method": spec, "kind": kind, "model": model, "queries": n, "mrr10": rr / n,
           "r1": hits / n, "pairs": pairs, "seconds": seconds, "pairs_per_s": pairs / seconds,
           "per_query": per_query}
    if kind == "llm":
        out["pairs_without_yes_no"] = no_signal
    return out


def table(results):
    lines = [f"{'method':<46} {'queries':>7} {'MRR@10':>7} {'R@1':>6} {'pairs':>6} "
             f"{'seconds':>8} {'pairs/s':>8}"]
    for r in results:
        lines.append(f"{r['method']:<46} {r['queries']:>7} {r['mrr10']:>7.3f} {r['r1']:>6.3f} "
                     f"{r['pairs']:>6} {r['seconds']:>8.1f} {r['pairs_per_s']:>8.1f}")
    return "\n".join(lines)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--base-url", required=True)
    p.add_argument("--methods", required=True, help="comma-separated kind:model list")
    p.add_argument("--data", default=os.path.join(HERE, "relevance.json"))
    p.add_argument("--limit", type=int, default=0, help="only the first N queries (0: all)")
    p.add_argument("--seed", type=int, default=0, help="passage shuffle seed")
    p.add_argument("--concurrency", type=int, default=4, help="llm: pairs in flight per query")
    p.add_argument("--json-out")
    p.add_argument("--api-key", default=os.environ.get("INGOT_API_KEY"))
    p.add_argument("--timeout", type=float, default=600)
    p.add_argument("--misses", action="store_true", help="print the queries a method misses")
    a = p.parse_args()

    client = Client(a.base_url, a.api_key, a.timeout)
    items = load_items(a.data, a.limit, a.seed)
    methods = [m.strip() for m in a.methods.split(",") if m.strip()]
    print(f"{len(items)} queries x {len(items[0]['passages'])} passages, seed {a.seed}, "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}", file=sys.stderr)
    results = []
    try:
        for m in methods:
            print(f"== {m}", file=sys.stderr)
            r = run_method(client, m, items, a.concurrency, a.misses)
            results.append(r)
            print(f"   MRR@10 {r['mrr10']:.3f}  R@1 {r['r1']:.3f}  {r['pairs_per_s']:.1f} pairs/s"
                  + (f"  ({r['pairs_without_yes_no']} pairs without a yes/no token)"
                     if r.get("pairs_without_yes_no") else ""), file=sys.stderr)
    except RequestFailed as e:
        print(f"request failed: {e}", file=sys.stderr)
        return 1
    finally:
        if results:
            print(table(results))
        if a.json_out and results:
            with open(a.json_out, "w") as f:
                json.dump({"base_url": client.base, "data": os.path.abspath(a.data),
                           "seed": a.seed, "limit": a.limit, "concurrency": a.concurrency,
                           "cpus": os.cpu_count(), "load_average_end": os.getloadavg()[0],
                           "complete": len(results) == len(methods),
                           "results": results}, f, indent=1)
    print(f"load average at the end: {os.getloadavg()[0]:.2f}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
