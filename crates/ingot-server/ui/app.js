// The playground: tabs, the API-key field, the model pickers, and the four tools (chat,
// vision, embeddings, 3D), each a request to the server's own public API.

import { getKey, setKey, base, getJSON, postJSON, stream, dataURL, fromBase64 } from './api.js';
import { renderMarkdown, escapeHTML } from './markdown.js';
import { Viewer } from './viewer.js';
import { codeFor } from './code.js';

const $ = (id) => document.getElementById(id);
const el = (tag, cls, text) => {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
};

function showError(id, err) {
  const box = $(id);
  if (!err) { box.hidden = true; box.textContent = ''; return; }
  box.textContent = err.message || String(err);
  box.hidden = false;
}

const isAbort = (e) => e && e.name === 'AbortError';
const num = (id) => { const v = $(id).value.trim(); return v === '' ? undefined : Number(v); };

// ---------------------------------------------------------------- tabs
const TABS = ['chat', 'vision', 'embed', '3d'];
let current = 'chat';

function selectTab(name, focus) {
  if (!TABS.includes(name)) name = 'chat';
  current = name;
  for (const t of TABS) {
    const tab = $(`tab-${t}`);
    const on = t === name;
    tab.setAttribute('aria-selected', String(on));
    tab.tabIndex = on ? 0 : -1;
    $(`panel-${t}`).hidden = !on;
    if (on && focus) tab.focus();
  }
  if (location.hash !== `#${name}`) history.replaceState(null, '', `#${name}`);
  if (name === '3d') viewer()?.render();
}

function tablistKeys(list, onMove) {
  list.addEventListener('keydown', (e) => {
    const tabs = [...list.querySelectorAll('[role=tab]')];
    const i = tabs.indexOf(document.activeElement);
    if (i < 0) return;
    const to = { ArrowRight: i + 1, ArrowLeft: i - 1, Home: 0, End: tabs.length - 1 }[e.key];
    if (to === undefined) return;
    e.preventDefault();
    onMove(tabs[(to + tabs.length) % tabs.length]);
  });
}

// ---------------------------------------------------------------- key + models
let models = [];

const KINDS = {
  embedding: /embed|bge|e5|minilm|nvclip|arctic|nomic/i,
  vision: /vision|-vl|vila|neva|kosmos|paligemma|deplot|fuyu|multimodal|cosmos|tesseract/i,
  gen3d: /trellis|gen3d/i,
  other: /rerank|starcoder|-base\b|streampetr/i,
};

/** The ids a picker of `kind` offers: those that look like that kind (by id and root), else all. */
function modelsFor(kind) {
  const looks = (m, k) => KINDS[k].test(`${m.id} ${m.root || ''}`);
  const fits = {
    chat: (m) => !['embedding', 'vision', 'gen3d', 'other'].some((k) => looks(m, k)),
    vision: (m) => looks(m, 'vision') && !looks(m, 'embedding'),
    embedding: (m) => looks(m, 'embedding') && !looks(m, 'other'),
  }[kind];
  const list = models.filter(fits);
  return list.length ? list : models;
}

function fillPickers() {
  for (const sel of document.querySelectorAll('select[data-kind]')) {
    const keep = sel.value || localStorage.getItem(`ingot.model.${sel.id}`);
    sel.replaceChildren();
    for (const m of modelsFor(sel.dataset.kind)) {
      const o = el('option', '', m.root && m.root !== m.id ? `${m.id} — ${m.root}` : m.id);
      o.value = m.id;
      sel.append(o);
    }
    if (keep && [...sel.options].some((o) => o.value === keep)) sel.value = keep;
  }
}

async function loadModels() {
  try {
    const list = await getJSON('/models');
    models = list.data || [];
    showError('global-error', null);
  } catch (e) {
    models = [];
    showError('global-error', new Error(`Could not list the models. ${e.message}`));
  }
  fillPickers();
}

// ---------------------------------------------------------------- chat
const chat = { history: [], controller: null, pendingTools: [] };

