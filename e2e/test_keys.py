"""Managed keys through the real clients: per-key limits answer 429 with Retry-After, which
openai-python honours; the ledger (`ingot usage`) equals the usage the clients received."""
import json
import os
import subprocess
import threading
import time
import urllib.request

import openai
import pytest

from conftest import BIN, Server

CHAT = "meta/llama-3.1-8b-instruct"
MSG = [{"role": "user", "content": "Write two sentences about mountains."}]


def ingot(db, *args):
    out = subprocess.run([BIN, *args], env={**os.environ, "INGOT_KEYS_DB": db},
                         capture_output=True, text=True, check=True)
    return out.stdout


@pytest.fixture(scope="module")
def keyed(tmp_path_factory):
    db = str(tmp_path_factory.mktemp("keys") / "keys.db")
    keys = {name: json.loads(ingot(db, "keys", "create", "--name", name, *limits, "--json"))
            for name, limits in [("serial", ["--concurrency", "1"]), ("rpm", ["--rpm", "2"]),
                                 ("ledger", [])]}
    s = Server("--no-embeddings", env={"INGOT_KEYS_DB": db})
    s.wait_ready()
    yield s, db, keys
    s.stop()


def test_keys_list_and_auth(keyed):
    s, db, keys = keyed
    listing = json.loads(ingot(db, "keys", "list", "--json"))
    assert {k["name"] for k in listing} == {"serial", "rpm", "ledger"}
    # Secrets are never listed, only their first characters.
    text = json.dumps(listing)
    assert all(k["key"] not in text and k["key"].startswith(r["prefix"])
               for k, r in zip(keys.values(), listing))
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=s.base_url, api_key="ingot-nope", max_retries=0).models.list()
    ok = openai.OpenAI(base_url=s.base_url, api_key=keys["ledger"]["key"], max_retries=0)
    assert any(m.id == CHAT for m in ok.models.list())


def test_retry_after_is_honoured_by_openai_python(keyed):
    s, _, keys = keyed
    # Enough retries (each waits the 1 s Retry-After) for the first answer to end even on a
    # loaded machine; 48 tokens, so that the second request meets the first one running.
    client = openai.OpenAI(base_url=s.base_url, api_key=keys["serial"]["key"], max_retries=12)
    results, errors = [], []

    def call():
        t0 = time.time()
        try:
            r = client.chat.completions.create(model=CHAT, messages=MSG, max_tokens=48,
                                               temperature=0)
            results.append((time.time() - t0, r.usage.completion_tokens))
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=call) for _ in range(2)]
    for t in threads:
        t.start()
        time.sleep(0.05)
    for t in threads:
        t.join()
    assert not errors, errors
    assert len(results) == 2
    # One of the two waited for the Retry-After (1 s) of a 429 and then succeeded.
    assert max(d for d, _ in results) >= 1.0
    metrics = urllib.request.urlopen(f"{s.root}/metrics").read().decode()
    assert 'ingot_rate_limited_total{reason="concurrent requests"}' in metrics


def test_rate_limit_error_carries_retry_after(keyed):
    s, _, keys = keyed
    client = openai.OpenAI(base_url=s.base_url, api_key=keys["rpm"]["key"], max_retries=0)
    client.models.list()
    client.models.list()
    with pytest.raises(openai.RateLimitError) as e:
        client.models.list()
    h = e.value.response.headers
    assert 1 <= int(h["retry-after"]) <= 60
    assert h["x-ratelimit-limit-requests"] == "2"
    assert h["x-ratelimit-remaining-requests"] == "0"


def test_ledger_equals_usage_returned(keyed):
    s, db, keys = keyed
    client = openai.OpenAI(base_url=s.base_url, api_key=keys["ledger"]["key"], max_retries=0)
    prompt = completion = 0
    for n in (8, 13):
        r = client.chat.completions.create(model=CHAT, messages=MSG, max_tokens=n)
        prompt += r.usage.prompt_tokens
        completion += r.usage.completion_tokens
    chunks = list(client.chat.completions.create(model=CHAT, messages=MSG, max_tokens=7,
                                                 stream=True,
                                                 stream_options={"include_usage": True}))
    usage = [c.usage for c in chunks if c.usage][0]
    prompt += usage.prompt_tokens
    completion += usage.completion_tokens
    rows = json.loads(ingot(db, "usage", "--key", keys["ledger"]["id"], "--json"))
    chat = [r for r in rows if r["model"] == CHAT]
    assert sum(r["requests"] for r in chat) == 3
    assert sum(r["prompt_tokens"] for r in chat) == prompt
    assert sum(r["completion_tokens"] for r in chat) == completion
    table = ingot(db, "usage", "--key", keys["ledger"]["id"])
    assert CHAT in table and "total" in table
