"""Indexes (created idempotently at start-up) and the schema version.

Every repository module declares ``INDEXES: dict[collection, list[IndexModel]]``; add a
new module to ``INDEX_MODULES`` and its indexes are created on the next start. Indexes
are matched by name: to change an index's keys or options, give it a new name.

Data migrations: ``MIGRATIONS`` maps a schema version to the coroutine (``module:name``,
taking the database) that brings data from the version before to it. They run in order,
at start-up, on a database at an older version (a new database starts at the current
one), each idempotent (two processes may start at once).

Rolling upgrades (docs/deployment.md): two releases may run side by side on one database,
and a rollback runs the previous release on what the new one wrote. ``OLDEST_READER`` is
the oldest schema version whose code may run on a database at ``SCHEMA_VERSION``: the
previous version when this version's changes are forward-compatible (the previous release
reads the new documents), else ``SCHEMA_VERSION`` itself. It is stored with the version;
older code refuses to start unless it is at least the stored oldest reader. The version is
never lowered.
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
# Version 2 changed how tip ids and pseudonyms are derived: version-1 code must not run on it.
OLDEST_READER = 2

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
    current = int(meta["version"]) if meta else 0
    if meta is not None and current > SCHEMA_VERSION:
        oldest = int(meta.get("oldest_reader", current))
        if oldest > SCHEMA_VERSION:
            raise RuntimeError(
                f"database schema version {current} is newer than this code "
                f"({SCHEMA_VERSION}) and needs code of version {oldest} or later"
            )
        # A rolling upgrade or a rollback: the newer release declared its documents
        # readable by this one (docs/deployment.md, "Rolling upgrade").
        log.warning(
            "database schema version %s is newer than this code (%s), which it declares "
            "compatible: running as an older release (rolling upgrade or rollback)",
            current,
            SCHEMA_VERSION,
        )
    if 0 < current < SCHEMA_VERSION:
        for version in range(current + 1, SCHEMA_VERSION + 1):
            if version in MIGRATIONS:
                log.info("schema migration to version %s", version)
                await _migration(MIGRATIONS[version])(db)
    if current < SCHEMA_VERSION:
        await db.meta.update_one(
            {"_id": "schema"},
            {
                "$set": {
                    "version": SCHEMA_VERSION,
                    "oldest_reader": OLDEST_READER,
                    "updated_at": datetime.now(UTC),
                }
            },
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
