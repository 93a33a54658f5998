// Pure helpers: no DOM, no network. Unit-tested in test/logic.test.js.

export const TABS = [
  { id: 'mine', label: 'Mine' },
  { id: 'unassigned', label: 'Unassigned' },
  { id: 'all', label: 'All' },
];

export const STATUSES = ['open', 'pending', 'snoozed', 'resolved'];

export const STATUS_LABELS = {
  open: 'Open',
  pending: 'Pending',
  snoozed: 'Snoozed',
  resolved: 'Resolved',
};

export const CHANNEL_LABELS = { email: 'Email', whatsapp: 'WhatsApp', api: 'API' };

export const DEFAULT_QUERY = { tab: 'mine', status: 'open', source: '', tag: '' };

/** URL search params for `GET /api/conversations` from the list query. */
export function queryParams(query, after) {
  const p = new URLSearchParams();
  p.set('tab', query.tab || 'all');
  if (query.status && query.status !== 'all') p.set('status', query.status);
  const src = parseSource(query.source);
  if (src.channel) p.set('channel', src.channel);
  if (src.accountId) p.set('account_id', src.accountId);
  if (query.tag) p.set('tag', query.tag);
  if (after !== undefined && after !== null && after !== '') p.set('after', String(after));
  return p;
}

/** The channel/account filter is one select: "" | "channel:email" | "account:acc_1". */
export function parseSource(source) {
  if (!source) return {};
  const [kind, ...rest] = String(source).split(':');
  const value = rest.join(':');
  if (kind === 'channel') return { channel: value };
  if (kind === 'account') return { accountId: value };
  return {};
}

/** Does a conversation belong in the list for this tab/filter (mirrors the server's query)? */
export function matchesQuery(conv, query, meId) {
  if (!conv) return false;
  const tab = query.tab || 'all';
  if (tab === 'mine' && conv.assignee_user_id !== meId) return false;
  if (tab === 'unassigned' && (conv.assignee_user_id || conv.assignee_team_id)) return false;
  if (query.status && query.status !== 'all' && conv.status !== query.status) return false;
  const src = parseSource(query.source);
  if (src.channel && conv.channel !== src.channel) return false;
  if (src.accountId && conv.account_id !== src.accountId) return false;
  if (query.tag && !(conv.tag_ids || []).includes(query.tag)) return false;
  return true;
}

/** Newest activity first; ties broken by id (descending) so the order is total. */
export function compareConversations(a, b) {
  const d = (b.last_activity_at || 0) - (a.last_activity_at || 0);
  if (d !== 0) return d;
  return a.id < b.id ? 1 : a.id > b.id ? -1 : 0;
}

/**
 * Apply one conversation snapshot to the visible list (array of ids, sorted).
 * `byId` must already contain the new snapshot. When more pages exist (`hasMore`), a
 * conversation that would sort below the last loaded row is left out: it will come with
 * its page, and inserting it now would leave a gap.
 */
export function placeInList(ids, conv, query, meId, byId, hasMore) {
  const without = ids.filter((id) => id !== conv.id);
  if (!matchesQuery(conv, query, meId)) {
    return without.length === ids.length ? ids : without;
  }
  const wasListed = without.length !== ids.length;
  if (hasMore && !wasListed && without.length > 0) {
    const last = byId[without[without.length - 1]];
    if (last && compareConversations(conv, last) > 0) {
      return without.length === ids.length ? ids : without;
    }
  }
  let i = 0;
  while (i < without.length) {
    const other = byId[without[i]];
    if (other && compareConversations(conv, other) < 0) break;
    i += 1;
  }
  const next = without.slice();
  next.splice(i, 0, conv.id);
  if (next.length === ids.length && next.every((id, k) => id === ids[k])) return ids;
  return next;
}

/** Keep the newer of two snapshots of the same conversation. */
export function newerConversation(current, incoming) {
  if (!current) return incoming;
  if (!incoming) return current;
  const cv = current.version ?? 0;
  const iv = incoming.version ?? 0;
  if (iv < cv) return current;
  return incoming;
}

