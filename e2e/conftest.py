"""Starts the real `ingot serve` binary on port 0 and hands its base URL to the tests."""
import json
import os
import subprocess
import tempfile
import time
import urllib.request

import pytest

BIN = os.environ.get("INGOT_BIN", "ingot")


class Server:
    def __init__(self, *args, env=None):
        e = dict(os.environ)
        e.pop("INGOT_API_KEYS", None)
        # Each server gets its own empty key database, whatever the machine's default holds.
        e["INGOT_KEYS_DB"] = os.path.join(tempfile.mkdtemp(prefix="ingot-e2e-"), "keys.db")
        e.update(env or {})
        self.proc = subprocess.Popen(
            [BIN, "serve", "--port", "0", "--log-format", "json", *args],
            stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, env=e, text=True,
        )
        self.addr = None
        deadline = time.time() + 60
        while time.time() < deadline:
            line = self.proc.stderr.readline()
            if not line:
                break
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            msg = rec.get("message", "")
            if msg.startswith("listening on "):
                self.addr = msg.removeprefix("listening on ")
                break
        if self.addr is None:
            self.proc.kill()
            raise RuntimeError("ingot serve did not report its address")
        self.root = f"http://{self.addr}"
        self.base_url = f"{self.root}/v1"
        # Drain the log so the pipe never fills.
        import threading
        threading.Thread(target=lambda: [None for _ in self.proc.stderr], daemon=True).start()

    def wait_ready(self, timeout=120):
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                with urllib.request.urlopen(f"{self.base_url}/health/ready") as r:
                    if r.status == 200:
                        return
            except Exception:
                pass
            time.sleep(0.2)
        raise RuntimeError("server never became ready")

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


@pytest.fixture(scope="session")
def server():
    """The embedded default: local chat, embedding, vision and 3D engines, no keys. Image
    URLs may point at 127.0.0.1 (the tests serve images there); other internal addresses stay
    refused."""
    s = Server("--vision-allow", "127.0.0.1/32")
    s.wait_ready()
    yield s
    s.stop()


API_KEY = "e2e-secret-key"


@pytest.fixture(scope="session")
def keyed_server():
    """A server that requires an API key (no local models loaded: auth needs none)."""
    s = Server("--no-chat", "--no-embeddings", env={"INGOT_API_KEYS": f"{API_KEY},other-key"})
    s.wait_ready()
    yield s
    s.stop()
