#!/usr/bin/env python3
"""Chat benchmark drivers (stdlib only, except llama-cpp-python for `llamacpp`).

  driver.py llamacpp --model M.gguf --tokens prompt.json [--threads 2] [--n-predict 128] [--repeat 3]
      llama.cpp in-process through llama-cpp-python on exactly the engine's prompt tokens:
      prefill = eval(prompt) + first greedy token; decode = per extra greedy token. JSON out.
  driver.py http --base-url http://127.0.0.1:8000/v1 --model ID [--streams 1,4,8,16] [--max-tokens 128]
                 [--no-warmup]
      Any OpenAI-compatible server (ingot, llama-server, vLLM): streams concurrent chat
      completions, reports TTFT (p50, p99) and aggregate completion tokens/s per concurrency. JSON out.
      First one untimed one-token request with its own prompt, so that no server's first
      measured request pays for paging its weights in (llama-server warms up at start itself).
  driver.py texts --base-url URL --model ID [--prompts 16] [--max-tokens 48] [--together]
      Seeded completions (temperature 0.8, seed 7) of N prompts sharing a system prompt, one
      after the other or all at once; prints their texts as JSON.
  driver.py compare-texts REFERENCE.json OTHER.json
      How many of OTHER's texts differ from REFERENCE's.
  driver.py compare ENGINE.json LLAMACPP.json
      Prints the ratios engine / llama.cpp.
  driver.py compare-http INGOT.json PEER.json [INGOT2.json PEER2.json ...]
      Prints aggregate tokens/s ratios and TTFT p50/p99 of two `http` runs. Given several
      pairs (rounds run alternately), prints each round's ratios and their medians.
"""
import argparse
import json
import statistics
import sys
import threading
import time
import urllib.request


def cmd_llamacpp(a):
    from llama_cpp import Llama  # noqa: PLC0415  (optional dependency)
    import llama_cpp

    tokens = json.load(open(a.tokens))
    llm = Llama(model_path=a.model, n_ctx=2048, n_batch=512, n_ubatch=512, n_threads=a.threads,
                n_threads_batch=a.threads, verbose=False)

    # Llama.generate() (greedy: top_k=1, temp=0) never stops at EOS by itself. Plain
    # Llama.eval() outside generate() crashes in llama-cpp-python 0.3.36, so generate() it is.
    def run(n):
        llm.reset()  # forget the previous run: no prompt-cache reuse
        gen = llm.generate(tokens, top_k=1, top_p=1.0, min_p=0.0, temp=0.0, repeat_penalty=1.0)
        t0 = time.perf_counter()
        next(gen)
        t1 = time.perf_counter()
        for _ in range(n):
            next(gen)
        t2 = time.perf_counter()
        gen.close()
        return t1 - t0, (t2 - t1) / max(n, 1)

    run(1)  # warm-up
    prefill, decode = float("inf"), float("inf")
    for _ in range(a.repeat):
        p, d = run(a.n_predict)
        prefill, decode = min(prefill, p), min(decode, d)
    print(json.dumps({
        "impl": f"llama-cpp-python {llama_cpp.__version__}",
        "prompt_tokens": len(tokens),
        "prefill_s": prefill,
        "prefill_tok_s": len(tokens) / prefill,
        "decode_tok_s": 1.0 / decode,
        "n_predict": a.n_predict,
    }))


def stream_one(base, model, prompt, max_tokens, api_key, out):
    body = json.dumps({"model": model, "messages": [{"role": "user", "content": prompt}],
                       "max_tokens": max_tokens, "temperature": 0, "stream": True,
                       "ignore_eos": True, "stream_options": {"include_usage": True}}).encode()
    req = urllib.request.Request(base.rstrip("/") + "/chat/completions", data=body, method="POST",
                                 headers={"Content-Type": "application/json",
                                          "Authorization": f"Bearer {api_key}"})
    t0 = time.perf_counter()
    ttft, tokens, chunks = None, 0, 0
    with urllib.request.urlopen(req, timeout=600) as resp:
        for raw in resp:
            line = raw.decode().strip()
            if not line.startswith("data:"):
                continue
            data = line[5:].strip()
            if data == "[DONE]":
                break
            ev = json.loads(data)
            if ev.get("usage"):
                tokens = ev["usage"].get("completion_tokens", tokens)
            for ch in ev.get("choices", []):
                if ch.get("delta", {}).get("content"):
                    chunks += 1
                    if ttft is None:
                        ttft = time.perf_counter() - t0
    out.append({"ttft": ttft or 0.0, "tokens": tokens or chunks, "total": time.perf_counter() - t0})


