// The app's single source of truth: state, actions, and the live Socket.IO connection.
import { io } from 'socket.io-client';
import { ApiError, api, get, patch, post, setUnauthenticatedHandler, upload } from './lib/api.js';
import {
  DEFAULT_QUERY,
  EventSequencer,
  applyMessageStatus,
  compareConversations,
  matchesQuery,
  mergeMessages,
  newKey,
  newerConversation,
  pageOf,
  placeInList,
  presenceMap,
  queryParams,
  typingUpdate,
} from './lib/logic.js';

const QUERY_KEY = 'conv.query';
const PAGE_SIZE = 50;

function loadQuery() {
  try {
    const q = JSON.parse(localStorage.getItem(QUERY_KEY) || 'null');
    if (q && typeof q === 'object') return { ...DEFAULT_QUERY, ...q };
  } catch {
    /* ignore */
  }
  return { ...DEFAULT_QUERY };
}

function initialState() {
  return {
    phase: 'loading', // loading | login | ready
    loginMessage: '',
    me: null,
    users: {},
    teams: {},
    accounts: {},
    tags: {},
    templates: [],
    presence: {},
    convs: {},
    contacts: {},
    customers: {},
    query: loadQuery(),
    list: { ids: [], next: null, hasMore: false, loading: false, loadingMore: false, error: null, loaded: false },
    selectedId: null,
    threads: {},
    connection: 'connecting', // connecting | online | offline
    everConnected: false,
    typing: {},
    viewers: {},
    toasts: [],
    announcement: '',
    clock: Date.now(),
  };
}

let state = initialState();
const listeners = new Set();
let notifyQueued = false;

export function getState() {
  return state;
}

export function subscribe(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

function set(update) {
  const patchObj = typeof update === 'function' ? update(state) : update;
  if (!patchObj) return;
  state = { ...state, ...patchObj };
  if (!notifyQueued) {
    notifyQueued = true;
    queueMicrotask(() => {
      notifyQueued = false;
      for (const fn of listeners) fn(state);
    });
  }
}

function byId(list) {
  const out = {};
  for (const x of list || []) if (x && x.id) out[x.id] = x;
  return out;
}

// --------------------------------------------------------------------------- toasts

let toastSeq = 0;
export function toast(text, kind = 'info', opts = {}) {
  const id = ++toastSeq;
  set((s) => ({ toasts: [...s.toasts, { id, text, kind, ...opts }].slice(-4) }));
  setTimeout(() => dismissToast(id), kind === 'error' ? 8000 : 5000);
  return id;
}

/** Say something to screen readers (a polite live region), without a visible toast. */
export function announce(text) {
  set({ announcement: '' });
  setTimeout(() => set({ announcement: text }), 50);
}

export function dismissToast(id) {
  set((s) => ({ toasts: s.toasts.filter((t) => t.id !== id) }));
}

function fail(prefix) {
  return (e) => {
    toast(`${prefix}: ${e && e.message ? e.message : 'something went wrong'}`, 'error');
    throw e;
  };
}

// --------------------------------------------------------------------------- session

setUnauthenticatedHandler(() => sessionEnded('Your session has ended. Please sign in again.'));

function sessionEnded(message) {
  if (state.phase === 'login') return;
  teardown();
  state = { ...initialState(), phase: 'login', loginMessage: message || '' };
  set({});
}

function teardown() {
  if (socket) {
    socket.removeAllListeners();
    socket.offAny();
    socket.disconnect();
    socket = null;
  }
  clearInterval(clockTimer);
  clockTimer = null;
  clearInterval(typingOut.timer);
  typingOut.timer = null;
  typingOut.active = false;
  window.removeEventListener('hashchange', onHashChange);
}

/** On page load: bootstrap with the cookie session, or show the login screen. */
export async function init() {
  try {
    const boot = await get('/api/bootstrap', { quiet401: true, timeoutMs: 8000 });
    start(boot);
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) {
      set({ phase: 'login' });
    } else {
      set({ phase: 'login', loginMessage: e.message || 'Cannot reach the server.' });
      // The server may be starting: try again shortly.
      setTimeout(() => {
        if (state.phase === 'login' && !state.me) init();
      }, 3000);
    }
  }
}

