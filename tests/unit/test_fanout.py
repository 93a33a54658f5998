"""Room emits: encoded once, queued to every member in order, slow consumers dropped."""

from __future__ import annotations

from typing import Any

import socketio

from server.transports import fanout
from server.transports.eio_queue import LeanQueue
from server.transports.fanout import DirectManager


class FakeSocket:
    def __init__(self) -> None:
        self.queue = LeanQueue()  # what the server's Engine.IO creates
        self.closing = False
        self.closed = False
        self.aborted = False

    async def close(self, wait: bool = True, abort: bool = False) -> None:
        self.closed, self.aborted = True, abort


class FakeEngine:
    def __init__(self) -> None:
        self.sockets: dict[str, FakeSocket] = {}
        self._ids = 0

    def generate_id(self) -> str:
        self._ids += 1
        return f"sid-{self._ids}"


class FakeServer:
    packet_class = socketio.packet.Packet

    def __init__(self) -> None:
        self.eio = FakeEngine()

    async def _send_eio_packet(self, eio_sid: str, pkt: Any) -> None:
        await self.eio.sockets[eio_sid].queue.put(pkt)


async def _room(*eio_sids: str) -> tuple[DirectManager, FakeServer, dict[str, str]]:
    server = FakeServer()
    manager = DirectManager()
    manager.set_server(server)
    manager.initialize()
    sids = {}
    for eio_sid in eio_sids:
        server.eio.sockets[eio_sid] = FakeSocket()
        sid = await manager.connect(eio_sid, "/")
        await manager.enter_room(sid, "/", "account:a")
        sids[eio_sid] = sid
    return manager, server, sids


def _events(socket: FakeSocket) -> list[str]:
    out = []
    while not socket.queue.empty():
        out.append(socket.queue.get_nowait().data)
    return out


async def test_each_member_gets_every_event_once_in_order_and_skip_sid_is_honoured() -> None:
    manager, server, sids = await _room("e1", "e2")
    for n in range(3):
        await manager.emit("message.created", {"n": n}, "/", room="account:a")
    await manager.emit("typing", {"who": "e1"}, "/", room="account:a", skip_sid=sids["e1"])
    first, second = (_events(server.eio.sockets[e]) for e in ("e1", "e2"))
    assert len(first) == 3 and len(second) == 4
    assert [f'{{"n":{n}}}' in p for n, p in enumerate(first)] == [True, True, True]
    assert "typing" in second[-1]


async def test_a_slow_consumer_is_dropped_instead_of_buffered_without_bound(
    monkeypatch: Any,
) -> None:
    monkeypatch.setattr(fanout, "MAX_BACKLOG", 5)
    manager, server, _ = await _room("fast", "slow")
    slow = server.eio.sockets["slow"]
    for n in range(6):
        await slow.queue.put(f"old {n}")  # the slow client has not read these yet
    await manager.emit("message.created", {"n": 1}, "/", room="account:a")
    assert slow.closed and slow.aborted
    assert slow.queue.get_nowait() is None  # the writer is told to stop; the backlog is gone
    assert slow.queue.empty()
    assert len(_events(server.eio.sockets["fast"])) == 1  # others are unaffected
