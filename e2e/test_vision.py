"""Vision through the real clients: images as URL, data URL, bare string and <img> tag,
several images, a video, and the refusals (internal addresses, asset ids, file URLs)."""
import base64
import functools
import http.server
import os
import shutil
import subprocess
import threading

import openai
import pytest
from langchain_core.messages import HumanMessage
from langchain_nvidia_ai_endpoints import ChatNVIDIA

VLM = "meta/llama-3.2-11b-vision-instruct"
FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"


def ffmpeg(*args):
    if shutil.which("ffmpeg") is None:
        if os.environ.get("INGOT_REQUIRE_TOOLS") == "1":
            pytest.fail("ffmpeg is missing (scripts/test.sh installs it)")
        pytest.skip("ffmpeg is missing")
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", *args], check=True)


def sign(path, text, size="800x200"):
    """A PNG with `text` in large black letters on white."""
    ffmpeg("-f", "lavfi", "-i", f"color=white:s={size}", "-vf",
           f"drawtext=fontfile={FONT}:text='{text}':fontsize=56:x=30:y=70:fontcolor=black",
           "-frames:v", "1", str(path))
    return path


def data_url(path, mime="image/png"):
    return f"data:{mime};base64," + base64.b64encode(open(path, "rb").read()).decode()


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    d = tmp_path_factory.mktemp("media")
    sign(d / "open.png", "OPEN DAILY 9 TO 5")
    sign(d / "exit.png", "EMERGENCY EXIT")
    # Three seconds, a different word each second.
    ffmpeg("-f", "lavfi", "-i", "color=white:s=640x240:d=3", "-vf",
           ",".join(f"drawtext=fontfile={FONT}:text='{w}':fontsize=72:x=60:y=80:fontcolor=black:"
                    f"enable='between(t,{i},{i + 1})'"
                    for i, w in enumerate(["ALPHA", "BRAVO", "CHARLIE"])),
           "-c:v", "libx264", "-pix_fmt", "yuv420p", str(d / "clip.mp4"))
    return d


class Counting(http.server.SimpleHTTPRequestHandler):
    hits = 0

    def do_GET(self):
        type(self).hits += 1
        super().do_GET()

    def log_message(self, *a):
        pass


@pytest.fixture(scope="module")
def image_host(media):
    """Serves the media folder on 127.0.0.1 (allowed by the server's --vision-allow)."""
    handler = functools.partial(Counting, directory=str(media))
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()


@pytest.fixture()
def client(server):
    return openai.OpenAI(base_url=server.base_url, api_key="unused", max_retries=0)


def ask(client, parts, text="What does the sign say?", max_tokens=60):
    r = client.chat.completions.create(
        model=VLM, temperature=0, max_tokens=max_tokens,
        messages=[{"role": "user", "content": [{"type": "text", "text": text}, *parts]}])
    assert r.model == VLM
    return r


def test_openai_data_url_image_is_read(client, media):
    r = ask(client, [{"type": "image_url", "image_url": {"url": data_url(media / "open.png")}}])
    answer = r.choices[0].message.content.lower()
    assert "open" in answer and "daily" in answer, answer


@pytest.mark.parametrize("words", ["OPEN DAILY 9 TO 5", "EMERGENCY EXIT", "FRESH BREAD SOLD HERE"])
def test_the_default_pack_relays_what_is_written(client, media, words):
    """The vision ids' text model (the default pack's larger one) answers the plain
    question with the words OCR read."""
    path = media / (words.replace(" ", "_") + ".png")
    if not path.exists():
        sign(path, words, size="1000x200")
    r = ask(client, [{"type": "image_url", "image_url": {"url": data_url(path)}}],
            text="What text is written in this image?")
    answer = r.choices[0].message.content.upper()
    for w in words.split():
        assert w in answer, answer


def test_openai_url_and_several_images(client, media, image_host):
    one = ask(client, [{"type": "image_url", "image_url": {"url": f"{image_host}/open.png"}}])
    assert "open" in one.choices[0].message.content.lower()
    two = ask(client, [
        {"type": "image_url", "image_url": {"url": f"{image_host}/open.png", "detail": "high"}},
        {"type": "image_url", "image_url": data_url(media / "exit.png")},  # bare string form
    ], text="What do the two signs say?")
    # The second image's description (its OCR text) reached the model.
    assert two.usage.prompt_tokens > one.usage.prompt_tokens + 10
    assert two.choices[0].message.content


def test_openai_streamed_video_answer(client, media):
    stream = client.chat.completions.create(
        model="nvidia/nemotron-nano-12b-v2-vl", temperature=0, max_tokens=40, stream=True,
        messages=[{"role": "user", "content": [
            {"type": "text", "text": "Which words appear in the video, and when?"},
            {"type": "video_url", "video_url": {"url": data_url(media / "clip.mp4", "video/mp4")}}]}])
    text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert text


def test_langchain_url_data_and_img_tag(server, media, image_host):
    llm = ChatNVIDIA(base_url=server.base_url, model=VLM, api_key="unused", temperature=0,
                     max_tokens=60)
    q = "What does the sign say?"
    for url in (f"{image_host}/open.png", data_url(media / "open.png")):
        r = llm.invoke([HumanMessage(content=[{"type": "text", "text": q},
                                              {"type": "image_url", "image_url": {"url": url}}])])
        assert "open" in r.content.lower(), r.content
    tag = f'{q} <img src="{data_url(media / "open.png")}" />'
    r = llm.invoke(tag)
    assert "open" in r.content.lower(), r.content
    chunks = list(llm.stream(tag))
    assert "".join(c.content for c in chunks) == r.content


def test_refusals(client, media):
    # 127.0.0.2 is loopback but not allowlisted: refused before any connection.
    srv = http.server.ThreadingHTTPServer(("127.0.0.2", 0), functools.partial(Counting, directory=str(media)))
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    Counting.hits = 0
    try:
        for url in (f"http://127.0.0.2:{srv.server_address[1]}/open.png",
                    "http://169.254.169.254/latest/meta-data/",
                    "file:///etc/passwd",
                    "data:image/png;asset_id,2f1c3e1a-0000-4000-8000-000000000000"):
            with pytest.raises(openai.UnprocessableEntityError) as e:
                ask(client, [{"type": "image_url", "image_url": {"url": url}}])
            assert "image_url" in e.value.message
        assert Counting.hits == 0
    finally:
        srv.shutdown()
    video = {"type": "video_url", "video_url": {"url": data_url(media / "clip.mp4", "video/mp4")}}
    with pytest.raises(openai.UnprocessableEntityError) as e:
        ask(client, [video, video])
    assert "video" in e.value.message.lower()
    # A text-only model says where images go.
    with pytest.raises(openai.UnprocessableEntityError):
        client.chat.completions.create(model="meta/llama-3.1-8b-instruct", max_tokens=5, messages=[
            {"role": "user", "content": [{"type": "image_url", "image_url": {"url": data_url(media / "open.png")}}]}])