/** Quick templates: this account's, filtered by name and labels, prefix matches first. */
export function searchTemplates(templates, accountId, query) {
  const q = (query || '').trim().toLowerCase();
  const mine = (templates || []).filter((t) => !accountId || t.account_id === accountId);
  const scored = [];
  for (const t of mine) {
    const name = (t.name || '').toLowerCase();
    const labels = (t.labels || []).map((l) => String(l).toLowerCase());
    let score;
    if (!q) score = 3;
    else if (name.startsWith(q)) score = 0;
    else if (labels.some((l) => l.startsWith(q))) score = 1;
    else if (name.includes(q) || labels.some((l) => l.includes(q))) score = 2;
    else continue;
    scored.push({ t, score, name });
  }
  scored.sort((a, b) => a.score - b.score || a.name.localeCompare(b.name));
  return scored.map((s) => s.t);
}

/** `/query` at the very start of a single-line draft opens the template picker. */
export function templateQuery(text) {
  if (typeof text !== 'string' || !text.startsWith('/')) return null;
  if (text.includes('\n')) return null;
  return text.slice(1);
}

/**
 * Map a keydown in the composer to an action.
 * Returns null (let the key through) or {send: true, then: null|'resolve'|'pending'|'reopen'}.
 */
export function composerKeyAction(e, sendKey) {
  if (e.key !== 'Enter' || e.isComposing) return null;
  const mod = !!(e.ctrlKey || e.metaKey);
  const alt = !!e.altKey;
  const shift = !!e.shiftKey;
  if (mod && shift && !alt) return { send: true, then: 'resolve' };
  if (mod && alt && !shift) return { send: true, then: 'pending' };
  if (alt && shift && !mod) return { send: true, then: 'reopen' };
  if (sendKey === 'enter' && !mod && !alt && !shift) return { send: true, then: null };
  if (sendKey === 'ctrl_enter' && mod && !alt && !shift) return { send: true, then: null };
  return null;
}

export const SEND_KEY_LABELS = {
  enter: 'Enter sends, Shift+Enter adds a line',
  ctrl_enter: 'Ctrl/Cmd+Enter sends, Enter adds a line',
  none: 'Send button only',
};

export const THEN_ACTIONS = [
  { then: 'resolve', label: 'Send and resolve', keys: 'Ctrl/Cmd+Shift+Enter' },
  { then: 'pending', label: 'Send and mark pending', keys: 'Ctrl/Cmd+Alt+Enter' },
  { then: 'reopen', label: 'Send and reopen', keys: 'Alt+Shift+Enter' },
];

/** Whether a send+status action changes anything for a conversation in `status`. */
export function thenApplies(then, status) {
  if (!then) return true;
  if (then === 'resolve') return status !== 'resolved';
  if (then === 'pending') return status !== 'pending';
  if (then === 'reopen') return status !== 'open';
  return false;
}

export const MB = 1024 * 1024;
export const CHANNEL_FILE_LIMITS = { api: 25 * MB, email: 25 * MB, whatsapp: 16 * MB };

export function fileLimit(channel) {
  return CHANNEL_FILE_LIMITS[channel] ?? 25 * MB;
}

/** null when the file may be uploaded, else a message saying why not. */
export function checkFileSize(file, channel) {
  const limit = fileLimit(channel);
  if (file.size > limit) {
    const label = CHANNEL_LABELS[channel] || channel;
    return `“${file.name}” is ${formatBytes(file.size)}; ${label} allows at most ${formatBytes(limit)} per file.`;
  }
  return null;
}

export function formatBytes(n) {
  if (!Number.isFinite(n)) return '';
  if (n < 1024) return `${n} B`;
  if (n < MB) return `${(n / 1024).toFixed(n < 10 * 1024 ? 1 : 0)} KB`;
  return `${(n / MB).toFixed(n < 10 * MB ? 1 : 0)} MB`;
}