function chatRequest(extraUser) {
  const body = { model: $('chat-model').value, messages: [] };
  const sys = $('chat-system').value.trim();
  if (sys) body.messages.push({ role: 'system', content: sys });
  body.messages.push(...chat.history, ...(extraUser || []));
  const opt = {
    temperature: num('chat-temperature'), top_p: num('chat-top-p'),
    max_tokens: num('chat-max-tokens'), seed: num('chat-seed'),
  };
  for (const [k, v] of Object.entries(opt)) if (v !== undefined && !Number.isNaN(v)) body[k] = v;
  const tools = $('chat-tools').value.trim();
  if (tools) {
    try { body.tools = JSON.parse(tools); } catch (e) { throw new Error(`Tools: not valid JSON (${e.message})`); }
    const choice = $('chat-tool-choice').value;
    if (choice !== 'auto') body.tool_choice = choice;
    if (!$('chat-parallel').checked) body.parallel_tool_calls = false;
  }
  const schema = $('chat-schema').value.trim();
  if (schema) {
    let s;
    try { s = JSON.parse(schema); } catch (e) { throw new Error(`Response schema: not valid JSON (${e.message})`); }
    const named = s && typeof s === 'object' && s.schema && s.name;
    body.response_format = { type: 'json_schema', json_schema: named ? s : { name: 'answer', schema: s } };
  }
  body.stream = true;
  body.stream_options = { include_usage: true };
  return { kind: 'chat', path: '/chat/completions', body };
}

function bubble(log, role, label) {
  const wrap = el('article', `msg ${role}`);
  wrap.append(el('h3', 'who', label));
  log.append(wrap);
  log.scrollTop = log.scrollHeight;
  return wrap;
}

function userBubble(log, text, media) {
  const b = bubble(log, 'user', 'You');
  if (media?.length) b.append(el('p', 'meta', `${media.length} attachment(s)`));
  const body = el('div', 'content');
  body.innerHTML = renderMarkdown(text);
  b.append(body);
}

/** Streams one completion into a new assistant bubble; resolves to the assistant message. */
async function streamAnswer(log, req, controller, label) {
  const b = bubble(log, 'assistant', label);
  const reasoning = el('details', 'reasoning');
  reasoning.append(el('summary', '', 'Reasoning'));
  const reasoningText = el('div', 'reasoning-text');
  reasoning.append(reasoningText);
  reasoning.hidden = true;
  const content = el('div', 'content');
  content.setAttribute('aria-busy', 'true');
  const toolBox = el('div', 'tools');
  const meta = el('p', 'meta', 'waiting for the first token…');
  b.append(reasoning, content, toolBox, meta);

  const t0 = performance.now();
  let ttft = null;
  let text = '';
  let thoughts = '';
  let usage = null;
  let finish = null;
  const calls = [];
  let scheduled = false;
  const paint = () => {
    scheduled = false;
    content.innerHTML = renderMarkdown(text);
    reasoningText.textContent = thoughts;
    reasoning.hidden = !thoughts;
    log.scrollTop = log.scrollHeight;
  };
  const schedule = () => { if (!scheduled) { scheduled = true; requestAnimationFrame(paint); } };
  let stopped = false;
  try {
    for await (const chunk of stream(req.path, req.body, controller.signal)) {
      if (chunk.usage) usage = chunk.usage;
      const choice = chunk.choices?.[0];
      if (!choice) continue;
      const d = choice.delta || {};
      if (ttft === null && (d.content || d.reasoning_content || d.tool_calls)) {
        ttft = performance.now() - t0;
        meta.textContent = `first token after ${Math.round(ttft)} ms, streaming…`;
      }
      if (d.reasoning_content) thoughts += d.reasoning_content;
      if (d.content) text += d.content;
      for (const tc of d.tool_calls || []) {
        const c = calls[tc.index ?? calls.length] ||= { id: '', type: 'function', function: { name: '', arguments: '' } };
        if (tc.id) c.id = tc.id;
        if (tc.function?.name) c.function.name += tc.function.name;
        if (tc.function?.arguments) c.function.arguments += tc.function.arguments;
      }
      if (choice.finish_reason) finish = choice.finish_reason;
      schedule();
    }
  } catch (e) {
    if (!isAbort(e)) { b.classList.add('failed'); meta.textContent = ''; throw e; }
    stopped = true;
  } finally {
    paint();
    content.removeAttribute('aria-busy');
  }
  const total = performance.now() - t0;
  const parts = [];
  if (stopped) parts.push('stopped');
  if (ttft !== null) parts.push(`time to first token ${Math.round(ttft)} ms`);
  parts.push(`total ${(total / 1000).toFixed(2)} s`);
  if (usage) {
    parts.push(`${usage.prompt_tokens} prompt + ${usage.completion_tokens} completion tokens`);
    if (ttft !== null && total - ttft > 250 && usage.completion_tokens > 1) {
      parts.push(`${((usage.completion_tokens - 1) / ((total - ttft) / 1000)).toFixed(1)} tokens/s`);
    }
  }
  if (finish) parts.push(`finish: ${finish}`);
  meta.textContent = parts.join(' · ');
  b.dataset.state = stopped ? 'stopped' : 'done';
  const msg = { role: 'assistant', content: text };
  const done = calls.filter(Boolean);
  if (done.length) {
    msg.tool_calls = done;
    for (const c of done) toolBox.append(toolCallBox(c));
  }
  return msg;
}

