"""The web playground at `/`, driven in a real headless Chromium (Debian's `chromium`,
through Playwright for Python; no browser is downloaded) against the real `ingot serve`
with the local models.

Screenshots of each tab go to $INGOT_E2E_ARTIFACTS (a new temporary folder when unset);
the folder is printed at the end of the run.
"""
import base64
import json
import os
import struct
import subprocess
import sys
import tempfile
import zlib
from pathlib import Path

import pytest

from conftest import BIN, Server

playwright_api = pytest.importorskip("playwright.sync_api")

CHROMIUM = os.environ.get("INGOT_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
ARTIFACTS = Path(os.environ.get("INGOT_E2E_ARTIFACTS") or tempfile.mkdtemp(prefix="ingot-playground-"))
FAST_CHAT = "meta/llama-3.1-8b-instruct"  # served by the small local model
BACKGROUND = (28, 31, 36)  # viewer.js BACKGROUND × 255
# Developing the page: serve crates/ingot-server/ui/ from disk instead of the binary's copy,
# so a change shows without rebuilding. Unset in CI.
DEV_DIR = os.environ.get("INGOT_UI_DEV_DIR")


# ---------------------------------------------------------------- PNG without Pillow
def make_png(width, height, pixel):
    """An RGB PNG whose pixel (x, y) is `pixel(x, y)`."""
    raw = b"".join(b"\x00" + b"".join(bytes(pixel(x, y)) for x in range(width)) for y in range(height))

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def read_png(data):
    """(width, height, rows of (r, g, b) tuples) of an 8-bit RGB or RGBA PNG."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat = 8, b""
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            w, h, depth, ctype = struct.unpack(">IIBB", body[:10])
            assert depth == 8 and ctype in (2, 6), (depth, ctype)
        elif kind == b"IDAT":
            idat += body
        pos += 12 + n
    bpp = 3 if ctype == 2 else 4
    raw = zlib.decompress(idat)
    stride = w * bpp
    prev = bytearray(stride)
    rows = []
    for y in range(h):
        f = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            if f == 1:
                line[i] = (line[i] + a) & 255
            elif f == 2:
                line[i] = (line[i] + b) & 255
            elif f == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append([tuple(line[i:i + 3]) for i in range(0, stride, bpp)])
        prev = line
    return w, h, rows


def non_background_share(png):
    w, h, rows = read_png(png)
    off = sum(1 for row in rows for px in row
              if max(abs(px[k] - BACKGROUND[k]) for k in range(3)) > 24)
    return off / (w * h)


# ---------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def browser(request):
    if not os.path.exists(CHROMIUM):
        if os.environ.get("INGOT_REQUIRE_TOOLS") == "1":
            pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium")
        pytest.skip(f"{CHROMIUM} is missing")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    with capture.global_and_fixture_disabled():
        print(f"\nplayground screenshots: {ARTIFACTS}", file=sys.stderr)
    with playwright_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


class Page:
    """A fresh browser context and page that records console errors and dialogs."""

    def __init__(self, browser, root, width=1280):
        self.ctx = browser.new_context(viewport={"width": width, "height": 900}, accept_downloads=True)
        self.page = self.ctx.new_page()
        self.page.set_default_timeout(30_000)
        self.errors, self.dialogs = [], []
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("dialog", lambda d: (self.dialogs.append(d.message), d.dismiss()))
        self.root = root
        if DEV_DIR:
            self.page.route(f"{root}/ui/*", self._from_disk)
            self.page.route(f"{root}/", self._from_disk)

    @staticmethod
    def _from_disk(route):
        """The server's response (its headers: content type, CSP) with the file on disk."""
        name = route.request.url.split("?")[0].rsplit("/", 1)[-1] or "index.html"
        route.fulfill(response=route.fetch(), body=(Path(DEV_DIR) / name).read_bytes())

    def open(self, tab="chat"):
        self.page.goto(f"{self.root}/#{tab}")
        self.page.wait_for_function("() => document.querySelectorAll('#chat-model option').length > 0")
        return self.page

    def shot(self, name):
        path = ARTIFACTS / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path


@pytest.fixture
def ui(browser, server, request):
    p = Page(browser, server.root)
    yield p
    p.shot(f"last-{request.node.name}")  # what the page showed at the end, pass or fail
    p.ctx.close()


def assert_no_errors(ui):
    assert ui.errors == [], ui.errors
    assert ui.dialogs == [], ui.dialogs


# ---------------------------------------------------------------- tests
def test_page_loads_without_console_errors_and_tabs_work_by_keyboard(ui):
    page = ui.open()
    assert page.title() == "ingot playground"
    options = page.locator("#chat-model option").all_text_contents()
    # The picker shows what each id runs on (`root`).
    assert any(o.startswith(FAST_CHAT) and "SmolLM2" in o for o in options), options
    page.focus("#tab-chat")
    page.keyboard.press("ArrowRight")
    assert page.get_attribute("#tab-vision", "aria-selected") == "true"
    assert page.is_visible("#panel-vision") and not page.is_visible("#panel-chat")
    assert page.evaluate("document.activeElement.id") == "tab-vision"
    page.keyboard.press("End")
    assert page.get_attribute("#tab-3d", "aria-selected") == "true"
    page.keyboard.press("Home")
    assert page.is_visible("#panel-chat")
    # Labels for every form field.
    unlabelled = page.evaluate("""[...document.querySelectorAll('input, select, textarea')]
        .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label')).map(e => e.id)""")
    assert unlabelled == [], unlabelled
    assert_no_errors(ui)


def test_narrow_window_does_not_break_the_layout(browser, server):
    p = Page(browser, server.root, width=800)
    try:
        page = p.open()
        for tab in ["chat", "vision", "embed", "3d"]:
            page.click(f"#tab-{tab}")
            assert page.is_visible(f"#panel-{tab}")
            wide = page.evaluate("document.documentElement.scrollWidth")
            assert wide <= 800, (tab, wide)
            p.shot(f"narrow-800px-{tab}")
        assert_no_errors(p)
    finally:
        p.ctx.close()


def chat_settings(page, max_tokens, temperature="0", seed="1"):
    page.select_option("#chat-model", FAST_CHAT)
    page.fill("#chat-max-tokens", str(max_tokens))
    page.fill("#chat-temperature", temperature)
    page.fill("#chat-seed", seed)


def wait_answer(page, panel, timeout=240_000):
    """Waits until the last answer of `panel` (chat, vision) is done or stopped, or an error
    shows; fails with the error's text."""
    handle = page.wait_for_function(f"""() => {{
        const err = document.getElementById('{panel}-error');
        if (!err.hidden) return 'error: ' + err.textContent;
        const a = [...document.querySelectorAll('#{panel}-log .msg.assistant')].at(-1);
        return a && a.dataset.state;
    }}""", timeout=timeout)
    state = handle.json_value()
    assert state in ("done", "stopped"), state
    return state


def last_answer(page):
    return page.locator("#chat-log .msg.assistant").last


def test_chat_streams_shows_usage_and_stop_ends_it(ui):
    page = ui.open()
    chat_settings(page, 24)
    page.fill("#chat-input", "Say hello in one short sentence.")
    page.click("#chat-send")
    answer = last_answer(page)
    assert wait_answer(page, "chat") == "done"
    assert answer.locator(".content").inner_text().strip()
    meta = answer.locator(".meta").inner_text()
    assert "time to first token" in meta and "completion tokens" in meta, meta

    # A long answer, stopped while it streams.
    chat_settings(page, 1500, temperature="0.8")
    page.fill("#chat-input", "Count from 1 to 1000, one number per line, with no other text.")
    page.click("#chat-send")
    page.wait_for_function("""() => {
        const a = [...document.querySelectorAll('#chat-log .msg.assistant')].at(-1);
        return a && a.querySelectorAll('.content')[0].textContent.length > 5 && !a.dataset.state;
    }""", timeout=60_000)
    assert page.is_enabled("#chat-stop") and page.is_disabled("#chat-send")
    ui.shot("chat-streaming")
    page.click("#chat-stop")
    page.wait_for_selector("#chat-log .msg.assistant:last-child[data-state=stopped]", timeout=10_000)
    answer = last_answer(page)
    text = answer.locator(".content").inner_text()
    page.wait_for_timeout(1500)
    assert answer.locator(".content").inner_text() == text, "text kept arriving after stop"
    assert "stopped" in answer.locator(".meta").inner_text()
    assert page.is_enabled("#chat-send") and page.is_disabled("#chat-stop")
    assert len(page.locator("#chat-log .msg.user").all()) == 2
    ui.shot("chat")
    assert_no_errors(ui)


DANGEROUS = "<script>alert(1)</script>"


def test_markup_in_messages_and_model_output_is_shown_as_text(ui):
    page = ui.open()
    crafted = ("<script>alert(1)</script>\n**bold** and `<img src=x onerror=alert(2)>`\n"
               "```html\n<script>alert(3)</script>\n```\n<img src=x onerror=alert(4)>\n"
               "- <b>item</b>\n# <iframe src=x></iframe>")
    out = page.evaluate("""(s) => {
        const d = document.createElement('div');
        d.innerHTML = window.ingotPlayground.renderMarkdown(s);
        document.body.append(d);
        const r = {bad: d.querySelectorAll('script, img, iframe, b').length, text: d.textContent,
                   strong: d.querySelectorAll('strong').length, pre: d.querySelectorAll('pre code').length,
                   li: d.querySelectorAll('li').length, h1: d.querySelectorAll('h1').length};
        d.remove();
        return r;
    }""", crafted)
    assert out["bad"] == 0, out
    for needle in [DANGEROUS, "<img src=x onerror=alert(2)>", "<script>alert(3)</script>", "<b>item</b>"]:
        assert needle in out["text"], out
    assert out["strong"] == 1 and out["pre"] == 1 and out["li"] == 1 and out["h1"] == 1, out

    chat_settings(page, 32)
    page.fill("#chat-input", f"Repeat this exactly: {DANGEROUS}")
    page.click("#chat-send")
    assert wait_answer(page, "chat") == "done"
    assert DANGEROUS in page.locator("#chat-log .msg.user .content").inner_text()
    assert page.locator("#chat-log script, #chat-log img, #chat-log iframe").count() == 0
    page.wait_for_timeout(300)
    assert_no_errors(ui)


WEATHER_TOOL = [{"type": "function", "function": {
    "name": "get_weather", "description": "The weather in a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]


def test_tool_calls_and_structured_output(ui):
    page = ui.open()
    chat_settings(page, 40)
    page.click("#panel-chat details summary")
    page.fill("#chat-tools", json.dumps(WEATHER_TOOL))
    page.select_option("#chat-tool-choice", "required")
    page.uncheck("#chat-parallel")
    page.fill("#chat-input", "What is the weather in Paris?")
    page.click("#chat-send")
    assert wait_answer(page, "chat") == "done"
    call = last_answer(page).locator(".tool-call")
    assert "get_weather" in call.locator(".tool-name").inner_text()
    assert "city" in json.loads(call.locator("pre").inner_text())
    # The result typed in goes back with the next message, and the model answers.
    call.locator("textarea").fill('{"temperature_c": 21, "sky": "clear"}')
    page.fill("#chat-tools", "")
    chat_settings(page, 12)
    page.fill("#chat-input", "So, what is it like?")
    page.click("#chat-send")
    assert wait_answer(page, "chat") == "done"
    assert last_answer(page).locator(".content").inner_text().strip()
    ui.shot("chat-tools")

    page.click("#chat-clear")
    chat_settings(page, 48)
    schema = {"type": "object", "properties": {"city": {"type": "string"}, "sunny": {"type": "boolean"}},
              "required": ["city", "sunny"]}
    page.fill("#chat-schema", json.dumps(schema))
    page.fill("#chat-input", "Paris is sunny today. Answer in JSON.")
    page.click("#chat-send")
    assert wait_answer(page, "chat") == "done"
    answer = json.loads(last_answer(page).locator(".content").inner_text())
    assert set(answer) == {"city", "sunny"} and isinstance(answer["sunny"], bool), answer
    assert_no_errors(ui)


def test_an_uploaded_image_gets_an_answer(ui):
    page = ui.open("vision")
    png = make_png(96, 64, lambda x, y: (220, 30, 30) if x < 48 else (30, 30, 220))
    page.set_input_files("#vision-files", files=[{"name": "halves.png", "mimeType": "image/png", "buffer": png}])
    page.wait_for_selector("#vision-thumbs img")
    # Dropping a file attaches it too; each attachment can be removed.
    page.evaluate("""(b64) => {
        const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
        const dt = new DataTransfer();
        dt.items.add(new File([bytes], 'dropped.png', {type: 'image/png'}));
        document.getElementById('vision-drop').dispatchEvent(
            new DragEvent('drop', {dataTransfer: dt, bubbles: true, cancelable: true}));
    }""", base64.b64encode(png).decode())
    page.wait_for_function("() => document.querySelectorAll('#vision-thumbs img').length === 2")
    page.click("#vision-thumbs button[aria-label='Remove dropped.png']")
    assert page.locator("#vision-thumbs img").count() == 1
    page.fill("#vision-max-tokens", "48")
    page.fill("#vision-input", "What colours does this image have?")
    page.click("#vision-send")
    assert wait_answer(page, "vision") == "done"
    assert page.locator("#vision-log .msg.assistant .content").inner_text().strip()
    assert page.is_hidden("#vision-error")
    ui.shot("vision")
    assert_no_errors(ui)


def test_embeddings_heat_map_has_one_cell_per_pair(ui):
    page = ui.open("embed")
    texts = ["The cat sits on the mat.", "A kitten is resting on a rug.",
             "Stock markets fell sharply today.", "Investors sold shares as prices dropped.",
             "<b>not bold</b>"]
    page.fill("#embed-input", "\n".join(texts) + "\n\n")
    page.select_option("#embed-input-type", "query")
    page.click("#embed-send")
    page.wait_for_selector(".heat td.cell")
    cells = page.locator(".heat td.cell")
    assert cells.count() == len(texts) ** 2
    value = lambda i, j: float(page.locator(f".heat td.cell[data-i='{i}'][data-j='{j}']").inner_text())
    for i in range(len(texts)):
        assert value(i, i) == pytest.approx(1.0, abs=0.01)
    assert value(0, 1) == value(1, 0)
    assert value(0, 1) > value(0, 2), "the two sentences about cats are the closest"
    assert page.locator(".heat b").count() == 0
    assert "dimensions" in page.inner_text("#embed-meta")
    ui.shot("embeddings")
    assert_no_errors(ui)


def test_3d_prompt_shows_a_model_and_downloads_work(ui, tmp_path):
    page = ui.open("3d")
    page.fill("#gen3d-prompt", "a small red cube")
    page.fill("#gen3d-seed", "7")
    page.click("#gen3d-send")
    page.wait_for_function("() => document.getElementById('gen3d-meta').dataset.seed", timeout=120_000)
    assert "seed 7" in page.inner_text("#gen3d-meta")
    page.wait_for_timeout(500)
    canvas = page.locator("#gen3d-canvas")
    first = canvas.screenshot()
    share = non_background_share(first)
    assert share > 0.02, f"only {share:.1%} of the canvas shows the model"
    # Orbit with the keyboard and zoom with the wheel: the picture changes.
    canvas.focus()
    page.keyboard.press("ArrowLeft")
    page.keyboard.press("ArrowLeft")
    page.wait_for_timeout(300)
    turned = canvas.screenshot()
    assert turned != first
    box = canvas.bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.wheel(0, 600)
    page.wait_for_timeout(300)
    assert canvas.screenshot() != turned
    ui.shot("3d")

    with page.expect_download() as d:
        page.click("#gen3d-glb")
    glb = Path(d.value.path()).read_bytes()
    assert glb[:4] == b"glTF" and struct.unpack("<I", glb[8:12])[0] == len(glb)
    assert d.value.suggested_filename == "model-7.glb"
    with page.expect_download(timeout=120_000) as d:
        page.click("#gen3d-stl")
    stl = Path(d.value.path()).read_bytes()
    triangles = struct.unpack("<I", stl[80:84])[0]
    assert triangles > 0 and len(stl) == 84 + 50 * triangles
    assert d.value.suggested_filename == "model-7.stl"
    assert_no_errors(ui)


def test_view_code_shows_runnable_requests(ui, server):
    page = ui.open()
    chat_settings(page, 16)
    page.fill("#chat-system", "You are terse.")
    page.fill("#chat-input", "What is 2+2?")
    page.click("#view-code")
    assert page.is_visible("#code-dialog")
    codes = {}
    for lang, label in [("curl", "curl"), ("requests", "Python requests"),
                        ("openai", "Python openai"), ("langchain", "LangChain")]:
        page.click(f"#code-tabs [data-lang={lang}]")
        assert page.get_attribute(f"#code-tabs [data-lang={lang}]", "aria-selected") == "true"
        codes[lang] = page.inner_text("#code-text")
    ui.shot("view-code")
    base = f"{server.root}/v1"
    assert f"{base}/chat/completions" in codes["curl"] and "$NVIDIA_API_KEY" in codes["curl"]
    assert '"What is 2+2?"' in codes["curl"] and '"You are terse."' in codes["curl"]
    assert f'base_url="{base}"' in codes["openai"] and f'model="{FAST_CHAT}"' in codes["openai"]
    assert "ChatNVIDIA(" in codes["langchain"] and f'base_url="{base}"' in codes["langchain"]
    for lang in ["requests", "openai", "langchain"]:
        compile(codes[lang], f"<{lang}>", "exec")
    page.keyboard.press("Escape")
    assert not page.is_visible("#code-dialog")

    # The code runs: the openai and LangChain samples against this server.
    env = {**os.environ, "NVIDIA_API_KEY": "unused"}
    for lang in ["openai", "langchain"]:
        out = subprocess.run([sys.executable, "-c", codes[lang]], env=env, capture_output=True,
                             text=True, timeout=120)
        assert out.returncode == 0 and out.stdout.strip(), (lang, out.stderr[-2000:])

    # Embeddings, as requests code.
    page.click("#tab-embed")
    page.click("#view-code")
    page.click("#code-tabs [data-lang=requests]")
    code = page.inner_text("#code-text")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and "'embedding'" in out.stdout, out.stderr[-2000:]
    assert_no_errors(ui)


def ingot(db, *args):
    out = subprocess.run([BIN, *args], env={**os.environ, "INGOT_KEYS_DB": db},
                         capture_output=True, text=True, check=True)
    return out.stdout


@pytest.fixture(scope="module")
def limited_server(tmp_path_factory):
    """Keys required (a managed key allowed 1 request a minute); no local models."""
    db = str(tmp_path_factory.mktemp("ui-keys") / "keys.db")
    key = json.loads(ingot(db, "keys", "create", "--name", "ui", "--rpm", "1", "--json"))["key"]
    s = Server("--no-chat", "--no-embeddings", env={"INGOT_KEYS_DB": db})
    s.wait_ready()
    yield s, key
    s.stop()


def test_key_field_401_and_429_are_explained(browser, limited_server):
    s, key = limited_server
    p = Page(browser, s.root)
    try:
        page = p.page
        page.goto(f"{s.root}/#embed")
        page.wait_for_selector("#global-error:not([hidden])")
        message = page.inner_text("#global-error")
        assert "401" in message and "API key" in message, message
        p.shot("unauthorized")
        page.fill("#api-key", key)
        page.press("#api-key", "Enter")
        page.wait_for_function("() => document.querySelectorAll('#embed-model option').length > 0")
        assert page.is_hidden("#global-error")
        # The key is kept in the browser.
        assert page.evaluate("localStorage.getItem('ingot.apiKey')") == key
        page.reload()
        assert page.input_value("#api-key") == key
        # The reload spent the minute's only request: the next one is refused with a wait.
        page.wait_for_selector("#global-error:not([hidden])")
        page.click("#embed-send")
        page.wait_for_selector("#embed-error:not([hidden])")
        message = page.inner_text("#embed-error")
        assert "429" in message and "wait" in message and " s " in message, message
        p.shot("rate-limited")
        # Only the refused requests were logged as errors.
        assert all("401" in e or "429" in e for e in p.errors), p.errors
    finally:
        p.ctx.close()


def test_no_ui_flag_and_env_turn_the_page_off():
    import urllib.error
    import urllib.request
    for args, env in [(["--no-ui"], None), ([], {"INGOT_NO_UI": "true"})]:
        s = Server("--no-chat", "--no-embeddings", *args, env=env)
        try:
            s.wait_ready()
            with pytest.raises(urllib.error.HTTPError) as e:
                urllib.request.urlopen(f"{s.root}/")
            assert e.value.code == 404
            with urllib.request.urlopen(f"{s.base_url}/models") as r:
                assert r.status == 200
        finally:
            s.stop()
