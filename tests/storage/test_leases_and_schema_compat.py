"""What an instance reports as its roles (leases it holds) and the schema-version rule that
makes rolling upgrades and rollbacks possible (docs/deployment.md)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from storage.client import Database
from storage.leases import MongoLeases
from storage.schema import OLDEST_READER, SCHEMA_VERSION, ensure_schema, schema_version

T0 = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)


async def test_held_lists_the_leases_this_process_holds_until_they_lapse(db: Database) -> None:
    a, b = MongoLeases(db), MongoLeases(db)
    assert await a.acquire("scheduler", "a:1:x", T0, 30)
    assert await a.acquire("sender", "a:1:x", T0, 60)
    assert not await b.acquire("scheduler", "b:2:y", T0, 30)
    assert [x.name for x in a.held(T0)] == ["scheduler", "sender"]
    assert b.held(T0) == []
    # Not renewed: the scheduler lease lapses at T0+30 s; b takes it over.
    later = T0 + timedelta(seconds=31)
    assert [x.name for x in a.held(later)] == ["sender"]
    assert await b.acquire("scheduler", "b:2:y", later, 30)
    assert [x.name for x in b.held(later)] == ["scheduler"]
    # a tries to renew and learns it lost the lease: it no longer claims it at all.
    assert not await a.acquire("scheduler", "a:1:x", later, 30)
    assert [x.name for x in a.held(T0)] == ["sender"]
    await a.release("sender", "a:1:x")
    assert a.held(later) == []
    everything = await a.all()
    assert [(x.name, x.holder, x.until) for x in everything] == [
        ("scheduler", "b:2:y", later + timedelta(seconds=30))
    ]
    assert everything[0].valid_at(later) and not everything[0].valid_at(later + timedelta(60))


async def test_an_older_release_runs_only_where_the_newer_one_declared_it_may(
    db: Database,
) -> None:
    await ensure_schema(db)
    meta = await db.meta.find_one({"_id": "schema"})
    assert meta is not None and meta["oldest_reader"] == OLDEST_READER <= SCHEMA_VERSION
    # The next release has started (rolling upgrade) or was rolled back, and declared its
    # documents readable by this one: this release starts and leaves the newer version.
    newer = {"version": SCHEMA_VERSION + 1, "oldest_reader": SCHEMA_VERSION}
    await db.meta.update_one({"_id": "schema"}, {"$set": newer})
    await ensure_schema(db)
    assert await schema_version(db) == SCHEMA_VERSION + 1
    # Declared incompatible (its migration changed what this release relies on): refused.
    await db.meta.update_one({"_id": "schema"}, {"$set": {"oldest_reader": SCHEMA_VERSION + 1}})
    with pytest.raises(RuntimeError, match="needs code of version"):
        await ensure_schema(db)
    # A database written before the rule (no oldest_reader): only its own version's code.
    await db.meta.update_one({"_id": "schema"}, {"$unset": {"oldest_reader": ""}})
    with pytest.raises(RuntimeError, match="newer than this code"):
        await ensure_schema(db)
    assert await schema_version(db) == SCHEMA_VERSION + 1  # never lowered
