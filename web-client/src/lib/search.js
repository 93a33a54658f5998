// Pure helpers for message search: query checks, term splitting, highlight segments, snippets.

export const SEARCH_MIN_CHARS = 2;
export const SEARCH_DEBOUNCE_MS = 250;

/** The query as it will be sent, or '' when it is too short to search. */
export function searchableQuery(q) {
  const t = (q || '').trim();
  return t.length >= SEARCH_MIN_CHARS ? t : '';
}

/** Whitespace-separated words that contain a letter or digit, longest first, deduplicated (case-insensitive). */
export function searchTerms(q) {
  const seen = new Set();
  const out = [];
  for (const w of (q || '').split(/\s+/)) {
    if (!w || !/[\p{L}\p{N}]/u.test(w)) continue;
    const k = w.toLocaleLowerCase();
    if (seen.has(k)) continue;
    seen.add(k);
    out.push(w);
  }
  return out.sort((a, b) => b.length - a.length);
}

function escapeRegExp(s) {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * Split `text` into [{text, match}] segments, `match` true where a query word occurs
 * (case-insensitive). Segments are plain strings: the caller renders them as text nodes.
 */
export function highlightSegments(text, q) {
  const src = text || '';
  const terms = searchTerms(q);
  if (!src || !terms.length) return src ? [{ text: src, match: false }] : [];
  const re = new RegExp(terms.map(escapeRegExp).join('|'), 'giu');
  const out = [];
  let last = 0;
  let m;
  while ((m = re.exec(src)) !== null) {
    if (m[0] === '') {
      re.lastIndex += 1;
      continue;
    }
    if (m.index > last) out.push({ text: src.slice(last, m.index), match: false });
    out.push({ text: m[0], match: true });
    last = m.index + m[0].length;
  }
  if (last < src.length) out.push({ text: src.slice(last), match: false });
  return out;
}

/** A window of `text` around the first query-word hit, with ellipses where it was cut. */
export function snippet(text, q, width = 140) {
  const src = (text || '').replace(/\s+/g, ' ').trim();
  if (src.length <= width) return src;
  const lower = src.toLocaleLowerCase();
  let at = -1;
  for (const t of searchTerms(q)) {
    const i = lower.indexOf(t.toLocaleLowerCase());
    if (i >= 0 && (at < 0 || i < at)) at = i;
  }
  if (at < 0) return `${src.slice(0, width - 1)}…`;
  let start = Math.max(0, at - Math.floor(width / 3));
  const end = Math.min(src.length, start + width);
  start = Math.max(0, end - width);
  return `${start > 0 ? '…' : ''}${src.slice(start, end)}${end < src.length ? '…' : ''}`;
}

/** The text to search in and show for a message hit (plain text, else a stripped-down html). */
export function messageText(message) {
  if (!message) return '';
  if (message.text) return message.text;
  if (message.html) return message.html.replace(/<[^>]*>/g, ' ').replace(/&nbsp;/g, ' ').replace(/\s+/g, ' ').trim();
  return '';
}

/** The live-region sentence for a result count. */
/** Hits per search request, and the most the server gives (GET /api/search `limit`). */
export const SEARCH_PAGE = 50;
export const SEARCH_MAX = 100;

export function resultCountText(n) {
  if (n === 0) return 'No messages match';
  return n === 1 ? '1 message found' : `${n} messages found`;
}
