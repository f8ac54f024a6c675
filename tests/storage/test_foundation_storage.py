from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from groups.access import RoleService
from groups.roles import UNRESTRICTED, Principal, Role, RoleGrant, Scope
from groups.users import UserProfile
from kernel.clock import ManualClock
from kernel.errors import InvalidInput, PermissionDenied
from storage.audit import MongoAuditLog
from storage.catalog import MongoScopeCatalog
from storage.client import Database
from storage.roles import MongoRoleRepository
from storage.schema import SCHEMA_VERSION, ensure_schema, schema_version
from storage.updates import MongoUpdateLedger
from storage.users import MongoUserRepository
from tests.waiting import wait_until

SUPER = 1001


async def service(db: Database) -> tuple[RoleService, MongoAuditLog]:
    catalog = MongoScopeCatalog(db)
    await catalog.seed()
    audit = MongoAuditLog(db)
    return RoleService(MongoRoleRepository(db), catalog, audit, ManualClock(), [SUPER]), audit


async def test_schema_is_idempotent_and_versioned(db: Database) -> None:
    await ensure_schema(db)
    await ensure_schema(db)
    assert await schema_version(db) == SCHEMA_VERSION
    names = {ix["name"] async for ix in await db.roles.list_indexes()}
    assert "grant_unique" in names


async def test_grant_revoke_and_audit(db: Database) -> None:
    roles, audit = await service(db)
    boss = await roles.principal(SUPER)
    assert boss.is_superadmin
    await roles.grant(boss, 5, Role.MANAGER, Scope("drivers"))
    p = await roles.principal(5)
    assert p.grants[0].role is Role.MANAGER and p.grants[0].scope == Scope("drivers")
    with pytest.raises(InvalidInput):
        await roles.grant(boss, 5, Role.MANAGER, Scope("drivers"))  # duplicate
    with pytest.raises(InvalidInput):
        await roles.grant(boss, 5, Role.MANAGER, Scope("no-such-sector"))
    # A manager limited to drivers grants inside drivers only, and never managers.
    await roles.grant(p, 6, Role.INVESTIGATOR, UNRESTRICTED)
    assert (await roles.principal(6)).grants[0].scope == Scope("drivers")
    with pytest.raises(PermissionDenied):
        await roles.grant(p, 6, Role.OPERATOR, Scope("landlords"))
    with pytest.raises(PermissionDenied):
        await roles.grant(p, 6, Role.MANAGER, Scope("drivers"))
    with pytest.raises(PermissionDenied):
        await roles.grant(Principal(9), 6, Role.MEMBER, UNRESTRICTED)
    assert await roles.revoke(boss, 5, Role.MANAGER, None) == 1
    assert not (await roles.principal(5)).grants
    actions = [e.action for e in await audit.list(object_type="user")]
    assert actions.count("role.grant") == 2 and actions.count("role.revoke") == 1


async def test_role_repo_round_trip_hides_object_ids(db: Database) -> None:
    repo = MongoRoleRepository(db)
    when = datetime(2026, 1, 1, tzinfo=UTC)
    assert await repo.add(RoleGrant(1, Role.OPERATOR, Scope("drivers", "a1"), 2, when))
    (g,) = await repo.grants_of(1)
    assert g == RoleGrant(1, Role.OPERATOR, Scope("drivers", "a1"), 2, when)


async def test_users_upsert_username_lookup_and_locale(db: Database) -> None:
    users = MongoUserRepository(db)
    stored = await users.seen(UserProfile(11, "Li", username="Li_Wei", language_code="zh-hans"))
    assert stored.locale is None and not stored.started
    assert (await users.by_username("@li_wei")) is not None
    assert (await users.by_username("@bad name")) is None
    await users.set_locale(11, "en")
    again = await users.seen(UserProfile(11, "Li", username="Li_Wei", language_code="zh-hans"))
    assert again.locale == "en"


async def test_update_ledger_claims_once_and_recovers_stale(db: Database) -> None:
    ledger = MongoUpdateLedger(db, stale_s=60)
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    assert await ledger.claim(1, 100, t0)
    assert not await ledger.claim(1, 100, t0 + timedelta(seconds=5))
    # A crashed handler's claim can be taken over once stale, but a finished one never.
    assert await ledger.claim(1, 100, t0 + timedelta(seconds=61))
    await ledger.done(1, 100)
    assert not await ledger.claim(1, 100, t0 + timedelta(hours=1))
    await ledger.release(1, 100)
    assert await ledger.claim(1, 100, t0 + timedelta(hours=1))
    await ledger.close()