export async function login(email, password) {
  await post('/api/login', { email, password }, { quiet401: true });
  const boot = await get('/api/bootstrap', { quiet401: true });
  start(boot);
}

export async function logout() {
  try {
    await post('/api/logout', {}, { quiet401: true });
  } catch {
    /* the session is gone either way */
  }
  teardown();
  state = { ...initialState(), phase: 'login' };
  set({});
}

function applyBootstrap(boot) {
  const users = byId(boot.users);
  if (boot.user) users[boot.user.id] = { ...users[boot.user.id], ...boot.user };
  set({
    me: boot.user,
    users,
    teams: byId(boot.teams),
    accounts: byId(boot.accounts),
    tags: byId(boot.tags),
    templates: boot.templates || [],
    presence: presenceMap(boot.presence),
  });
}

function start(boot) {
  applyBootstrap(boot);
  set({ phase: 'ready', loginMessage: '' });
  sequencer = new EventSequencer(applyEvent, boot.cursor || 0);
  loadList();
  connectSocket();
  clockTimer = setInterval(tick, 1000);
  window.addEventListener('hashchange', onHashChange);
  onHashChange();
}

function onHashChange() {
  const m = /^#\/c\/([^/?#]+)/.exec(window.location.hash || '');
  const id = m ? decodeURIComponent(m[1]) : null;
  if (id && id !== state.selectedId) openConversation(id);
  if (!id && state.selectedId) closeConversation();
}

let clockTimer = null;
function tick() {
  // Re-render only when something time-based (typing indicators) may have expired.
  const now = Date.now();
  const anyTyping = Object.values(state.typing).some((c) => Object.values(c).some((v) => v.until > now - 1500));
  if (anyTyping) set({ clock: now });
}

// --------------------------------------------------------------------------- records

function absorbContact(c) {
  if (c && c.id) set((s) => ({ contacts: { ...s.contacts, [c.id]: c } }));
}

function absorbCustomer(c) {
  if (c && c.id) set((s) => ({ customers: { ...s.customers, [c.id]: c } }));
}

/** A conversation as any endpoint may send it: bare, `{conversation, contact, customer}`, or embedded. */
function absorbConversationPayload(x) {
  if (!x || typeof x !== 'object') return null;
  let conv = x.conversation && typeof x.conversation === 'object' ? x.conversation : x;
  const contact = x.contact || conv.contact;
  const customer = x.customer || conv.customer;
  if (contact && typeof contact === 'object') absorbContact(contact);
  if (customer && typeof customer === 'object') absorbCustomer(customer);
  if (conv.contact !== undefined || conv.customer !== undefined) {
    conv = { ...conv };
    delete conv.contact;
    delete conv.customer;
  }
  if (!conv.id) return null;
  upsertConversation(conv);
  return conv;
}

let touchedDuringLoad = null;

function upsertConversation(conv) {
  if (!conv || !conv.id) return;
  const current = state.convs[conv.id];
  const next = newerConversation(current, conv);
  if (next === current) return;
  const convs = { ...state.convs, [conv.id]: next };
  const ids = placeInList(state.list.ids, next, state.query, state.me && state.me.id, convs, state.list.hasMore);
  set({ convs, list: ids === state.list.ids ? state.list : { ...state.list, ids } });
  if (touchedDuringLoad) touchedDuringLoad.add(conv.id);
  ensureRelated(next);
}

const inflight = new Map();
function once(key, fn) {
  if (inflight.has(key)) return inflight.get(key);
  const p = fn().finally(() => inflight.delete(key));
  inflight.set(key, p);
  return p;
}

function ensureRelated(conv) {
  if (conv.contact_id && !state.contacts[conv.contact_id]) {
    once(`contact:${conv.contact_id}`, () =>
      get(`/api/contacts/${encodeURIComponent(conv.contact_id)}`).then((r) => absorbContact((r && r.contact) || r)),
    ).catch(() => {});
  }
  if (conv.customer_id && !state.customers[conv.customer_id]) {
    once(`customer:${conv.customer_id}`, () =>
      get(`/api/customers/${encodeURIComponent(conv.customer_id)}`).then((r) => absorbCustomer((r && r.customer) || r)),
    ).catch(() => {});
  }
}

// --------------------------------------------------------------------------- list

