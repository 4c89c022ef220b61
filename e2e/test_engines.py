"""Chat, embeddings and 3D through the real clients against the local models."""
import base64
import json
import struct
import urllib.request

import openai
import pytest
from langchain_nvidia_ai_endpoints import ChatNVIDIA, NVIDIAEmbeddings

CHAT = "meta/llama-3.1-8b-instruct"
MSG = [{"role": "user", "content": "Write one sentence about the sea."}]


@pytest.fixture()
def client(server):
    return openai.OpenAI(base_url=server.base_url, api_key="unused", max_retries=0)


def test_openai_chat_non_stream(client):
    r = client.chat.completions.create(model=CHAT, messages=MSG, max_tokens=12, temperature=0)
    assert r.model == CHAT
    assert r.choices[0].message.content
    assert r.choices[0].finish_reason in ("stop", "length")
    assert r.usage.completion_tokens <= 12
    assert r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens


def test_openai_chat_stream_matches_non_stream(client):
    full = client.chat.completions.create(model=CHAT, messages=MSG, max_tokens=16, temperature=0)
    chunks = list(client.chat.completions.create(
        model=CHAT, messages=MSG, max_tokens=16, temperature=0, stream=True,
        stream_options={"include_usage": True}))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == full.choices[0].message.content
    usage = [c.usage for c in chunks if c.usage]
    assert len(usage) == 1 and usage[0].completion_tokens == full.usage.completion_tokens
    assert chunks[0].choices[0].delta.role == "assistant"


def test_openai_seed_n_and_stop(client):
    kw = dict(model=CHAT, messages=MSG, max_tokens=16, temperature=1.0)
    a = client.chat.completions.create(seed=7, **kw).choices[0].message.content
    b = client.chat.completions.create(seed=7, **kw).choices[0].message.content
    assert a == b
    outs = {client.chat.completions.create(**kw).choices[0].message.content for _ in range(3)}
    assert len(outs) > 1
    r = client.chat.completions.create(n=3, seed=1, **kw)
    assert [c.index for c in r.choices] == [0, 1, 2]
    greedy = client.chat.completions.create(model=CHAT, messages=MSG, max_tokens=16, temperature=0)
    text = greedy.choices[0].message.content
    word = text.split()[2]
    stopped = client.chat.completions.create(model=CHAT, messages=MSG, max_tokens=16,
                                             temperature=0, stop=[word])
    assert stopped.choices[0].finish_reason == "stop"
    assert word not in stopped.choices[0].message.content
    assert text.startswith(stopped.choices[0].message.content)


def test_langchain_chat_invoke_and_stream(server):
    llm = ChatNVIDIA(base_url=server.base_url, model=CHAT, api_key="unused", max_tokens=21,
                     temperature=0)
    r = llm.invoke("Say something about rivers.")
    assert r.content
    assert r.response_metadata["token_usage"]["completion_tokens"] <= 21
    chunks = list(llm.stream("Say something about rivers."))
    assert "".join(c.content for c in chunks) == r.content
    total = None
    for c in chunks:
        total = c if total is None else total + c
    assert total.usage_metadata["output_tokens"] == r.response_metadata["token_usage"]["completion_tokens"]


def test_openai_embeddings_base64_equals_float(client):
    f = client.embeddings.create(model="nvidia/nv-embed-v1", input=["hello world"],
                                 encoding_format="float", extra_body={"input_type": "query"})
    d = client.embeddings.create(model="nvidia/nv-embed-v1", input=["hello world"],
                                 extra_body={"input_type": "query"})
    assert len(d.data[0].embedding) == 384
    assert d.data[0].embedding == pytest.approx(f.data[0].embedding, abs=1e-7)
    assert d.usage.prompt_tokens == d.usage.total_tokens > 0


def test_nv_embed_takes_an_absent_input_type_as_query(client):
    # The reference sends none for nvidia/nv-embed-v1 (NIM 2.x makes it optional).
    plain = client.embeddings.create(model="nvidia/nv-embed-v1", input=["x"]).data[0].embedding
    query = client.embeddings.create(model="nvidia/nv-embed-v1", input=["x"],
                                     extra_body={"input_type": "query"}).data[0].embedding
    assert plain == query
    r = client.embeddings.create(model="nvidia/nv-embed-v1-passage", input=["x"])
    assert len(r.data) == 1


def test_langchain_embeddings(server):
    emb = NVIDIAEmbeddings(base_url=server.base_url, model="nvidia/nv-embed-v1", api_key="unused")
    q = emb.embed_query("What is the capital of France?")
    assert len(q) == 384
    docs = emb.embed_documents([f"document number {i}" for i in range(101)])
    assert len(docs) == 101 and all(len(v) == 384 for v in docs)
    long = "nvidia " * 2048
    with pytest.raises(Exception) as e:
        NVIDIAEmbeddings(base_url=server.base_url, model="nvidia/nv-embed-v1", api_key="unused",
                         truncate="NONE").embed_query(long)
    assert "exceeds maximum allowed token size" in str(e.value)
    for mode in ("START", "END"):
        v = NVIDIAEmbeddings(base_url=server.base_url, model="nvidia/nv-embed-v1",
                             api_key="unused", truncate=mode).embed_query(long)
        assert len(v) == 384


def test_multilingual_translations_are_close(client):
    texts = ["The cat sleeps on the sofa.", "Le chat dort sur le canapé.",
             "Die Börse ist heute gefallen."]
    r = client.embeddings.create(model="baai/bge-m3", input=texts, encoding_format="float")
    v = [x.embedding for x in r.data]
    dot = lambda a, b: sum(x * y for x, y in zip(a, b))
    assert dot(v[0], v[1]) > dot(v[0], v[2])


def test_trellis_reference_helper(server):
    """The reference's Python helper: base64.b64decode(r.json()["output"]["glb"])."""
    body = json.dumps({"prompt": "A wooden chair", "seed": 42, "output_format": "glb"}).encode()
    req = urllib.request.Request(f"{server.base_url}/genai/microsoft/trellis", data=body,
                                 headers={"Content-Type": "application/json",
                                          "Authorization": "Bearer unused"})
    with urllib.request.urlopen(req) as r:
        data = json.loads(r.read())
    glb = base64.b64decode(data["output"]["glb"])
    magic, version, length = struct.unpack("<4sII", glb[:12])
    assert magic == b"glTF" and version == 2 and length == len(glb)
    assert data["artifacts"][0]["finishReason"] == "SUCCESS"
    assert base64.b64decode(data["artifacts"][0]["base64"]) == glb
    assert data["artifacts"][0]["seed"] == 42
