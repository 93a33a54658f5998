import { describe, expect, it } from 'vitest';
import {
  EventSequencer,
  activeTypers,
  applyMessageStatus,
  checkFileSize,
  composerKeyAction,
  emailSrcdoc,
  matchesQuery,
  mergeMessages,
  placeInList,
  presenceMap,
  queryParams,
  searchTemplates,
  snoozeUntil,
  templateQuery,
  thenApplies,
  typingUpdate,
  systemLineText,
} from '../src/lib/logic.js';

const conv = (id, at, extra = {}) => ({
  id,
  account_id: 'acc_1',
  channel: 'api',
  status: 'open',
  assignee_user_id: null,
  assignee_team_id: null,
  tag_ids: [],
  last_activity_at: at,
  version: 1,
  ...extra,
});

describe('list membership', () => {
  it('matches tabs and filters', () => {
    const c = conv('c1', 10, { assignee_user_id: 'u1', tag_ids: ['t1'] });
    expect(matchesQuery(c, { tab: 'mine', status: 'open' }, 'u1')).toBe(true);
    expect(matchesQuery(c, { tab: 'mine' }, 'u2')).toBe(false);
    expect(matchesQuery(c, { tab: 'unassigned' }, 'u1')).toBe(false);
    expect(matchesQuery(conv('c2', 1, { assignee_team_id: 'tm' }), { tab: 'unassigned' }, 'u1')).toBe(false);
    expect(matchesQuery(c, { tab: 'all', status: 'resolved' }, 'u1')).toBe(false);
    expect(matchesQuery(c, { tab: 'all', status: 'all' }, 'u1')).toBe(true);
    expect(matchesQuery(c, { tab: 'all', source: 'channel:email' }, 'u1')).toBe(false);
    expect(matchesQuery(c, { tab: 'all', source: 'account:acc_1' }, 'u1')).toBe(true);
    expect(matchesQuery(c, { tab: 'all', tag: 't1' }, 'u1')).toBe(true);
    expect(matchesQuery(c, { tab: 'all', tag: 't2' }, 'u1')).toBe(false);
  });

  it('builds query params', () => {
    const p = queryParams({ tab: 'mine', status: 'all', source: 'account:a', tag: 't' }, 'x');
    expect(p.toString()).toBe('tab=mine&account_id=a&tag=t&after=x');
  });

  it('inserts by last activity, moves and removes', () => {
    const byId = { a: conv('a', 30), b: conv('b', 20), c: conv('c', 10) };
    let ids = ['a', 'b', 'c'];
    byId.d = conv('d', 25);
    ids = placeInList(ids, byId.d, { tab: 'all' }, 'u', byId, false);
    expect(ids).toEqual(['a', 'd', 'b', 'c']);
    byId.c = conv('c', 40);
    ids = placeInList(ids, byId.c, { tab: 'all' }, 'u', byId, false);
    expect(ids).toEqual(['c', 'a', 'd', 'b']);
    byId.a = conv('a', 30, { status: 'resolved' });
    ids = placeInList(ids, byId.a, { tab: 'all', status: 'open' }, 'u', byId, false);
    expect(ids).toEqual(['c', 'd', 'b']);
  });

  it('does not insert below the loaded window when more pages exist', () => {
    const byId = { a: conv('a', 30), b: conv('b', 20), old: conv('old', 5) };
    expect(placeInList(['a', 'b'], byId.old, { tab: 'all' }, 'u', byId, true)).toEqual(['a', 'b']);
    expect(placeInList(['a', 'b'], byId.old, { tab: 'all' }, 'u', byId, false)).toEqual(['a', 'b', 'old']);
    // The last loaded row itself stays when it changes.
    byId.b = conv('b', 20, { tag_ids: ['x'], version: 2 });
    expect(placeInList(['a', 'b'], byId.b, { tab: 'all' }, 'u', byId, true)).toEqual(['a', 'b']);
  });
});