let listGen = 0;

export function setQuery(changes) {
  const query = { ...state.query, ...changes };
  try {
    localStorage.setItem(QUERY_KEY, JSON.stringify(query));
  } catch {
    /* private mode */
  }
  set({ query, list: { ...state.list, ids: [], next: null, hasMore: false, loaded: false } });
  loadList();
}

export async function loadList({ silent = false } = {}) {
  const gen = ++listGen;
  const query = state.query;
  touchedDuringLoad = new Set();
  if (!silent) set((s) => ({ list: { ...s.list, loading: true, error: null } }));
  try {
    const res = await get(`/api/conversations?${queryParams(query)}`);
    if (gen !== listGen) return;
    const page = pageOf(res, 'conversations');
    // Conversations that events changed while the page was on its way: placed again below.
    const touched = touchedDuringLoad || new Set();
    touchedDuringLoad = null;
    const pageIds = [];
    for (const item of page.items) {
      const conv = absorbConversationPayload(item);
      if (conv) pageIds.push(conv.id);
    }
    const hasMore = page.hasMore !== undefined ? !!page.hasMore && page.next != null : page.next != null;
    const convs = state.convs;
    const me = state.me && state.me.id;
    let ids = pageIds.filter((id) => matchesQuery(convs[id], query, me));
    ids.sort((a, b) => compareConversations(convs[a], convs[b]));
    for (const id of touched) ids = placeInList(ids, convs[id], query, me, convs, hasMore);
    set({ list: { ids, next: page.next, hasMore, loading: false, loadingMore: false, error: null, loaded: true } });
  } catch (e) {
    if (gen !== listGen) return;
    touchedDuringLoad = null;
    set((s) => ({ list: { ...s.list, loading: false, error: e.message || 'Could not load conversations' } }));
  }
}

export async function loadMore() {
  const { list, query } = state;
  if (!list.hasMore || list.loadingMore || list.loading || list.next == null) return;
  const gen = listGen;
  set({ list: { ...list, loadingMore: true } });
  try {
    const res = await get(`/api/conversations?${queryParams(query, list.next)}`);
    if (gen !== listGen) return;
    const page = pageOf(res, 'conversations');
    const me = state.me && state.me.id;
    const ids = state.list.ids.slice();
    const have = new Set(ids);
    for (const item of page.items) {
      const conv = absorbConversationPayload(item);
      if (conv && !have.has(conv.id) && matchesQuery(state.convs[conv.id], query, me)) {
        ids.push(conv.id);
        have.add(conv.id);
      }
    }
    const convs = state.convs;
    ids.sort((a, b) => compareConversations(convs[a], convs[b]));
    const hasMore = page.hasMore !== undefined ? !!page.hasMore && page.next != null : page.next != null;
    set({ list: { ...state.list, ids, next: page.next, hasMore, loadingMore: false } });
  } catch (e) {
    if (gen !== listGen) return;
    set((s) => ({ list: { ...s.list, loadingMore: false, error: e.message } }));
  }
}

// --------------------------------------------------------------------------- thread

export function selectConversation(id) {
  if (id) window.location.hash = `#/c/${encodeURIComponent(id)}`;
  else {
    history.replaceState(null, '', window.location.pathname + window.location.search);
    closeConversation();
  }
}

function openConversation(id) {
  const prev = state.selectedId;
  if (prev === id) return;
  if (prev) {
    stopTyping(prev);
    emitQuiet('conversation.leave', { conversation_id: prev });
  }
  set({ selectedId: id });
  joinConversation(id);
  loadThread(id);
  loadDetail(id);
}

function closeConversation() {
  const prev = state.selectedId;
  if (!prev) return;
  stopTyping(prev);
  emitQuiet('conversation.leave', { conversation_id: prev });
  set({ selectedId: null });
}

function joinConversation(id) {
  if (!socket || !socket.connected) return;
  socket.timeout(8000).emit('conversation.join', { conversation_id: id }, (err, ack) => {
    if (err || !ack || ack.ok === false) return;
    if (Array.isArray(ack.viewers)) set((s) => ({ viewers: { ...s.viewers, [id]: ack.viewers } }));
  });
}

