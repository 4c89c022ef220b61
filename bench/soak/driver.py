#!/usr/bin/env python3
"""The soak driver: mixed traffic against one running `ingot serve` for a fixed time.

Started by bench/soak/run.sh (which starts the server and passes its address and pid); see
the header of run.sh for what it sends and what it checks. Python 3 standard library only.

    driver.py --base http://127.0.0.1:PORT --pid PID --seconds 1800 --out results.json
              [--server-log PATH] [--workers chat=8,embed=3,...]
"""
import argparse
import base64
import collections
import datetime
import http.client
import json
import os
import random
import socket
import struct
import sys
import threading
import time
import zlib

CHAT_MODEL = "meta/llama-3.1-8b-instruct"
VISION_MODEL = "meta/llama-3.2-11b-vision-instruct"
EMBED_MODELS = [("nvidia/nv-embed-v1", True), ("baai/bge-m3", False)]
RANK_MODEL = "nvidia/llama-3.2-nv-rerankqa-1b-v2"
COMPLETION_MODEL = "bigcode/starcoder2-7b"
TRELLIS_PATH = "/v1/genai/microsoft/trellis"

# The endpoints the report shows, in order. "bad" and "disconnect" are the fault workers.
ENDPOINTS = ["chat", "chat_stream", "embeddings", "ranking", "completions", "3d", "vision",
             "bad", "disconnect", "metrics"]

PROMPTS = [
    "Tell me about rivers.",
    "Write a haiku about the sea.",
    "What is the capital of France? Answer in one sentence.",
    "List three uses of copper.",
    "Explain what a hash table is.",
    "Give me a short recipe for pancakes.",
    "Why is the sky blue?",
    "Summarise the plot of a detective story in two sentences.",
]
SYSTEM = "You are a concise assistant. Answer briefly and plainly."
SENTENCES = [
    "The river flows through the valley towards the sea.",
    "A hash table maps keys to values in constant expected time.",
    "Copper conducts electricity and heat very well.",
    "Pancakes are made from flour, eggs and milk.",
    "The sky looks blue because air scatters short wavelengths more.",
    "Detectives follow clues until the culprit is found.",
    "Mountains are formed by tectonic forces over millions of years.",
    "Bread rises because yeast produces carbon dioxide.",
    "Der Fluss fliesst durch das Tal zum Meer.",
    "Le ciel est bleu parce que l'air diffuse la lumiere bleue.",
]
SHAPES = ["A wooden chair", "A red mug", "A small table", "A lamp", "A vase with flowers",
          "A bookshelf", "A toy car", "A stool"]
CODE = ["def add(a, b):", "fn main() {", "# sort a list of numbers\n", "class Stack:",
        "SELECT name FROM"]


def make_png(w, h, rng):
    """A small RGB PNG with a few coloured blocks (no third-party encoder)."""
    cols = [(rng.randrange(256), rng.randrange(256), rng.randrange(256)) for _ in range(4)]
    rows = []
    for y in range(h):
        row = bytearray([0])
        for x in range(w):
            row += bytes(cols[(2 if y >= h // 2 else 0) + (1 if x >= w // 2 else 0)])
        rows.append(bytes(row))

    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"".join(rows))) + chunk(b"IEND", b""))


def png_data_url(rng):
    w, h = rng.choice([(32, 32), (64, 48), (128, 96), (200, 150)])
    return "data:image/png;base64," + base64.b64encode(make_png(w, h, rng)).decode()


def pct(values, p):
    """Nearest-rank percentile; None for no values."""
    if not values:
        return None
    s = sorted(values)
    k = max(0, min(len(s) - 1, int(round(p / 100.0 * len(s) + 0.5)) - 1))
    return s[k]


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


