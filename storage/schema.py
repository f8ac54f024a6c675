"""Indexes (created idempotently at start-up) and the schema version.

Every repository module declares ``INDEXES: dict[collection, list[IndexModel]]``; add a
new module to ``INDEX_MODULES`` and its indexes are created on the next start. Indexes
are matched by name: to change an index's keys or options, give it a new name.

Data migrations: ``MIGRATIONS`` maps a schema version to the coroutine (``module:name``,
taking the database) that brings data from the version before to it. They run in order,
at start-up, on a database at an older version (a new database starts at the current
one), each idempotent (two processes may start at once).
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from pymongo import IndexModel

from storage.client import Database

log = logging.getLogger(__name__)

SCHEMA_VERSION = 2

MIGRATIONS: dict[int, str] = {
    2: "storage.tips:migrate_v2",  # tip ids and pseudonyms no longer derivable (issue 13)
}

INDEX_MODULES: tuple[str, ...] = (
    "storage.users",
    "storage.roles",
    "storage.audit",
    "storage.updates",
    "storage.catalog",
    "storage.groups",
    "storage.members",
    "storage.admission",
    "storage.leases",
    "storage.notices",
    "storage.tips",
    "storage.duty",
    "storage.rewards",
    "storage.console",
)


def declared_indexes() -> dict[str, list[IndexModel]]:
    merged: dict[str, list[IndexModel]] = {}
    for name in INDEX_MODULES:
        module = importlib.import_module(name)
        for coll, models in getattr(module, "INDEXES", {}).items():
            merged.setdefault(coll, []).extend(models)
    return merged


async def ensure_schema(db: Database) -> None:
    for coll, models in declared_indexes().items():
        existing = {ix["name"] async for ix in await db[coll].list_indexes()}
        missing = [m for m in models if m.document["name"] not in existing]
        if missing:
            await db[coll].create_indexes(missing)
    meta = await db.meta.find_one({"_id": "schema"})
    current = meta["version"] if meta else 0
    if current > SCHEMA_VERSION:
        raise RuntimeError(
            f"database schema version {current} is newer than this code ({SCHEMA_VERSION})"
        )
    if 0 < current < SCHEMA_VERSION:
        for version in range(current + 1, SCHEMA_VERSION + 1):
            if version in MIGRATIONS:
                log.info("schema migration to version %s", version)
                await _migration(MIGRATIONS[version])(db)
    if current < SCHEMA_VERSION:
        await db.meta.update_one(
            {"_id": "schema"},
            {"$set": {"version": SCHEMA_VERSION, "updated_at": datetime.now(UTC)}},
            upsert=True,
        )
        log.info("schema version %s -> %s", current, SCHEMA_VERSION)


def _migration(path: str) -> Callable[[Database], Awaitable[None]]:
    module, name = path.split(":")
    fn: Callable[[Database], Awaitable[None]] = getattr(importlib.import_module(module), name)
    return fn


async def schema_version(db: Database) -> int:
    meta = await db.meta.find_one({"_id": "schema"})
    return int(meta["version"]) if meta else 0