export async function loadDetail(id) {
  try {
    const res = await get(`/api/conversations/${encodeURIComponent(id)}`);
    absorbConversationPayload(res);
    if (state.threads[id] && state.threads[id].detailError) setThread(id, { detailError: null });
  } catch (e) {
    if (state.selectedId !== id) return;
    if (e.status === 404) {
      setThread(id, { error: 'This conversation does not exist or you cannot see it.', loading: false });
    } else if (!state.convs[id]) {
      // Without the conversation record the header cannot be drawn: say so, offer a retry.
      setThread(id, { detailError: `Could not load this conversation: ${e.message}` });
    }
  }
}

function setThread(id, changes) {
  set((s) => {
    const t = s.threads[id] || { messages: [], loading: false, loadingOlder: false, hasMore: false, error: null, loaded: false };
    return { threads: { ...s.threads, [id]: { ...t, ...changes } } };
  });
}

function threadMessages(id) {
  return (state.threads[id] && state.threads[id].messages) || [];
}

export async function loadThread(id, { replace = false } = {}) {
  setThread(id, { loading: !state.threads[id] || !state.threads[id].loaded, error: null });
  try {
    const res = await get(`/api/conversations/${encodeURIComponent(id)}/messages?limit=${PAGE_SIZE}`);
    const page = pageOf(res, 'messages');
    const keep = replace ? threadMessages(id).filter((m) => m.pending) : threadMessages(id);
    const messages = mergeMessages(keep, page.items);
    const hasMore = page.hasMore !== undefined ? !!page.hasMore : page.next != null ? true : page.items.length >= PAGE_SIZE;
    setThread(id, { messages, loading: false, loaded: true, hasMore });
  } catch (e) {
    setThread(id, { loading: false, error: e.status === 404 ? 'This conversation does not exist or you cannot see it.' : e.message });
  }
}

export async function loadOlder(id) {
  const t = state.threads[id];
  if (!t || !t.hasMore || t.loadingOlder) return;
  const seqs = t.messages.filter((m) => !m.pending && m.seq).map((m) => m.seq);
  if (seqs.length === 0) return;
  const before = Math.min(...seqs);
  setThread(id, { loadingOlder: true });
  try {
    const res = await get(`/api/conversations/${encodeURIComponent(id)}/messages?before_seq=${before}&limit=${PAGE_SIZE}`);
    const page = pageOf(res, 'messages');
    const hasMore = page.hasMore !== undefined ? !!page.hasMore : page.items.length >= PAGE_SIZE;
    setThread(id, { messages: mergeMessages(threadMessages(id), page.items), loadingOlder: false, hasMore });
  } catch (e) {
    setThread(id, { loadingOlder: false });
    toast(`Could not load earlier messages: ${e.message}`, 'error');
  }
}

function addMessages(convId, messages) {
  if (!state.threads[convId]) return; // not loaded: fetched when opened
  setThread(convId, { messages: mergeMessages(threadMessages(convId), messages) });
}

// --------------------------------------------------------------------------- realtime

let socket = null;
let sequencer = new EventSequencer(applyEvent, 0);

function applyEvent(ev) {
  const data = ev.data || {};
  switch (ev.type) {
    case 'conversation.created':
    case 'conversation.updated':
      absorbConversationPayload(data.conversation ? data : null);
      break;
    case 'message.created': {
      if (data.conversation) absorbConversationPayload({ conversation: data.conversation });
      const msg = data.message;
      if (msg) {
        addMessages(ev.conversation_id || msg.conversation_id, [msg]);
        const sender = msg.sender || {};
        if (sender.type === 'user' && sender.id) {
          const convTyping = state.typing[ev.conversation_id];
          if (convTyping && convTyping[sender.id]) {
            set((s) => typingPatch(s, { conversation_id: ev.conversation_id, user_id: sender.id, typing: false }));
          }
        }
      }
      break;
    }
    case 'message.status': {
      const t = state.threads[ev.conversation_id];
      if (t) {
        const messages = applyMessageStatus(t.messages, data);
        if (messages !== t.messages) setThread(ev.conversation_id, { messages });
      }
      break;
    }
    default:
      break;
  }
}

function typingPatch(s, ev) {
  return { typing: typingUpdate(s.typing, ev, Date.now()), clock: Date.now() };
}