describe('templates', () => {
  const ts = [
    { id: '1', account_id: 'a', name: 'Thanks', labels: ['polite'] },
    { id: '2', account_id: 'a', name: 'Order shipped', labels: ['orders', 'thanks'] },
    { id: '3', account_id: 'a', name: 'Quote', labels: ['Quotes'] },
    { id: '4', account_id: 'b', name: 'Thanks B', labels: [] },
  ];
  it('filters by account, name and label with prefix first', () => {
    expect(searchTemplates(ts, 'a', 'th').map((t) => t.id)).toEqual(['1', '2']);
    expect(searchTemplates(ts, 'a', 'quo').map((t) => t.id)).toEqual(['3']);
    expect(searchTemplates(ts, 'a', 'pp').map((t) => t.id)).toEqual(['2']);
    expect(searchTemplates(ts, 'a', '').length).toBe(3);
  });
  it('opens only for a slash at the start', () => {
    expect(templateQuery('/th')).toBe('th');
    expect(templateQuery('hi /th')).toBe(null);
    expect(templateQuery('/a\nb')).toBe(null);
  });
});

describe('composer keys', () => {
  const k = (mods) => ({ key: 'Enter', ...mods });
  it('honours the send key setting', () => {
    expect(composerKeyAction(k({}), 'enter')).toEqual({ send: true, then: null });
    expect(composerKeyAction(k({ shiftKey: true }), 'enter')).toBe(null);
    expect(composerKeyAction(k({}), 'ctrl_enter')).toBe(null);
    expect(composerKeyAction(k({ ctrlKey: true }), 'ctrl_enter')).toEqual({ send: true, then: null });
    expect(composerKeyAction(k({ metaKey: true }), 'ctrl_enter')).toEqual({ send: true, then: null });
    expect(composerKeyAction(k({}), 'none')).toBe(null);
    expect(composerKeyAction(k({ ctrlKey: true }), 'none')).toBe(null);
  });
  it('maps the send+status chords', () => {
    expect(composerKeyAction(k({ ctrlKey: true, shiftKey: true }), 'enter').then).toBe('resolve');
    expect(composerKeyAction(k({ metaKey: true, altKey: true }), 'enter').then).toBe('pending');
    expect(composerKeyAction(k({ altKey: true, shiftKey: true }), 'ctrl_enter').then).toBe('reopen');
    expect(composerKeyAction({ key: 'a', ctrlKey: true }, 'enter')).toBe(null);
  });
  it('knows which actions apply', () => {
    expect(thenApplies('resolve', 'open')).toBe(true);
    expect(thenApplies('resolve', 'resolved')).toBe(false);
    expect(thenApplies('reopen', 'open')).toBe(false);
    expect(thenApplies('reopen', 'snoozed')).toBe(true);
    expect(thenApplies('pending', 'pending')).toBe(false);
  });
});

describe('uploads', () => {
  it('rejects files over the channel limit', () => {
    expect(checkFileSize({ name: 'a.pdf', size: 17 * 1024 * 1024 }, 'whatsapp')).toMatch(/16 MB/);
    expect(checkFileSize({ name: 'a.pdf', size: 17 * 1024 * 1024 }, 'email')).toBe(null);
    expect(checkFileSize({ name: 'a.pdf', size: 26 * 1024 * 1024 }, 'api')).toMatch(/25 MB/);
  });
});

describe('snooze presets', () => {
  it('computes tomorrow and next monday at 9', () => {
    const wed = new Date(2025, 0, 8, 15, 30); // a Wednesday
    const t = snoozeUntil('tomorrow', wed);
    expect([t.getDate(), t.getHours(), t.getMinutes()]).toEqual([9, 9, 0]);
    const m = snoozeUntil('next_monday', wed);
    expect([m.getDay(), m.getDate(), m.getHours()]).toEqual([1, 13, 9]);
    const mon = new Date(2025, 0, 13, 8, 0);
    expect(snoozeUntil('next_monday', mon).getDate()).toBe(20);
  });
});

describe('resume sequencing', () => {
  it('buffers live events until the ack and dedupes by cursor', () => {
    const seen = [];
    const s = new EventSequencer((e) => seen.push(e.cursor), 10);
    s.begin();
    s.live({ cursor: 13 });
    s.live({ cursor: 12 });
    expect(seen).toEqual([]);
    expect(s.finish({ events: [{ cursor: 11 }, { cursor: 12 }], cursor: 12 })).toBe('ok');
    expect(seen).toEqual([11, 12, 13]);
    s.live({ cursor: 13 });
    s.live({ cursor: 9 });
    s.live({ cursor: 14 });
    expect(seen).toEqual([11, 12, 13, 14]);
    expect(s.cursor).toBe(14);
  });
  it('reports resync and moves the cursor', () => {
    const seen = [];
    const s = new EventSequencer((e) => seen.push(e.cursor), 1);
    s.begin();
    s.live({ cursor: 101 });
    expect(s.finish({ resync: true, cursor: 100 })).toBe('resync');
    expect(seen).toEqual([101]);
    expect(s.cursor).toBe(101);
  });
  it('starts over when the server log was reset (cursor from the future)', () => {
    const seen = [];
    const s = new EventSequencer((e) => seen.push(e.cursor), 5000);
    s.begin();
    expect(s.finish({ resync: true, cursor: 12 })).toBe('resync');
    expect(s.cursor).toBe(12);
    s.live({ cursor: 13 });
    expect(seen).toEqual([13]);
  });
  it('applies events without a cursor as they come', () => {
    const seen = [];
    const s = new EventSequencer((e) => seen.push(e.type), 1);
    s.live({ type: 'x' });
    expect(seen).toEqual(['x']);
  });
});

