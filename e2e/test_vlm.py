"""A vision-language model (`[vision] mmproj`) through the real clients: the chat model with
a random-weight projector written by `ingot-test-projector`, so these check that images reach
the model through llama.cpp's mtmd in every client shape, not what it answers."""
import base64
import functools
import http.server
import os
import threading
import struct
import subprocess
import zlib

import openai
import pytest
from langchain_core.messages import HumanMessage
from langchain_nvidia_ai_endpoints import ChatNVIDIA

from conftest import Server

VLM = "meta/llama-3.2-11b-vision-instruct"
IMAGE_TOKENS = 16  # 32x32 projector input in 8x8 patches


def png(w, h, pixel):
    """PNG bytes of a w x h RGB image, pixel(x, y) -> (r, g, b)."""
    raw = b"".join(b"\0" + b"".join(bytes(pixel(x, y)) for x in range(w)) for y in range(h))

    def chunk(tag, data):
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


RED = "data:image/png;base64," + base64.b64encode(png(40, 30, lambda x, y: (220, 20, 20))).decode()
CHECKS = "data:image/png;base64," + base64.b64encode(
    png(48, 48, lambda x, y: (255, 255, 255) if (x // 6 + y // 6) % 2 else (0, 0, 0))).decode()


@pytest.fixture(scope="module")
def vlm_server(tmp_path_factory):
    tool = os.environ.get("INGOT_TEST_PROJECTOR")
    if not tool:
        if os.environ.get("CI") == "true":
            pytest.fail("INGOT_TEST_PROJECTOR is not set (scripts/test.sh sets it)")
        pytest.skip("INGOT_TEST_PROJECTOR is not set")
    d = tmp_path_factory.mktemp("vlm")
    mmproj = d / "test-mmproj.gguf"
    subprocess.run([tool, str(mmproj)], check=True)
    cfg = d / "ingot.toml"
    cfg.write_text(f'[vision]\nmmproj = "{mmproj}"\n\n[embeddings]\nenabled = false\n')
    (d / "checks.png").write_bytes(base64.b64decode(CHECKS.split(",", 1)[1]))
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(d))
    host = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=host.serve_forever, daemon=True).start()
    s = Server("--config", str(cfg), "--vision-allow", "127.0.0.1/32")
    s.image_url = f"http://127.0.0.1:{host.server_address[1]}/checks.png"
    s.wait_ready()
    yield s
    s.stop()
    host.shutdown()


@pytest.fixture()
def client(vlm_server):
    return openai.OpenAI(base_url=vlm_server.base_url, api_key="unused", max_retries=0)


def ask(client, image_urls, text="What is in the image?", max_tokens=6, **kw):
    parts = [{"type": "image_url", "image_url": {"url": u}} for u in image_urls]
    return client.chat.completions.create(
        model=VLM, max_tokens=max_tokens, temperature=0,
        messages=[{"role": "user", "content": [*parts, {"type": "text", "text": text}]}], **kw)


def top(client, url):
    """The greedy first token's top-5 alternatives for one image."""
    r = ask(client, [url], max_tokens=1, logprobs=True, top_logprobs=5)
    return [(t.token, t.logprob) for t in r.choices[0].logprobs.content[0].top_logprobs]


def test_models_name_the_projector(client):
    assert client.models.retrieve(VLM).root.endswith("+test-mmproj.gguf")


def test_openai_images_count_as_image_tokens(client):
    one = ask(client, [RED])
    two = ask(client, [RED, CHECKS])
    assert one.choices[0].message.content
    extra = two.usage.prompt_tokens - one.usage.prompt_tokens
    assert IMAGE_TOKENS <= extra <= IMAGE_TOKENS + 3


def test_openai_pixels_change_the_answer_distribution(client):
    assert top(client, RED) == top(client, RED)
    assert top(client, RED) != top(client, CHECKS)


def test_openai_stream_with_usage(client):
    stream = client.chat.completions.create(
        model=VLM, max_tokens=6, temperature=0, stream=True, stream_options={"include_usage": True},
        messages=[{"role": "user", "content": [
            {"type": "image_url", "image_url": {"url": CHECKS, "detail": "low"}},
            {"type": "text", "text": "Describe it."}]}])
    chunks = list(stream)
    assert chunks[-1].usage.prompt_tokens > IMAGE_TOKENS
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)


def test_openai_image_url_is_fetched(client, vlm_server):
    # The fetched image is the same picture as the inline one.
    assert top(client, vlm_server.image_url) == top(client, CHECKS)


def test_langchain_url_data_url_and_img_tag(vlm_server):
    llm = ChatNVIDIA(base_url=vlm_server.base_url, model=VLM, api_key="unused", temperature=0,
                     max_completion_tokens=6)
    as_part = llm.invoke([HumanMessage(content=[
        {"type": "text", "text": "What is this?"},
        {"type": "image_url", "image_url": {"url": RED}}])])
    as_tag = llm.invoke(f'What is this? <img src="{RED}" />')
    as_url = llm.invoke([HumanMessage(content=[
        {"type": "text", "text": "What is this?"},
        {"type": "image_url", "image_url": {"url": vlm_server.image_url}}])])
    assert as_part.content and as_tag.content and as_url.content
    assert as_part.usage_metadata["input_tokens"] > IMAGE_TOKENS
    assert as_tag.usage_metadata["input_tokens"] > IMAGE_TOKENS
