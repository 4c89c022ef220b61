// A small, safe markdown renderer for model output. Every character of the input is
// HTML-escaped first; only then are the few tags below added around escaped text, so no
// markup from the input can ever reach the page as HTML.
//
// Supported: fenced code blocks (``` with an optional language; an unclosed fence, as in a
// stream, runs to the end), inline code, **bold**, *italic* / _italic_, headings (#…######),
// bullet and numbered lists, paragraphs and line breaks.

const ESC = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

export function escapeHTML(s) {
  return String(s).replace(/[&<>"']/g, (c) => ESC[c]);
}

// Placeholders for inline code spans: \u0001 never survives the input cleaning below.
function inline(escaped) {
  const spans = [];
  let s = escaped.replace(/`([^`\n]+)`/g, (_, code) => {
    spans.push(`<code>${code}</code>`);
    return `\u0001${spans.length - 1}\u0001`;
  });
  s = s.replace(/\*\*([^*\n]+)\*\*/g, '<strong>$1</strong>')
    .replace(/__([^_\n]+)__/g, '<strong>$1</strong>')
    .replace(/(^|[^*\w])\*([^*\s][^*\n]*?)\*(?!\w)/g, '$1<em>$2</em>')
    .replace(/(^|[^_\w])_([^_\s][^_\n]*?)_(?!\w)/g, '$1<em>$2</em>');
  return s.replace(/\u0001(\d+)\u0001/g, (_, i) => spans[Number(i)]);
}

/** Markdown to HTML; the result is safe to assign to `innerHTML`. */
export function renderMarkdown(src) {
  const lines = String(src ?? '').replace(/[\u0000\u0001]/g, '').replace(/\r\n?/g, '\n').split('\n');
  const out = [];
  let para = [];
  let list = null; // { tag: 'ul' | 'ol', items: [] }

  const flushPara = () => {
    if (para.length) out.push(`<p>${para.map((l) => inline(escapeHTML(l))).join('<br>')}</p>`);
    para = [];
  };
  const flushList = () => {
    if (list) {
      out.push(`<${list.tag}>${list.items.map((i) => `<li>${inline(escapeHTML(i))}</li>`).join('')}</${list.tag}>`);
    }
    list = null;
  };

  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    const fence = line.match(/^\s*(```|~~~)\s*([\w+#.-]*)/);
    if (fence) {
      flushPara(); flushList();
      const body = [];
      i++;
      while (i < lines.length && !lines[i].trimStart().startsWith(fence[1])) body.push(lines[i++]);
      const lang = fence[2] ? ` class="language-${escapeHTML(fence[2])}"` : '';
      out.push(`<pre><code${lang}>${escapeHTML(body.join('\n'))}</code></pre>`);
      continue;
    }
    const heading = line.match(/^(#{1,6})\s+(.*)$/);
    if (heading) {
      flushPara(); flushList();
      const n = heading[1].length;
      out.push(`<h${n}>${inline(escapeHTML(heading[2]))}</h${n}>`);
      continue;
    }
    const bullet = line.match(/^\s*[-*+]\s+(.*)$/);
    const numbered = line.match(/^\s*\d+[.)]\s+(.*)$/);
    if (bullet || numbered) {
      flushPara();
      const tag = bullet ? 'ul' : 'ol';
      if (list && list.tag !== tag) flushList();
      if (!list) list = { tag, items: [] };
      list.items.push((bullet || numbered)[1]);
      continue;
    }
    if (!line.trim()) { flushPara(); flushList(); continue; }
    if (list && /^\s+/.test(line)) { // a continuation of the last item
      list.items[list.items.length - 1] += ` ${line.trim()}`;
      continue;
    }
    flushList();
    para.push(line);
  }
  flushPara(); flushList();
  return out.join('\n');
}
