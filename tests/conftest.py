"""Shared fixtures: one real SecantusDB server per test session, a fresh database per test."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from pymongo import AsyncMongoClient

from storage.client import Database, Document, make_client
from storage.embedded import EmbeddedMongo
from storage.schema import ensure_schema


@pytest.fixture(scope="session")
async def mongo_server(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[EmbeddedMongo]:
    server = EmbeddedMongo(Path(tmp_path_factory.mktemp("secantus")))
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
