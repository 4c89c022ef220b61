"""The server's own view, for the soak driver: its process (/proc/PID) and its GET /metrics.

read_proc and loadavg sample the server process and the machine; parse_prometheus reads the
exposition text, and family, gauges and requests_by pick out the ingot_* series the driver
checks. Python 3 standard library only.
"""
import collections
import os


def read_proc(pid):
    """VmRSS and VmHWM (KiB), threads and open descriptors of the server."""
    out = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                k, _, v = line.partition(":")
                if k in ("VmRSS", "VmHWM"):
                    out[k] = int(v.split()[0])
                elif k == "Threads":
                    out[k] = int(v)
        out["fds"] = len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        pass
    return out


def loadavg():
    with open("/proc/loadavg") as f:
        return [float(x) for x in f.read().split()[:3]]


def parse_prometheus(text):
    """{(name, frozenset(labels)): value} of the exposition text."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        head, _, val = line.rpartition(" ")
        if "{" in head:
            name, _, rest = head.partition("{")
            labels = []
            for part in split_labels(rest.rstrip("}")):
                k, _, v = part.partition("=")
                labels.append((k, v.strip('"')))
            key = (name, frozenset(labels))
        else:
            key = (head, frozenset())
        try:
            out[key] = float(val)
        except ValueError:
            pass
    return out


def split_labels(s):
    parts, cur, q, esc = [], "", False, False
    for ch in s:
        if esc:
            cur += ch
            esc = False
        elif ch == "\\":
            cur += ch
            esc = True
        elif ch == '"':
            q = not q
            cur += ch
        elif ch == "," and not q:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    if cur:
        parts.append(cur)
    return parts


def family(m, name):
    return {k[1]: v for k, v in m.items() if k[0] == name}


def gauges(m):
    return dict(
        in_flight=int(sum(family(m, "ingot_requests_in_flight").values())),
        queue_depth=int(sum(family(m, "ingot_queue_depth").values())),
        active_sequences=int(sum(family(m, "ingot_active_sequences").values())),
    )


def requests_by(m, label):
    out = collections.Counter()
    for labels, v in family(m, "ingot_requests_total").items():
        out[dict(labels).get(label, "")] += int(v)
    return out

