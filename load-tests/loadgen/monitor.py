"""Samples CPU and RSS of the server and of the load generator's own processes."""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

import psutil


class Monitor:
    """Every `interval` s: CPU % (of one core) and RSS of each named process."""

    def __init__(self, interval: float = 1.0) -> None:
        self.interval = interval
        self.processes: dict[str, psutil.Process] = {}
        self.samples: list[dict[str, Any]] = []
        self._cpu_start: dict[str, tuple[float, float]] = {}
        self._task: asyncio.Task[None] | None = None
        self._cpus = psutil.cpu_count() or 1
        psutil.cpu_percent(None)

    def watch(self, name: str, pid: int | None) -> None:
        if pid is None:
            return
        try:
            process = psutil.Process(pid)
            process.cpu_percent(None)
            times = process.cpu_times()
        except psutil.Error:
            return
        self.processes[name] = process
        self._cpu_start[name] = (times.user + times.system, time.time())

    def rss_mb(self, name: str) -> float | None:
        process = self.processes.get(name)
        if process is None:
            return None
        try:
            rss: int = process.memory_info().rss
        except psutil.Error:
            return None
        return round(rss / 2**20, 2)

    def cpu_seconds(self, name: str) -> float | None:
        process = self.processes.get(name)
        if process is None:
            return None
        try:
            times = process.cpu_times()
        except psutil.Error:
            return None
        return float(times.user + times.system)

    def sample(self) -> dict[str, Any]:
        row: dict[str, Any] = {"t": time.time()}
        # The whole machine, in the same unit (% of one core): shows other load on the box.
        row["machine"] = {
            "cpu": round(psutil.cpu_percent(None) * self._cpus, 1),
            "rss_mb": round(psutil.virtual_memory().used / 2**20, 1),
        }
        for name, process in list(self.processes.items()):
            with contextlib.suppress(psutil.Error):
                row[name] = {
                    "cpu": round(process.cpu_percent(None), 1),
                    "rss_mb": round(process.memory_info().rss / 2**20, 2),
                }
        self.samples.append(row)
        return row

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            self.sample()

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def window(self, name: str, start: float, end: float) -> dict[str, float | None]:
        """Mean and max CPU %, and max RSS, of one process between two times."""
        rows = [r[name] for r in self.samples if start <= r["t"] <= end and name in r]
        if not rows:
            return {"cpu_mean": None, "cpu_max": None, "rss_max_mb": None}
        cpus = [r["cpu"] for r in rows]
        return {
            "cpu_mean": round(sum(cpus) / len(cpus), 1),
            "cpu_max": max(cpus),
            "rss_max_mb": max(r["rss_mb"] for r in rows),
        }

    def windows(self, prefix: str, start: float, end: float) -> dict[str, float | None]:
        """Summed CPU % over every process whose name starts with `prefix` (per sample)."""
        totals = []
        for row in self.samples:
            if start <= row["t"] <= end:
                totals.append(sum(v["cpu"] for k, v in row.items() if k.startswith(prefix)))
        if not totals:
            return {"cpu_mean": None, "cpu_max": None}
        return {"cpu_mean": round(sum(totals) / len(totals), 1), "cpu_max": round(max(totals), 1)}
