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

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.processes if p.pid is not None]

    def _recv(self, index: int, timeout: float) -> dict[str, Any]:
        """Blocking read in a thread (a pipe handed to the event loop would turn non-blocking
        and break multi-megabyte answers)."""
        pipe = self.pipes[index]
        try:
            if not pipe.poll(timeout):
                raise WorkerError(f"client process {index}: no answer within {timeout:.0f} s")
            answer: dict[str, Any] = orjson.loads(pipe.recv_bytes())
        except (EOFError, OSError) as exc:
            raise WorkerError(f"client process {index} is gone: {exc!r}") from exc
        return answer

    async def ask(self, index: int, message: dict[str, Any], timeout: float) -> dict[str, Any]:
        data = orjson.dumps(message)
        try:
            await asyncio.to_thread(self.pipes[index].send_bytes, data)
        except OSError as exc:
            raise WorkerError(f"client process {index} is gone: {exc!r}") from exc
        return await asyncio.to_thread(self._recv, index, timeout)

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
        for pipe in self.pipes:
            pipe.close()
        for process in self.processes:
            await asyncio.to_thread(process.join, 10)
            if process.is_alive():
                process.terminate()
                await asyncio.to_thread(process.join, 5)