function onSignal(name, payload) {
  if (!payload || typeof payload !== 'object') return;
  const me = state.me && state.me.id;
  switch (name) {
    case 'presence.updated':
      if (payload.user_id) set((s) => ({ presence: { ...s.presence, [payload.user_id]: payload.status } }));
      break;
    case 'typing':
      if (payload.user_id && payload.user_id !== me && payload.conversation_id) set((s) => typingPatch(s, payload));
      break;
    case 'viewing':
      if (payload.conversation_id) set((s) => ({ viewers: { ...s.viewers, [payload.conversation_id]: payload.viewers || [] } }));
      break;
    case 'notification':
      if (payload.text) toast(payload.text, 'info', { conversationId: payload.conversation_id });
      break;
    case 'workspace.changed':
      // Users, teams, accounts, tags or templates changed somewhere: refresh menus once a burst
      // of changes (an admin saving a form) is over.
      clearTimeout(workspaceReloadTimer);
      workspaceReloadTimer = setTimeout(() => reloadWorkspace().catch(() => {}), WORKSPACE_RELOAD_DELAY_MS);
      break;
    default:
      break;
  }
}

const WORKSPACE_RELOAD_DELAY_MS = 300;
let workspaceReloadTimer = null;

function connectSocket() {
  if (socket) return;
  set({ connection: 'connecting' });
  socket = io({
    path: '/socket.io',
    // WebSocket only: no long-polling requests holding the browser's per-host connections,
    // and no sticky sessions needed behind the load balancer (deploy/nginx.conf).
    transports: ['websocket'],
    withCredentials: true,
    reconnectionDelay: 500,
    reconnectionDelayMax: 2000,
    randomizationFactor: 0.3,
    timeout: 8000,
  });
  socket.on('connect', onConnect);
  socket.on('disconnect', (reason) => {
    set({ connection: 'offline' });
    if (reason === 'io server disconnect') {
      // The server closed us on purpose (e.g. draining): come back once it is ready.
      setTimeout(() => socket && !socket.connected && socket.connect(), 1000);
    }
  });
  socket.on('connect_error', (err) => {
    set({ connection: 'offline' });
    const code = err && err.data && err.data.code;
    if (code === 'unauthenticated' || /unauth/i.test((err && err.message) || '')) {
      // Only end the session if the HTTP side agrees (the socket may just be racing a restart).
      get('/api/me', { quiet401: true }).catch((e) => {
        if (e.status === 401) sessionEnded('Your session has ended. Please sign in again.');
      });
    }
    if (socket && !socket.active) setTimeout(() => socket && !socket.connected && socket.connect(), 2000);
  });
  socket.onAny((name, payload) => {
    if (payload && typeof payload === 'object' && typeof payload.cursor === 'number' && payload.type) {
      sequencer.live(payload);
    } else {
      onSignal(name, payload);
    }
  });
}

function onConnect() {
  if (state.everConnected) set({ connection: 'offline' }); // stays "reconnecting" until resumed
  sequencer.begin();
  resume(0);
}

function resume(attempt) {
  const s = socket;
  if (!s || !s.connected) return;
  s.timeout(10000).emit('resume', { cursor: sequencer.cursor }, (err, ack) => {
    if (s !== socket) return;
    if (err || !ack || ack.ok === false) {
      const code = ack && ack.error && ack.error.code;
      if (code === 'unauthenticated') {
        sessionEnded('Your session has ended. Please sign in again.');
        return;
      }
      if (!s.connected) return; // the next connect resumes again
      if (attempt < 3) {
        setTimeout(() => resume(attempt + 1), 500 * (attempt + 1));
        return;
      }
      // Cannot resume: fall back to a silent reload, which is always correct.
      sequencer.finish({ resync: true });
      resyncAll();
      online();
      return;
    }
    const result = sequencer.finish(ack);
    if (result === 'resync') resyncAll();
    online();
  });
}

function online() {
  if (state.everConnected) {
    // Back from a drop: presence, users, tags and templates may have changed meanwhile.
    get('/api/bootstrap')
      .then((boot) => applyBootstrap(boot))
      .catch(() => {});
  }
  set({ connection: 'online', everConnected: true });
  if (state.selectedId) joinConversation(state.selectedId);
  retryFailedSends();
}

