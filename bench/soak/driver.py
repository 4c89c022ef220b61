#!/usr/bin/env python3
"""The soak driver: mixed traffic against one running `ingot serve` for a fixed time.

Started by bench/soak/run.sh (which starts the server and passes its address and pid); see
the header of run.sh for what it sends and what it checks. Python 3 standard library only.

    driver.py --base http://127.0.0.1:PORT --pid PID --seconds 1800 --out results.json
              [--server-log PATH] [--workers chat=8,embed=3,...]
"""
import argparse
import datetime
import os
import sys
import threading
import time

# The folder of this script is on sys.path when it is run by path (as run.sh does).
from client import Client, Recorder
from metrics import gauges, loadavg, parse_prometheus, read_proc
from report import build_report, markdown, write_json
from traffic import Traffic


class Soak(Traffic):
    """One soak run: the configuration, the worker threads (from Traffic), the monitor and the
    drain; run() returns the report (report.build_report)."""

    def __init__(self, args):
        u = args.base.split("//", 1)[-1].rstrip("/")
        self.host, port = u.rsplit(":", 1)
        self.port = int(port)
        self.pid = args.pid
        self.seconds = args.seconds
        self.rec = Recorder()
        self.stop = threading.Event()
        self.samples = []      # per-minute samples of the server process and gauges
        self.fine = []         # (second, VmRSS KiB) every 5 s
        self.workers = dict(chat=8, embed=3, gen3d=1, vision=1, rankcomp=1, bad=1, disconnect=1)
        for kv in filter(None, (args.workers or "").split(",")):
            k, v = kv.split("=")
            self.workers[k] = int(v)
        self.bad_pause = args.bad_pause
        self.disconnect_pause = args.disconnect_pause

    # ---- the server's own view -------------------------------------------------------------
    def scrape(self):
        c = Client(self.host, self.port, self.rec, timeout=30)
        t = time.monotonic()
        try:
            status, data, _ = c.request("GET", "/metrics")
        finally:
            c.close()
        self.rec.add("metrics", "/metrics", t, status, time.monotonic() - t, status == 200)
        return parse_prometheus(data.decode())

    def monitor(self):
        """Every 5 s: the server's VmRSS and its gauges (GET /metrics); at each minute's end a
        sample of everything."""
        t0 = self.rec.t0
        minute = 0
        while True:
            now = time.monotonic() - t0
            p = read_proc(self.pid)
            g = gauges(self.scrape())
            g["in_flight"] -= 1  # the scrape itself
            if "VmRSS" in p:
                self.fine.append((round(now, 1), p["VmRSS"], g["in_flight"], g["queue_depth"]))
            if now >= minute * 60:
                self.samples.append(dict(minute=minute, t=round(now, 1), rss_kib=p.get("VmRSS"),
                                         threads=p.get("Threads"), fds=p.get("fds"),
                                         load1=loadavg()[0], **g))
                minute += 1
            if self.stop.is_set():
                return
            self.stop.wait(5)

    # ---- the run ---------------------------------------------------------------------------
    def run(self):
        meta = dict(date=datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
                    seconds=self.seconds, cpus=os.cpu_count(), loadavg_start=loadavg(),
                    base=f"http://{self.host}:{self.port}", pid=self.pid, workers=self.workers,
                    bad_pause_s=self.bad_pause, disconnect_pause_s=self.disconnect_pause)
        self.rec.sent = 0
        self.rec.sent_by_path.clear()
        before = self.scrape()
        rss_before = read_proc(self.pid)
        try:
            self.log_offset = os.path.getsize(self.server_log) if self.server_log else 0
        except OSError:
            self.log_offset = 0
        kinds = [("chat", self.chat_worker), ("embed", self.embed_worker),
                 ("gen3d", self.gen3d_worker), ("vision", self.vision_worker),
                 ("rankcomp", self.rankcomp_worker), ("bad", self.bad_worker),
                 ("disconnect", self.disconnect_worker)]
        threads = []
        for name, fn in kinds:
            for i in range(self.workers.get(name, 0)):
                th = threading.Thread(target=fn, args=(i,), name=f"{name}-{i}", daemon=True)
                threads.append(th)
        mon = threading.Thread(target=self.monitor, name="monitor", daemon=True)
        self.rec.t0 = time.monotonic()
        mon.start()
        for th in threads:
            th.start()
        end = self.rec.t0 + self.seconds
        while time.monotonic() < end:
            time.sleep(min(5, max(0, end - time.monotonic())))
            el = int(time.monotonic() - self.rec.t0)
            if el % 60 < 5:
                print(f"[soak] {el:5d} s  requests {len(self.rec.rows)}  "
                      f"unexpected {sum(self.rec.notes.values())}", file=sys.stderr, flush=True)
        self.stop.set()
        t_stop = time.monotonic()
        for th in threads:
            th.join(timeout=600)
        stuck = [th.name for th in threads if th.is_alive()]
        mon.join(timeout=60)
        meta["load_stopped_after_s"] = round(t_stop - self.rec.t0, 1)
        meta["workers_finished_after_s"] = round(time.monotonic() - self.rec.t0, 1)
        meta["stuck_workers"] = stuck
        rss_after_load = read_proc(self.pid)
        # Drain: wait until nothing is in flight (the scrape itself is) and nothing queued.
        drain_t = time.monotonic()
        while True:
            m = self.scrape()
            g = gauges(m)
            if (g["in_flight"] == 1 and g["queue_depth"] == 0 and g["active_sequences"] == 0) \
                    or time.monotonic() - drain_t > 120:
                break
            time.sleep(1)
        time.sleep(2)
        after = self.scrape()  # the last request the driver sends
        meta["drained_in_s"] = round(time.monotonic() - drain_t, 1)
        meta["loadavg_end"] = loadavg()
        rss_end = read_proc(self.pid)
        return build_report(self, meta, before, after, rss_before, rss_after_load, rss_end)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--base", required=True)
    ap.add_argument("--pid", type=int, required=True)
    ap.add_argument("--seconds", type=float, default=1800)
    ap.add_argument("--out", required=True)
    ap.add_argument("--server-log")
    ap.add_argument("--workers", help="e.g. chat=8,embed=3,gen3d=1,vision=1,rankcomp=1,bad=1,disconnect=1")
    ap.add_argument("--bad-pause", type=float, default=0.5, help="seconds between bad requests")
    ap.add_argument("--disconnect-pause", type=float, default=1.0, help="seconds between disconnects")
    args = ap.parse_args()
    soak = Soak(args)
    soak.server_log = args.server_log
    report = soak.run()
    write_json(report, args.out)
    print(markdown(report))
    required = {"no 5xx", "memory flat", "counters back to zero"}
    sys.exit(0 if all(c["ok"] for c in report["checks"] if c["name"] in required) else 1)


if __name__ == "__main__":
    main()