def percentile(xs, p):
    """Nearest-rank percentile of a sorted list."""
    if not xs:
        return None
    k = max(0, min(len(xs) - 1, int(round(p / 100 * len(xs) + 0.5)) - 1))
    return xs[k]


def cmd_http(a):
    prompt = "Write a detailed essay about the history of computing."
    if not a.no_warmup:
        stream_one(a.base_url, a.model, "Warm-up: say hello.", 1, a.api_key, [])
    results = []
    for n in [int(s) for s in a.streams.split(",")]:
        out = []
        t0 = time.perf_counter()
        # --distinct-prompts: each stream's prompt starts differently, so no server can reuse
        # another stream's prompt from its KV cache (llama-server does when they match).
        prompts = [f"Essay {i + 1} of {n}. {prompt}" if a.distinct_prompts else prompt for i in range(n)]
        threads = [threading.Thread(target=stream_one, args=(a.base_url, a.model, p, a.max_tokens, a.api_key, out))
                   for p in prompts]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.perf_counter() - t0
        ttfts = sorted(r["ttft"] for r in out)
        results.append({"streams": n, "completed": len(out),
                        "ttft_p50_s": percentile(ttfts, 50), "ttft_p99_s": percentile(ttfts, 99),
                        "aggregate_tok_s": sum(r["tokens"] for r in out) / wall, "wall_s": wall})
    print(json.dumps({"base_url": a.base_url, "model": a.model, "results": results}))


SYSTEM = ("You are a helpful assistant for a public library. Answer in two or three plain sentences, "
          "in a friendly tone, without lists or headings. If a question is unclear, answer the most "
          "likely reading of it. Prefer concrete facts to general statements, mention one surprising "
          "detail when you know one, and never invent titles, names or numbers. Visitors range from "
          "children doing homework to retired engineers, so keep the words simple but the facts exact. ") * 2
TOPICS = ["rivers", "bread", "comets", "glass", "owls", "tides", "copper", "moss", "kites",
          "salt", "bees", "clocks", "deserts", "violins", "maps", "ice"]


def complete(base, model, topic, max_tokens, out, i):
    body = json.dumps({"model": model, "max_tokens": max_tokens, "temperature": 0.8, "seed": 7,
                       "messages": [{"role": "system", "content": SYSTEM},
                                    {"role": "user", "content": f"Tell me something about {topic}."}]})
    req = urllib.request.Request(base.rstrip("/") + "/chat/completions", data=body.encode(),
                                 method="POST", headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=600) as resp:
        out[i] = json.load(resp)["choices"][0]["message"]["content"]