/** The server could not replay what we missed: reload what is on screen, quietly. */
function resyncAll() {
  // Thread caches other than the open one may be stale: drop them.
  set((s) => ({ threads: s.selectedId && s.threads[s.selectedId] ? { [s.selectedId]: s.threads[s.selectedId] } : {} }));
  loadList({ silent: true });
  if (state.selectedId) {
    loadThread(state.selectedId, { replace: true });
    loadDetail(state.selectedId);
  }
}

function emitQuiet(name, payload) {
  if (socket && socket.connected) socket.emit(name, payload, () => {});
}

/** A command over the socket when connected, else the equivalent HTTP route. */
function command(name, payload, http) {
  if (socket && socket.connected) {
    return new Promise((resolve, reject) => {
      socket.timeout(12000).emit(name, payload, (err, ack) => {
        if (err) {
          reject(new ApiError(0, 'timeout', 'The server did not answer in time.'));
        } else if (!ack || ack.ok === false) {
          const e = (ack && ack.error) || {};
          reject(new ApiError(statusFor(e.code), e.code || 'error', e.message || 'The server refused that.'));
        } else {
          resolve(ack);
        }
      });
    });
  }
  return http();
}

function statusFor(code) {
  return (
    {
      invalid: 400,
      unauthenticated: 401,
      forbidden: 403,
      not_found: 404,
      conflict: 409,
      assignment_conflict: 409,
      too_large: 413,
      unavailable: 503,
      account_paused: 503,
    }[code] || 0
  );
}

const cid = (id) => encodeURIComponent(id);

// --------------------------------------------------------------------------- typing

// While the composer holds text (and has focus) we say "typing" at most every 2 s and keep
// saying it every 2 s, so others' indicators (which expire after ~6 s) stay up; send, blur,
// clearing the text or leaving the conversation says "stopped" at once.
const TYPING_EVERY = 2000;
const typingOut = { convId: null, active: false, lastSent: 0, timer: null };

export function composerActivity(convId, hasText) {
  if (!hasText) {
    stopTyping(convId);
    return;
  }
  if (typingOut.active && typingOut.convId !== convId) stopTyping(typingOut.convId);
  const now = Date.now();
  if (!typingOut.active || now - typingOut.lastSent >= TYPING_EVERY) {
    typingOut.convId = convId;
    typingOut.active = true;
    typingOut.lastSent = now;
    emitQuiet('typing', { conversation_id: convId, typing: true });
  }
  if (!typingOut.timer) {
    typingOut.timer = setInterval(() => {
      if (!typingOut.active) return;
      typingOut.lastSent = Date.now();
      emitQuiet('typing', { conversation_id: typingOut.convId, typing: true });
    }, TYPING_EVERY);
  }
}

export function stopTyping(convId) {
  if (typingOut.active && (!convId || typingOut.convId === convId)) {
    emitQuiet('typing', { conversation_id: typingOut.convId, typing: false });
    typingOut.active = false;
    typingOut.lastSent = 0;
    clearInterval(typingOut.timer);
    typingOut.timer = null;
  }
}

// --------------------------------------------------------------------------- sending

const outbox = new Map(); // idempotency key -> {convId, payload}

export function sendMessage(convId, { text, note = false, attachments = [], then = null }) {
  const key = newKey();
  const payload = { conversation_id: convId, text, idempotency_key: key };
  if (note) payload.note = true;
  if (attachments.length) payload.attachments = attachments.map((a) => a.id);
  if (then) payload.then = then;
  const me = state.me || {};
  const optimistic = {
    id: `local-${key}`,
    pending: true,
    sendState: 'sending',
    client_key: key,
    conversation_id: convId,
    kind: note ? 'note' : 'outbound',
    sender: { type: 'user', id: me.id, name: me.name },
    text,
    html: '',
    attachments,
    created_at: Date.now() / 1000,
    then,
  };
  if (!state.threads[convId]) setThread(convId, { loaded: false });
  addMessages(convId, [optimistic]);
  outbox.set(key, { convId, payload });
  stopTyping(convId);
  return deliver(key);
}