function toolCallBox(c) {
  const box = el('div', 'tool-call');
  box.append(el('p', 'tool-name', `Tool call: ${c.function.name}`));
  box.append(el('pre', '', c.function.arguments));
  const id = `tool-result-${c.id || Math.random().toString(36).slice(2)}`;
  const label = el('label', '', 'Result to send back (sent with your next message)');
  label.htmlFor = id;
  const input = el('textarea');
  input.id = id;
  input.rows = 2;
  input.spellcheck = false;
  box.append(label, input);
  chat.pendingTools.push({ call: c, input });
  return box;
}

function setBusy(prefix, busy) {
  $(`${prefix}-send`).disabled = busy;
  $(`${prefix}-stop`).disabled = !busy;
}

async function sendChat() {
  showError('chat-error', null);
  const text = $('chat-input').value;
  const toolMsgs = chat.pendingTools.map(({ call, input }) => ({
    role: 'tool', tool_call_id: call.id, content: input.value,
  }));
  if (!text.trim() && !toolMsgs.length) return;
  const userMsgs = [...toolMsgs];
  if (text.trim()) userMsgs.push({ role: 'user', content: text });
  let req;
  try { req = chatRequest(userMsgs); } catch (e) { showError('chat-error', e); return; }
  for (const { input } of chat.pendingTools) input.readOnly = true;
  chat.pendingTools = [];
  const log = $('chat-log');
  if (text.trim()) userBubble(log, text);
  $('chat-input').value = '';
  chat.controller = new AbortController();
  setBusy('chat', true);
  try {
    const answer = await streamAnswer(log, req, chat.controller, req.body.model);
    chat.history.push(...userMsgs, answer);
  } catch (e) {
    showError('chat-error', e);
  } finally {
    chat.controller = null;
    setBusy('chat', false);
    $('chat-input').focus();
  }
}

// ---------------------------------------------------------------- vision
const vision = { media: [], controller: null };