export const SNOOZE_PRESETS = [
  { preset: '1h', label: '1 hour' },
  { preset: '2h', label: '2 hours' },
  { preset: '4h', label: '4 hours' },
  { preset: 'tomorrow', label: 'Tomorrow, 9:00' },
  { preset: 'next_monday', label: 'Next Monday, 9:00' },
];

/** When a preset would wake the conversation (local time, for the menu's hint). */
export function snoozeUntil(preset, now = new Date()) {
  const d = new Date(now.getTime());
  switch (preset) {
    case '1h':
      return new Date(d.getTime() + 3600e3);
    case '2h':
      return new Date(d.getTime() + 2 * 3600e3);
    case '4h':
      return new Date(d.getTime() + 4 * 3600e3);
    case 'tomorrow':
      d.setDate(d.getDate() + 1);
      d.setHours(9, 0, 0, 0);
      return d;
    case 'next_monday': {
      const add = ((8 - d.getDay()) % 7) || 7;
      d.setDate(d.getDate() + add);
      d.setHours(9, 0, 0, 0);
      return d;
    }
    default:
      return null;
  }
}

/**
 * Applies logged events in cursor order, exactly once, with the resume handshake:
 * after (re)connect call begin(), buffer live events through live(), then finish(ack).
 */
export class EventSequencer {
  constructor(apply, cursor = 0) {
    this.apply = apply;
    this.cursor = cursor || 0;
    this.buffering = false;
    this.buffer = [];
  }

  begin() {
    this.buffering = true;
  }

  live(event) {
    if (this.buffering) this.buffer.push(event);
    else this._one(event);
  }

  /** Returns 'resync' when the client must reload its lists, else 'ok'. */
  finish(ack) {
    let result = 'ok';
    if (ack && ack.resync) {
      result = 'resync';
      // Start over from the server's position, even if it is *below* ours: a resync also
      // answers a cursor from the future (the event log was reset), and keeping the old,
      // higher cursor would then drop every event from now on.
      if (typeof ack.cursor === 'number') this.cursor = ack.cursor;
    } else {
      const events = ((ack && ack.events) || []).slice().sort((a, b) => a.cursor - b.cursor);
      for (const ev of events) this._one(ev);
      if (ack && typeof ack.cursor === 'number') this.cursor = Math.max(this.cursor, ack.cursor);
    }
    this.buffering = false;
    const buffered = this.buffer.sort((a, b) => a.cursor - b.cursor);
    this.buffer = [];
    for (const ev of buffered) this._one(ev);
    return result;
  }

  _one(ev) {
    if (typeof ev.cursor === 'number') {
      if (ev.cursor <= this.cursor) return false;
      this.cursor = ev.cursor;
    }
    this.apply(ev);
    return true;
  }
}

/** Who is typing where; entries expire `ttl` ms after their last refresh. */
export function typingUpdate(state, ev, nowMs, ttl = 6000) {
  const conv = { ...(state[ev.conversation_id] || {}) };
  if (ev.typing) conv[ev.user_id] = { name: ev.name || 'Someone', until: nowMs + ttl };
  else delete conv[ev.user_id];
  return { ...state, [ev.conversation_id]: conv };
}

export function activeTypers(state, convId, nowMs, exceptUserId) {
  const conv = state[convId] || {};
  return Object.entries(conv)
    .filter(([uid, v]) => uid !== exceptUserId && v.until > nowMs)
    .map(([uid, v]) => ({ user_id: uid, name: v.name }));
}

export function joinNames(names) {
  if (names.length === 0) return '';
  if (names.length === 1) return names[0];
  if (names.length === 2) return `${names[0]} and ${names[1]}`;
  return `${names.slice(0, -1).join(', ')} and ${names[names.length - 1]}`;
}

/** Merge a page or event messages into a thread: unique by id, optimistic ones by key. */
export function mergeMessages(existing, incoming) {
  const out = existing.slice();
  for (const m of incoming) {
    let idx = out.findIndex((x) => x.id === m.id);
    if (idx < 0 && m.client_key) {
      idx = out.findIndex((x) => x.pending && sameClientKey(x.client_key, m.client_key));
    }
    if (idx >= 0) out[idx] = mergeMessage(out[idx], m);
    else out.push(m);
  }
  out.sort(messageOrder);
  return out;
}

