#!/usr/bin/env python3
"""Where the server's memory goes: tracemalloc and live-object counts around a load phase.

Runs the server (or the bare python-socketio baseline) in this process, so tracemalloc and
`gc` see its heap, and drives it from the load generator's client processes:

  rest        after start-up and the agents' setup
  connected   --connections idle Socket.IO connections open
  burst       --conversations new conversations posted through the API channel
  passivated  every conversation actor passivated (`ActorSystem.passivate`, the same stop path
              as the idle timeout, without waiting 120 s)

At each point it collects garbage, trims the heap (as the server's memory-trim timer does) and
prints RSS, tracemalloc's total, the allocation sites that grew most since the previous point
(grouped by --frames frames of traceback) and the object types whose count grew most.

  .venv/bin/python load-tests/memprobe.py --connections 2000
  .venv/bin/python load-tests/memprobe.py --connections 10 --conversations 5000
  .venv/bin/python load-tests/memprobe.py --baseline --connections 2000

tracemalloc slows allocation down several times and adds its own memory: RSS figures from a
probe run are not comparable with run.py's; --no-trace leaves it off (RSS and counts only).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import ctypes
import gc
import os
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent), str(HERE / "baselines")]

import psutil  # noqa: E402
from aiohttp import web  # noqa: E402
from loadgen.pool import WorkerPool  # noqa: E402
from loadgen.sender import Sender  # noqa: E402
from loadgen.target import Target, free_port, prepare_agents, read_credentials  # noqa: E402


def _trim() -> None:
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


class _Mallinfo2(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in (
            "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks",
            "fsmblks", "uordblks", "fordblks", "keepcost",
        )
    ]  # fmt: skip


def _allocators() -> str:
    """SQLite's own heap, glibc's heap (in use / free but kept) and pymalloc's arenas."""
    parts = []
    with contextlib.suppress(OSError, AttributeError):
        sqlite = ctypes.CDLL("libsqlite3.so.0")
        sqlite.sqlite3_memory_used.restype = ctypes.c_int64
        parts.append(f"sqlite {sqlite.sqlite3_memory_used() / 1048576:.1f} MB")
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL("libc.so.6")
        libc.mallinfo2.restype = _Mallinfo2
        info = libc.mallinfo2()
        parts.append(
            f"glibc main-arena+threads in use {info.uordblks / 1048576:.1f} MB, "
            f"free kept {info.fordblks / 1048576:.1f} MB, mmapped {info.hblkhd / 1048576:.1f} MB"
        )
    parts.append(f"python blocks {sys.getallocatedblocks()}")
    stats = _pymalloc_stats()
    if stats:
        parts.append(
            f"pymalloc arenas {stats.get('arenas allocated current', 0)} x "
            f"{stats.get('arena_size', 0) // 1024} KiB, in blocks "
            f"{stats.get('bytes in allocated blocks', 0) / 1048576:.1f} MB, free in pools "
            f"{stats.get('bytes in available blocks', 0) / 1048576:.1f} MB, empty pools "
            f"{stats.get('unused pools', 0)}"
        )
    return ", ".join(parts)


def _pymalloc_stats() -> dict[str, int]:
    """`sys._debugmallocstats()` writes to the C stderr: read it back from a temp file."""
    with tempfile.TemporaryFile() as out:
        sys.stderr.flush()
        saved = os.dup(2)
        try:
            os.dup2(out.fileno(), 2)
            sys._debugmallocstats()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        out.seek(0)
        text = out.read().decode(errors="replace")
    stats: dict[str, int] = {}
    for line in text.splitlines():
        if line.startswith("#") and "=" in line:
            name, _, value = line[1:].partition("=")
            with contextlib.suppress(ValueError):
                stats[name.strip()] = int(value.strip().replace(",", ""))
        elif " arenas * " in line:
            with contextlib.suppress(ValueError):
                stats["arena_size"] = int(line.split("*")[1].split("bytes")[0])
        elif " unused pools * " in line:
            with contextlib.suppress(ValueError):
                stats["unused pools"] = int(line.split()[0])
    return stats


def _types() -> collections.Counter[str]:
    return collections.Counter(type(o).__qualname__ for o in gc.get_objects())


