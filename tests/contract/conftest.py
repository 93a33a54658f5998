"""Backends the contract suite runs against.

`store` is an opened, empty store per test. `reopen` closes it and opens a new instance on the
same data, for durability checks. Adding a backend is one more entry in BACKENDS and one more
branch in `_make`.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from server.store.base import Store

BACKENDS = ["sqlite", "mongo"]


def _make(backend: str, tmp_path: Path, mongo_url: str | None, database: str) -> Store:
    if backend == "sqlite":
        from server.store.sqlite import SqliteStore

        # A not-yet-existing directory: the store creates it.
        return SqliteStore(str(tmp_path / "data" / "store.sqlite3"))
    if backend == "mongo":
        from server.store.mongo import MongoStore

        assert mongo_url is not None
        return MongoStore(mongo_url, database=database)
    raise ValueError(f"unknown store backend {backend!r}")


class StoreHandle:
    """Owns the store under test so a test can close and reopen it."""

    def __init__(self, backend: str, tmp_path: Path, mongo_url: str | None = None) -> None:
        self.backend = backend
        self.tmp_path = tmp_path
        self.mongo_url = mongo_url
        # A fresh database per test (mongo): tests never see each other's data.
        self.database = f"contract_{uuid.uuid4().hex[:16]}"
        self.current: Store | None = None

    async def open(self) -> Store:
        store = _make(self.backend, self.tmp_path, self.mongo_url, self.database)
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
    mongo_url = None
    if request.param == "mongo":
        mongo_url = request.getfixturevalue("ferretdb").url  # session-scoped FerretDB
    handle = StoreHandle(request.param, tmp_path, mongo_url)
    await handle.open()
    try:
        yield handle
    finally:
        await handle.close()
        if mongo_url is not None:
            await _drop_database(mongo_url, handle.database)


async def _drop_database(url: str, name: str) -> None:
    from pymongo import AsyncMongoClient

    client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(url)
    try:
        await client.drop_database(name)
    finally:
        await client.close()


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