class Recorder:
    """Every outcome: (second since start, endpoint, path, status, latency, expected, note)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.rows = []
        self.sent = 0          # requests fully written to the server (what it should count)
        self.sent_by_path = collections.Counter()
        self.t0 = time.monotonic()
        self.notes = collections.Counter()
        self.examples = {}
        # Keep-alive connections the server closed after a response without saying so
        # (no `Connection: close`), by the request before: "METHOD path -> status".
        self.silent_closes = collections.Counter()

    def was_sent(self, path):
        with self.lock:
            self.sent += 1
            self.sent_by_path[path] += 1

    def add(self, endpoint, path, t_start, status, latency, expected, note=None, label=None):
        with self.lock:
            self.rows.append((t_start - self.t0, endpoint, path, status, latency, expected))
            if not expected:
                key = f"{endpoint}{f' [{label}]' if label else ''} {path} -> {status}"
                self.notes[key] += 1
                self.examples.setdefault(key, (round(t_start - self.t0, 1), note))


class Client:
    """One keep-alive HTTP/1.1 connection (reopened after 10 s idle, well inside the server's
    30 s idle timeout, so a request is never written to a connection the server closed)."""

    def __init__(self, host, port, rec, timeout=600):
        self.host, self.port, self.rec, self.timeout = host, port, rec, timeout
        self.conn = None
        self.last = 0.0
        self.prev = None

    def _closed_by_server(self):
        """Whether the server closed the idle connection (FIN or RST waiting), without
        reading or blocking."""
        sock = self.conn.sock if self.conn is not None else None
        if sock is None:
            return False
        timeout = sock.gettimeout()
        sock.settimeout(0)  # with a timeout set, Python would wait for the socket to be readable
        try:
            sock.recv(1, socket.MSG_PEEK)
            return True  # EOF (b"") or bytes nobody asked for: either way, not reusable
        except BlockingIOError:
            return False
        except OSError:
            return True
        finally:
            sock.settimeout(timeout)

    def close(self):
        if self.conn is not None:
            self.conn.close()
        self.conn = None

    def _send(self, method, path, body, ctype):
        if self.conn is not None and time.monotonic() - self.last > 10:
            self.close()
        if self.conn is not None and self._closed_by_server():
            with self.rec.lock:
                self.rec.silent_closes[self.prev] += 1
            self.close()
        if self.conn is None:
            self.conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        self.prev = f"{method} {path}"
        self.conn.putrequest(method, path, skip_accept_encoding=True)
        if body is not None:
            self.conn.putheader("Content-Type", ctype)
            self.conn.putheader("Content-Length", str(len(body)))
        self.conn.endheaders(body)
        self.rec.was_sent(path)

    def request(self, method, path, body=None, ctype="application/json", stream=False):
        """Returns (status, body bytes | list of SSE data lines, seconds to first data line).
        Raises OSError / HTTPException on transport failures (the connection is dropped)."""
        try:
            self._send(method, path, body, ctype)
            resp = self.conn.getresponse()
            first = None
            if stream and resp.status == 200:
                t = time.monotonic()
                lines = []
                while True:
                    line = resp.readline()
                    if not line:
                        break
                    line = line.strip()
                    if line.startswith(b"data:"):
                        if first is None:
                            first = time.monotonic() - t
                        lines.append(line[5:].strip())
                        if lines[-1] == b"[DONE]":
                            resp.read()  # the chunked terminator, so the connection is reusable
                            break
                data = lines
            else:
                data = resp.read()
            if resp.will_close:
                self.close()
            self.prev += f" -> {resp.status}"
            self.last = time.monotonic()
            return resp.status, data, first
        except Exception:
            self.close()
            raise


def has_sse(buf, what):
    """Whether the body (after the head) holds a data line with `what` (a non-empty content
    delta: `"content":"` followed by something other than a quote)."""
    body = buf.partition(b"\r\n\r\n")[2]
    if what == b"data:":
        return what in body
    i = body.find(what)
    while i >= 0:
        j = i + len(what)
        if j < len(body) and body[j:j + 1] != b'"':
            return True
        i = body.find(what, j)
    return False


def json_body(obj):
    return json.dumps(obj).encode()


class Soak:
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

    # ---- one request, timed and checked ------------------------------------------------
    def call(self, client, endpoint, path, payload, check, stream=False, method="POST",
             expect=(200,), ctype="application/json", raw=None, label=None):
        body = raw if raw is not None else (json_body(payload) if payload is not None else None)
        t = time.monotonic()
        try:
            status, data, _ = client.request(method, path, body, ctype, stream)
        except socket.timeout:
            self.rec.add(endpoint, path, t, "timeout", time.monotonic() - t, False, "client timeout", label)
            return
        except (OSError, http.client.HTTPException) as e:
            self.rec.add(endpoint, path, t, "conn_error", time.monotonic() - t, False,
                         type(e).__name__ + ": " + str(e)[:120], label)
            return
        lat = time.monotonic() - t
        note = None
        ok = status in expect
        if ok and status == 200 and check is not None:
            try:
                note = check(data)
            except Exception as e:  # a body that does not parse is a finding
                note = f"unreadable body: {type(e).__name__}: {str(e)[:100]}"
            if note:
                ok, status = False, "200 with a bad body"
        elif not ok:
            raw_body = data if isinstance(data, bytes) else b"\n".join(data)
            note = raw_body[:200].decode("utf-8", "replace")
        self.rec.add(endpoint, path, t, status, lat, ok, note, label)

    # ---- the checks of 200 bodies (return None when fine, else what is wrong) ----------------
    @staticmethod
    def check_chat(max_tokens):
        def f(data):
            d = json.loads(data)
            c = d["choices"][0]["message"]
            if not isinstance(c.get("content"), str):
                return "no content"
            u = d["usage"]["completion_tokens"]
            if not (1 <= u <= max_tokens):
                return f"completion_tokens {u} outside 1..{max_tokens}"
            return None
        return f

    @staticmethod
    def check_stream(lines):
        if not lines or lines[-1] != b"[DONE]":
            return "stream ended without [DONE]"
        pieces = 0
        for ln in lines[:-1]:
            d = json.loads(ln)
            if "error" in d:
                return "error event: " + json.dumps(d["error"])[:120]
            for ch in d.get("choices", []):
                if ch.get("delta", {}).get("content"):
                    pieces += 1
        if pieces == 0:
            return "no content deltas"
        return None

    @staticmethod
    def check_embed(n):
        def f(data):
            d = json.loads(data)
            if len(d["data"]) != n or not all(len(e["embedding"]) > 0 for e in d["data"]):
                return f"expected {n} vectors"
            return None
        return f

    @staticmethod
    def check_rank(n):
        def f(data):
            d = json.loads(data)
            if sorted(r["index"] for r in d["rankings"]) != list(range(n)):
                return f"expected {n} rankings"
            return None
        return f

    @staticmethod
    def check_completion(data):
        d = json.loads(data)
        return None if isinstance(d["choices"][0]["text"], str) else "no text"

    @staticmethod
    def check_3d(fmt):
        def f(data):
            d = json.loads(data)
            blob = base64.b64decode(d["output"][fmt])
            if fmt == "glb" and blob[:4] != b"glTF":
                return "not a GLB"
            if len(blob) < 84:
                return "asset too small"
            return None
        return f

    # ---- workers ---------------------------------------------------------------------------
    def chat_worker(self, i):
        rng = random.Random(1000 + i)
        c = Client(self.host, self.port, self.rec)
        stream = i % 2 == 1
        while not self.stop.is_set():
            mt = rng.randint(32, 64)
            msgs = [{"role": "user", "content": rng.choice(PROMPTS)}]
            if rng.random() < 0.5:
                msgs.insert(0, {"role": "system", "content": SYSTEM})
            p = {"model": CHAT_MODEL, "messages": msgs, "max_tokens": mt,
                 "temperature": rng.choice([0.0, 0.7, 1.0])}
            if rng.random() < 0.3:
                p["seed"] = rng.randrange(1 << 30)
            if stream:
                p["stream"] = True
                self.call(c, "chat_stream", "/v1/chat/completions", p, self.check_stream, stream=True)
            else:
                self.call(c, "chat", "/v1/chat/completions", p, self.check_chat(mt))
        c.close()

    def embed_worker(self, i):
        rng = random.Random(2000 + i)
        c = Client(self.host, self.port, self.rec)
        while not self.stop.is_set():
            model, asym = rng.choice(EMBED_MODELS)
            n = rng.randint(1, 8)
            p = {"model": model, "input": [rng.choice(SENTENCES) for _ in range(n)]}
            if asym:
                p["input_type"] = rng.choice(["query", "passage"])
            self.call(c, "embeddings", "/v1/embeddings", p, self.check_embed(n))
        c.close()

    def rankcomp_worker(self, i):
        rng = random.Random(3000 + i)
        c = Client(self.host, self.port, self.rec)
        k = 0
        while not self.stop.is_set():
            k += 1
            if k % 2:
                n = rng.randint(2, 10)
                p = {"model": RANK_MODEL, "query": {"text": rng.choice(PROMPTS)},
                     "passages": [{"text": rng.choice(SENTENCES)} for _ in range(n)]}
                self.call(c, "ranking", "/v1/ranking", p, self.check_rank(n))
            else:
                p = {"model": COMPLETION_MODEL, "prompt": rng.choice(CODE),
                     "max_tokens": rng.randint(16, 48), "temperature": 0.2}
                self.call(c, "completions", "/v1/completions", p, self.check_completion)
        c.close()

    def gen3d_worker(self, i):
        rng = random.Random(4000 + i)
        c = Client(self.host, self.port, self.rec)
        while not self.stop.is_set():
            fmt = rng.choice(["glb", "glb", "stl"])
            p = {"seed": rng.randrange(1 << 20), "output_format": fmt}
            if rng.random() < 0.25:
                p["image"] = png_data_url(rng)
            else:
                p["prompt"] = rng.choice(SHAPES)
            self.call(c, "3d", TRELLIS_PATH, p, self.check_3d(fmt))
        c.close()

    def vision_worker(self, i):
        rng = random.Random(5000 + i)
        c = Client(self.host, self.port, self.rec)
        while not self.stop.is_set():
            url = png_data_url(rng)
            q = rng.choice(["What colours are in this image?", "Describe this image briefly.",
                            "Is there any text in this image?"])
            mt = rng.randint(16, 48)
            if rng.random() < 0.5:
                content = [{"type": "text", "text": q}, {"type": "image_url", "image_url": {"url": url}}]
            else:
                content = f'{q} <img src="{url}" />'
            p = {"model": VISION_MODEL, "max_tokens": mt,
                 "messages": [{"role": "user", "content": content}]}
            self.call(c, "vision", "/v1/chat/completions", p, self.check_chat(mt))
        c.close()

    def bad_cases(self, rng):
        chat = "/v1/chat/completions"
        big_prompt = "word " * 200_000                 # 1 MB: more than 4096 tokens can hold
        big_input = "x" * 30_000 + " word"            # one 30,000-character "word": over 256 tokens
        img = {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAAAAAAAAAA"}}
        ok_msgs = [{"role": "user", "content": "hi"}]
        return [
            ("malformed JSON", chat, b"{not json", (400, 422)),
            ("truncated JSON", chat, b'{"model":"' + CHAT_MODEL.encode() + b'","messages":[{"role":', (400, 422)),
            ("unknown model", chat, {"model": "nope/no-such-model", "messages": ok_msgs}, (404,)),
            ("messages not a list", chat, {"model": CHAT_MODEL, "messages": "hi"}, (422,)),
            ("max_tokens a string", chat, {"model": CHAT_MODEL, "messages": ok_msgs, "max_tokens": "many"}, (422,)),
            ("temperature out of range", chat, {"model": CHAT_MODEL, "messages": ok_msgs, "temperature": -3}, (422,)),
            ("empty messages", chat, {"model": CHAT_MODEL, "messages": []}, (422,)),
            ("oversized prompt (1 MB)", chat, {"model": CHAT_MODEL, "messages": [{"role": "user", "content": big_prompt}]}, (400,)),
            ("oversized embeddings input", "/v1/embeddings", {"model": "nvidia/nv-embed-v1", "input": [big_input], "input_type": "query", "truncate": "NONE"}, (400,)),
            ("empty embeddings input", "/v1/embeddings", {"model": "nvidia/nv-embed-v1", "input": [], "input_type": "query"}, (422,)),
            ("chat model on /v1/embeddings", "/v1/embeddings", {"model": CHAT_MODEL, "input": ["x"], "input_type": "query"}, (400,)),
            ("no passages", "/v1/ranking", {"model": RANK_MODEL, "query": {"text": "q"}, "passages": []}, (422,)),
            ("wrong content type", chat, ("text/plain", json_body({"model": CHAT_MODEL, "messages": ok_msgs})), (415,)),
            ("not an image", chat, {"model": VISION_MODEL, "messages": [{"role": "user", "content": [{"type": "text", "text": "x"}, img]}]}, (422,)),
            ("3D format obj", TRELLIS_PATH, {"prompt": "chair", "output_format": "obj"}, (422,)),
            ("unknown route", "/v1/no-such-route", {"x": 1}, (404,)),
            ("GET on a POST route", ("GET", chat), None, (405,)),
        ]

    def bad_worker(self, i):
        rng = random.Random(6000 + i)
        c = Client(self.host, self.port, self.rec)
        cases = self.bad_cases(rng)
        k = 0
        while not self.stop.is_set():
            name, path, body, expect = cases[k % len(cases)]
            k += 1
            method, ctype, raw, payload = "POST", "application/json", None, None
            if isinstance(path, tuple):
                method, path = path
            if isinstance(body, bytes):
                raw = body
            elif isinstance(body, tuple):
                ctype, raw = body
            else:
                payload = body
            self.call(c, "bad", path, payload, None, method=method, expect=expect, ctype=ctype, raw=raw,
                      label=name)
            self.stop.wait(self.bad_pause)
        c.close()

    def disconnect_worker(self, i):
        """In turn: a stream closed after its first data chunk (the role chunk), a non-streaming
        chat closed before its answer, and a stream closed after its first generated text; half
        of each kind close with a reset (SO_LINGER 0), the others with a FIN."""
        rng = random.Random(7000 + i)
        k = 0
        while not self.stop.is_set():
            k += 1
            kind = k % 3
            stream = kind != 2
            p = {"model": CHAT_MODEL, "max_tokens": 64, "stream": stream,
                 "messages": [{"role": "user", "content": rng.choice(PROMPTS)}]}
            body = json_body(p)
            head = (f"POST /v1/chat/completions HTTP/1.1\r\nHost: {self.host}\r\n"
                    f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n").encode()
            t = time.monotonic()
            status, ok, note = None, True, None
            try:
                s = socket.create_connection((self.host, self.port), timeout=300)
                s.sendall(head + body)
                self.rec.was_sent("/v1/chat/completions")
                if stream:
                    buf = b""
                    while b"\r\n\r\n" not in buf:
                        chunk = s.recv(65536)
                        if not chunk:
                            break
                        buf += chunk
                    code = buf[9:12].decode(errors="replace")
                    want = b'"content":"' if kind == 0 else b"data:"
                    if code == "200":
                        while not has_sse(buf, want) and b"data: [DONE]" not in buf:
                            chunk = s.recv(65536)
                            if not chunk:
                                break
                            buf += chunk
                    if code == "200" and has_sse(buf, want):
                        status = "closed after first text" if kind == 0 else "closed after first chunk"
                    elif code == "200" and b"data: [DONE]" in buf:
                        status = "ended before any text"  # the model stopped at once: fine
                    else:
                        status = int(code) if code.isdigit() else "conn_error"
                        ok, note = False, buf[:200].decode(errors="replace")
                else:
                    s.settimeout(rng.uniform(0.05, 0.5))
                    try:
                        buf = s.recv(65536)
                        code = buf[9:12].decode(errors="replace")
                        status = int(code) if code.isdigit() else "conn_error"
                        ok = status == 200
                        note = None if ok else buf[:200].decode(errors="replace")
                    except socket.timeout:
                        status = "closed before answer"
                if (k // 3) % 2 == 0:
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                s.close()
            except OSError as e:
                status, ok, note = "conn_error", False, str(e)[:120]
            self.rec.add("disconnect", "/v1/chat/completions", t, status, time.monotonic() - t, ok, note)
            self.stop.wait(self.disconnect_pause)

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
    with open(args.out, "w") as f:
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
    print(markdown(report))
    required = {"no 5xx", "memory flat", "counters back to zero"}
    sys.exit(0 if all(c["ok"] for c in report["checks"] if c["name"] in required) else 1)


if __name__ == "__main__":
    main()