class Probe:
    def __init__(self, frames: int, top: int, trace: bool) -> None:
        self.frames = frames
        self.top = top
        self.trace = trace
        self.process = psutil.Process()
        self.previous: tuple[str, float, Any, collections.Counter[str]] | None = None
        self.first: collections.Counter[str] | None = None
        self.base: Any = None

    def point(self, label: str, per: int = 0) -> None:
        _trim()
        rss = self.process.memory_info().rss / 1048576
        snapshot = tracemalloc.take_snapshot() if self.trace else None
        traced = tracemalloc.get_traced_memory()[0] / 1048576 if self.trace else 0.0
        types = _types()
        print(f"\n=== {label}: RSS {rss:.1f} MB, traced {traced:.1f} MB", flush=True)
        print(f"    {_allocators()}")
        if self.previous is not None:
            name, old_rss, old_snapshot, old_types = self.previous
            grown = rss - old_rss
            line = f"    RSS {grown:+.1f} MB since {name}"
            if per:
                line += f" = {grown * 1024 / per:.2f} KB per unit ({per})"
            print(line)
            if snapshot is not None and old_snapshot is not None:
                stats = snapshot.compare_to(old_snapshot, "traceback")
                total = sum(s.size_diff for s in stats)
                print(
                    f"    traced {total / 1048576:+.2f} MB"
                    + (f" = {total / 1024 / per:.2f} KB per unit" if per else "")
                )
                for stat in stats[: self.top]:
                    if abs(stat.size_diff) < 1024:
                        continue
                    where = " <- ".join(
                        f"{Path(f.filename).name}:{f.lineno}"
                        for f in list(reversed(stat.traceback))[: self.frames]
                    )
                    each = f" ({stat.size_diff / per:.0f} B/unit)" if per else ""
                    size = f"{stat.size_diff / 1024:+10.1f} KiB {stat.count_diff:+8d}"
                    print(f"    {size}{each}  {where}")
            changes = [(t, n - old_types.get(t, 0)) for t, n in types.items()]
            changes += [(t, -n) for t, n in old_types.items() if t not in types]
            changes.sort(key=lambda c: -abs(c[1]))
            print("    objects: " + ", ".join(f"{t} {d:+d}" for t, d in changes[:20] if d))
        after_burst = not label.startswith(("conn", "burst", "rest"))
        if snapshot is not None and self.base is not None and after_burst:
            survivors = [s for s in snapshot.compare_to(self.base, "traceback") if s.size_diff > 0]
            print(f"    survivors since connected: {sum(s.size_diff for s in survivors)} bytes")
            for stat in survivors[: self.top]:
                where = " <- ".join(
                    f"{Path(f.filename).name}:{f.lineno}"
                    for f in list(reversed(stat.traceback))[: self.frames]
                )
                print(f"    {stat.size_diff / 1024:+10.1f} KiB {stat.count_diff:+8d}  {where}")
        if label == "connected":
            self.base = snapshot
        if self.first is not None and self.previous is not None and self.previous[0] != "rest":
            old_types = self.first
            changes = [(t, n - old_types.get(t, 0)) for t, n in types.items()]
            changes.sort(key=lambda c: -abs(c[1]))
            listed = ", ".join(f"{t} {d:+d}" for t, d in changes[:25] if d)
            print(f"    objects since rest: {listed}")
        if self.first is None:
            self.first = types
        self.previous = (label, rss, snapshot, types)


async def _serve_server(port: int, data_dir: Path) -> tuple[web.AppRunner, Any]:
    from server import config, logs
    from server.app import SERVER_KEY, build_app

    settings = config.parse(
        ["--demo", "--no-simulator", "--data-dir", str(data_dir), "--port", str(port)]
    )
    logs.configure(settings.log_format, "warning")
    app = build_app(settings)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner, app[SERVER_KEY]


