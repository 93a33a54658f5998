"""A client process: owns a share of the Socket.IO connections and measures what they receive.

The coordinator (run.py) talks to each worker over a multiprocessing pipe, one JSON object per
message: a command in, an answer out. Every command is answered exactly once.

Commands: `connect`, `replies` (start agent replies), `snapshot` (counts so far), `storm`
(drop every connection, reconnect, `resume` from the last cursor), `stop` (stop replying,
hand back the acked reply ids), `collect` (wait for the expected messages, then report),
`close` (disconnect and exit).

Inbound messages carry `lt:<n>:<send time>:<phase>` in their text, agent replies
`lr:<id>:<send time>:<phase>`: a receiver turns that into the intake -> agent latency.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import os
import random
import threading
import time
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

import aiohttp
import orjson
import psutil
import socketio

from loadgen.stats import Histogram, HistogramSet

LOGGED = frozenset(
    {"conversation.created", "conversation.updated", "message.created", "message.status"}
)
REPLY_ID_BASE = 10_000_000  # reply ids are (worker + 1) * base + k; inbound ids stay below


class OrjsonCodec:
    """python-socketio wants a module-like object with `dumps` / `loads`."""

    @staticmethod
    def dumps(obj: Any, *args: Any, **kwargs: Any) -> str:
        return orjson.dumps(obj).decode()

    @staticmethod
    def loads(data: str | bytes, *args: Any, **kwargs: Any) -> Any:
        return orjson.loads(data)


def parse_token(text: str) -> tuple[str, int, float, str] | None:
    """`lt:<id>:<ts>:<phase>` -> ("in", id, ts, phase); `lr:...` -> ("reply", ...)."""
    if len(text) < 8 or text[0] != "l" or text[2] != ":" or text[1] not in "tr":
        return None
    parts = text.split(":", 4)
    if len(parts) < 4:
        return None
    try:
        ident, sent = int(parts[1]), float(parts[2])
    except ValueError:
        return None
    phase = parts[3].split(" ", 1)[0]
    return ("in" if text[1] == "t" else "reply"), ident, sent, phase


@dataclass
class Conn:
    index: int
    token: str
    client: socketio.AsyncClient | None = None
    connected_at: float = 0.0  # first successful connect
    last_cursor: int = 0
    applied: set[int] = field(default_factory=set)
    live_seen: set[int] = field(default_factory=set)
    seqs: dict[str, int] = field(default_factory=dict)
    received: set[int] = field(default_factory=set)
    resuming: bool = False
    buffer: list[tuple[str, Any]] = field(default_factory=list)
    drops: int = 0  # disconnects we did not ask for
    dropping: bool = False  # we asked for this disconnect


class Worker:
    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config
        self.index: int = config["index"]
        self.url: str = config["url"]
        self.conns = [Conn(i, token) for i, token in enumerate(config["tokens"])]
        self.http: aiohttp.ClientSession | None = None
        self.hists = HistogramSet()  # "in:<phase>", "reply:<phase>", "in-resume:<phase>", ...
        self.timeline = HistogramSet()  # receive second -> latency of live messages
        self.events: collections.Counter[str] = collections.Counter()
        self.delivered_live = 0
        self.duplicates = 0
        self.duplicate_samples: list[dict[str, Any]] = []
        self.resume_overlap = 0
        self.out_of_order = 0
        self.seq_gaps = 0
        self.seq_gap_samples: list[dict[str, Any]] = []
        self.seq_repeats = 0
        self.connect_hist = Histogram()
        self.disconnect_reasons: collections.Counter[str] = collections.Counter()
        self.connect_errors: collections.Counter[str] = collections.Counter()
        self.conversations: collections.deque[str] = collections.deque(maxlen=2000)
        self.inbound_by_account: collections.Counter[str] = collections.Counter()
        self.reply_ids: list[list[Any]] = []
        self.reply_stats: collections.Counter[str] = collections.Counter()
        self.reply_task: asyncio.Task[None] | None = None
        self.reply_counter = 0
        self.process = psutil.Process()
        self.cpu_start = self.process.cpu_times()
        self.wall_start = time.time()
        self.rng = random.Random(os.getpid())
        self.closing = False
        self.auto_resumes: collections.Counter[str] = collections.Counter()
        self.auto_resume_ms = Histogram()
        self.resume_tasks: set[asyncio.Task[None]] = set()

    # ------------------------------------------------------------------ connections
    def _client(self, conn: Conn) -> socketio.AsyncClient:
        client = socketio.AsyncClient(
            reconnection=False,
            http_session=self.http,
            handle_sigint=False,
            json=OrjsonCodec,
            request_timeout=self.config.get("request_timeout", 20),
        )

        async def on_any(event: str, data: Any = None) -> None:
            if conn.resuming:
                conn.buffer.append((event, data))
            else:
                self._event(conn, event, data, live=True)

        async def on_disconnect(*reason: Any) -> None:
            if not conn.dropping and not self.closing:
                conn.drops += 1
                self.disconnect_reasons[str(reason[0]) if reason else "unknown"] += 1
                if self.config.get("auto_resume", True):
                    task = asyncio.create_task(self._auto_resume(conn))
                    self.resume_tasks.add(task)
                    task.add_done_callback(self.resume_tasks.discard)

        client.on("*", on_any)
        client.on("disconnect", on_disconnect)
        return client

    async def _connect_one(self, conn: Conn, gate: asyncio.Semaphore) -> bool:
        async with gate:
            client = conn.client or self._client(conn)
            conn.client = client
            started = time.time()
            try:
                await client.connect(
                    self.url,
                    auth={"token": conn.token},
                    transports=["websocket"],
                    wait_timeout=self.config.get("connect_timeout", 30),
                )
            except Exception as exc:
                self.connect_errors[_describe(exc)] += 1
                return False
            self.connect_hist.add((time.time() - started) * 1000)
            if not conn.connected_at:
                conn.connected_at = time.time()
            return True

    async def connect(self) -> dict[str, Any]:
        self.http = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
        gate = asyncio.Semaphore(self.config.get("connect_concurrency", 50))
        started = time.time()
        results = await asyncio.gather(*(self._connect_one(c, gate) for c in self.conns))
        return {
            "connected": sum(results),
            "failed": len(results) - sum(results),
            "seconds": round(time.time() - started, 3),
            "errors": dict(self.connect_errors),
            "rss_mb": round(self.process.memory_info().rss / 2**20, 1),
        }

    # ------------------------------------------------------------------ events
    def _event(self, conn: Conn, event: str, data: Any, *, live: bool) -> None:
        now = time.time()
        self.events[event] += 1
        if event not in LOGGED or not isinstance(data, dict):
            return
        cursor = data.get("cursor")
        if not isinstance(cursor, int):
            return
        if cursor in conn.applied:
            if live and cursor in conn.live_seen:
                self.duplicates += 1
                if len(self.duplicate_samples) < 10:
                    self.duplicate_samples.append({"conn": conn.index, "cursor": cursor})
            else:
                self.resume_overlap += 1
            if live:
                conn.live_seen.add(cursor)
            return
        conn.applied.add(cursor)
        if live:
            conn.live_seen.add(cursor)
        if cursor < conn.last_cursor:
            self.out_of_order += 1
        else:
            conn.last_cursor = cursor
        conversation_id = data.get("conversation_id")
        seq = data.get("seq")
        if isinstance(conversation_id, str) and isinstance(seq, int):
            last = conn.seqs.get(conversation_id)
            if last is not None:
                if seq > last + 1:
                    self.seq_gaps += seq - last - 1
                    if len(self.seq_gap_samples) < 10:
                        self.seq_gap_samples.append(
                            {"conn": conn.index, "conversation_id": conversation_id}
                            | {"after": last, "got": seq}
                        )
                elif seq <= last:
                    self.seq_repeats += 1
            if last is None or seq > last:
                conn.seqs[conversation_id] = seq
        if event != "message.created":
            return
        body = data.get("data") or {}
        message = body.get("message") or {}
        token = parse_token(message.get("text") or "")
        if token is None:
            return
        kind, ident, sent, phase = token
        conn.received.add(ident)
        latency_ms = (now - sent) * 1000.0
        if live:
            self.delivered_live += 1
            self.hists.add(f"{kind}:{phase}", latency_ms)
            self.timeline.add(str(int(now)), latency_ms)
            if kind == "in" and isinstance(conversation_id, str):
                self.conversations.append(conversation_id)
                self.inbound_by_account[str(data.get("account_id"))] += 1
        else:
            self.hists.add(f"{kind}-resume:{phase}", latency_ms)

    # ------------------------------------------------------------------ replies
    async def _reply(self, conn: Conn, conversation_id: str, rid: int, phase: str) -> None:
        client = conn.client
        if client is None or not client.connected:
            self.reply_stats["skipped_disconnected"] += 1
            return
        sent = time.time()
        payload = {
            "conversation_id": conversation_id,
            "text": f"lr:{rid}:{sent:.6f}:{phase} load-test reply",
            "idempotency_key": f"{self.config['prefix']}-r{rid}",
        }
        try:
            ack = await client.call("message.send", payload, timeout=15)
        except Exception as exc:
            self.reply_stats[f"error:{_describe(exc)}"] += 1
            return
        self.hists.add(f"ack:{phase}", (time.time() - sent) * 1000.0)
        if isinstance(ack, dict) and ack.get("ok"):
            self.reply_stats["ok"] += 1
            self.reply_ids.append([rid, sent, phase])
        else:
            error = ack.get("error", {}) if isinstance(ack, dict) else {}
            self.reply_stats[f"refused:{error.get('code', 'unknown')}"] += 1

    async def _reply_loop(self, rate: float, duration: float, phase: str) -> None:
        if rate <= 0:
            return
        count = int(rate * duration)
        started = time.time()
        inflight: set[asyncio.Task[None]] = set()
        for k in range(count):
            delay = started + k / rate - time.time()
            if delay > 0:
                await asyncio.sleep(delay)
            live = [c for c in self.conns if c.client is not None and c.client.connected]
            if not live or not self.conversations:
                self.reply_stats["skipped_no_conversation"] += 1
                continue
            if len(inflight) >= 200:
                self.reply_stats["skipped_backlog"] += 1
                continue
            conn = self.rng.choice(live)
            conversation_id = self.rng.choice(self.conversations)
            self.reply_stats["sent"] += 1
            self.reply_counter += 1
            rid = (self.index + 1) * REPLY_ID_BASE + self.reply_counter
            task = asyncio.create_task(self._reply(conn, conversation_id, rid, phase))
            inflight.add(task)
            task.add_done_callback(inflight.discard)
        if inflight:
            await asyncio.wait(inflight, timeout=20)

    # ------------------------------------------------------------------ storm
    async def _drop_and_resume(self, conn: Conn, gate: asyncio.Semaphore) -> dict[str, Any]:
        client = conn.client
        if client is None:
            return {"ok": False, "error": "never connected"}
        conn.dropping = True
        with contextlib.suppress(Exception):
            await client.disconnect()
        conn.dropping = False
        conn.resuming = True
        conn.buffer = []
        started = time.time()
        try:
            if not await self._connect_one(conn, gate):
                self._flush(conn)
                return {"ok": False, "error": "reconnect failed"}
            ack = await client.call("resume", {"cursor": conn.last_cursor}, timeout=60)
        except Exception as exc:
            self._flush(conn)
            return {"ok": False, "error": _describe(exc)}
        if not isinstance(ack, dict) or not ack.get("ok"):
            self._flush(conn)
            return {"ok": False, "error": str(ack)[:200]}
        resync = bool(ack.get("resync"))
        events = ack.get("events") or []
        for event in events:
            if isinstance(event, dict):
                self._event(conn, str(event.get("type")), event, live=False)
        self._flush(conn)
        return {
            "ok": True,
            "seconds": time.time() - started,
            "resync": resync,
            "events": len(events),
        }

    async def _auto_resume(self, conn: Conn) -> None:
        """The server dropped us (a slow consumer, say): reconnect and `resume` from the last
        cursor, live events buffered meanwhile; retried for up to a minute."""
        client = conn.client
        if client is None:
            return
        conn.resuming = True
        conn.buffer = []
        started = time.time()
        gate = asyncio.Semaphore(1)
        for attempt in range(60):
            await asyncio.sleep(0.1 if attempt == 0 else 1.0)
            if self.closing:
                break
            try:
                if not await self._connect_one(conn, gate):
                    continue
                ack = await client.call("resume", {"cursor": conn.last_cursor}, timeout=60)
            except Exception as exc:
                self.auto_resumes[f"error:{_describe(exc)}"] += 1
                continue
            if not isinstance(ack, dict) or not ack.get("ok"):
                self.auto_resumes[f"refused:{str(ack)[:80]}"] += 1
                continue
            for event in ack.get("events") or []:
                if isinstance(event, dict):
                    self._event(conn, str(event.get("type")), event, live=False)
            self._flush(conn)
            self.auto_resumes["ok"] += 1
            self.auto_resume_ms.add((time.time() - started) * 1000.0)
            return
        self._flush(conn)
        self.auto_resumes["gave_up"] += 1

    def _flush(self, conn: Conn) -> None:
        buffered, conn.buffer = conn.buffer, []
        conn.resuming = False
        for event, data in buffered:
            self._event(conn, event, data, live=True)

    async def storm(self, concurrency: int) -> dict[str, Any]:
        gate = asyncio.Semaphore(max(1, concurrency))
        started = time.time()
        results = await asyncio.gather(*(self._drop_and_resume(c, gate) for c in self.conns))
        hist = Histogram()
        errors: collections.Counter[str] = collections.Counter()
        for result in results:
            if result.get("ok"):
                hist.add(result["seconds"] * 1000.0)
            else:
                errors[str(result.get("error"))] += 1
        return {
            "started": started,
            "finished": time.time(),
            "resumed": hist.count,
            "failed": sum(errors.values()),
            "errors": dict(errors),
            "resync": sum(1 for r in results if r.get("resync")),
            "resume_events": sum(int(r.get("events", 0)) for r in results),
            "resume_ms": hist.to_json(),
        }

    # ------------------------------------------------------------------ results
    def snapshot(self) -> dict[str, Any]:
        return {
            "delivered_live": self.delivered_live,
            "hists": self.hists.to_json(),
            "connected": sum(1 for c in self.conns if c.client is not None and c.client.connected),
            "drops": sum(c.drops for c in self.conns),
        }

    async def collect(self, expected: list[list[Any]], deadline: float) -> dict[str, Any]:
        wanted = sorted(((float(e[1]), int(e[0])) for e in expected), reverse=True)

        def missing(conn: Conn) -> list[int]:
            since = conn.connected_at or float("inf")
            return [i for t, i in wanted if t >= since and i not in conn.received]

        def waiting(conn: Conn) -> bool:
            since = conn.connected_at
            if not since:
                return False
            for sent, ident in wanted:  # newest first: the likeliest to be missing
                if sent < since:
                    return False
                if ident not in conn.received:
                    return True
            return False

        # Polling: an event per delivery would cost more than a check every 250 ms.
        while time.time() < deadline and any(waiting(c) for c in self.conns):  # noqa: ASYNC110
            await asyncio.sleep(0.25)
        lost = 0
        lost_samples: list[dict[str, Any]] = []
        pairs = 0
        for conn in self.conns:
            if not conn.connected_at:
                continue
            pairs += sum(1 for t, _ in wanted if t >= conn.connected_at)
            gone = missing(conn)
            lost += len(gone)
            for ident in gone[: max(0, 10 - len(lost_samples))]:
                lost_samples.append({"conn": conn.index, "id": ident})
        cpu = self.process.cpu_times()
        return {
            "worker": self.index,
            "pid": os.getpid(),
            "client": "python",
            "connections": len(self.conns),
            "ever_connected": sum(1 for c in self.conns if c.connected_at),
            "connected_now": sum(
                1 for c in self.conns if c.client is not None and c.client.connected
            ),
            "unexpected_disconnects": sum(c.drops for c in self.conns),
            "disconnect_reasons": dict(self.disconnect_reasons),
            "auto_resumes": dict(self.auto_resumes),
            "auto_resume_ms": self.auto_resume_ms.to_json(),
            "connect_ms": self.connect_hist.to_json(),
            "connect_errors": dict(self.connect_errors),
            "hists": self.hists.to_json(),
            "timeline": self.timeline.to_json(),
            "events": dict(self.events),
            "delivered_live": self.delivered_live,
            "inbound_by_account": dict(self.inbound_by_account),
            "expected_pairs": pairs,
            "lost": lost,
            "lost_samples": lost_samples,
            "duplicates": self.duplicates,
            "duplicate_samples": self.duplicate_samples,
            "resume_overlap": self.resume_overlap,
            "out_of_order": self.out_of_order,
            "seq_gaps": self.seq_gaps,
            "seq_gap_samples": self.seq_gap_samples,
            "seq_repeats": self.seq_repeats,
            "replies": dict(self.reply_stats),
            "cpu_seconds": (cpu.user + cpu.system) - (self.cpu_start.user + self.cpu_start.system),
            "wall_seconds": time.time() - self.wall_start,
            "rss_mb": round(self.process.memory_info().rss / 2**20, 1),
        }

    async def close(self) -> None:
        self.closing = True

        async def one(conn: Conn) -> None:
            if conn.client is not None and conn.client.connected:
                conn.dropping = True
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(conn.client.disconnect(), 5)

        await asyncio.gather(*(one(c) for c in self.conns))
        if self.http is not None:
            await self.http.close()

    # ------------------------------------------------------------------ command loop
    async def handle(self, message: dict[str, Any]) -> dict[str, Any]:
        cmd = message["cmd"]
        if cmd == "connect":
            return await self.connect()
        if cmd == "replies":
            self.reply_task = asyncio.create_task(
                self._reply_loop(message["rate"], message["duration"], message["phase"])
            )
            return {"ok": True}
        if cmd == "snapshot":
            return self.snapshot()
        if cmd == "storm":
            return await self.storm(message.get("concurrency", 10_000))
        if cmd == "stop":
            if self.reply_task is not None:
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self.reply_task, message.get("timeout", 30))
                self.reply_task = None
            return {"reply_ids": self.reply_ids, "replies": dict(self.reply_stats)}
        if cmd == "collect":
            return await self.collect(message["expected"], message["deadline"])
        if cmd == "close":
            await self.close()
            return {"ok": True}
        return {"error": f"unknown command {cmd}"}


def _describe(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text[:120]}" if text else type(exc).__name__


async def _serve(pipe: Connection, config: dict[str, Any]) -> None:
    worker = Worker(config)
    loop = asyncio.get_running_loop()
    inbox: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()

    def read() -> None:
        """Blocking reads in a thread: the pipe stays blocking, so large commands arrive whole."""
        while True:
            try:
                message = orjson.loads(pipe.recv_bytes())
            except (EOFError, OSError):
                loop.call_soon_threadsafe(inbox.put_nowait, None)
                return
            loop.call_soon_threadsafe(inbox.put_nowait, message)

    threading.Thread(target=read, name="pipe-reader", daemon=True).start()
    hard_stop = time.time() + float(config.get("max_lifetime", 3600))
    while True:
        try:
            message = await asyncio.wait_for(inbox.get(), max(1.0, hard_stop - time.time()))
        except TimeoutError:
            message = None
        if message is None:  # coordinator gone or lifetime over: leave
            await worker.close()
            return
        answer = await worker.handle(message)
        pipe.send_bytes(orjson.dumps(answer))
        if message["cmd"] == "close":
            return


def worker_main(pipe: Connection, config: dict[str, Any]) -> None:
    """Entry point of a client process (multiprocessing target)."""
    if config.get("priority"):
        with contextlib.suppress(OSError):
            os.setpriority(os.PRIO_PROCESS, 0, int(config["priority"]))
    run_loop(_serve(pipe, config))


def run_loop(main: Any) -> Any:
    """Run a coroutine on uvloop when it is installed (it is in the `load` extra)."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover
        return asyncio.run(main)
    return uvloop.run(main)