async function deliver(key) {
  const item = outbox.get(key);
  if (!item) return;
  const { convId, payload } = item;
  markPending(convId, key, { sendState: 'sending', sendError: '' });
  try {
    const ack = await command('message.send', payload, () => {
      const { conversation_id: _ignored, ...body } = payload;
      return post(`/api/conversations/${cid(convId)}/messages`, body);
    });
    outbox.delete(key);
    const msg = ack && (ack.message || (ack.id ? ack : null));
    if (msg) addMessages(convId, [msg]);
    else markPending(convId, key, { sendState: 'sent' });
    if (ack && ack.conversation) absorbConversationPayload({ conversation: ack.conversation });
  } catch (e) {
    const transient = e.status === 0 || e.status === 503 || e.code === 'timeout' || e.code === 'network';
    markPending(convId, key, { sendState: 'error', sendError: e.message || 'Not sent', transient });
  }
}

function markPending(convId, key, changes) {
  const t = state.threads[convId];
  if (!t) return;
  const messages = t.messages.map((m) => (m.pending && m.client_key === key ? { ...m, ...changes } : m));
  setThread(convId, { messages });
}

/** Retry with the same idempotency key: the server stores it at most once. */
export function retrySend(convId, key) {
  return deliver(key);
}

export function discardSend(convId, key) {
  outbox.delete(key);
  const t = state.threads[convId];
  if (t) setThread(convId, { messages: t.messages.filter((m) => !(m.pending && m.client_key === key)) });
}

function retryFailedSends() {
  for (const [key, item] of outbox) {
    const m = threadMessages(item.convId).find((x) => x.pending && x.client_key === key);
    if (m && m.sendState === 'error' && m.transient) deliver(key);
  }
}

// --------------------------------------------------------------------------- actions

function convFrom(ack) {
  const conv = ack && (ack.conversation || (ack.id ? ack : null));
  if (conv) absorbConversationPayload({ conversation: conv });
  return conv;
}

export function assign(convId, { userId = null, teamId = null }) {
  const body = {};
  if (userId) body.user_id = userId;
  if (teamId) body.team_id = teamId;
  const seen = state.convs[convId];
  if (seen) {
    // What this agent saw: if someone else reassigned meanwhile, the server refuses (409).
    body.expected = { user_id: seen.assignee_user_id || null, team_id: seen.assignee_team_id || null };
  }
  return command('conversation.assign', { conversation_id: convId, ...body, idempotency_key: newKey() }, () =>
    post(`/api/conversations/${cid(convId)}/assign`, body),
  )
    .then((ack) => {
      const conv = convFrom(ack);
      const who = userId ? state.users[userId] && state.users[userId].name : teamId ? state.teams[teamId] && state.teams[teamId].name : null;
      announce(who ? `Assigned to ${who}` : 'Unassigned');
      return conv;
    })
    .catch((e) => {
      if (e.code === 'assignment_conflict') {
        loadDetail(convId);
        toast('Someone else changed the assignment a moment ago; have a look before changing it again.', 'error');
        throw e;
      }
      return fail('Could not assign')(e);
    });
}

export function setStatus(convId, status) {
  return command('conversation.status', { conversation_id: convId, status, idempotency_key: newKey() }, () =>
    post(`/api/conversations/${cid(convId)}/status`, { status }),
  )
    .then((ack) => {
      announce(status === 'resolved' ? 'Conversation resolved' : status === 'open' ? 'Conversation reopened' : `Conversation marked ${status}`);
      return convFrom(ack);
    })
    .catch(fail('Could not change the status'));
}

export function snooze(convId, preset) {
  return command('conversation.snooze', { conversation_id: convId, preset, idempotency_key: newKey() }, () =>
    post(`/api/conversations/${cid(convId)}/snooze`, { preset }),
  )
    .then((ack) => {
      announce('Conversation snoozed');
      return convFrom(ack);
    })
    .catch(fail('Could not snooze'));
}

export function addTag(convId, { tagId, name }) {
  const body = tagId ? { tag_id: tagId } : { name };
  return command('conversation.tag', { conversation_id: convId, ...body, idempotency_key: newKey() }, () =>
    post(`/api/conversations/${cid(convId)}/tags`, body),
  )
    .then((ack) => {
      const conv = convFrom(ack);
      if (ack && ack.tag && ack.tag.id) set((s) => ({ tags: { ...s.tags, [ack.tag.id]: ack.tag } }));
      if (conv && name) refreshTagsIfUnknown(conv.tag_ids);
      return conv;
    })
    .catch(fail('Could not tag'));
}