describe('thread merging', () => {
  it('replaces optimistic messages by client key and keeps seq order', () => {
    let ms = mergeMessages([], [{ id: 'm1', seq: 1, created_at: 1 }]);
    ms = mergeMessages(ms, [{ id: 'tmp', pending: true, client_key: 'k', created_at: 5 }]);
    ms = mergeMessages(ms, [{ id: 'm3', seq: 3, created_at: 3 }]);
    expect(ms.map((m) => m.id)).toEqual(['m1', 'm3', 'tmp']);
    ms = mergeMessages(ms, [{ id: 'm2', seq: 2, client_key: 'usr_1:k', created_at: 2, status: 'queued' }]);
    expect(ms.map((m) => m.id)).toEqual(['m1', 'm2', 'm3']);
  });
  it('never rolls a delivery status back', () => {
    let ms = [{ id: 'm', status: 'delivered' }];
    ms = mergeMessages(ms, [{ id: 'm', status: 'sent' }]);
    expect(ms[0].status).toBe('delivered');
    expect(applyMessageStatus(ms, { message_id: 'm', status: 'sent' })).toBe(ms);
    ms = applyMessageStatus(ms, { message_id: 'm', status: 'failed', reason: 'boom' });
    expect(ms[0]).toMatchObject({ status: 'failed', status_reason: 'boom' });
  });
});

describe('typing and presence', () => {
  it('expires typers', () => {
    let st = typingUpdate({}, { conversation_id: 'c', user_id: 'b', name: 'Bob', typing: true }, 1000);
    expect(activeTypers(st, 'c', 2000, 'a')).toEqual([{ user_id: 'b', name: 'Bob' }]);
    expect(activeTypers(st, 'c', 8000, 'a')).toEqual([]);
    expect(activeTypers(st, 'c', 2000, 'b')).toEqual([]);
    st = typingUpdate(st, { conversation_id: 'c', user_id: 'b', typing: false }, 1500);
    expect(activeTypers(st, 'c', 2000, 'a')).toEqual([]);
  });
  it('normalises presence', () => {
    expect(presenceMap({ u1: 'online' })).toEqual({ u1: 'online' });
    expect(presenceMap([{ user_id: 'u1', status: 'online' }])).toEqual({ u1: 'online' });
    expect(presenceMap(['u2'])).toEqual({ u2: 'online' });
  });
});

describe('email frame', () => {
  it('wraps html with a CSP', () => {
    const doc = emailSrcdoc('<p>hi</p>');
    expect(doc).toContain("default-src 'none'; img-src data: https: cid:; style-src 'unsafe-inline'");
    expect(doc).toContain('<p>hi</p>');
  });
});

describe('systemLineText', () => {
  const until = Date.UTC(2026, 10, 27, 8, 0) / 1000; // 08:00 UTC
  const line = { text: 'Ana snoozed the conversation until Fri 27 Nov 09:00 CET', data: { snooze_until: until } };

  it("names a snooze's end in the viewer's time zone", () => {
    const tokyo = systemLineText(line, 'Asia/Tokyo');
    expect(tokyo.startsWith('Ana snoozed the conversation until ')).toBe(true);
    expect(tokyo).toContain('5:00');
    expect(tokyo).not.toContain('CET');
    expect(systemLineText(line, 'UTC')).toContain('8:00');
  });

  it('leaves other lines as the server wrote them', () => {
    expect(systemLineText({ text: 'Ana resolved the conversation', data: { status: 'resolved' } }, 'UTC')).toBe(
      'Ana resolved the conversation',
    );
    expect(systemLineText({ text: 'no data' }, 'UTC')).toBe('no data');
  });
});
