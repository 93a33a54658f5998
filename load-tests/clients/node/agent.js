#!/usr/bin/env node
// A client process of the load tests written for Node (load-tests/run.py --client node): owns a
// share of the agents' Socket.IO connections (socket.io-client 4, websocket transport, bearer
// token in `auth`) and measures what they receive exactly as load-tests/loadgen/worker.py does.
//
// Protocol with the coordinator (load-tests/loadgen/nodepool.py): the worker's config as JSON in
// argv[2]; then one JSON command per line on stdin, one JSON answer per line on stdout, each
// command answered exactly once, in order. Commands: connect, replies, snapshot, storm, stop,
// collect, close (see worker.py). Histograms use worker.py's bucket layout (loadgen/stats.py:
// 0.01 ms base, 2 % buckets), so the coordinator merges them with the Python workers' code.
//
// Inbound messages carry `lt:<id>:<send time>:<phase>` in their text, agent replies
// `lr:<id>:<send time>:<phase>`: the receiver turns that into the intake -> agent latency.
// A connection the server drops (e.g. as a slow consumer) reconnects and sends `resume` with the
// last cursor it applied, buffering live events until the resume answer is applied.
"use strict";

const { io } = require("socket.io-client");
const readline = require("node:readline");
const { performance } = require("node:perf_hooks");

const config = JSON.parse(process.argv[2] || "{}");
const LOGGED = new Set([
  "conversation.created",
  "conversation.updated",
  "message.created",
  "message.status",
]);
const REPLY_ID_BASE = 10000000;
const BASE_MS = 0.01;
const LOG_GROWTH = Math.log(1.02);

const now = () => (performance.timeOrigin + performance.now()) / 1000;

class Histogram {
  constructor() {
    this.b = new Map();
    this.n = 0;
    this.t = 0;
    this.max = 0;
    this.min = Infinity;
  }
  add(ms) {
    const index = ms <= BASE_MS ? 0 : Math.floor(Math.log(ms / BASE_MS) / LOG_GROWTH) + 1;
    this.b.set(index, (this.b.get(index) || 0) + 1);
    this.n += 1;
    this.t += ms;
    if (ms > this.max) this.max = ms;
    if (ms < this.min) this.min = ms;
  }
  toJSON() {
    return {
      b: Object.fromEntries(this.b),
      n: this.n,
      t: this.t,
      max: this.max,
      min: this.n ? this.min : null,
    };
  }
}

class HistogramSet {
  constructor() {
    this.byKey = new Map();
  }
  add(key, ms) {
    let hist = this.byKey.get(key);
    if (!hist) {
      hist = new Histogram();
      this.byKey.set(key, hist);
    }
    hist.add(ms);
  }
  toJSON() {
    const out = {};
    for (const [key, hist] of this.byKey) out[key] = hist.toJSON();
    return out;
  }
}

class Counter {
  constructor() {
    this.m = new Map();
  }
  inc(key, n = 1) {
    this.m.set(key, (this.m.get(key) || 0) + n);
  }
  toJSON() {
    return Object.fromEntries(this.m);
  }
  total() {
    let sum = 0;
    for (const v of this.m.values()) sum += v;
    return sum;
  }
}

function parseToken(text) {
  if (typeof text !== "string" || text.length < 8 || text[0] !== "l" || text[2] !== ":") {
    return null;
  }
  if (text[1] !== "t" && text[1] !== "r") return null;
  const parts = text.split(":");
  if (parts.length < 4) return null;
  const ident = Number(parts[1]);
  const sent = Number(parts[2]);
  if (!Number.isInteger(ident) || !Number.isFinite(sent)) return null;
  const phase = parts[3].split(" ", 1)[0];
  return [text[1] === "t" ? "in" : "reply", ident, sent, phase];
}

