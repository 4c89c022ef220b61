"""The report of the soak driver: statistics, the checks, the Markdown summary and the JSON file.

build_report turns what the driver recorded (and the /metrics scrapes before and after the
run) into one dict with the four checks; markdown renders it for standard output and
write_json writes it to the results file. Python 3 standard library only.
"""
import collections
import json

from metrics import family, gauges, requests_by
from traffic import TRELLIS_PATH

# The endpoints the report shows, in order. "bad" and "disconnect" are the fault workers.
ENDPOINTS = ["chat", "chat_stream", "embeddings", "ranking", "completions", "3d", "vision",
             "bad", "disconnect", "metrics"]


def pct(values, p):
    """Nearest-rank percentile; None for no values."""
    if not values:
        return None
    s = sorted(values)
    k = max(0, min(len(s) - 1, int(round(p / 100.0 * len(s) + 0.5)) - 1))
    return s[k]


def fmt_s(x):
    return "-" if x is None else (f"{x:.2f}" if x < 10 else f"{x:.1f}")


def build_report(soak, meta, before, after, rss_before, rss_after_load, rss_end):
    rec = soak.rec
    rows = rec.rows
    by_ep = collections.defaultdict(list)
    for r in rows:
        by_ep[r[1]].append(r)

    def summarise(rs):
        st = collections.Counter(str(r[3]) for r in rs)
        lat = [r[4] for r in rs]
        return dict(n=len(rs), status=dict(sorted(st.items())), unexpected=sum(1 for r in rs if not r[5]),
                    p50=round(pct(lat, 50), 3) if lat else None, p99=round(pct(lat, 99), 3) if lat else None)

    window = min(5, max(1, int(soak.seconds // 60) // 3)) * 60 if soak.seconds >= 60 else soak.seconds
    endpoints = {}
    for ep in ENDPOINTS:
        rs = by_ep.get(ep, [])
        if not rs:
            continue
        s = summarise(rs)
        first = [r[4] for r in rs if r[0] < window]
        last = [r[4] for r in rs if r[0] >= soak.seconds - window]
        s.update(first_window_p50=pct(first, 50), first_window_p99=pct(first, 99),
                 last_window_p50=pct(last, 50), last_window_p99=pct(last, 99))
        for k in ("first_window_p50", "first_window_p99", "last_window_p50", "last_window_p99"):
            s[k] = None if s[k] is None else round(s[k], 3)
        endpoints[ep] = s
    minutes = []
    n_min = max(1, -(-int(soak.seconds) // 60))  # requests started after the end (the drain's
    # scrapes, a worker's last request) are in the totals, not in the per-minute table
    for mi in range(n_min):
        rs = [r for r in rows if int(r[0] // 60) == mi]
        eps = {}
        for ep in ENDPOINTS:
            sub = [r for r in rs if r[1] == ep]
            if sub:
                eps[ep] = summarise(sub)
                del eps[ep]["unexpected"]
        samp = next((s for s in soak.samples if s["minute"] == mi + 1), None)
        fine = [f for f in soak.fine if mi * 60 <= f[0] < (mi + 1) * 60]
        minutes.append(dict(minute=mi + 1, requests=len(rs), unexpected=sum(1 for r in rs if not r[5]),
                            rss_mib_at_end=round(samp["rss_kib"] / 1024, 1) if samp and samp["rss_kib"] else None,
                            rss_mib_max=round(max(f[1] for f in fine) / 1024, 1) if fine else None,
                            in_flight_max=max((f[2] for f in fine), default=None),
                            queue_depth_max=max((f[3] for f in fine), default=None),
                            fds=samp and samp["fds"], threads=samp and samp["threads"],
                            load1=samp and samp["load1"],
                            in_flight=samp and samp["in_flight"],
                            queue_depth=samp and samp["queue_depth"],
                            endpoints=eps))

    # Memory: the series of per-minute samples (sample k is taken at minute k; 0 = before load).
    series = [(s["minute"], s["rss_kib"] / 1024) for s in soak.samples if s["rss_kib"]]
    ref_min = min(5, max(1, int(soak.seconds // 60) // 3))
    ref = next((v for (m, v) in series if m == ref_min), None)
    later = [v for (m, v) in series if m > ref_min]
    m2 = next((v for (m, v) in series if m == 2), None)
    end_rss = series[-1][1] if series else None
    mem = dict(
        series_mib=[[m, round(v, 1)] for (m, v) in series],
        before_load_mib=round(rss_before.get("VmRSS", 0) / 1024, 1),
        min_mib=round(min(v for (m, v) in series if m >= 1), 1) if len(series) > 1 else None,
        max_mib=round(max(v for (m, v) in series if m >= 1), 1) if len(series) > 1 else None,
        fine_max_mib=round(max(f[1] for f in soak.fine) / 1024, 1) if soak.fine else None,
        ref_minute=ref_min, at_ref_mib=None if ref is None else round(ref, 1),
        at_end_mib=None if end_rss is None else round(end_rss, 1),
        after_load_mib=round(rss_after_load.get("VmRSS", 0) / 1024, 1),
        after_drain_mib=round(rss_end.get("VmRSS", 0) / 1024, 1),
        hwm_mib=round(rss_end.get("VmHWM", 0) / 1024, 1),
        drift_min2_to_end_mib=None if (m2 is None or end_rss is None) else round(end_rss - m2, 1),
        fds_before=rss_before.get("fds"), fds_after_drain=rss_end.get("fds"),
        threads_before=rss_before.get("Threads"), threads_after_drain=rss_end.get("Threads"),
    )
    # Second half slope (least squares, MiB per minute).
    half = [(m, v) for (m, v) in series if m >= max(ref_min, len(series) // 2)]
    if len(half) >= 3:
        mx = sum(m for m, _ in half) / len(half)
        my = sum(v for _, v in half) / len(half)
        den = sum((m - mx) ** 2 for m, _ in half)
        mem["slope_second_half_mib_per_min"] = round(sum((m - mx) * (v - my) for m, v in half) / den, 2) if den else 0.0
    mem_rule = f"max RSS after minute {ref_min} <= 1.10 x RSS at minute {ref_min}"
    mem_ok = ref is not None and (not later or max(later) <= 1.10 * ref)

    # Counters.
    g_after = gauges(after)
    tot_before = sum(requests_by(before, "route").values())
    tot_after = sum(requests_by(after, "route").values())
    by_route_delta = requests_by(after, "route")
    by_route_delta.subtract(requests_by(before, "route"))
    server_status_delta = requests_by(after, "status")
    server_status_delta.subtract(requests_by(before, "status"))
    driver_by_route = collections.Counter()
    for path, n in rec.sent_by_path.items():
        driver_by_route[route_of(path)] += n
    driver_by_route[route_of("/metrics")] -= 1  # the final scrape is not in its own answer
    route_mismatch = {r: dict(server=by_route_delta.get(r, 0), driver=driver_by_route.get(r, 0))
                      for r in set(by_route_delta) | set(driver_by_route)
                      if by_route_delta.get(r, 0) != driver_by_route.get(r, 0)}
    counters = dict(
        in_flight_excluding_this_scrape=g_after["in_flight"] - 1,
        queue_depth=g_after["queue_depth"], active_sequences=g_after["active_sequences"],
        queue_depth_by_model={dict(k).get("model"): int(v) for k, v in family(after, "ingot_queue_depth").items()},
        active_by_model={dict(k).get("model"): int(v) for k, v in family(after, "ingot_active_sequences").items()},
        requests_total_delta=tot_after - tot_before, driver_requests_sent=rec.sent,
        expected_delta=rec.sent - 1,
        server_status_counts=dict(sorted((k, v) for k, v in server_status_delta.items() if v)),
        route_mismatch=route_mismatch,
        rate_limited_delta=int(sum(family(after, "ingot_rate_limited_total").values())
                               - sum(family(before, "ingot_rate_limited_total").values())),
    )
    zero_ok = (counters["in_flight_excluding_this_scrape"] == 0 and counters["queue_depth"] == 0
               and counters["active_sequences"] == 0)
    count_ok = counters["requests_total_delta"] == counters["expected_delta"]

    driver_5xx = sum(1 for r in rows if isinstance(r[3], int) and r[3] >= 500)
    server_5xx = sum(v for k, v in server_status_delta.items() if k.isdigit() and int(k) >= 500)
    log = scan_log(soak.server_log, soak.log_offset) if soak.server_log else None
    checks = [
        ("no 5xx", driver_5xx == 0 and server_5xx == 0,
         f"driver saw {driver_5xx}, server counted {server_5xx}"),
        ("memory flat", mem_ok, f"{mem_rule}: at minute {ref_min} {mem['at_ref_mib']} MiB, "
                                f"max after {round(max(later), 1) if later else '-'} MiB"),
        ("counters back to zero", zero_ok and count_ok,
         f"in flight {counters['in_flight_excluding_this_scrape']}, queued {counters['queue_depth']}, "
         f"active {counters['active_sequences']}; ingot_requests_total grew by {counters['requests_total_delta']}, "
         f"driver sent {counters['expected_delta']} (+1 final scrape)"),
        ("no unexpected outcomes", sum(rec.notes.values()) == 0,
         f"{sum(rec.notes.values())} flagged"),
    ]
    report = dict(meta=meta, endpoints=endpoints, minutes=minutes, memory=mem, counters=counters,
                  unexpected=[dict(what=k, count=v, first_at_s=rec.examples[k][0], note=rec.examples[k][1])
                              for k, v in rec.notes.most_common(30)],
                  silent_keepalive_closes=dict(rec.silent_closes.most_common()),
                  server_log=log,
                  checks=[dict(name=n, ok=ok, detail=d) for n, ok, d in checks])
    return report


def route_of(path):
    known = {"/v1/chat/completions", "/v1/completions", "/v1/embeddings", "/v1/ranking",
             TRELLIS_PATH, "/metrics", "/v1/health/ready", "/v1/models"}
    return path if path in known else "unmatched"


def scan_log(path, offset):
    """Counts the log lines written from the driver's first request on (the readiness polls
    before it are left out)."""
    levels = collections.Counter()
    msgs = collections.Counter()
    statuses = collections.Counter()
    panics = 0
    try:
        with open(path, "rb") as fb:
            fb.seek(offset)
            text = fb.read().decode("utf-8", "replace")
    except OSError as e:
        return dict(error=str(e))
    for line in text.splitlines():
        try:
            r = json.loads(line)
        except ValueError:
            levels["(not JSON)"] += 1
            panics += "panick" in line
            continue
        lv = r.get("level", "?")
        levels[lv] += 1
        msg = str(r.get("message", ""))
        panics += "panick" in msg
        if msg == "answered":
            statuses[str(r.get("status"))] += 1
        if lv in ("WARN", "ERROR"):
            msgs[f"{lv} {msg[:160]}"] += 1
    return dict(levels=dict(levels), panics=panics, answered_by_status=dict(sorted(statuses.items())),
                warn_error_messages=[dict(message=k, count=v) for k, v in msgs.most_common(15)])


def markdown(r):
    m, out = r["meta"], []
    w = out.append
    w(f"# Soak: {m['seconds']} s of mixed traffic against one `ingot serve`\n")
    w(f"- date {m['date']}, {m['cpus']} CPUs, load average at start {m['loadavg_start']}, "
      f"at end {m['loadavg_end']}")
    w(f"- workers {m['workers']} (bad requests every {m['bad_pause_s']} s, disconnects every "
      f"{m['disconnect_pause_s']} s); load stopped at {m['load_stopped_after_s']} s, last worker done at "
      f"{m['workers_finished_after_s']} s, drained in {m['drained_in_s']} s"
      + (f"; STUCK: {m['stuck_workers']}" if m["stuck_workers"] else ""))
    w("\n## Requests by endpoint (latency in seconds; streams: to the end)\n")
    w("| endpoint | requests | statuses | unexpected | p50 | p99 | p50 first | p99 first | p50 last | p99 last |")
    w("|---|---:|---|---:|---:|---:|---:|---:|---:|---:|")
    for ep, s in r["endpoints"].items():
        st = ", ".join(f"{k}: {v}" for k, v in s["status"].items())
        w(f"| {ep} | {s['n']} | {st} | {s['unexpected']} | {fmt_s(s['p50'])} | {fmt_s(s['p99'])} | "
          f"{fmt_s(s['first_window_p50'])} | {fmt_s(s['first_window_p99'])} | "
          f"{fmt_s(s['last_window_p50'])} | {fmt_s(s['last_window_p99'])} |")
    w("\n(first/last: the first and last few minutes of the run.)\n")
    w("## Per minute (p50/p99 seconds; RSS sampled at the minute's end, max over 5 s samples)\n")
    eps = ["chat", "chat_stream", "embeddings", "ranking", "completions", "3d", "vision", "bad", "disconnect"]
    w("| min | req | unexp | RSS MiB | max | fds | thr | load1 | in flight (max) | queued (max) | "
      + " | ".join(eps) + " |")
    w("|" + "---:|" * (10 + len(eps)))
    for mi in r["minutes"]:
        cells = []
        for ep in eps:
            e = mi["endpoints"].get(ep)
            cells.append("-" if not e else f"{e['n']}: {fmt_s(e['p50'])}/{fmt_s(e['p99'])}")
        w(f"| {mi['minute']} | {mi['requests']} | {mi['unexpected']} | {mi['rss_mib_at_end']} | "
          f"{mi['rss_mib_max']} | {mi['fds']} | {mi['threads']} | {mi['load1']} | "
          f"{mi['in_flight']} ({mi['in_flight_max']}) | {mi['queue_depth']} ({mi['queue_depth_max']}) | " + " | ".join(cells) + " |")
    mem = r["memory"]
    w("\n## Resident memory (VmRSS of the server)\n")
    w(f"- before load {mem['before_load_mib']} MiB; during the run min {mem['min_mib']}, max {mem['max_mib']} "
      f"(5 s samples: max {mem['fine_max_mib']}); at minute {mem['ref_minute']} {mem['at_ref_mib']}; at the end "
      f"{mem['at_end_mib']}; after the drain {mem['after_drain_mib']}; VmHWM {mem['hwm_mib']} MiB")
    w(f"- drift minute 2 -> end: {mem['drift_min2_to_end_mib']} MiB; slope over the second half: "
      f"{mem.get('slope_second_half_mib_per_min', '-')} MiB/min")
    w(f"- open fds before {mem['fds_before']}, after drain {mem['fds_after_drain']}; threads before "
      f"{mem['threads_before']}, after {mem['threads_after_drain']}")
    c = r["counters"]
    w("\n## Counters after the drain (GET /metrics)\n")
    w(f"- ingot_requests_in_flight {c['in_flight_excluding_this_scrape']} (the scrape itself excluded), "
      f"ingot_queue_depth {c['queue_depth_by_model']}, ingot_active_sequences {c['active_by_model']}")
    w(f"- ingot_requests_total grew by {c['requests_total_delta']}; the driver sent {c['driver_requests_sent']} "
      f"requests, {c['expected_delta']} of them before the final scrape (which is counted after its own answer)")
    w(f"- server's statuses over the run: {c['server_status_counts']}; ingot_rate_limited_total +{c['rate_limited_delta']}")
    if c["route_mismatch"]:
        w(f"- per-route mismatch (server vs driver): {c['route_mismatch']}")
    if r["unexpected"]:
        w("\n## Unexpected outcomes\n")
        for u in r["unexpected"]:
            w(f"- {u['count']} x {u['what']} (first at {u['first_at_s']} s): {u['note']}")
    if r["silent_keepalive_closes"]:
        w("\n## Keep-alive connections the server closed without `Connection: close`\n")
        w("(found closed before the next request was written on them; by the request before)\n")
        for k, v in r["silent_keepalive_closes"].items():
            w(f"- {v} x after {k}")
    lg = r.get("server_log")
    if lg:
        w("\n## Server log\n")
        w(f"- lines by level {lg.get('levels')}, panics {lg.get('panics')}; access log statuses "
          f"{lg.get('answered_by_status')}")
        for x in lg.get("warn_error_messages", []):
            w(f"  - {x['count']} x {x['message']}")
    w("\n## Checks\n")
    for ch in r["checks"]:
        w(f"- {'PASS' if ch['ok'] else 'FAIL'} {ch['name']}: {ch['detail']}")
    return "\n".join(out) + "\n"


def write_json(report, path):
    """Writes the report to path as JSON."""
    with open(path, "w") as f:
        # Compact, one top-level key (and one minute) a line, so it stays small and diffable.
        f.write("{\n")
        keys = list(report)
        for i, k in enumerate(keys):
            sep = "," if i < len(keys) - 1 else ""
            if k == "minutes":
                f.write(f'"{k}":[\n' + ",\n".join(json.dumps(m, separators=(",", ":"), default=str)
                                                  for m in report[k]) + f"\n]{sep}\n")
            else:
                f.write(f'"{k}":' + json.dumps(report[k], separators=(",", ":"), default=str) + f"{sep}\n")
        f.write("}\n")
