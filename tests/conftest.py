"""Shared fixtures: one real SecantusDB server per test session, a fresh database per test."""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from pymongo import AsyncMongoClient

from storage.client import Database, Document, make_client
from storage.embedded import EmbeddedMongo
from storage.schema import ensure_schema


def _memory_dir() -> str | None:
    """A RAM-backed directory (Linux ``/dev/shm``) when there is one: the test database is
    disposable, and on a slow disk every journal flush would otherwise wait for I/O."""
    shm = os.environ.get("TEST_DB_DIR", "/dev/shm")
    return shm if os.path.isdir(shm) and os.access(shm, os.W_OK) else None


@pytest.fixture(scope="session")
def db_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    base = _memory_dir()
    if base is None:
        yield Path(tmp_path_factory.mktemp("secantus"))
        return
    path = Path(tempfile.mkdtemp(prefix="six-circles-test-db-", dir=base))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
async def mongo_server(db_dir: Path) -> AsyncIterator[EmbeddedMongo]:
    server = EmbeddedMongo(db_dir)
    await server.start()
    yield server
    await server.stop()


@pytest.fixture(scope="session")
async def mongo_client(mongo_server: EmbeddedMongo) -> AsyncIterator[AsyncMongoClient[Document]]:
    client = make_client(mongo_server.uri)
    yield client
    await client.close()


@pytest.fixture
async def db_name(mongo_client: AsyncMongoClient[Document]) -> AsyncIterator[str]:
    name = f"t_{uuid.uuid4().hex[:12]}"
    yield name
    await mongo_client.drop_database(name)


@pytest.fixture
async def db(mongo_client: AsyncMongoClient[Document], db_name: str) -> Database:
    database = mongo_client[db_name]
    await ensure_schema(database)
    return database