function describe(err) {
  if (!err) return "unknown";
  const text = String(err.message || err).trim();
  return text ? `${err.name || "Error"}: ${text.slice(0, 120)}` : err.name || "Error";
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

class Semaphore {
  constructor(n) {
    this.n = n;
    this.waiting = [];
  }
  async acquire() {
    if (this.n > 0) {
      this.n -= 1;
      return;
    }
    await new Promise((resolve) => this.waiting.push(resolve));
  }
  release() {
    const next = this.waiting.shift();
    if (next) next();
    else this.n += 1;
  }
}

class Conn {
  constructor(index, token) {
    this.index = index;
    this.token = token;
    this.socket = null;
    this.connectedAt = 0;
    this.lastCursor = 0;
    this.applied = new Set();
    this.liveSeen = new Set();
    this.seqs = new Map();
    this.received = new Set();
    this.resuming = false;
    this.buffer = [];
    this.drops = 0;
    this.dropping = false;
  }
}

class Worker {
  constructor(cfg) {
    this.cfg = cfg;
    this.index = cfg.index;
    this.url = cfg.url;
    this.conns = cfg.tokens.map((token, i) => new Conn(i, token));
    this.hists = new HistogramSet();
    this.timeline = new HistogramSet();
    this.events = new Counter();
    this.deliveredLive = 0;
    this.duplicates = 0;
    this.duplicateSamples = [];
    this.resumeOverlap = 0;
    this.outOfOrder = 0;
    this.seqGaps = 0;
    this.seqGapSamples = [];
    this.seqRepeats = 0;
    this.connectHist = new Histogram();
    this.disconnectReasons = new Counter();
    this.connectErrors = new Counter();
    this.conversations = [];
    this.inboundByAccount = new Counter();
    this.replyIds = [];
    this.replyStats = new Counter();
    this.replyTask = null;
    this.replyCounter = 0;
    this.autoResumes = new Counter();
    this.autoResumeMs = new Histogram();
    this.cpuStart = process.cpuUsage();
    this.wallStart = now();
    this.closing = false;
  }

  // ---------------------------------------------------------------- connections
  socketFor(conn) {
    if (conn.socket) return conn.socket;
    const socket = io(this.url, {
      auth: { token: conn.token },
      transports: ["websocket"],
      reconnection: false,
      forceNew: true,
      autoConnect: false,
      timeout: (this.cfg.connect_timeout || 30) * 1000,
      // As the Python client (aiohttp's ws_connect, compress=0): no permessage-deflate. ws would
      // offer it by default, making the server deflate every frame and this client inflate it
      // (60 % of this process's CPU in a profile), which is not the load the Python client puts on.
      perMessageDeflate: false,
    });
    socket.onAny((event, data) => {
      if (conn.resuming) conn.buffer.push([event, data]);
      else this.event(conn, event, data, true);
    });
    socket.on("disconnect", (reason) => {
      if (conn.dropping || this.closing) return;
      conn.drops += 1;
      this.disconnectReasons.inc(String(reason));
      if (this.cfg.auto_resume !== false) this.autoResume(conn);
    });
    conn.socket = socket;
    return socket;
  }

  connectOne(conn, gate) {
    return (async () => {
      await gate.acquire();
      try {
        const socket = this.socketFor(conn);
        const started = now();
        const ok = await new Promise((resolve) => {
          const done = (value, err) => {
            socket.off("connect", onConnect);
            socket.off("connect_error", onError);
            clearTimeout(timer);
            if (err) this.connectErrors.inc(describe(err));
            resolve(value);
          };
          const onConnect = () => done(true);
          const onError = (err) => done(false, err);
          const timer = setTimeout(() => {
            socket.disconnect();
            done(false, new Error("connect timeout"));
          }, (this.cfg.connect_timeout || 30) * 1000);
          socket.once("connect", onConnect);
          socket.once("connect_error", onError);
          socket.connect();
        });
        if (!ok) return false;
        this.connectHist.add((now() - started) * 1000);
        if (!conn.connectedAt) conn.connectedAt = now();
        return true;
      } finally {
        gate.release();
      }
    })();
  }

  async connect() {
    const gate = new Semaphore(this.cfg.connect_concurrency || 50);
    const started = now();
    const results = await Promise.all(this.conns.map((c) => this.connectOne(c, gate)));
    const connected = results.filter(Boolean).length;
    return {
      connected,
      failed: results.length - connected,
      seconds: Math.round((now() - started) * 1000) / 1000,
      errors: this.connectErrors.toJSON(),
      rss_mb: Math.round((process.memoryUsage().rss / 2 ** 20) * 10) / 10,
    };
  }

  // ---------------------------------------------------------------- events
  event(conn, event, data, live) {
    const received = now();
    this.events.inc(event);
    if (!LOGGED.has(event) || data === null || typeof data !== "object") return;
    const cursor = data.cursor;
    if (!Number.isInteger(cursor)) return;
    if (conn.applied.has(cursor)) {
      if (live && conn.liveSeen.has(cursor)) {
        this.duplicates += 1;
        if (this.duplicateSamples.length < 10) {
          this.duplicateSamples.push({ conn: conn.index, cursor });
        }
      } else {
        this.resumeOverlap += 1;
      }
      if (live) conn.liveSeen.add(cursor);
      return;
    }
    conn.applied.add(cursor);
    if (live) conn.liveSeen.add(cursor);
    if (cursor < conn.lastCursor) this.outOfOrder += 1;
    else conn.lastCursor = cursor;
    const conversationId = data.conversation_id;
    const seq = data.seq;
    if (typeof conversationId === "string" && Number.isInteger(seq)) {
      const last = conn.seqs.get(conversationId);
      if (last !== undefined) {
        if (seq > last + 1) {
          this.seqGaps += seq - last - 1;
          if (this.seqGapSamples.length < 10) {
            this.seqGapSamples.push({
              conn: conn.index,
              conversation_id: conversationId,
              after: last,
              got: seq,
            });
          }
        } else if (seq <= last) {
          this.seqRepeats += 1;
        }
      }
      if (last === undefined || seq > last) conn.seqs.set(conversationId, seq);
    }
    if (event !== "message.created") return;
    const message = (data.data || {}).message || {};
    const token = parseToken(message.text || "");
    if (token === null) return;
    const [kind, ident, sent, phase] = token;
    conn.received.add(ident);
    const latencyMs = (received - sent) * 1000;
    if (live) {
      this.deliveredLive += 1;
      this.hists.add(`${kind}:${phase}`, latencyMs);
      this.timeline.add(String(Math.floor(received)), latencyMs);
      if (kind === "in" && typeof conversationId === "string") {
        this.conversations.push(conversationId);
        this.inboundByAccount.inc(String(data.account_id));
        if (this.conversations.length > 2000) this.conversations.shift();
      }
    } else {
      this.hists.add(`${kind}-resume:${phase}`, latencyMs);
    }
  }

  // ---------------------------------------------------------------- resume
  flush(conn) {
    const buffered = conn.buffer;
    conn.buffer = [];
    conn.resuming = false;
    for (const [event, data] of buffered) this.event(conn, event, data, true);
  }

  async resume(conn) {
    const ack = await conn.socket
      .timeout(60000)
      .emitWithAck("resume", { cursor: conn.lastCursor });
    if (!ack || typeof ack !== "object" || !ack.ok) {
      throw new Error(JSON.stringify(ack).slice(0, 200));
    }
    const events = Array.isArray(ack.events) ? ack.events : [];
    for (const item of events) {
      if (item && typeof item === "object") this.event(conn, String(item.type), item, false);
    }
    return { resync: Boolean(ack.resync), events: events.length };
  }

  async dropAndResume(conn, gate) {
    if (!conn.socket) return { ok: false, error: "never connected" };
    conn.dropping = true;
    conn.socket.disconnect();
    conn.dropping = false;
    conn.resuming = true;
    conn.buffer = [];
    const started = now();
    try {
      if (!(await this.connectOne(conn, gate))) {
        this.flush(conn);
        return { ok: false, error: "reconnect failed" };
      }
      const answer = await this.resume(conn);
      this.flush(conn);
      return { ok: true, seconds: now() - started, ...answer };
    } catch (err) {
      this.flush(conn);
      return { ok: false, error: describe(err) };
    }
  }

  async autoResume(conn) {
    // The server dropped us (a slow consumer, say): reconnect and resume from the cursor,
    // trying for up to 60 s.
    conn.resuming = true;
    conn.buffer = [];
    const started = now();
    const gate = new Semaphore(1);
    for (let attempt = 0; attempt < 60 && !this.closing; attempt += 1) {
      await sleep(attempt === 0 ? 100 : 1000);
      if (this.closing) break;
      try {
        if (!(await this.connectOne(conn, gate))) continue;
        await this.resume(conn);
        this.flush(conn);
        this.autoResumes.inc("ok");
        this.autoResumeMs.add((now() - started) * 1000);
        return;
      } catch (err) {
        this.autoResumes.inc(`error:${describe(err)}`);
      }
    }
    this.flush(conn);
    this.autoResumes.inc("gave_up");
  }

  async storm(concurrency) {
    const gate = new Semaphore(Math.max(1, concurrency));
    const started = now();
    const results = await Promise.all(this.conns.map((c) => this.dropAndResume(c, gate)));
    const hist = new Histogram();
    const errors = new Counter();
    for (const r of results) {
      if (r.ok) hist.add(r.seconds * 1000);
      else errors.inc(String(r.error));
    }
    return {
      started,
      finished: now(),
      resumed: hist.n,
      failed: errors.total(),
      errors: errors.toJSON(),
      resync: results.filter((r) => r.resync).length,
      resume_events: results.reduce((sum, r) => sum + (r.events || 0), 0),
      resume_ms: hist.toJSON(),
    };
  }

  // ---------------------------------------------------------------- replies
  async reply(conn, conversationId, rid, phase) {
    const socket = conn.socket;
    if (!socket || !socket.connected) {
      this.replyStats.inc("skipped_disconnected");
      return;
    }
    const sent = now();
    const payload = {
      conversation_id: conversationId,
      text: `lr:${rid}:${sent.toFixed(6)}:${phase} load-test reply`,
      idempotency_key: `${this.cfg.prefix}-r${rid}`,
    };
    let ack;
    try {
      ack = await socket.timeout(15000).emitWithAck("message.send", payload);
    } catch (err) {
      this.replyStats.inc(`error:${describe(err)}`);
      return;
    }
    this.hists.add(`ack:${phase}`, (now() - sent) * 1000);
    if (ack && typeof ack === "object" && ack.ok) {
      this.replyStats.inc("ok");
      this.replyIds.push([rid, sent, phase]);
    } else {
      const error = ack && typeof ack === "object" ? ack.error || {} : {};
      this.replyStats.inc(`refused:${error.code || "unknown"}`);
    }
  }

  async replyLoop(rate, duration, phase) {
    if (rate <= 0) return;
    const count = Math.floor(rate * duration);
    const started = now();
    const inflight = new Set();
    for (let k = 0; k < count; k += 1) {
      const delay = started + k / rate - now();
      if (delay > 0) await sleep(delay * 1000);
      const live = this.conns.filter((c) => c.socket && c.socket.connected);
      if (!live.length || !this.conversations.length) {
        this.replyStats.inc("skipped_no_conversation");
        continue;
      }
      if (inflight.size >= 200) {
        this.replyStats.inc("skipped_backlog");
        continue;
      }
      const conn = live[Math.floor(Math.random() * live.length)];
      const conversationId =
        this.conversations[Math.floor(Math.random() * this.conversations.length)];
      this.replyStats.inc("sent");
      this.replyCounter += 1;
      const rid = (this.index + 1) * REPLY_ID_BASE + this.replyCounter;
      const task = this.reply(conn, conversationId, rid, phase);
      inflight.add(task);
      task.finally(() => inflight.delete(task));
    }
    if (inflight.size) {
      await Promise.race([Promise.allSettled([...inflight]), sleep(20000)]);
    }
  }

  // ---------------------------------------------------------------- results
  connectedNow() {
    return this.conns.filter((c) => c.socket && c.socket.connected).length;
  }

  snapshot() {
    return {
      delivered_live: this.deliveredLive,
      hists: this.hists.toJSON(),
      connected: this.connectedNow(),
      drops: this.conns.reduce((sum, c) => sum + c.drops, 0),
    };
  }

  async collect(expected, deadline) {
    const wanted = expected
      .map((e) => [Number(e[1]), Number(e[0])])
      .sort((a, b) => b[0] - a[0]);
    const waiting = (conn) => {
      const since = conn.connectedAt;
      if (!since) return false;
      for (const [sent, ident] of wanted) {
        if (sent < since) return false;
        if (!conn.received.has(ident)) return true;
      }
      return false;
    };
    while (now() < deadline && this.conns.some(waiting)) await sleep(250);
    let lost = 0;
    let pairs = 0;
    const lostSamples = [];
    for (const conn of this.conns) {
      if (!conn.connectedAt) continue;
      for (const [sent, ident] of wanted) {
        if (sent < conn.connectedAt) break;
        pairs += 1;
        if (!conn.received.has(ident)) {
          lost += 1;
          if (lostSamples.length < 10) lostSamples.push({ conn: conn.index, id: ident });
        }
      }
    }
    const cpu = process.cpuUsage(this.cpuStart);
    return {
      worker: this.index,
      pid: process.pid,
      client: "node",
      connections: this.conns.length,
      ever_connected: this.conns.filter((c) => c.connectedAt).length,
      connected_now: this.connectedNow(),
      unexpected_disconnects: this.conns.reduce((sum, c) => sum + c.drops, 0),
      disconnect_reasons: this.disconnectReasons.toJSON(),
      auto_resumes: this.autoResumes.toJSON(),
      auto_resume_ms: this.autoResumeMs.toJSON(),
      connect_ms: this.connectHist.toJSON(),
      connect_errors: this.connectErrors.toJSON(),
      hists: this.hists.toJSON(),
      timeline: this.timeline.toJSON(),
      events: this.events.toJSON(),
      delivered_live: this.deliveredLive,
      inbound_by_account: this.inboundByAccount.toJSON(),
      expected_pairs: pairs,
      lost,
      lost_samples: lostSamples,
      duplicates: this.duplicates,
      duplicate_samples: this.duplicateSamples,
      resume_overlap: this.resumeOverlap,
      out_of_order: this.outOfOrder,
      seq_gaps: this.seqGaps,
      seq_gap_samples: this.seqGapSamples,
      seq_repeats: this.seqRepeats,
      replies: this.replyStats.toJSON(),
      cpu_seconds: (cpu.user + cpu.system) / 1e6,
      wall_seconds: now() - this.wallStart,
      rss_mb: Math.round((process.memoryUsage().rss / 2 ** 20) * 10) / 10,
    };
  }

  async close() {
    this.closing = true;
    for (const conn of this.conns) {
      if (conn.socket) {
        conn.dropping = true;
        conn.socket.disconnect();
      }
    }
  }

  async handle(message) {
    switch (message.cmd) {
      case "connect":
        return this.connect();
      case "replies":
        this.replyTask = this.replyLoop(message.rate, message.duration, message.phase);
        return { ok: true };
      case "snapshot":
        return this.snapshot();
      case "storm":
        return this.storm(message.concurrency || 10000);
      case "stop":
        if (this.replyTask) {
          await Promise.race([this.replyTask, sleep((message.timeout || 30) * 1000)]);
          this.replyTask = null;
        }
        return { reply_ids: this.replyIds, replies: this.replyStats.toJSON() };
      case "collect":
        return this.collect(message.expected, message.deadline);
      case "close":
        await this.close();
        return { ok: true };
      default:
        return { error: `unknown command ${message.cmd}` };
    }
  }
}

async function main() {
  const worker = new Worker(config);
  const lifetime = Number(config.max_lifetime || 3600) * 1000;
  const hardStop = setTimeout(async () => {
    await worker.close();
    process.exit(0);
  }, lifetime);
  hardStop.unref();
  const lines = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
  for await (const line of lines) {
    if (!line.trim()) continue;
    const message = JSON.parse(line);
    let answer;
    try {
      answer = await worker.handle(message);
    } catch (err) {
      answer = { error: describe(err) };
    }
    await new Promise((resolve) => process.stdout.write(JSON.stringify(answer) + "\n", resolve));
    if (message.cmd === "close") process.exit(0);
  }
  // The coordinator is gone: leave.
  await worker.close();
  process.exit(0);
}

main();
