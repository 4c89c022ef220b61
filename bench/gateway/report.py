"""The table and ratios of bench/gateway/run.sh, from its JSON lines."""
import json
import sys


def passed(d):
    return (d["errors"] <= 0.01 * d["sent"] and d["ok"] >= 0.95 * d["sent"]
            and d["achieved_rps"] >= 0.95 * d["rate"])


def main(path):
    rows = [json.loads(line) for line in open(path)]
    fixed = [r for r in rows if not r.get("probe")]
    probes = [r for r in rows if r.get("probe")]
    targets = [t for t in ("direct", "ingot", "litellm") if any(r["target"] == t for r in rows)]
    at = {(r["target"], r["stream"], r["rate"]): r for r in fixed}

    print("\nLatency (ms, from each request's scheduled time) and what the gateway adds over direct:")
    print(f"{'kind':<6} {'rate/s':>6}  " + "  ".join(f"{t + ' p50/p99':>20}" for t in targets)
          + "  " + "  ".join(f"{t + ' added p50/p99':>22}" for t in targets if t != "direct"))
    for stream in (False, True):
        for rate in sorted({r["rate"] for r in fixed}):
            line = f"{'sse' if stream else 'json':<6} {rate:>6.0f}  "
            cells, added = [], []
            base = at.get(("direct", stream, rate))
            for t in targets:
                r = at.get((t, stream, rate))
                if r is None:
                    cells.append(f"{'-':>20}")
                    continue
                err = f" ({r['errors']} err)" if r["errors"] else ""
                if r["p50_ms"] is None:
                    cells.append(f"{'all failed':>20}")
                    added.append(f"{'-':>22}")
                    continue
                cells.append(f"{r['p50_ms']:>8.2f}/{r['p99_ms']:<8.2f}{err}".rjust(20))
                if t != "direct" and base and base["p50_ms"] is not None:
                    added.append(f"{r['p50_ms'] - base['p50_ms']:>10.2f}/{r['p99_ms'] - base['p99_ms']:<10.2f}".rjust(22))
            print(line + "  ".join(cells) + "  " + "  ".join(added))

    sustain = {}
    for t in targets:
        ok = [r["rate"] for r in probes if r["target"] == t and passed(r)]
        sustain[t] = max(ok) if ok else 0
    print("\nHighest rate sustained (< 1% errors, >= 95% answered, 5 s per step):")
    for t in targets:
        print(f"  {t:<8} {sustain[t]:>8.0f} req/s")

    print("\nTargets:")
    r_in = at.get(("ingot", False, 1000.0))
    r_dir = at.get(("direct", False, 1000.0))
    if r_in and r_dir and r_in["p99_ms"] is not None:
        added = r_in["p99_ms"] - r_dir["p99_ms"]
        print(f"  p99 added by ingot at 1,000 req/s (JSON): {added:.3f} ms (target < 1 ms: "
              f"{'met' if added < 1.0 else 'not met'})")
    if sustain.get("litellm"):
        ratio = sustain["ingot"] / sustain["litellm"]
        print(f"  sustained rate ingot / LiteLLM: {ratio:.1f}x (target >= 10x: "
              f"{'met' if ratio >= 10 else 'not met'})")
        for stream in (False, True):
            a, b = at.get(("ingot", stream, 200.0)), at.get(("litellm", stream, 200.0))
            if a and b and a["p50_ms"] and b["p50_ms"]:
                print(f"  p50 at 200 req/s ({'sse' if stream else 'json'}), LiteLLM / ingot: "
                      f"{b['p50_ms'] / a['p50_ms']:.1f}x")


if __name__ == "__main__":
    main(sys.argv[1])
