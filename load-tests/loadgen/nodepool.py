"""Client processes in Node (`--client node`): load-tests/clients/node/agent.js, one process per
share of the connections, spoken to in JSON lines over stdin / stdout with the same commands and
answers as the Python workers (loadgen/worker.py), so the scenarios cannot tell them apart."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import orjson

from loadgen.pool import WorkerError

NODE_CLIENT = Path(__file__).resolve().parent.parent / "clients" / "node"
STREAM_LIMIT = 1 << 30  # a `collect` answer carries histograms: one long line


def ensure_node_client(node_dir: Path = NODE_CLIENT) -> None:
    """`npm ci` the pinned socket.io-client on first use (scripts/install.sh does it too)."""
    if (node_dir / "node_modules" / "socket.io-client").is_dir():
        return
    if shutil.which("node") is None or shutil.which("npm") is None:
        raise WorkerError("--client node needs node and npm")
    result = subprocess.run(
        ["npm", "ci", "--no-audit", "--no-fund"],
        cwd=node_dir,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if result.returncode != 0:
        raise WorkerError(f"npm ci failed in {node_dir}:\n{result.stderr[-2000:]}")


class NodeWorkerPool:
    """The same interface as `pool.WorkerPool`; `start()` must be awaited before use."""

    def __init__(self, configs: list[dict[str, Any]]) -> None:
        self.configs = configs
        self.processes: list[asyncio.subprocess.Process] = []
        self.locks: list[asyncio.Lock] = []

    async def start(self) -> None:
        ensure_node_client()
        for config in self.configs:
            process = await asyncio.create_subprocess_exec(
                "node",
                # e.g. LOADTEST_NODE_FLAGS="--cpu-prof --cpu-prof-dir=/tmp/prof" to profile
                *os.environ.get("LOADTEST_NODE_FLAGS", "").split(),
                str(NODE_CLIENT / "agent.js"),
                orjson.dumps(config).decode(),
                cwd=NODE_CLIENT,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                limit=STREAM_LIMIT,
            )
            if config.get("priority"):
                with contextlib.suppress(OSError):
                    os.setpriority(os.PRIO_PROCESS, process.pid, int(config["priority"]))
            self.processes.append(process)
            self.locks.append(asyncio.Lock())

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.processes]

    async def ask(self, index: int, message: dict[str, Any], timeout: float) -> dict[str, Any]:
        process = self.processes[index]
        assert process.stdin is not None and process.stdout is not None
        async with self.locks[index]:
            try:
                process.stdin.write(orjson.dumps(message) + b"\n")
                await process.stdin.drain()
                line = await asyncio.wait_for(process.stdout.readline(), timeout)
            except TimeoutError:
                raise WorkerError(
                    f"node client process {index}: no answer within {timeout:.0f} s"
                ) from None
            except (OSError, ConnectionError, RuntimeError) as exc:
                raise WorkerError(f"node client process {index} is gone: {exc!r}") from exc
        if not line:
            raise WorkerError(f"node client process {index} exited ({process.returncode})")
        answer: dict[str, Any] = orjson.loads(line)
        if set(answer) == {"error"}:
            raise WorkerError(f"node client process {index}: {answer['error']}")
        return answer

    async def ask_all(
        self,
        message: dict[str, Any] | list[dict[str, Any]],
        timeout: float,
    ) -> list[dict[str, Any]]:
        messages = message if isinstance(message, list) else [message] * len(self.processes)
        return list(
            await asyncio.gather(*(self.ask(i, m, timeout) for i, m in enumerate(messages)))
        )

    async def close(self) -> None:
        with contextlib.suppress(WorkerError, OSError, RuntimeError):
            await self.ask_all({"cmd": "close"}, timeout=30)
        for process in self.processes:
            try:
                await asyncio.wait_for(process.wait(), 10)
            except TimeoutError:
                process.kill()
                await process.wait()