async function addMedia(files) {
  for (const f of files) {
    if (!/^(image|video)\//.test(f.type)) continue;
    const url = await dataURL(f);
    vision.media.push({ name: f.name, type: f.type, url });
  }
  paintThumbs();
}

function paintThumbs() {
  const ul = $('vision-thumbs');
  ul.replaceChildren();
  vision.media.forEach((m, i) => {
    const li = el('li');
    if (m.type.startsWith('image/')) {
      const img = el('img');
      img.src = m.url;
      img.alt = m.name;
      li.append(img);
    } else {
      li.append(el('span', 'video-name', `🎞 ${m.name}`));
    }
    const rm = el('button', 'secondary small', 'Remove');
    rm.type = 'button';
    rm.setAttribute('aria-label', `Remove ${m.name}`);
    rm.addEventListener('click', () => { vision.media.splice(i, 1); paintThumbs(); });
    li.append(rm);
    ul.append(li);
  });
}

function visionRequest() {
  const content = [{ type: 'text', text: $('vision-input').value }];
  for (const m of vision.media) {
    content.push(m.type.startsWith('video/')
      ? { type: 'video_url', video_url: { url: m.url } }
      : { type: 'image_url', image_url: { url: m.url } });
  }
  const body = { model: $('vision-model').value, messages: [{ role: 'user', content }] };
  const t = num('vision-temperature');
  const mt = num('vision-max-tokens');
  if (t !== undefined) body.temperature = t;
  if (mt !== undefined) body.max_tokens = mt;
  body.stream = true;
  body.stream_options = { include_usage: true };
  return { kind: 'chat', path: '/chat/completions', body };
}

async function sendVision() {
  showError('vision-error', null);
  if (!vision.media.length) { showError('vision-error', new Error('Attach an image or a video first.')); return; }
  const req = visionRequest();
  const log = $('vision-log');
  log.replaceChildren();
  userBubble(log, $('vision-input').value, vision.media);
  vision.controller = new AbortController();
  setBusy('vision', true);
  try {
    await streamAnswer(log, req, vision.controller, req.body.model);
  } catch (e) {
    showError('vision-error', e);
  } finally {
    vision.controller = null;
    setBusy('vision', false);
  }
}

// ---------------------------------------------------------------- embeddings
function embedRequest() {
  const input = $('embed-input').value.split('\n').map((s) => s.trim()).filter(Boolean);
  return {
    kind: 'embeddings',
    path: '/embeddings',
    body: { model: $('embed-model').value, input, input_type: $('embed-input-type').value, encoding_format: 'float' },
  };
}

function cosine(a, b) {
  let dot = 0; let na = 0; let nb = 0;
  for (let i = 0; i < a.length; i++) { dot += a[i] * b[i]; na += a[i] * a[i]; nb += b[i] * b[i]; }
  return dot / (Math.sqrt(na * nb) || 1);
}

function heatColour(v) {
  // -1 … 1 → light grey … strong green (most embeddings sit in 0 … 1).
  const t = Math.max(0, Math.min(1, v));
  const l = 96 - t * 56;
  return `hsl(150 55% ${l}%)`;
}

async function sendEmbed() {
  showError('embed-error', null);
  const req = embedRequest();
  if (req.body.input.length < 1) { showError('embed-error', new Error('Enter at least one text.')); return; }
  $('embed-send').disabled = true;
  $('embed-meta').textContent = 'embedding…';
  const t0 = performance.now();
  try {
    const res = await postJSON(req.path, req.body);
    const vecs = [...res.data].sort((a, b) => a.index - b.index).map((d) => d.embedding);
    const texts = req.body.input;
    const n = vecs.length;
    const table = el('table', 'heat');
    table.append(el('caption', '', `Cosine similarity of ${n} texts (${res.model})`));
    const head = el('tr');
    head.append(el('th', 'corner', ''));
    texts.forEach((t, i) => { const th = el('th', '', `${i + 1}`); th.scope = 'col'; th.title = t; head.append(th); });
    const thead = el('thead');
    thead.append(head);
    const tbody = el('tbody');
    for (let i = 0; i < n; i++) {
      const tr = el('tr');
      const th = el('th', 'row-label', `${i + 1}. ${texts[i]}`);
      th.scope = 'row';
      th.title = texts[i];
      tr.append(th);
      for (let j = 0; j < n; j++) {
        const v = cosine(vecs[i], vecs[j]);
        const td = el('td', 'cell', v.toFixed(2));
        td.style.background = heatColour(v);
        td.dataset.i = i; td.dataset.j = j;
        td.title = `${i + 1} × ${j + 1}: ${v.toFixed(4)}`;
        tr.append(td);
      }
      tbody.append(tr);
    }
    table.append(thead, tbody);
    $('embed-result').replaceChildren(table);
    const dims = vecs[0]?.length ?? 0;
    $('embed-meta').textContent = `${n} vectors of ${dims} dimensions · ${res.usage?.total_tokens ?? '?'} tokens · ${Math.round(performance.now() - t0)} ms`;
  } catch (e) {
    $('embed-meta').textContent = '';
    showError('embed-error', e);
  } finally {
    $('embed-send').disabled = false;
  }
}

// ---------------------------------------------------------------- 3D
const gen3d = { glb: null, seed: null, request: null, viewer: null, viewerError: null };

function viewer() {
  if (gen3d.viewer || gen3d.viewerError) return gen3d.viewer;
  try { gen3d.viewer = new Viewer($('gen3d-canvas')); } catch (e) { gen3d.viewerError = e; }
  return gen3d.viewer;
}

async function gen3dRequest(format) {
  const body = {};
  const file = $('gen3d-image').files[0];
  if (file) body.image = await dataURL(file);
  else body.prompt = $('gen3d-prompt').value.trim();
  body.seed = format === 'stl' && gen3d.seed !== null ? gen3d.seed : (num('gen3d-seed') ?? 0);
  body.output_format = format;
  return { kind: 'trellis', path: '/genai/microsoft/trellis', body };
}

function artifactOf(res, format) {
  const a = res.artifacts?.[0];
  const b64 = a?.base64 || res.output?.[format];
  if (!b64) throw new Error('the answer holds no asset');
  if (a && a.finishReason && a.finishReason !== 'SUCCESS') throw new Error(`generation ended with ${a.finishReason}`);
  return { bytes: fromBase64(b64), seed: a?.seed ?? null };
}

function download(bytes, name, type) {
  const url = URL.createObjectURL(new Blob([bytes], { type }));
  const a = el('a');
  a.href = url;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

async function sendGen3d() {
  showError('gen3d-error', null);
  const req = await gen3dRequest('glb');
  if (!req.body.prompt && !req.body.image) { showError('gen3d-error', new Error('Enter a prompt or choose an image.')); return; }
  $('gen3d-send').disabled = true;
  $('gen3d-meta').textContent = 'generating…';
  const t0 = performance.now();
  try {
    const res = await postJSON(req.path, req.body);
    const { bytes, seed } = artifactOf(res, 'glb');
    gen3d.glb = bytes;
    gen3d.seed = seed;
    gen3d.request = req;
    const v = viewer();
    if (v) await v.load(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
    const secs = ((performance.now() - t0) / 1000).toFixed(1);
    $('gen3d-meta').textContent = `seed ${seed ?? 'unknown'} · ${(bytes.length / 1024).toFixed(0)} KiB GLB · ${secs} s`;
    $('gen3d-meta').dataset.seed = seed ?? '';
    $('gen3d-glb').disabled = false;
    $('gen3d-stl').disabled = false;
    if (!v) showError('gen3d-error', new Error(`The model was generated but cannot be shown: ${gen3d.viewerError?.message}`));
  } catch (e) {
    $('gen3d-meta').textContent = '';
    showError('gen3d-error', e);
  } finally {
    $('gen3d-send').disabled = false;
  }
}

async function downloadStl() {
  showError('gen3d-error', null);
  $('gen3d-stl').disabled = true;
  try {
    const req = await gen3dRequest('stl');
    const res = await postJSON(req.path, req.body);
    download(artifactOf(res, 'stl').bytes, `model-${gen3d.seed ?? 'x'}.stl`, 'model/stl');
  } catch (e) {
    showError('gen3d-error', e);
  } finally {
    $('gen3d-stl').disabled = false;
  }
}

// ---------------------------------------------------------------- view code
let codeLang = 'curl';

async function currentRequest() {
  switch (current) {
    case 'vision': return visionRequest();
    case 'embed': return embedRequest();
    case '3d': return gen3d.request || gen3dRequest('glb');
    default: {
      const text = $('chat-input').value.trim() || 'Hello!';
      return chatRequest([{ role: 'user', content: text }]);
    }
  }
}

async function paintCode() {
  let text;
  try {
    text = codeFor(codeLang, base(), await currentRequest());
  } catch (e) {
    text = `# ${e.message}`;
  }
  $('code-text').firstElementChild.textContent = text;
  for (const b of $('code-tabs').querySelectorAll('[role=tab]')) {
    const on = b.dataset.lang === codeLang;
    b.setAttribute('aria-selected', String(on));
    b.tabIndex = on ? 0 : -1;
  }
}

// ---------------------------------------------------------------- wiring
function init() {
  for (const t of TABS) $(`tab-${t}`).addEventListener('click', () => selectTab(t));
  tablistKeys($('tabs'), (tab) => selectTab(tab.id.replace('tab-', ''), true));
  selectTab(location.hash.slice(1) || 'chat');
  window.addEventListener('hashchange', () => selectTab(location.hash.slice(1)));

  const key = $('api-key');
  key.value = getKey();
  key.addEventListener('change', () => { setKey(key.value.trim()); loadModels(); });

  for (const sel of document.querySelectorAll('select[data-kind]')) {
    sel.addEventListener('change', () => localStorage.setItem(`ingot.model.${sel.id}`, sel.value));
  }

  $('chat-form').addEventListener('submit', (e) => { e.preventDefault(); sendChat(); });
  $('chat-input').addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) { e.preventDefault(); if (!chat.controller) sendChat(); }
  });
  $('chat-stop').addEventListener('click', () => chat.controller?.abort());
  $('chat-clear').addEventListener('click', () => {
    chat.controller?.abort();
    chat.history = [];
    chat.pendingTools = [];
    $('chat-log').replaceChildren();
    showError('chat-error', null);
  });

  $('vision-form').addEventListener('submit', (e) => { e.preventDefault(); sendVision(); });
  $('vision-stop').addEventListener('click', () => vision.controller?.abort());
  $('vision-files').addEventListener('change', (e) => { addMedia([...e.target.files]); e.target.value = ''; });
  const drop = $('vision-drop');
  drop.addEventListener('dragover', (e) => { e.preventDefault(); drop.classList.add('over'); });
  drop.addEventListener('dragleave', () => drop.classList.remove('over'));
  drop.addEventListener('drop', (e) => {
    e.preventDefault();
    drop.classList.remove('over');
    addMedia([...e.dataTransfer.files]);
  });

  $('embed-form').addEventListener('submit', (e) => { e.preventDefault(); sendEmbed(); });

  $('gen3d-send').addEventListener('click', sendGen3d);
  $('gen3d-glb').addEventListener('click', () => {
    if (gen3d.glb) download(gen3d.glb, `model-${gen3d.seed ?? 'x'}.glb`, 'model/gltf-binary');
  });
  $('gen3d-stl').addEventListener('click', downloadStl);

  const dialog = $('code-dialog');
  $('view-code').addEventListener('click', async () => { await paintCode(); dialog.showModal(); });
  $('code-close').addEventListener('click', () => dialog.close());
  for (const b of $('code-tabs').querySelectorAll('[role=tab]')) {
    b.addEventListener('click', () => { codeLang = b.dataset.lang; paintCode(); });
  }
  tablistKeys($('code-tabs'), (b) => { codeLang = b.dataset.lang; paintCode().then(() => b.focus()); });
  $('code-copy').addEventListener('click', async () => {
    try {
      await navigator.clipboard.writeText($('code-text').textContent);
      $('code-copy').textContent = 'Copied';
    } catch {
      $('code-copy').textContent = 'Select the text and copy it';
    }
    setTimeout(() => { $('code-copy').textContent = 'Copy'; }, 1500);
  });

  loadModels();
}

// For the browser tests: the renderer and the viewer, reachable from the page.
window.ingotPlayground = { renderMarkdown, escapeHTML, viewer: () => gen3d.viewer };

init();
