"""`ingot chat` as a person uses it on a terminal: an interactive session driven through a real
pseudo-terminal (Python's pty: the binary sees a terminal, and Ctrl-C is the terminal's own
interrupt character), then `--continue` resuming the kept conversation."""
import json
import os
import pty
import re
import select
import signal
import subprocess
import time

import pytest

from conftest import BIN


class Terminal:
    """`ingot ARGS` on a pseudo-terminal."""

    def __init__(self, args, env):
        self.pid, self.fd = pty.fork()
        if self.pid == 0:  # the child: the binary, with the terminal as stdin/stdout/stderr
            os.execve(BIN, [BIN, *args], env)
        self.seen = ""

    def send(self, text):
        os.write(self.fd, text.encode())

    def expect(self, pattern, timeout=60):
        """Reads until `pattern` (a regex) appears after what earlier calls consumed; returns
        the text up to and including the match."""
        deadline = time.time() + timeout
        rx = re.compile(pattern)
        while True:
            m = rx.search(self.seen)
            if m:
                before, self.seen = self.seen[: m.end()], self.seen[m.end():]
                return before
            left = deadline - time.time()
            if left <= 0:
                raise AssertionError(f"{pattern!r} not seen in {left + timeout:.0f} s; got {self.seen[-2000:]!r}")
            ready, _, _ = select.select([self.fd], [], [], left)
            if ready:
                try:
                    chunk = os.read(self.fd, 4096)
                except OSError:  # the child is gone
                    chunk = b""
                if not chunk:
                    raise AssertionError(f"{pattern!r} not seen before the end; got {self.seen[-2000:]!r}")
                self.seen += chunk.decode(errors="replace")

    def wait(self, timeout=30):
        deadline = time.time() + timeout
        while time.time() < deadline:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                return os.waitstatus_to_exitcode(status)
            try:  # keep the terminal drained
                if select.select([self.fd], [], [], 0.1)[0]:
                    self.seen += os.read(self.fd, 4096).decode(errors="replace")
            except OSError:
                pass
        os.kill(self.pid, signal.SIGKILL)
        raise AssertionError("the session did not end")


@pytest.fixture
def client_env(server, tmp_path):
    (tmp_path / "config" / "ingot").mkdir(parents=True)
    (tmp_path / "config" / "ingot" / "config.toml").write_text(
        f'base_url = "{server.base_url}"\n'
        "[aliases]\n"
        'tiny = "meta/llama-3.1-8b-instruct"\n'
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NVIDIA_", "INGOT_"))}
    env.update(XDG_CONFIG_HOME=str(tmp_path / "config"), XDG_DATA_HOME=str(tmp_path / "data"),
               TERM="dumb")
    return env


def kept(tmp_path):
    d = tmp_path / "data" / "ingot" / "conversations"
    return sorted(d.glob("*.json")) if d.exists() else []


def test_interactive_session_keeps_history_and_ctrl_c_stops_only_the_answer(client_env, tmp_path):
    # No prompt on a terminal: an interactive session; the base URL and the alias come from
    # the client's settings file.
    t = Terminal(["chat", "--temperature", "0", "--max-tokens", "300"], client_env)
    t.expect(r"Chatting with \S+")
    t.expect(r">>> ")
    t.send("/system Answer in one short sentence.\r")
    t.expect(r"system prompt set\s+>>> ")
    t.send("/model tiny\r")
    t.expect(r"model: meta/llama-3\.1-8b-instruct\s+>>> ")
    t.send("My name is Zorblax.\r")
    t.expect(r">>> ", timeout=120)
    t.send('"""What is\rmy name?"""\r')
    t.expect(r"\.\.\. ")
    t.expect(r">>> ", timeout=120)
    save = tmp_path / "conversation.json"
    t.send(f"/save {save}\r")
    t.expect(r"saved to .*\s+>>> ")
    saved = json.loads(save.read_text())
    assert saved["model"] == "meta/llama-3.1-8b-instruct"
    roles = [m["role"] for m in saved["messages"]]
    assert roles == ["system", "user", "assistant", "user", "assistant"], roles
    assert saved["messages"][3]["content"] == "What is\nmy name?"
    assert all(m["content"].strip() for m in saved["messages"][2::2])

    # Ctrl-C while the answer streams stops it; the session goes on.
    t.send("Write a very long story about a lighthouse keeper, in many paragraphs.\r")
    t.expect(r"paragraphs\.\s*\r?\n")  # the echoed question
    t.expect(r"\w+ \w+", timeout=60)  # the answer has started
    started = time.time()
    t.send("\x03")
    t.expect(r"\[answer stopped\]\s+>>> ", timeout=10)
    assert time.time() - started < 10
    # Ctrl-C at the prompt does not leave either.
    t.send("\x03")
    t.expect(r"Ctrl-D or /exit leaves\)\s+>>> ")
    t.send("/clear\r")
    t.expect(r"conversation cleared\s+>>> ")
    t.send("/nonsense\r")
    t.expect(r"unknown command /nonsense")
    t.send("/exit\r")
    assert t.wait() == 0

    # The stopped answer (what was shown) was kept with the rest, before /clear.
    files = kept(tmp_path)
    assert len(files) == 1
    convo = json.loads(files[0].read_text())
    assert [m["role"] for m in convo["messages"]][-2:] == ["user", "assistant"]
    assert "lighthouse" in convo["messages"][-2]["content"]


def test_continue_resumes_the_last_conversation(client_env, tmp_path):
    def chat(*args):
        return subprocess.run([BIN, "chat", "--temperature", "0", "--max-tokens", "8", *args],
                              env=client_env, stdin=subprocess.DEVNULL, capture_output=True,
                              text=True, timeout=120)

    first = chat("-m", "tiny", "Say hello.")
    assert first.returncode == 0, first.stderr
    again = chat("--continue", "Say it again.")
    assert again.returncode == 0, again.stderr
    files = kept(tmp_path)
    assert len(files) == 1, files  # resumed in place, not a new conversation
    convo = json.loads(files[0].read_text())
    assert convo["model"] == "meta/llama-3.1-8b-instruct"  # kept from the first run
    assert [m["content"] for m in convo["messages"][::2]] == ["Say hello.", "Say it again."]
    assert convo["messages"][3]["content"] == again.stdout.strip()

    # --no-save keeps nothing new.
    assert chat("--no-save", "Bye.").returncode == 0
    assert kept(tmp_path) == files

    # Nothing to continue is a clear error.
    empty = dict(client_env, XDG_DATA_HOME=str(tmp_path / "empty"))
    out = subprocess.run([BIN, "chat", "--continue", "x"], env=empty, stdin=subprocess.DEVNULL,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 1
    assert "no kept conversation" in out.stderr
