"""Named one-shot timers: "call this at that time", replaced or cancelled by name.

The runtime's companion for scheduled messages (snooze wake-ups, outbox retries): every timer
task is owned here and cancelled on `aclose`, so no sleep loop outlives the server unseen.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import structlog

log = structlog.get_logger(__name__)

Callback = Callable[[], Awaitable[object]]


class Timers:
    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._closed = False

    def schedule(self, name: str, at: float, callback: Callback) -> None:
        """Run `callback` at wall-clock time `at`, replacing any timer of that name."""
        if self._closed:
            return
        self.cancel(name)
        self._tasks[name] = asyncio.get_running_loop().create_task(
            self._run(name, at, callback), name=f"timer:{name}"
        )

    def cancel(self, name: str) -> None:
        task = self._tasks.pop(name, None)
        if task is not None and task is not asyncio.current_task():
            task.cancel()

    def pending(self) -> list[str]:
        return list(self._tasks)

    async def aclose(self) -> None:
        self._closed = True
        tasks = list(self._tasks.values())
        self._tasks.clear()
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=5.0)

    async def _run(self, name: str, at: float, callback: Callback) -> None:
        try:
            await asyncio.sleep(max(0.0, at - self._clock()))
            if self._tasks.get(name) is asyncio.current_task():
                del self._tasks[name]
            await callback()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("timer.failed", timer=name)