def cmd_texts(a):
    topics = [TOPICS[i % len(TOPICS)] + ("" if i < len(TOPICS) else f" ({i})") for i in range(a.prompts)]
    out = [None] * len(topics)
    t0 = time.perf_counter()
    if a.together:
        threads = [threading.Thread(target=complete, args=(a.base_url, a.model, t, a.max_tokens, out, i))
                   for i, t in enumerate(topics)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    else:
        for i, t in enumerate(topics):
            complete(a.base_url, a.model, t, a.max_tokens, out, i)
    print(json.dumps({"texts": out, "wall_s": time.perf_counter() - t0}))


def cmd_compare_texts(a):
    ref, other = json.load(open(a.reference))["texts"], json.load(open(a.other))
    differ = sum(x != y for x, y in zip(ref, other["texts"]))
    print(f"{differ} of {len(ref)} differ ({other['wall_s']:.2f} s)")


def cmd_compare_http(a):
    if len(a.runs) < 2 or len(a.runs) % 2:
        sys.exit("compare-http takes INGOT.json PEER.json pairs")
    rounds = [(json.load(open(i))["results"], json.load(open(p))["results"])
              for i, p in zip(a.runs[::2], a.runs[1::2])]
    head = (f"{'streams':>7} | {'ingot tok/s':>11} {'peer tok/s':>10} {'ratio':>6} | "
            f"{'TTFT p50 ingot/peer (s)':>24} | {'TTFT p99 ingot/peer (s)':>24}")
    print(head if len(rounds) == 1 else "round " + head)
    for n, (e, l) in enumerate(rounds, 1):
        for x, y in zip(e, l):
            print(("" if len(rounds) == 1 else f"{n:>5} ") +
                  f"{x['streams']:>7} | {x['aggregate_tok_s']:>11.1f} {y['aggregate_tok_s']:>10.1f} "
                  f"{x['aggregate_tok_s'] / y['aggregate_tok_s']:>6.3f} | "
                  f"{x['ttft_p50_s']:>11.3f} / {y['ttft_p50_s']:<10.3f} | {x['ttft_p99_s']:>11.3f} / {y['ttft_p99_s']:<10.3f}")
    if len(rounds) > 1:
        print(f"median of {len(rounds)} rounds, per stream count:")
        for k, x in enumerate(rounds[0][0]):
            ratio = statistics.median(e[k]["aggregate_tok_s"] / l[k]["aggregate_tok_s"] for e, l in rounds)
            p50e = statistics.median(e[k]["ttft_p50_s"] for e, _ in rounds)
            p50p = statistics.median(l[k]["ttft_p50_s"] for _, l in rounds)
            print(f"{x['streams']:>7} streams: tok/s ratio {ratio:.3f}, TTFT p50 {p50e:.3f} / {p50p:.3f} s")


def cmd_compare(a):
    e, l = json.load(open(a.engine)), json.load(open(a.llamacpp))
    print(f"prompt tokens: {e['prompt_tokens']} (engine) / {l['prompt_tokens']} (llama.cpp)")
    print(f"{'':10} {'ingot-engine':>14} {l['impl']:>26} {'ratio':>7}")
    for key, label in (("prefill_tok_s", "prefill"), ("decode_tok_s", "decode")):
        print(f"{label:10} {e[key]:>10.1f} t/s {l[key]:>22.1f} t/s {e[key] / l[key]:>7.3f}")
    if e.get("streams", 1) > 1:
        print(f"engine, {e['streams']} concurrent streams: {e['aggregate_tok_s']:.1f} completion t/s "
              "(wall time including their prefill)")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("llamacpp")
    s.add_argument("--model", required=True)
    s.add_argument("--tokens", required=True)
    s.add_argument("--threads", type=int, default=2)
    s.add_argument("--n-predict", type=int, default=128)
    s.add_argument("--repeat", type=int, default=3)
    s = sub.add_parser("http")
    s.add_argument("--base-url", required=True)
    s.add_argument("--model", required=True)
    s.add_argument("--api-key", default="none")
    s.add_argument("--streams", default="1,4,8,16")
    s.add_argument("--max-tokens", type=int, default=128)
    s.add_argument("--distinct-prompts", action="store_true")
    s.add_argument("--no-warmup", action="store_true")
    s = sub.add_parser("texts")
    s.add_argument("--base-url", required=True)
    s.add_argument("--model", required=True)
    s.add_argument("--prompts", type=int, default=16)
    s.add_argument("--max-tokens", type=int, default=48)
    s.add_argument("--together", action="store_true")
    s = sub.add_parser("compare-texts")
    s.add_argument("reference")
    s.add_argument("other")
    s = sub.add_parser("compare")
    s.add_argument("engine")
    s.add_argument("llamacpp")
    s = sub.add_parser("compare-http")
    s.add_argument("runs", nargs="+", metavar="INGOT.json PEER.json")
    a = p.parse_args()
    {"llamacpp": cmd_llamacpp, "http": cmd_http, "compare": cmd_compare,
     "compare-http": cmd_compare_http, "texts": cmd_texts,
     "compare-texts": cmd_compare_texts}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())
