"""GET /openapi.json, and schemathesis against a live `ingot serve` (keys, local models).

Schemathesis generates requests from the document (valid and invalid ones, boundary values,
undeclared methods, wrong content types, missing or wrong keys) and checks every answer:
no 5xx, only documented statuses and content types, bodies and headers matching their
schemas, invalid data rejected, keys enforced.

The run is bounded: the coverage phase's boundary cases plus `INGOT_ST_MAX_EXAMPLES` fuzzed
cases per operation (25 by default), with `INGOT_ST_SEED` fixing the data (1 by default):
about 1,400 requests in 35 s on two cores.
"""
import base64
import json
import os
import subprocess
import sys
import urllib.request
import zlib

import pytest

from conftest import Server

KEY = "st-secret-key"
# Local ids the test profile names, so generated requests reach the engines instead of 404.
CHAT_IDS = ["meta/llama-3.1-8b-instruct", "deepseek-ai/deepseek-r1"]
EMBED_IDS = ["nvidia/nv-embed-v1", "baai/bge-m3"]
COMPLETION_IDS = ["meta/llama-3.1-8b-instruct", "bigcode/starcoder2-7b"]
RANKING_IDS = ["nvidia/llama-3.2-nv-rerankqa-1b-v2"]
MODEL_IDS = CHAT_IDS + EMBED_IDS + ["microsoft/trellis", "nvidia/nvclip"]
# Generated chat requests ask for at most this many tokens (and n <= 2): generation on two
# cores is the slow part of the run; the schema's ranges are untouched.
MAX_TOKENS = 4


def _png_data_url():
    """A 16x16 gray PNG, as TRELLIS image requests carry it."""
    import struct

    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    raw = b"".join(b"\x00" + bytes([128] * 16) for _ in range(16))
    png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 16, 16, 8, 0, 0, 0, 0))
           + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
    return "data:image/png;base64," + base64.b64encode(png).decode()


def _uint(v, lo):
    return type(v) is int and lo <= v <= 2**32 - 1


def _cap_generation(body):
    """Valid values stay valid and invalid ones invalid: only the amount of work shrinks."""
    for f in ("max_tokens", "max_completion_tokens"):
        if _uint(body.get(f), 1):
            body[f] = min(body[f], MAX_TOKENS)
    if body.get("max_tokens") is None and body.get("max_completion_tokens") is None:
        body["max_tokens"] = MAX_TOKENS
    if _uint(body.get("min_tokens"), 0):
        body["min_tokens"] = min(body["min_tokens"], MAX_TOKENS)
    if _uint(body.get("n"), 1) and body["n"] <= 128:
        body["n"] = min(body["n"], 2)


GUIDED = ("guided_json", "guided_choice", "guided_regex", "guided_grammar")


def _repair_chat(body):
    """Rules JSON Schema cannot state, and what the local text-only engine refuses."""
    for holder in (body, body.get("nvext")):
        if isinstance(holder, dict):
            for k in GUIDED:
                holder.pop(k, None)
    rf = body.get("response_format")
    if isinstance(rf, dict) and rf.get("type") != "text":
        del body["response_format"]
    if body.get("top_logprobs") and body.get("logprobs") is not True:
        body["logprobs"] = True
    if body.get("stream") is None and zlib.crc32(repr(body).encode()) % 3 == 0:
        body["stream"] = True  # a third of the valid requests are streamed
        body.setdefault("stream_options", {"include_usage": True})
    if isinstance(body.get("logit_bias"), dict):
        body["logit_bias"] = {k: v for k, v in body["logit_bias"].items() if int(k) < 2**32}
    for m in body.get("messages") or []:
        role = m.get("role")
        if m.get("content") is None and not (role == "assistant" and m.get("tool_calls")):
            m["content"] = "Hello"
        if role == "tool" and m.get("tool_call_id") is None:
            m["tool_call_id"] = "call_1"
        c = m.get("content")
        if isinstance(c, list):
            m["content"] = [p for p in c if p.get("type") == "text" and "<img" not in p["text"]]
        elif isinstance(c, str):
            m["content"] = c.replace("<img", "img")


def _repair_completion(body):
    """What the completion schema cannot state: an empty text prompt needs a suffix, only
    the code model fills in the middle, echo takes no logprobs, best_of equals n."""
    for holder in (body, body.get("nvext")):
        if isinstance(holder, dict):
            for k in GUIDED:
                holder.pop(k, None)
    rf = body.get("response_format")
    if isinstance(rf, dict) and rf.get("type") != "text":
        del body["response_format"]
    body.pop("suffix", None)
    body.pop("best_of", None)
    if body.get("echo") and body.get("logprobs") is not None:
        body["echo"] = False
    p = body.get("prompt")
    if p == "" or (isinstance(p, list) and "" in p):
        body["prompt"] = "Hello"
    if isinstance(body.get("logit_bias"), dict):
        body["logit_bias"] = {k: v for k, v in body["logit_bias"].items() if int(k) < 2**32}
    if body.get("stream") is None and zlib.crc32(repr(body).encode()) % 3 == 0:
        body["stream"] = True


def _repair_embeddings(body):
    if body.get("input_type") is None:
        body["input_type"] = "query"  # nv-embed-v1 is asymmetric
    body.pop("dimensions", None)  # both models have a fixed size


def _repair_trellis(body):
    if body.get("image"):
        body["image"] = _png_data_url()
    if not (body.get("prompt") or "").strip() and not body.get("image"):
        if body.get("mode") == "image":
            body["image"] = _png_data_url()
        else:
            body["prompt"] = "a small wooden chair"