export function removeTag(convId, tagId) {
  return command('conversation.untag', { conversation_id: convId, tag_id: tagId, idempotency_key: newKey() }, () =>
    api('DELETE', `/api/conversations/${cid(convId)}/tags/${cid(tagId)}`),
  )
    .then(convFrom)
    .catch(fail('Could not remove the tag'));
}

function refreshTagsIfUnknown(tagIds) {
  if ((tagIds || []).every((id) => state.tags[id])) return;
  once('tags', () =>
    get('/api/tags').then((res) => {
      const page = pageOf(res, 'tags');
      set((s) => ({ tags: { ...s.tags, ...byId(page.items) } }));
    }),
  ).catch(() => {});
}

/** Tags referenced by conversations but missing locally (created elsewhere) get fetched. */
export function ensureTags(tagIds) {
  refreshTagsIfUnknown(tagIds);
}

export async function linkCustomer(convId, customerId, branchId = null) {
  try {
    const body = { customer_id: customerId };
    if (branchId) body.branch_id = branchId;
    const res = await post(`/api/conversations/${cid(convId)}/customer`, body);
    absorbConversationPayload(res);
    loadDetail(convId);
  } catch (e) {
    fail(customerId ? 'Could not link the customer' : 'Could not unlink the customer')(e);
  }
}

export async function searchCustomers(q) {
  const res = await get(`/api/customers?q=${encodeURIComponent(q)}`);
  const page = pageOf(res, 'customers');
  for (const c of page.items) absorbCustomer(c);
  return page.items;
}

export async function renderTemplate(convId, templateId) {
  const res = await post(`/api/conversations/${cid(convId)}/render`, { template_id: templateId });
  return (res && (res.text ?? res.rendered)) || '';
}

export async function createConversation({ accountId, to, name, subject, text }) {
  const body = { account_id: accountId, to, text, idempotency_key: newKey() };
  if (name) body.name = name;
  if (subject) body.subject = subject;
  const res = await post('/api/conversations', body);
  const conv = absorbConversationPayload(res);
  return conv;
}

export async function updateMe(changes) {
  const res = await patch('/api/me', changes);
  const user = (res && (res.user || res)) || {};
  if (user.id) set((s) => ({ me: { ...s.me, ...user }, users: { ...s.users, [user.id]: { ...s.users[user.id], ...user } } }));
  return user;
}

export function uploadFile(file, onProgress) {
  return upload(file, onProgress);
}

// For tests and debugging in the console.
if (typeof window !== 'undefined') {
  window.__conv = {
    getState,
    get cursor() {
      return sequencer.cursor;
    },
    /** Pretend to be a client from before a server log reset, then reconnect. */
    reconnectWithCursor(cursor) {
      sequencer.cursor = cursor;
      if (socket) {
        socket.disconnect();
        socket.connect();
      }
    },
  };
}

// --------------------------------------------------------------------------- message search

/** `GET /api/search`: hits of {message, conversation}; fetches the names the rows show. */
export async function searchMessages(q, { limit = 50 } = {}) {
  const res = await get(`/api/search?q=${encodeURIComponent(q)}&limit=${limit}`);
  const hits = (res && Array.isArray(res.hits) ? res.hits : []).filter((h) => h && h.message && h.conversation);
  for (const h of hits) ensureRelated(h.conversation);
  return hits;
}

// --------------------------------------------------------------------------- workspace settings

/** The admin Settings area changed accounts, templates, tags, users or teams: fetch them
 *  again so menus and pickers offer what was just saved. A tag deleted meanwhile stays known,
 *  marked deleted: conversations keep showing it, menus no longer offer it. */
export async function reloadWorkspace() {
  const before = state.tags;
  const boot = await get('/api/bootstrap');
  applyBootstrap(boot);
  const kept = {};
  for (const [id, tag] of Object.entries(before)) if (!state.tags[id]) kept[id] = { ...tag, deleted: true };
  if (Object.keys(kept).length) set((s) => ({ tags: { ...kept, ...s.tags } }));
}