async def test_update_ledger_writes_done_marks_in_batches(db: Database) -> None:
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    later = t0 + timedelta(hours=1)  # every claim is stale by then
    ledger = MongoUpdateLedger(db, stale_s=60, flush_s=3600, batch=3)
    for update_id in (1, 2):
        assert await ledger.claim(7, update_id, t0)
        await ledger.done(7, update_id)
    # Not written yet: this process knows, another one only sees a stale claim ...
    states = {d["_id"]: d["state"] async for d in db.processed_updates.find({})}
    assert states == {"7:1": "processing", "7:2": "processing"}
    assert not await ledger.claim(7, 1, later)
    # ... until the batch is full (or the timer, or shutdown, flushes it).
    assert await ledger.claim(7, 3, t0)
    await ledger.done(7, 3)
    states = {d["_id"]: d["state"] async for d in db.processed_updates.find({})}
    assert states == {"7:1": "done", "7:2": "done", "7:3": "done"}
    other = MongoUpdateLedger(db, stale_s=60)
    assert not await other.claim(7, 2, later)
    assert await ledger.claim(7, 4, t0)
    await ledger.done(7, 4)
    await ledger.close()
    assert not await other.claim(7, 4, later)
    # The timer writes a lone mark without waiting for a full batch.
    quick = MongoUpdateLedger(db, stale_s=60, flush_s=0.01)
    assert await quick.claim(7, 5, t0)
    await quick.done(7, 5)

    async def marked() -> bool:
        doc = await db.processed_updates.find_one({"_id": "7:5"})
        return doc is not None and doc["state"] == "done"

    await wait_until(marked, timeout=5)
    await quick.close()


async def test_group_targets_by_sector_area_and_radius(db: Database) -> None:
    from groups.model import Area, Audience, GeoPoint, Group, GroupStatus
    from storage.groups import MongoAreaRepository, MongoGroupRepository

    areas, groups = MongoAreaRepository(db), MongoGroupRepository(db)
    await areas.save(Area("town-a", "Town A", center=GeoPoint(30.0, 120.0), radius_km=3))
    await areas.save(Area("town-b", "Town B", center=GeoPoint(30.0, 120.5), radius_km=3))
    await areas.save(Area("nowhere", "No centre"))
    await groups.save(Group(-1, "A drivers", "drivers", "town-a"))
    await groups.save(Group(-2, "B drivers", "drivers", "town-b"))
    await groups.save(Group(-3, "A landlords", "landlords", "town-a"))
    await groups.save(Group(-4, "All drivers", "drivers", None))
    await groups.save(Group(-5, "gone", "drivers", "town-a", status=GroupStatus.ARCHIVED))

    def ids(gs: list[Group]) -> list[int]:
        return [g.chat_id for g in gs]

    assert ids(await groups.targets(Audience(sectors=("drivers",)))) == [-4, -2, -1]
    assert ids(await groups.targets(Audience(areas=("town-a",)))) == [-3, -1]
    near = Audience(center=GeoPoint(30.0, 120.01), radius_km=5)
    assert ids(await groups.targets(near)) == [-3, -1]
    assert ids(await groups.targets(Audience(center=GeoPoint(30.0, 120.0), radius_km=0))) == []
    moved = await groups.migrate(-1, -1001)
    assert moved is not None and moved.chat_id == -1001 and moved.sector == "drivers"
    assert (await groups.get(-1)).status is GroupStatus.MIGRATED  # type: ignore[union-attr]
    assert -1001 in ids(await groups.targets(Audience(sectors=("drivers",))))


async def test_a_new_user_seen_by_concurrent_updates_is_recorded_once(db: Database) -> None:
    # An album from someone the bot never saw: every item upserts the profile at once.
    for user_id in range(500, 520):
        repos = [MongoUserRepository(db) for _ in range(4)]  # no shared cache
        seen = await asyncio.gather(*(r.seen(UserProfile(user_id, "Ann")) for r in repos))
        assert {p.user_id for p in seen} == {user_id}
    assert await db.users.count_documents({}) == 20
