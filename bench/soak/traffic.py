"""The traffic of the soak driver: the workers, the requests they send and the checks of the answers.

Traffic is a mixin of driver.Soak, which sets the attributes its methods use: host, port,
rec (a client.Recorder), stop (a threading.Event), bad_pause and disconnect_pause. Each
*_worker method is one closed-loop worker thread (see the header of run.sh for the mix).
Python 3 standard library only.
"""
import base64
import http.client
import json
import random
import socket
import struct
import time
import zlib

from client import Client, json_body

CHAT_MODEL = "meta/llama-3.1-8b-instruct"
VISION_MODEL = "meta/llama-3.2-11b-vision-instruct"
EMBED_MODELS = [("nvidia/nv-embed-v1", True), ("baai/bge-m3", False)]
RANK_MODEL = "nvidia/llama-3.2-nv-rerankqa-1b-v2"
COMPLETION_MODEL = "bigcode/starcoder2-7b"
TRELLIS_PATH = "/v1/genai/microsoft/trellis"

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


class Traffic:
    """The requests and workers of Soak (a mixin: see the module's docstring)."""

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
