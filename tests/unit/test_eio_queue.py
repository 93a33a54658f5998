"""LeanQueue: asyncio.Queue's behaviour for Engine.IO's use, without its idle allocations."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from server.transports.eio_queue import LeanEngineIOServer, LeanQueue
from server.transports.socketio_gateway import _slim_environ, create_server


async def test_fifo_with_nowait_and_awaited_gets() -> None:
    queue = LeanQueue()
    assert queue.empty() and queue.qsize() == 0
    for item in ("a", "b", "c"):
        await queue.put(item)
    assert queue.qsize() == 3 and not queue.empty()
    assert await queue.get() == "a"
    assert queue.get_nowait() == "b"
    assert await queue.get() == "c"
    assert queue.empty()
    with pytest.raises(asyncio.QueueEmpty):
        queue.get_nowait()


async def test_a_waiting_getter_receives_the_next_put_in_order() -> None:
    queue = LeanQueue()
    waiting = queue.get()
    assert not waiting.done()
    queue.put_nowait(1)
    queue.put_nowait(2)
    assert await waiting == 1
    assert queue.get_nowait() == 2


async def test_a_timed_out_getter_takes_nothing() -> None:
    queue = LeanQueue()
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(queue.get(), 0.01)
    queue.put_nowait("kept")
    assert queue.qsize() == 1
    assert await asyncio.wait_for(queue.get(), 1) == "kept"


async def test_an_idle_queue_holds_no_container() -> None:
    queue = LeanQueue()
    for _ in range(3):
        queue.put_nowait("x")
    while not queue.empty():
        queue.get_nowait()
    assert queue._items is None
    waiting = queue.get()
    queue.put_nowait("y")
    assert await waiting == "y"
    assert queue._items is None


async def test_join_waits_for_every_task_done() -> None:
    queue = LeanQueue()
    await queue.join()
    queue.put_nowait("a")
    queue.put_nowait("b")
    joined = asyncio.ensure_future(queue.join())
    queue.get_nowait()
    queue.task_done()
    await asyncio.sleep(0)
    assert not joined.done()
    queue.get_nowait()
    queue.task_done()
    await asyncio.wait_for(joined, 1)
    with pytest.raises(ValueError):
        queue.task_done()


def test_the_server_creates_lean_queues_for_engineio() -> None:
    sio = create_server()
    assert isinstance(sio.eio, LeanEngineIOServer)
    assert isinstance(sio.eio.create_queue(), LeanQueue)
    assert isinstance(sio.eio.create_queue(5), asyncio.Queue)


def test_the_kept_environ_is_only_the_credentials() -> None:
    request = object()
    environ: dict[str, Any] = {
        "REQUEST_METHOD": "GET",
        "HTTP_AUTHORIZATION": "Bearer t",
        "HTTP_USER_AGENT": "x",
        "aiohttp.request": request,
    }
    _slim_environ(environ)
    assert environ == {"HTTP_AUTHORIZATION": "Bearer t"}
