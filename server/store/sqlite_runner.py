"""Threads for the SQLite store: one writer that batches, a small pool of readers.

The writer thread owns the only write connection. Callers queue operations (a function of the
connection); the thread takes everything queued (up to `batch_cap`) and applies it in ONE
transaction, each operation inside its own SAVEPOINT: an operation that raises is rolled back
alone and its caller gets the exception, the others commit together (one fsync for the batch).
The callers' futures are resolved after the commit, in queue order, from one loop callback.

Readers run on a thread executor, each call borrowing one of `readers` connections (WAL mode
lets them read beside the writer).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import queue
import sqlite3
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from server.store.base import StoreError

T = TypeVar("T")

WriteOp = Callable[[sqlite3.Connection], Any]
_Item = tuple[WriteOp, "asyncio.Future[Any]"]
_Outcome = tuple["asyncio.Future[Any]", Any, BaseException | None]

_STOP = object()


def connect(path: str, *, readonly: bool) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA busy_timeout = 10000")
    if not readonly:
        conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    if readonly:
        conn.execute("PRAGMA query_only = 1")
    return conn


class Writer:
    """The writer thread and its queue."""

    def __init__(
        self, conn: sqlite3.Connection, loop: asyncio.AbstractEventLoop, batch_cap: int = 256
    ) -> None:
        self._conn = conn
        self._loop = loop
        self._cap = batch_cap
        self._queue: queue.SimpleQueue[_Item | object] = queue.SimpleQueue()
        self._stopping = False
        self._done: asyncio.Future[None] = loop.create_future()
        self._thread = threading.Thread(target=self._run, name="sqlite-writer", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def submit(self, op: WriteOp) -> asyncio.Future[Any]:
        """Queue `op`; the returned future resolves once its batch has committed."""
        if self._stopping:
            raise StoreError("store is closed")
        future: asyncio.Future[Any] = self._loop.create_future()
        self._queue.put((op, future))
        return future

    async def stop(self) -> None:
        """Apply everything queued so far, then stop the thread and close the connection."""
        if not self._stopping:
            self._stopping = True
            self._queue.put(_STOP)
        await asyncio.shield(self._done)

    # thread side --------------------------------------------------------------------------
    def _run(self) -> None:
        try:
            stop = False
            while not stop:
                first = self._queue.get()
                if first is _STOP:
                    break
                batch: list[_Item] = [first]  # type: ignore[list-item]
                while len(batch) < self._cap:
                    try:
                        item = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if item is _STOP:
                        stop = True
                        break
                    batch.append(item)  # type: ignore[arg-type]
                self._post(self._settle, self._apply(batch))
        finally:
            try:
                self._conn.close()
            finally:
                self._post(self._finish)

    def _apply(self, batch: list[_Item]) -> list[_Outcome]:
        conn = self._conn
        outcomes: list[_Outcome] = []
        try:
            conn.execute("BEGIN IMMEDIATE")
            for op, future in batch:
                conn.execute("SAVEPOINT op")
                try:
                    result = op(conn)
                except Exception as exc:  # the op's own failure: undo only the op
                    conn.execute("ROLLBACK TO op")
                    conn.execute("RELEASE op")
                    outcomes.append((future, None, exc))
                else:
                    conn.execute("RELEASE op")
                    outcomes.append((future, result, None))
            conn.execute("COMMIT")
        except Exception as exc:  # the transaction itself failed: nothing of the batch landed
            if conn.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
            error = StoreError(f"batch commit failed: {exc}")
            error.__cause__ = exc
            return [(future, None, error) for _, future in batch]
        return outcomes

    def _post(self, callback: Callable[..., None], *args: Any) -> None:
        # RuntimeError: the loop is closed, nobody is waiting any more.
        with contextlib.suppress(RuntimeError):
            self._loop.call_soon_threadsafe(callback, *args)

    # loop side ----------------------------------------------------------------------------
    @staticmethod
    def _settle(outcomes: list[_Outcome]) -> None:
        for future, result, error in outcomes:
            if future.done():  # the caller was cancelled; the write still landed (or not)
                continue
            if error is not None:
                future.set_exception(error)
            else:
                future.set_result(result)

    def _finish(self) -> None:
        if not self._done.done():
            self._done.set_result(None)


class Readers:
    """A pool of read connections served by a thread executor of the same size."""

    def __init__(self, path: str, size: int = 4) -> None:
        self._pool: queue.SimpleQueue[sqlite3.Connection] = queue.SimpleQueue()
        self._conns = [connect(path, readonly=True) for _ in range(size)]
        for conn in self._conns:
            self._pool.put(conn)
        self._executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=size, thread_name_prefix="sqlite-read"
        )

    async def run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._call, fn)

    def _call(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        conn = self._pool.get()
        try:
            return fn(conn)
        finally:
            self._pool.put(conn)

    async def run_on_each(self, fn: Callable[[sqlite3.Connection], object]) -> None:
        """Run `fn` once on every connection of the pool (each taken as it becomes free)."""
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._executor, self._call_on_each, fn)

    def _call_on_each(self, fn: Callable[[sqlite3.Connection], object]) -> None:
        taken = [self._pool.get() for _ in self._conns]
        try:
            for conn in taken:
                fn(conn)
        finally:
            for conn in taken:
                self._pool.put(conn)

    def close(self) -> None:
        """Blocking: wait for running reads, then close the connections."""
        self._executor.shutdown(wait=True)
        for conn in self._conns:
            conn.close()