async def _serve_baseline(port: int) -> web.AppRunner:
    import bare_socketio

    runner = web.AppRunner(bare_socketio.build(1000), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner


async def main(opts: argparse.Namespace) -> None:
    if opts.trace:
        tracemalloc.start(max(opts.frames, 1) + 6)
    probe = Probe(opts.frames, opts.top, opts.trace)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    workdir = Path(tempfile.mkdtemp(prefix="conv-memprobe-"))
    server: Any = None
    if opts.baseline:
        runner = await _serve_baseline(port)
        target = Target(name="python-baseline", kind="baseline", url=url, pid=os.getpid())
    else:
        runner, server = await _serve_server(port, workdir / "data")
        target = Target(name="server", kind="server", url=url, pid=os.getpid())
        credentials_path = workdir / "data" / "demo-credentials.json"
        for _ in range(300):
            if credentials_path.exists():
                break
            await asyncio.sleep(0.1)
        credentials = read_credentials(credentials_path)
        target.account_id = credentials["api_channel"]["account_id"]
        target.channel_token = credentials["api_channel"]["token"]
        await prepare_agents(target, credentials, min(opts.connections or 1, 50))
    pool: WorkerPool | None = None
    try:
        await asyncio.sleep(1.0)
        probe.point("rest")
        if opts.connections:
            tokens = target.tokens or ["baseline"]
            procs = max(1, min(opts.procs, opts.connections))
            configs = [
                {
                    "index": i,
                    "url": url,
                    "tokens": [tokens[k % len(tokens)] for k in range(i, opts.connections, procs)],
                    "prefix": "memprobe",
                    "connect_concurrency": 25,
                    "max_lifetime": 3600,
                    "priority": 0,
                }
                for i in range(procs)
            ]
            pool = WorkerPool(configs)
            answers = await pool.ask_all({"cmd": "connect"}, timeout=900)
            connected = sum(a["connected"] for a in answers)
            await asyncio.sleep(2.0)
            probe.point("connected", connected)
        if opts.conversations and server is not None:
            async with Sender(
                url, target.account_id, target.channel_token, "memprobe", opts.conversations
            ) as sender:
                await sender.run(opts.rate, opts.conversations / opts.rate, "conv", block=True)
            accepted = len(sender.accepted)
            del sender  # its bookkeeping would pin the heap like a server-side survivor
            await asyncio.sleep(2.0)
            active = server.conversations.active_count()
            probe.point(f"burst ({active} active)", accepted)
            keys = list(server.conversations._cells)
            started = time.monotonic()
            for chunk in range(0, len(keys), 500):
                await asyncio.gather(
                    *(server.conversations.passivate(k) for k in keys[chunk : chunk + 500])
                )
            await asyncio.sleep(1.0)
            print(f"\n(passivated {len(keys)} in {time.monotonic() - started:.1f} s)")
            probe.point(f"passivated ({server.conversations.active_count()} active)", accepted)
            if opts.clear_contacts:
                from server.actors.account import Reload

                await server.accounts.ask(target.account_id, Reload())
                probe.point("account contact cache cleared")
            if opts.hold:
                await asyncio.sleep(opts.hold)
                assistant = getattr(server, "assistant", None)
                backlog = assistant._queue.qsize() if assistant is not None else "-"
                active = server.conversations.active_count()
                state = f"{active} active, assistant backlog {backlog}"
                probe.point(f"{opts.hold:.0f} s later ({state})")
            if opts.after_trim_timer:
                await asyncio.sleep(35.0)
                probe.point("after the memory-trim timer")
    finally:
        if pool is not None:
            await pool.close()
        await runner.cleanup()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--connections", type=int, default=2000)
    parser.add_argument("--conversations", type=int, default=0)
    parser.add_argument("--rate", type=float, default=250.0)
    parser.add_argument("--procs", type=int, default=2)
    parser.add_argument("--frames", type=int, default=6, help="traceback depth per site")
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--baseline", action="store_true", help="the bare python-socketio server")
    parser.add_argument("--no-trace", dest="trace", action="store_false")
    parser.add_argument("--after-trim-timer", action="store_true")
    parser.add_argument("--hold", type=float, default=0.0, help="then wait, and a last point")
    parser.add_argument(
        "--clear-contacts", action="store_true", help="then empty the account's contact cache"
    )
    options = parser.parse_args()
    import uvloop

    uvloop.run(main(options))