/** The server stores an agent's idempotency key as `<user id>:<key>`. */
export function sameClientKey(local, stored) {
  if (!local || !stored) return false;
  return stored === local || stored.endsWith(`:${local}`);
}

const STATUS_RANK = { queued: 0, sent: 1, delivered: 2, read: 3, failed: 4 };

function mergeMessage(old, incoming) {
  if (old.pending || !old.status || !incoming.status) return { ...incoming };
  // Delivery only moves forward: never let an older snapshot roll a tick back.
  if ((STATUS_RANK[incoming.status] ?? 0) < (STATUS_RANK[old.status] ?? 0)) {
    return { ...incoming, status: old.status, status_reason: old.status_reason };
  }
  return { ...incoming };
}

function messageOrder(a, b) {
  // Optimistic (unsent) messages go last, in the order they were written.
  if (a.pending && !b.pending) return 1;
  if (b.pending && !a.pending) return -1;
  if (!a.pending && !b.pending && a.seq && b.seq && a.seq !== b.seq) return a.seq - b.seq;
  return (a.created_at || 0) - (b.created_at || 0);
}

export function applyMessageStatus(messages, ev) {
  let changed = false;
  const out = messages.map((m) => {
    if (m.id !== ev.message_id) return m;
    if (m.status === 'failed') return m;
    if (
      ev.status !== 'failed' &&
      (STATUS_RANK[ev.status] ?? 0) < (STATUS_RANK[m.status] ?? 0)
    ) {
      return m;
    }
    changed = true;
    return { ...m, status: ev.status, status_reason: ev.reason || '' };
  });
  return changed ? out : messages;
}

export function initials(name) {
  const parts = String(name || '?')
    .trim()
    .split(/\s+/)
    .filter(Boolean);
  if (parts.length === 0) return '?';
  if (parts.length === 1) return parts[0].slice(0, 2).toUpperCase();
  return (parts[0][0] + parts[parts.length - 1][0]).toUpperCase();
}

/** A stable, readable colour for an avatar. */
export function avatarHue(id) {
  let h = 0;
  for (const ch of String(id || '')) h = (h * 31 + ch.charCodeAt(0)) % 360;
  return h;
}

/** Readable text colour (black/white) on a tag background. */
export function contrastText(hex) {
  const m = /^#?([0-9a-f]{6})$/i.exec(hex || '');
  if (!m) return '#fff';
  const n = parseInt(m[1], 16);
  const r = (n >> 16) & 255;
  const g = (n >> 8) & 255;
  const b = n & 255;
  const lum = (0.299 * r + 0.587 * g + 0.114 * b) / 255;
  return lum > 0.6 ? '#111827' : '#ffffff';
}

function tzOpts(tz) {
  try {
    if (tz) {
      new Intl.DateTimeFormat('en-GB', { timeZone: tz });
      return { timeZone: tz };
    }
  } catch {
    /* unknown zone: use the browser's */
  }
  return {};
}

function dayKey(date, tz) {
  return new Intl.DateTimeFormat('en-CA', { ...tzOpts(tz), year: 'numeric', month: '2-digit', day: '2-digit' }).format(date);
}

/** Short list timestamp: time today, weekday this week, else date. `ts` in epoch seconds. */
export function formatListTime(ts, tz, now = Date.now()) {
  if (!ts) return '';
  const date = new Date(ts * 1000);
  const o = tzOpts(tz);
  if (dayKey(date, tz) === dayKey(new Date(now), tz)) {
    return new Intl.DateTimeFormat(undefined, { ...o, hour: '2-digit', minute: '2-digit' }).format(date);
  }
  if (now - date.getTime() < 6 * 86400e3 && date.getTime() <= now) {
    return new Intl.DateTimeFormat(undefined, { ...o, weekday: 'short' }).format(date);
  }
  return new Intl.DateTimeFormat(undefined, { ...o, day: 'numeric', month: 'short' }).format(date);
}

