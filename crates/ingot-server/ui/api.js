// Requests to the server's own public API: the key header, readable error messages,
// and a Server-Sent Events reader over fetch's ReadableStream.

const KEY = 'ingot.apiKey';

export function getKey() {
  try { return localStorage.getItem(KEY) || ''; } catch { return ''; }
}

export function setKey(k) {
  try {
    if (k) localStorage.setItem(KEY, k); else localStorage.removeItem(KEY);
  } catch { /* storage off: the key lives in the field only */ }
}

export const base = () => `${location.origin}/v1`;

function headers() {
  const h = { 'Content-Type': 'application/json', Accept: 'application/json' };
  const k = getKey();
  if (k) h.Authorization = `Bearer ${k}`;
  return h;
}

/** An HTTP error with a message meant for a person. */
export class ApiError extends Error {
  constructor(status, message, retryAfter) {
    super(message);
    this.status = status;
    this.retryAfter = retryAfter;
  }
}

/** The server's own explanation of an error body, if any. */
function explain(body, text) {
  if (body && typeof body === 'object') {
    return body.error?.message || body.detail || body.title || '';
  }
  return (text || '').slice(0, 300);
}

async function errorOf(resp) {
  const text = await resp.text().catch(() => '');
  let body = null;
  try { body = JSON.parse(text); } catch { /* not JSON */ }
  const said = explain(body, text);
  if (resp.status === 401) {
    return new ApiError(401, 'Unauthorized (401): this server needs a valid API key. ' +
      'Enter it in the "API key" field at the top of the page.' + (said ? ` Server: ${said}` : ''));
  }
  if (resp.status === 429) {
    const ra = Number.parseInt(resp.headers.get('Retry-After') || '', 10);
    const wait = Number.isFinite(ra) ? ra : null;
    return new ApiError(429, 'Too many requests (429): ' +
      (wait !== null ? `wait ${wait} s before trying again.` : 'wait a moment before trying again.') +
      (said ? ` Server: ${said}` : ''), wait);
  }
  return new ApiError(resp.status, `Error ${resp.status}: ${said || resp.statusText || 'request failed'}`);
}

/** GET a JSON document. */
export async function getJSON(path, signal) {
  const resp = await fetch(base() + path, { headers: headers(), signal });
  if (!resp.ok) throw await errorOf(resp);
  return resp.json();
}

/** POST a JSON body, return the parsed answer. */
export async function postJSON(path, body, signal) {
  const resp = await fetch(base() + path, {
    method: 'POST', headers: headers(), body: JSON.stringify(body), signal,
  });
  if (!resp.ok) throw await errorOf(resp);
  return resp.json();
}

/**
 * POST with `stream: true` and yield each `data:` event as parsed JSON until `[DONE]`.
 * An error event (`{"error": …}`) in the stream is thrown.
 */
export async function* stream(path, body, signal) {
  const h = headers();
  h.Accept = 'text/event-stream';
  const resp = await fetch(base() + path, {
    method: 'POST', headers: h, body: JSON.stringify(body), signal,
  });
  if (!resp.ok) throw await errorOf(resp);
  const reader = resp.body.getReader();
  const decoder = new TextDecoder();
  let buf = '';
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += decoder.decode(value, { stream: true });
      let cut;
      while ((cut = buf.search(/\r?\n\r?\n/)) >= 0) {
        const event = buf.slice(0, cut);
        buf = buf.slice(cut).replace(/^\r?\n\r?\n/, '');
        const data = event.split(/\r?\n/)
          .filter((l) => l.startsWith('data:'))
          .map((l) => l.slice(5).replace(/^ /, ''))
          .join('\n');
        if (!data) continue; // a comment such as `: keep-alive`
        if (data === '[DONE]') return;
        const chunk = JSON.parse(data);
        if (chunk.error) {
          throw new ApiError(chunk.error.code || 500,
            `The stream ended with an error: ${explain(chunk, data)}`);
        }
        yield chunk;
      }
    }
  } finally {
    reader.cancel().catch(() => {});
  }
}

/** A File as a data URL. */
export function dataURL(file) {
  return new Promise((resolve, reject) => {
    const r = new FileReader();
    r.onload = () => resolve(r.result);
    r.onerror = () => reject(r.error);
    r.readAsDataURL(file);
  });
}

/** Standard base64 to bytes. */
export function fromBase64(b64) {
  const s = atob(b64);
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}
