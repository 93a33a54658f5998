"""Room emits without a task per recipient.

python-socketio's `AsyncManager.emit` encodes a room emit once (good) but then creates one
asyncio task per recipient and waits for all of them; with 100 agents that is 100 tasks per
event, and the hub emits events one after another, so every event costs a full loop cycle.
Handing the encoded packet to each recipient's Engine.IO queue in a plain loop keeps the
encode-once and the per-client order, and drops the tasks. Emits with an ack callback (not used
for room events) keep the library's path.
"""

from __future__ import annotations

import asyncio
from typing import Any

import socketio
import structlog
from engineio import packet as eio_packet
from socketio import packet

log = structlog.get_logger(__name__)

# Packets queued for one connection before it counts as a slow consumer. Buffering more only
# delays its heartbeats behind the backlog until it times out anyway, while the memory grows;
# dropped instead, it reconnects and resumes from its cursor (docs/api.md), missing nothing.
MAX_BACKLOG = 5_000


class DirectManager(socketio.AsyncManager):  # type: ignore[misc]
    async def emit(
        self,
        event: str,
        data: Any,
        namespace: str,
        room: str | None = None,
        skip_sid: Any = None,
        callback: Any = None,
        to: str | None = None,
        **kwargs: Any,
    ) -> None:
        if callback is not None:
            await super().emit(
                event, data, namespace, room=room, skip_sid=skip_sid, callback=callback, to=to
            )
            return
        room = to or room
        if namespace not in self.rooms:
            return
        args = list(data) if isinstance(data, tuple) else ([] if data is None else [data])
        skip = skip_sid if isinstance(skip_sid, list) else [skip_sid]
        encoded = self.server.packet_class(
            packet.EVENT, namespace=namespace, data=[event, *args]
        ).encode()
        frames = [
            eio_packet.Packet(eio_packet.MESSAGE, p)
            for p in (encoded if isinstance(encoded, list) else [encoded])
        ]
        slow: list[str] = []
        sockets = self.server.eio.sockets
        # Copied first: a recipient's send may close a timed-out socket, changing the room.
        for sid, eio_sid in list(self.get_participants(namespace, room)):
            if sid in skip:
                continue
            socket = sockets.get(eio_sid)
            if socket is not None and socket.queue.qsize() > MAX_BACKLOG:
                slow.append(eio_sid)
                continue
            for frame in frames:
                await self.server._send_eio_packet(eio_sid, frame)
        for eio_sid in slow:
            await self._drop_slow_consumer(eio_sid)

    async def _drop_slow_consumer(self, eio_sid: str) -> None:
        socket = self.server.eio.sockets.get(eio_sid)
        if socket is None or socket.closing or socket.closed:
            return
        dropped = 0
        while True:
            try:
                socket.queue.get_nowait()
            except asyncio.QueueEmpty:
                break
            socket.queue.task_done()
            dropped += 1
        log.warning("socket.slow_consumer_dropped", backlog=dropped)
        # abort: no goodbye packet queued behind nothing; None ends the socket's writer task.
        await socket.close(wait=False, abort=True)
        socket.queue.put_nowait(None)