export function formatClock(ts, tz) {
  if (!ts) return '';
  return new Intl.DateTimeFormat(undefined, { ...tzOpts(tz), hour: '2-digit', minute: '2-digit' }).format(new Date(ts * 1000));
}

export function formatFull(ts, tz) {
  if (!ts) return '';
  return new Intl.DateTimeFormat(undefined, {
    ...tzOpts(tz),
    dateStyle: 'medium',
    timeStyle: 'short',
  }).format(new Date(ts * 1000));
}

/** A system line's text for this viewer: a snooze line names its end in the viewer's zone
 * (the server writes it in the snoozer's zone and puts the instant in `data.snooze_until`). */
export function systemLineText(m, tz) {
  const until = m.data && m.data.snooze_until;
  const cut = typeof m.text === 'string' ? m.text.lastIndexOf(' until ') : -1;
  if (typeof until !== 'number' || cut < 0) return m.text;
  return `${m.text.slice(0, cut)} until ${formatFull(until, tz)}`;
}

export function formatDay(ts, tz, now = Date.now()) {
  const date = new Date(ts * 1000);
  if (dayKey(date, tz) === dayKey(new Date(now), tz)) return 'Today';
  if (dayKey(date, tz) === dayKey(new Date(now - 86400e3), tz)) return 'Yesterday';
  return new Intl.DateTimeFormat(undefined, { ...tzOpts(tz), weekday: 'long', day: 'numeric', month: 'long' }).format(date);
}

export function sameDay(a, b, tz) {
  return dayKey(new Date(a * 1000), tz) === dayKey(new Date(b * 1000), tz);
}

/** Normalise the many shapes a list answer might take into {items, next}. */
export function pageOf(res, key) {
  if (Array.isArray(res)) return { items: res, next: null };
  if (!res || typeof res !== 'object') return { items: [], next: null };
  const items = res[key] ?? res.items ?? res.results ?? res.data ?? [];
  const next = res.next ?? res.next_after ?? res.after ?? null;
  return { items: Array.isArray(items) ? items : [], next, hasMore: res.has_more };
}

/** Presence from bootstrap: {user_id: status} or [{user_id, status}]. */
export function presenceMap(presence) {
  if (!presence) return {};
  if (Array.isArray(presence)) {
    const out = {};
    for (const p of presence) {
      if (typeof p === 'string') out[p] = 'online';
      else if (p && p.user_id) out[p.user_id] = p.status || 'online';
    }
    return out;
  }
  if (typeof presence === 'object') {
    const out = {};
    for (const [k, v] of Object.entries(presence)) {
      out[k] = typeof v === 'string' ? v : v && v.status ? v.status : v ? 'online' : 'offline';
    }
    return out;
  }
  return {};
}

export function isOnline(status) {
  return status === 'online' || status === 'away' || status === 'busy';
}

/** A fresh idempotency key. */
export function newKey() {
  if (globalThis.crypto && typeof globalThis.crypto.randomUUID === 'function') {
    return globalThis.crypto.randomUUID();
  }
  // Fallback for non-secure contexts (plain http on a LAN address).
  const b = new Uint8Array(16);
  globalThis.crypto.getRandomValues(b);
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = [...b].map((x) => x.toString(16).padStart(2, '0')).join('');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** The srcdoc of the sandboxed frame for an HTML email (already sanitized server-side). */
export const EMAIL_CSP = "default-src 'none'; img-src data: https: cid:; style-src 'unsafe-inline'";

export function emailSrcdoc(html) {
  return (
    '<!doctype html><html><head><meta charset="utf-8">' +
    `<meta http-equiv="Content-Security-Policy" content="${EMAIL_CSP}">` +
    '<base target="_blank">' +
    '<style>html,body{margin:0;padding:0}body{font:14px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1f2937;padding:12px;word-wrap:break-word}img{max-width:100%;height:auto}table{max-width:100%}a{color:#4f46e5}</style>' +
    `</head><body>${html || ''}</body></html>`
  );
}
