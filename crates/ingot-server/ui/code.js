// "View code": the current request as curl, Python requests, Python openai and LangChain,
// with this server's base URL and a key placeholder (as build.nvidia.com shows it).

/** Long data URLs (attached images) shortened for display. */
function shorten(value) {
  return JSON.parse(JSON.stringify(value, (_, v) => (
    typeof v === 'string' && v.startsWith('data:') && v.length > 80
      ? `${v.slice(0, v.indexOf(',') + 1)}<base64 data, ${v.length} characters>` : v)));
}

/** A JSON value as a Python literal. */
function py(v, ind = '') {
  const next = `${ind}    `;
  if (v === null || v === undefined) return 'None';
  if (v === true) return 'True';
  if (v === false) return 'False';
  if (typeof v === 'number') return String(v);
  if (typeof v === 'string') return JSON.stringify(v);
  if (Array.isArray(v)) {
    if (!v.length) return '[]';
    return `[\n${v.map((x) => next + py(x, next)).join(',\n')},\n${ind}]`;
  }
  const keys = Object.keys(v);
  if (!keys.length) return '{}';
  return `{\n${keys.map((k) => `${next}${JSON.stringify(k)}: ${py(v[k], next)}`).join(',\n')},\n${ind}}`;
}

/** `key=value` keyword arguments, one per line. */
function kwargs(obj, ind) {
  return Object.entries(obj).map(([k, v]) => `${ind}${k}=${py(v, ind)},`).join('\n');
}

function shellQuote(s) {
  return `'${s.replace(/'/g, "'\\''")}'`;
}

function curl(base, req) {
  const stream = req.body.stream ? ' -N' : '';
  return `curl${stream} -X POST ${base}${req.path} \\
  -H "Authorization: Bearer $NVIDIA_API_KEY" \\
  -H "Content-Type: application/json" \\
  -d ${shellQuote(JSON.stringify(req.body, null, 2))}`;
}

function requestsCode(base, req) {
  const head = `import os
import requests

url = "${base}${req.path}"
headers = {
    "Authorization": f"Bearer {os.environ['NVIDIA_API_KEY']}",
    "Accept": "${req.body.stream ? 'text/event-stream' : 'application/json'}",
}
payload = ${py(req.body)}
`;
  if (req.kind === 'chat' && req.body.stream) {
    return `${head}
with requests.post(url, headers=headers, json=payload, stream=True) as r:
    r.raise_for_status()
    for line in r.iter_lines():
        if line:
            print(line.decode("utf-8"))
`;
  }
  if (req.kind === 'trellis') {
    const fmt = req.body.output_format || 'glb';
    return `import base64
${head}
r = requests.post(url, headers=headers, json=payload)
r.raise_for_status()
artifact = r.json()["artifacts"][0]
with open("model.${fmt}", "wb") as f:
    f.write(base64.b64decode(artifact["base64"]))
print("seed", artifact["seed"])
`;
  }
  return `${head}
r = requests.post(url, headers=headers, json=payload)
r.raise_for_status()
print(r.json())
`;
}

const NOT_OPENAI = (what) => `# The openai client has no call for ${what}: use the requests tab.\n`;

function openaiCode(base, req) {
  const head = `import os
from openai import OpenAI

client = OpenAI(
    base_url="${base}",
    api_key=os.environ["NVIDIA_API_KEY"],
)
`;
  if (req.kind === 'trellis') return NOT_OPENAI('TRELLIS 3D generation');
  if (req.kind === 'embeddings') {
    const { model, input, ...extra } = req.body;
    const extraBody = Object.keys(extra).filter((k) => k !== 'encoding_format');
    const body = { model, input };
    if (req.body.encoding_format) body.encoding_format = req.body.encoding_format;
    if (extraBody.length) body.extra_body = Object.fromEntries(extraBody.map((k) => [k, extra[k]]));
    return `${head}
response = client.embeddings.create(
${kwargs(body, '    ')}
)
for item in response.data:
    print(item.index, item.embedding[:4], "...")
`;
  }
  const { stream, ...body } = req.body;
  if (!stream) {
    return `${head}
completion = client.chat.completions.create(
${kwargs(body, '    ')}
)
print(completion.choices[0].message.content)
`;
  }
  return `${head}
completion = client.chat.completions.create(
${kwargs({ ...body, stream: true }, '    ')}
)
for chunk in completion:
    if chunk.choices and chunk.choices[0].delta.content:
        print(chunk.choices[0].delta.content, end="")
`;
}

function langchainCode(base, req) {
  if (req.kind === 'trellis') return '# LangChain has no TRELLIS call: use the requests tab.\n';
  if (req.kind === 'embeddings') {
    const method = req.body.input_type === 'query' ? 'embed_query' : 'embed_documents';
    const texts = method === 'embed_query' ? py(req.body.input[0] ?? '') : py(req.body.input);
    return `import os
from langchain_nvidia_ai_endpoints import NVIDIAEmbeddings

embedder = NVIDIAEmbeddings(
    base_url="${base}",
    model=${py(req.body.model)},
    api_key=os.environ["NVIDIA_API_KEY"],
)
vectors = embedder.${method}(${texts})
`;
  }
  const b = req.body;
  const opts = {};
  for (const k of ['temperature', 'top_p', 'max_tokens', 'seed']) if (b[k] !== undefined) opts[k] = b[k];
  const simple = b.messages.every((m) => typeof m.content === 'string' && !m.tool_calls);
  const role = (r) => (r === 'assistant' ? 'ai' : r === 'user' ? 'human' : r);
  const messages = simple
    ? `[\n${b.messages.map((m) => `    (${py(role(m.role))}, ${py(m.content, '    ')}),`).join('\n')}\n]`
    : py(b.messages);
  const tools = b.tools ? `llm = llm.bind_tools(${py(b.tools)})\n` : '';
  return `import os
from langchain_nvidia_ai_endpoints import ChatNVIDIA

llm = ChatNVIDIA(
    base_url="${base}",
    model=${py(b.model)},
    api_key=os.environ["NVIDIA_API_KEY"],
${kwargs(opts, '    ')}
)
${tools}messages = ${messages}
for chunk in llm.stream(messages):
    print(chunk.content, end="")
`;
}

/** The request `req` ({kind, path, body}) as code in `lang`. */
export function codeFor(lang, base, req) {
  const r = { ...req, body: shorten(req.body) };
  switch (lang) {
    case 'curl': return curl(base, r);
    case 'requests': return requestsCode(base, r);
    case 'openai': return openaiCode(base, r);
    case 'langchain': return langchainCode(base, r);
    default: return '';
  }
}
