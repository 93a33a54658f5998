"""Backends the contract suite runs against.

`store` is an opened, empty store per test. `reopen` closes it and opens a new instance on the
same data, for durability checks. Adding a backend is one more entry in BACKENDS and one more
branch in `_make`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from server.store.base import Store

BACKENDS = ["sqlite"]


def _make(backend: str, tmp_path: Path) -> Store:
    if backend == "sqlite":
        from server.store.sqlite import SqliteStore

        # A not-yet-existing directory: the store creates it.
        return SqliteStore(str(tmp_path / "data" / "store.sqlite3"))
    raise ValueError(f"unknown store backend {backend!r}")


class StoreHandle:
    """Owns the store under test so a test can close and reopen it."""

    def __init__(self, backend: str, tmp_path: Path) -> None:
        self.backend = backend
        self.tmp_path = tmp_path
        self.current: Store | None = None

    async def open(self) -> Store:
        store = _make(self.backend, self.tmp_path)
        await store.open()
        self.current = store
        return store

    async def close(self) -> None:
        if self.current is not None:
            store, self.current = self.current, None
            await store.close()


@pytest.fixture(params=BACKENDS)
async def store_handle(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[StoreHandle]:
    handle = StoreHandle(request.param, tmp_path)
    await handle.open()
    try:
        yield handle
    finally:
        await handle.close()


@pytest.fixture
def store(store_handle: StoreHandle) -> Store:
    assert store_handle.current is not None
    return store_handle.current


@pytest.fixture
def reopen(store_handle: StoreHandle) -> Callable[[], Awaitable[Store]]:
    """Close the store (flushing pending writes) and open a new instance on the same data."""

    async def _reopen() -> Store:
        await store_handle.close()
        return await store_handle.open()

    return _reopen
