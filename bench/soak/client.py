"""HTTP plumbing of the soak driver: the Recorder of every outcome and the keep-alive Client.

The Client counts each request it writes in the Recorder (the driver later checks the server's
ingot_requests_total against that count) and notes keep-alive connections the server closed
without saying so. Python 3 standard library only.
"""
import collections
import http.client
import json
import socket
import threading
import time


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


def json_body(obj):
    return json.dumps(obj).encode()