def before_call(context, case, kwargs):
    """Schemathesis hook (this module is also the run's hooks module): caps chat generation in
    every case and, in cases generated as valid, repairs what only the server can judge, so
    that they reach the engines instead of a 4xx."""
    body = case.body
    path = case.operation.path
    if not isinstance(body, dict):
        return
    if path in ("/v1/chat/completions", "/v1/completions"):
        _cap_generation(body)
    if case.meta is None or not case.meta.generation.mode.is_positive:
        return
    if path == "/v1/chat/completions":
        _repair_chat(body)
    elif path == "/v1/completions":
        _repair_completion(body)
    elif path == "/v1/embeddings":
        _repair_embeddings(body)
    elif path in ("/v1/genai/microsoft/trellis", "/v1/infer"):
        _repair_trellis(body)


if os.environ.get("SCHEMATHESIS_HOOKS") == __name__:
    import schemathesis

    schemathesis.hook(before_call)


# Checks left out, and why:
# - positive_data_acceptance: a request the schema allows may still be refused, by design:
#   an unknown or wrong-kind model id (404/400), a rule JSON Schema cannot state
#   (`top_logprobs` needs `logprobs`, `content` may be null only on an assistant message with
#   tool calls, media parts only in user messages, TRELLIS images must decode, token ids
#   within the vocabulary, `suffix` only for models with fill-in-the-middle tokens), or a
#   prompt or passage longer than the model's context (400). All of these answer documented
#   4xx statuses.
EXCLUDED_CHECKS = ["positive_data_acceptance"]


@pytest.fixture(scope="module")
def st_server():
    """Local models loaded, a key required."""
    s = Server(env={"INGOT_API_KEYS": KEY})
    s.wait_ready()
    yield s
    s.stop()


def fetch(url):
    with urllib.request.urlopen(url) as r:
        return r.status, r.headers, r.read()


def test_document_is_public_and_complete(st_server):
    status, headers, body = fetch(f"{st_server.root}/openapi.json")
    assert status == 200 and headers["Content-Type"] == "application/json"
    doc = json.loads(body)
    assert doc["openapi"] == "3.1.0"
    ops = {(m, p) for p, item in doc["paths"].items() for m in item if m != "parameters"}
    assert ops == {
        ("get", "/v1/models"), ("get", "/v1/models/{model}"), ("get", "/v1/metadata"),
        ("post", "/v1/chat/completions"), ("post", "/v1/embeddings"),
        ("post", "/v1/completions"), ("post", "/v1/ranking"),
        ("post", "/v1/genai/microsoft/trellis"), ("post", "/v1/infer"),
        ("get", "/v1/health/live"), ("get", "/v1/health/ready"),
        ("get", "/health"), ("get", "/version"),
        ("get", "/metrics"), ("get", "/v1/metrics"), ("get", "/openapi.json"),
    }
    assert doc["components"]["securitySchemes"]["bearer"] == {
        **doc["components"]["securitySchemes"]["bearer"], "type": "http", "scheme": "bearer"}
    chat = doc["paths"]["/v1/chat/completions"]["post"]["responses"]
    assert set(chat["200"]["content"]) == {"application/json", "text/event-stream"}
    assert {"401", "404", "413", "415", "422", "429", "500", "502", "503", "504"} <= set(chat)


def test_schemathesis(st_server, tmp_path):
    _, _, body = fetch(f"{st_server.root}/openapi.json")
    doc = json.loads(body)
    # The test profile: model ids the local engines serve, so requests get past the 404.
    schemas = doc["components"]["schemas"]
    schemas["ChatCompletionRequest"]["properties"]["model"] = {"enum": CHAT_IDS}
    schemas["EmbeddingRequest"]["properties"]["model"] = {"enum": EMBED_IDS}
    schemas["CompletionRequest"]["properties"]["model"] = {"enum": COMPLETION_IDS}
    schemas["RankingRequest"]["properties"]["model"] = {"enum": RANKING_IDS}
    doc["paths"]["/v1/models/{model}"]["parameters"][0]["schema"] = {"enum": MODEL_IDS}
    (tmp_path / "openapi.json").write_text(json.dumps(doc))

    cmd = [
        sys.executable, "-m", "schemathesis.cli", "run", str(tmp_path / "openapi.json"),
        "--url", st_server.root,
        "--header", f"Authorization: Bearer {KEY}",
        "--checks", "all",
        "--exclude-checks", ",".join(EXCLUDED_CHECKS),
        "--phases", "examples,coverage,fuzzing",
        "--max-examples", os.environ.get("INGOT_ST_MAX_EXAMPLES", "25"),
        "--seed", os.environ.get("INGOT_ST_SEED", "1"),
        # One worker: Hypothesis's lambda-source cache is not thread-safe on Python 3.11
        # ("AST constructor recursion depth mismatch" errors with two).
        "--workers", "1",
        "--request-timeout", "60",
        "--suppress-health-check", "too_slow,filter_too_much,data_too_large",
        "--warnings", "off",
        "--report", "junit",
        "--report-junit-path", str(tmp_path / "junit.xml"),
        "--generation-database", "none",
        "--no-color",
    ]
    here = os.path.dirname(os.path.abspath(__file__))
    env = dict(os.environ, SCHEMATHESIS_HOOKS="test_openapi",
               PYTHONPATH=f"{here}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    run = subprocess.run(cmd, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    out = run.stdout + run.stderr
    print(out)
    assert run.returncode == 0, out[-20000:]
    summary = out[out.rfind("SUMMARY"):]
    assert "Tested: 16" in summary and "No issues found" in summary, summary
