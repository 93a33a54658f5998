"""The client processes: started with multiprocessing (spawn), spoken to over pipes in JSON."""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any

import orjson

from loadgen.worker import worker_main


class WorkerError(RuntimeError):
    """A client process died or did not answer in time."""


class WorkerPool:
    def __init__(self, configs: list[dict[str, Any]]) -> None:
        context = multiprocessing.get_context("spawn")
        self.pipes: list[Connection] = []
        self.processes: list[BaseProcess] = []
        for config in configs:
            ours, theirs = context.Pipe(duplex=True)
            process = context.Process(
                target=worker_main, args=(theirs, config), name=f"loadgen-{config['index']}"
            )
            process.daemon = True
            process.start()
            theirs.close()
            self.pipes.append(ours)
            self.processes.append(process)
        self._waiting: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._attached = False

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.processes if p.pid is not None]

    def _attach(self) -> None:
        if self._attached:
            return
        loop = asyncio.get_running_loop()
        for index, pipe in enumerate(self.pipes):
            loop.add_reader(pipe.fileno(), self._readable, index)
        self._attached = True

    def _readable(self, index: int) -> None:
        pipe = self.pipes[index]
        future = self._waiting.pop(index, None)
        try:
            answer = orjson.loads(pipe.recv_bytes())
        except (EOFError, OSError) as exc:
            asyncio.get_running_loop().remove_reader(pipe.fileno())
            if future is not None and not future.done():
                future.set_exception(WorkerError(f"client process {index} is gone: {exc!r}"))
            return
        if future is not None and not future.done():
            future.set_result(answer)

    async def ask(self, index: int, message: dict[str, Any], timeout: float) -> dict[str, Any]:
        self._attach()
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiting[index] = future
        try:
            self.pipes[index].send_bytes(orjson.dumps(message))
        except OSError as exc:
            raise WorkerError(f"client process {index} is gone: {exc!r}") from exc
        try:
            return await asyncio.wait_for(future, timeout)
        except TimeoutError:
            raise WorkerError(f"client process {index}: no answer to {message['cmd']}") from None

    async def ask_all(
        self,
        message: dict[str, Any] | list[dict[str, Any]],
        timeout: float,
    ) -> list[dict[str, Any]]:
        messages = message if isinstance(message, list) else [message] * len(self.pipes)
        return list(
            await asyncio.gather(*(self.ask(i, m, timeout) for i, m in enumerate(messages)))
        )

    async def close(self) -> None:
        with contextlib.suppress(WorkerError, OSError):
            await self.ask_all({"cmd": "close"}, timeout=30)
        loop = asyncio.get_running_loop()
        for pipe in self.pipes:
            with contextlib.suppress(ValueError, OSError):
                loop.remove_reader(pipe.fileno())
            pipe.close()
        for process in self.processes:
            await asyncio.to_thread(process.join, 10)
            if process.is_alive():
                process.terminate()
                await asyncio.to_thread(process.join, 5)
