"""Cross-node fan-out and the resume log, on one Redis stream.

Chosen over python-socketio's AsyncRedisManager (which every node decodes too) because one
stream does two jobs at once: Redis stamps each event with an id in the order it arrives, which
becomes the event's cursor, so every client on every node sees events in the same order, and
`XRANGE` after a cursor answers a reconnecting client whichever node it lands on.

- `publish` (synchronous, called right after a commit) queues; one writer task XADDs in order.
  While Redis is unreachable events wait in that queue (logged) and go out when it returns:
  delayed, not lost, as long as the node lives (they are in the store regardless).
- One reader task per node XREADs both streams and emits to the local Socket.IO rooms.
- Ephemeral signals (typing, viewing, presence) ride a second, short stream.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import OrderedDict, deque
from typing import Any

import orjson
import redis.asyncio as aioredis
import redis.exceptions
import structlog
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff

from server.domain.models import Event
from server.realtime.hub import Emitter, account_room

log = structlog.get_logger(__name__)

EVENTS = "stream:events"
SIGNALS = "stream:signals"
PUBLISHED = "published-seq:"  # + conversation id: the last seq of it written to the stream
PUBLISHED_TTL = 7 * 24 * 3600  # a conversation quiet for a week needs no repair mark
SEQ_BITS = 12  # ids within one millisecond; 2^12 keeps cursors below 2^53 (exact in JS)


def id_to_cursor(stream_id: str | bytes) -> int:
    text = stream_id.decode() if isinstance(stream_id, bytes) else stream_id
    ms, _, seq = text.partition("-")
    return (int(ms) << SEQ_BITS) + min(int(seq or 0), (1 << SEQ_BITS) - 1)


def cursor_to_id(cursor: int) -> str:
    return f"{cursor >> SEQ_BITS}-{cursor & ((1 << SEQ_BITS) - 1)}"


class StreamBus:
    def __init__(self, url: str, maxlen: int = 200_000, signal_maxlen: int = 10_000) -> None:
        fast_fail = {
            "socket_connect_timeout": 1.0,
            "retry": Retry(ExponentialBackoff(cap=0.2, base=0.02), 1),
        }
        self._writer_redis = aioredis.from_url(url, **fast_fail)
        # No socket_timeout on the reader: an idle XREAD BLOCK must not count as a failure.
        self._reader_redis = aioredis.from_url(url, **fast_fail)
        self.maxlen = maxlen
        self.signal_maxlen = signal_maxlen
        # (stream, fields, (conversation id, seq) for events)
        self._pending: deque[tuple[str, dict[str, bytes], tuple[str, int] | None]] = deque()
        self._wake = asyncio.Event()
        self._emitters: list[Emitter] = []
        self._tasks: list[asyncio.Task[None]] = []
        self.published = 0
        self.delivered = 0
        self._queued_total = 0  # items ever queued ...
        self._sent_total = 0  # ... and ever written to Redis: a mark is confirmed once sent
        self._flushed = asyncio.Event()
        # (conversation, seq) of recently delivered events, for dropping re-sent entries
        self._delivered_keys: OrderedDict[tuple[str, int], None] = OrderedDict()
        self.redis_down = False

    def attach(self, emitter: Emitter) -> None:
        self._emitters.append(emitter)

    # ------------------------------------------------------------------ publishing
    def publish(self, events: list[Event]) -> None:
        for event in events:
            wire = event.wire()
            mark = (event.conversation_id, event.seq)
            self._pending.append((EVENTS, {"e": orjson.dumps(wire)}, mark))
        self.published += len(events)
        self._queued_total += len(events)
        self._wake.set()

    def mark(self) -> int:
        """A position in the outgoing queue: everything queued so far."""
        return self._queued_total

    async def confirmed(self, mark: int, timeout: float = 2.0) -> bool:
        """Wait until everything up to `mark` is in Redis, so an acknowledged change is also
        fanned out and resumable even if this node dies right after. While Redis is known to
        be down, do not hold the caller: the change is stored, the events wait in the queue."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self._sent_total < mark and not self.redis_down:
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            self._flushed.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(remaining):
                    await self._flushed.wait()
        return self._sent_total >= mark

    def signal(self, name: str, payload: Any, room: str, skip_sid: str | None = None) -> None:
        body = {"n": name, "p": payload, "r": room, "s": skip_sid}
        self._pending.append((SIGNALS, {"s": orjson.dumps(body)}, None))
        self._queued_total += 1
        self._wake.set()

    async def _write(self) -> None:
        pause = 0.1
        while True:
            if not self._pending:
                self._wake.clear()
                await self._wake.wait()
            batch = list(self._pending)
            try:
                pipe = self._writer_redis.pipeline(transaction=False)
                for stream, fields, mark in batch:
                    limit = self.maxlen if stream == EVENTS else self.signal_maxlen
                    pipe.xadd(stream, fields, maxlen=limit, approximate=True)  # type: ignore[arg-type]
                    if mark is not None:
                        pipe.set(f"{PUBLISHED}{mark[0]}", mark[1], ex=PUBLISHED_TTL)
                await pipe.execute()
            except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError):
                if not self.redis_down:
                    log.warning("bus.redis_unreachable", waiting=len(self._pending))
                    self.redis_down = True
                await asyncio.sleep(pause)
                pause = min(pause * 2, 2.0)
                continue
            for _ in batch:
                self._pending.popleft()
            self._sent_total += len(batch)
            self._flushed.set()
            if self.redis_down:
                log.info("bus.redis_back", sent=len(batch))
                self.redis_down = False
            pause = 0.1

    # ------------------------------------------------------------------ delivering
    async def _read(self) -> None:
        last = {EVENTS: "0-0", SIGNALS: "0-0"}  # never "$": it would skip what lands between calls
        with contextlib.suppress(redis.exceptions.RedisError, OSError):
            for stream in (EVENTS, SIGNALS):
                newest: Any = await self._reader_redis.xrevrange(stream, count=1)
                if newest:
                    last[stream] = newest[0][0].decode()
        pause = 0.1
        while True:
            try:
                answer: Any = await self._reader_redis.xread(last, block=1000, count=500)  # type: ignore[arg-type]
                pause = 0.1
            except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError):
                await asyncio.sleep(pause)
                pause = min(pause * 2, 2.0)
                continue
            for stream_name, entries in answer or []:
                stream = stream_name.decode() if isinstance(stream_name, bytes) else stream_name
                for entry_id, fields in entries:
                    last[stream] = entry_id.decode()
                    await self._deliver(stream, entry_id, fields)
                    await asyncio.sleep(0)  # let socket writers run (see realtime/hub.py)

    async def _deliver(self, stream: str, entry_id: bytes, fields: dict[bytes, bytes]) -> None:
        try:
            if stream == EVENTS:
                wire = orjson.loads(fields[b"e"])
                if self._seen_before(wire):
                    return
                wire["cursor"] = id_to_cursor(entry_id)
                await self._emit(wire["type"], wire, account_room(wire["account_id"]), None)
                self.delivered += 1
            else:
                body = orjson.loads(fields[b"s"])
                await self._emit(body["n"], body["p"], body["r"], body.get("s"))
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("bus.deliver_failed", stream=stream)

    def _seen_before(self, wire: dict[str, Any]) -> bool:
        """A batch half-written before Redis dropped is written again: drop the exact repeats.
        Each event of a conversation has its own seq, but not always in seq order in the
        stream: while Redis is down two nodes can write one conversation (local execution,
        fenced by the store) and flush their queues in either order once it is back, so a
        "highest seq so far" mark would silently drop the older events of that conversation."""
        key = (wire["conversation_id"], int(wire["seq"]))
        if key in self._delivered_keys:
            return True
        self._delivered_keys[key] = None
        if len(self._delivered_keys) > 200_000:
            self._delivered_keys.popitem(last=False)
        return False

    async def _emit(self, name: str, payload: Any, room: str, skip_sid: str | None) -> None:
        for emitter in self._emitters:
            await emitter.emit(name, payload, room, skip_sid)

    async def published_seq(self, conversation_id: str) -> int | None:
        """The last seq of the conversation known to be in the stream (None: no record)."""
        value = await self._writer_redis.get(f"{PUBLISHED}{conversation_id}")
        return int(value) if value is not None else None

    # ------------------------------------------------------------------ the resume log
    async def bounds(self) -> tuple[int, int]:
        first: Any = await self._writer_redis.xrange(EVENTS, count=1)
        last: Any = await self._writer_redis.xrevrange(EVENTS, count=1)
        if not first or not last:
            return (0, 0)
        return (id_to_cursor(first[0][0]) - 1, id_to_cursor(last[0][0]))

    async def after(self, cursor: int, account_ids: list[str], limit: int) -> list[Event]:
        visible = set(account_ids)
        found: list[Event] = []
        seen: set[tuple[str, int]] = set()
        start = "(" + cursor_to_id(cursor)
        while len(found) < limit:
            entries: Any = await self._writer_redis.xrange(EVENTS, min=start, count=1000)
            if not entries:
                break
            for entry_id, fields in entries:
                wire = orjson.loads(fields[b"e"])
                key = (wire["conversation_id"], wire["seq"])
                if key in seen:
                    continue
                seen.add(key)
                if wire["account_id"] in visible:
                    found.append(
                        Event(
                            type=wire["type"],
                            conversation_id=wire["conversation_id"],
                            account_id=wire["account_id"],
                            seq=wire["seq"],
                            data=wire["data"],
                            cursor=id_to_cursor(entry_id),
                            at=wire["at"],
                        )
                    )
            start = "(" + entries[-1][0].decode()
        return found[:limit]

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self._write(), name="bus-writer"),
            loop.create_task(self._read(), name="bus-reader"),
        ]

    async def drain(self, timeout: float = 5.0) -> None:
        async with asyncio.timeout(timeout):
            while self._pending:  # noqa: ASYNC110 - the writer pops; no event to wait on
                await asyncio.sleep(0.02)

    async def aclose(self) -> None:
        try:
            await self.drain()
        except TimeoutError:
            log.warning("bus.drain_timeout", pending=len(self._pending))
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._writer_redis.aclose()
        await self._reader_redis.aclose()
