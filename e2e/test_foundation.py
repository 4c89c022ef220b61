"""Model listing, auth and error envelopes through openai-python and LangChain."""
import json
import urllib.error
import urllib.request

import openai
import pytest
from langchain_nvidia_ai_endpoints import ChatNVIDIA, NVIDIAEmbeddings

from conftest import API_KEY

REFERENCE_IDS = [
    "meta/llama-3.3-70b-instruct", "meta/llama-3.1-8b-instruct", "deepseek-ai/deepseek-r1",
    "mistralai/codestral-22b-instruct-v0.1", "nvidia/nemotron-nano-12b-v2-vl",
    "meta/llama-3.2-90b-vision-instruct", "nvidia/nv-embed-v1", "baai/bge-m3", "microsoft/trellis",
    "nvidia/streampetr", "nvidia/nvclip", "google/deplot",
]


def test_openai_lists_and_retrieves_models(server):
    client = openai.OpenAI(base_url=server.base_url, api_key="unused")
    ids = [m.id for m in client.models.list()]
    for rid in REFERENCE_IDS:
        assert rid in ids
    m = client.models.retrieve("meta/llama-3.1-8b-instruct")  # sent as meta%2Fllama…
    assert m.id == "meta/llama-3.1-8b-instruct"
    assert m.owned_by == "meta"
    assert m.model_extra["root"] == "HuggingFaceTB/SmolLM2-135M-Instruct"


def test_langchain_lists_models(server):
    models = ChatNVIDIA.get_available_models(base_url=server.base_url)
    ids = {m.id for m in models}
    assert "meta/llama-3.3-70b-instruct" in ids
    emb = NVIDIAEmbeddings.get_available_models(base_url=server.base_url)
    assert "nvidia/nv-embed-v1" in {m.id for m in emb}


def test_openai_401_with_wrong_and_right_key(keyed_server):
    bad = openai.OpenAI(base_url=keyed_server.base_url, api_key="wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as e:
        bad.models.list()
    assert e.value.status_code == 401
    assert "API key" in e.value.message
    good = openai.OpenAI(base_url=keyed_server.base_url, api_key=API_KEY)
    assert any(m.id == "baai/bge-m3" for m in good.models.list())


def test_langchain_401_bogus_key(keyed_server):
    llm = ChatNVIDIA(base_url=keyed_server.base_url, model="meta/llama-3.1-8b-instruct",
                     api_key="bogus")
    with pytest.raises(Exception) as e:
        llm.invoke("Hello")
    text = str(e.value)
    assert "401" in text and "Unauthorized" in text and "API key" in text


def test_langchain_401_without_any_key(keyed_server, monkeypatch):
    monkeypatch.delenv("NVIDIA_API_KEY", raising=False)
    llm = ChatNVIDIA(base_url=keyed_server.base_url, model="meta/llama-3.1-8b-instruct")
    with pytest.raises(Exception) as e:
        llm.invoke("Hello")
    assert "401" in str(e.value)


def test_401_headers_and_envelope(keyed_server):
    req = urllib.request.Request(f"{keyed_server.base_url}/models")
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(req)
    assert e.value.code == 401
    assert e.value.headers["WWW-Authenticate"].startswith("Bearer")
    body = json.loads(e.value.read())
    assert body["title"] == "Unauthorized" and isinstance(body["requestId"], str)
    assert body["requestId"] == e.value.headers["x-request-id"]
    assert body["error"]["code"] == "invalid_api_key"


def test_openai_404_unknown_model(server):
    client = openai.OpenAI(base_url=server.base_url, api_key="unused", max_retries=0)
    with pytest.raises(openai.NotFoundError) as e:
        client.chat.completions.create(model="nope/not-a-model",
                                       messages=[{"role": "user", "content": "hi"}])
    assert e.value.code == "model_not_found" and e.value.param == "model"
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("nope/not-a-model")


def test_langchain_404_unknown_model(server):
    llm = ChatNVIDIA(base_url=server.base_url, model="nope/not-a-model", api_key="unused")
    with pytest.raises(Exception) as e:
        llm.invoke("Hello")
    assert "404" in str(e.value)


def test_openai_422_has_field_path(server):
    client = openai.OpenAI(base_url=server.base_url, api_key="unused", max_retries=0)
    with pytest.raises(openai.UnprocessableEntityError) as e:
        client.chat.completions.create(model="meta/llama-3.1-8b-instruct",
                                       messages=[{"role": "wizard", "content": "hi"}])
    assert "body -> messages -> 0 -> role" in e.value.message
