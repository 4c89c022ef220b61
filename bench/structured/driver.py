#!/usr/bin/env python3
"""Structured-output benchmark driver (stdlib only).

  driver.py run --base-url URL --model ID [--max-tokens 128] [--repeat 3]
      Against one OpenAI-compatible server: decode tokens/s of a free-text stream and of a
      stream under a JSON schema (same prompt, greedy, both cut at --max-tokens), and the time
      to first token of a request with a new 30-property schema against the same request sent
      again (the compile time, where the server caches compiled schemas). JSON out.
  driver.py compare INGOT.json PEER.json
      Prints the constrained/free ratios of each and ingot / peer.
"""
import argparse
import json
import statistics
import sys
import time
import urllib.request

PROMPT = "List sixty numbers between 0 and 999, as JSON."
# Long enough that --max-tokens cuts it: both streams generate exactly max_tokens tokens.
LONG = {"type": "array", "minItems": 200, "maxItems": 200,
        "items": {"type": "integer", "minimum": 0, "maximum": 999}}


def thirty(tag):
    props = {f"{tag}_field_{i}": ({"type": "integer", "minimum": 0, "maximum": 100} if i % 3 == 0
                                  else {"type": "string", "maxLength": 12} if i % 3 == 1
                                  else {"enum": ["a", "b", "c"]}) for i in range(30)}
    return {"type": "object", "properties": props, "required": list(props),
            "additionalProperties": False}


def stream(base, model, max_tokens, extra):
    body = {"model": model, "messages": [{"role": "user", "content": PROMPT}],
            "max_tokens": max_tokens, "temperature": 0, "stream": True,
            "stream_options": {"include_usage": True}, **extra}
    req = urllib.request.Request(f"{base}/chat/completions", data=json.dumps(body).encode(),
                                 headers={"content-type": "application/json"})
    t0 = time.perf_counter()
    first = last = None
    tokens = None
    text = []
    with urllib.request.urlopen(req) as r:
        for line in r:
            line = line.decode().strip()
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            ev = json.loads(line[6:])
            if ev.get("usage"):
                tokens = ev["usage"]["completion_tokens"]
            for c in ev.get("choices", []):
                if c["delta"].get("content"):
                    now = time.perf_counter()
                    first = first or now
                    last = now
                    text.append(c["delta"]["content"])
    return {"ttft_s": first - t0, "decode_s": last - first, "tokens": tokens, "text": "".join(text)}


def schema_field(schema):
    return {"response_format": {"type": "json_schema",
                                "json_schema": {"name": "bench", "schema": schema}}}


def cmd_run(a):
    stream(a.base_url, a.model, 8, {})  # warm-up (and the grammar engine's token trie)
    stream(a.base_url, a.model, 8, schema_field(thirty("warm")))
    free, constrained = [], []
    for _ in range(a.repeat):
        r = stream(a.base_url, a.model, a.max_tokens, {"ignore_eos": True})
        free.append((r["tokens"] - 1) / r["decode_s"])
        r = stream(a.base_url, a.model, a.max_tokens, schema_field(LONG))
        assert r["text"].startswith("["), r["text"][:80]
        constrained.append((r["tokens"] - 1) / r["decode_s"])
    fresh, again, plain = [], [], []
    for i in range(max(a.repeat, 5)):
        s = schema_field(thirty(f"r{i}"))
        plain.append(stream(a.base_url, a.model, 4, {})["ttft_s"])
        fresh.append(stream(a.base_url, a.model, 4, s)["ttft_s"])
        again.append(stream(a.base_url, a.model, 4, s)["ttft_s"])
    out = {"model": a.model, "max_tokens": a.max_tokens,
           "free_tok_s": statistics.median(free),
           "constrained_tok_s": statistics.median(constrained),
           "ttft_new_schema_s": statistics.median(fresh),
           "ttft_same_schema_s": statistics.median(again),
           "ttft_free_s": statistics.median(plain)}
    out["constrained_over_free"] = out["constrained_tok_s"] / out["free_tok_s"]
    # What a new schema adds to the first token: compiling it (and its first masks).
    out["compile_s"] = out["ttft_new_schema_s"] - out["ttft_free_s"]
    print(json.dumps(out))


def cmd_compare(a):
    ours, peer = (json.load(open(p)) for p in (a.ingot, a.peer))
    print(f"{'':28} {'ingot':>10} {'peer':>10} {'ingot/peer':>11}")
    for k in ("free_tok_s", "constrained_tok_s", "constrained_over_free",
              "ttft_free_s", "ttft_new_schema_s", "ttft_same_schema_s"):
        print(f"{k:28} {ours[k]:10.3f} {peer[k]:10.3f} {ours[k] / peer[k]:11.2f}")
    print(f"constrained decoding costs {100 * (1 - ours['constrained_over_free']):.1f}% in ingot, "
          f"{100 * (1 - peer['constrained_over_free']):.1f}% in the peer; "
          f"a new 30-property schema adds {1000 * ours['compile_s']:.1f} ms to the first token "
          f"in ingot, {1000 * peer['compile_s']:.1f} ms in the peer")


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("--base-url", required=True)
    r.add_argument("--model", required=True)
    r.add_argument("--max-tokens", type=int, default=128)
    r.add_argument("--repeat", type=int, default=3)
    c = sub.add_parser("compare")
    c.add_argument("ingot")
    c.add_argument("peer")
    a = p.parse_args()
    {"run": cmd_run, "compare": cmd_compare}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())
