"""Groups feature repositories and services against the real database."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from groups.admission import AdmissionService, Application, AppState, Card
from groups.catalog import AreaSpec, Catalog, parse_area_args
from groups.members import (
    Member,
    MemberFilter,
    MemberService,
    Membership,
    MemberStatus,
)
from groups.model import Group, GroupStatus
from groups.roles import Principal, Role, RoleGrant, Scope
from kernel.clock import ManualClock
from kernel.errors import InvalidInput, NotFound, PermissionDenied
from storage.admission import MongoApplicationRepository
from storage.audit import MongoAuditLog
from storage.catalog import MongoScopeCatalog
from storage.client import Database
from storage.groups import MongoAreaRepository, MongoGroupRepository, MongoSectorRepository
from storage.members import MongoMemberGrants, MongoMemberRepository

NOW = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)


class RecordingGateway:
    def __init__(self, fail: set[int] | None = None) -> None:
        self.calls: list[tuple[str, int, int]] = []
        self.fail = fail or set()

    async def _do(self, what: str, chat_id: int, user_id: int) -> bool:
        self.calls.append((what, chat_id, user_id))
        return chat_id not in self.fail

    async def approve_join(self, chat_id: int, user_id: int) -> bool:
        return await self._do("approve", chat_id, user_id)

    async def decline_join(self, chat_id: int, user_id: int) -> bool:
        return await self._do("decline", chat_id, user_id)

    async def ban(self, chat_id: int, user_id: int) -> bool:
        return await self._do("ban", chat_id, user_id)

    async def unban(self, chat_id: int, user_id: int) -> bool:
        return await self._do("unban", chat_id, user_id)

    async def kick(self, chat_id: int, user_id: int) -> bool:
        return await self._do("kick", chat_id, user_id)


def manager(uid: int, sector: str | None = None, area: str | None = None) -> Principal:
    return Principal(uid, (RoleGrant(uid, Role.MANAGER, Scope(sector, area)),))


def app(
    app_id: str, user_id: int, chat_id: int, state: AppState = AppState.SUBMITTED
) -> Application:
    return Application(
        app_id, user_id, chat_id, "drivers", None, state, ("name",), {"name": "Ann"}, NOW
    )


async def catalog(db: Database) -> Catalog:
    await MongoScopeCatalog(db).seed()
    return Catalog(
        MongoSectorRepository(db), MongoAreaRepository(db), MongoAuditLog(db), ManualClock(NOW)
    )


async def test_sector_lookup_by_code_number_and_names(db: Database) -> None:
    cat = await catalog(db)
    assert (await cat.sector("drivers")).code == "drivers"
    assert (await cat.sector("房屋出租户")).code == "landlords"
    assert (await cat.sector("Landlords")).code == "landlords"
    assert (await cat.sector("6")).code == "cadres"
    with pytest.raises(NotFound):
        await cat.sector("wizards")
    await cat.retire_sector(1, "cadres")
    with pytest.raises(InvalidInput):
        await cat.sector("cadres")
    assert (await cat.sector("cadres", allow_retired=True)).retired
    assert [s.code for s in await cat.sectors()] == [
        "drivers",
        "hospitality",
        "recyclers",
        "landlords",
        "businesses",
    ]
    # Renames survive a new start (the seed never overwrites).
    await cat.rename_sector(1, "drivers", "司机", "Drivers")
    await MongoScopeCatalog(db).seed()
    assert (await cat.sector("drivers")).name_zh == "司机"


async def test_areas_codes_names_and_parents(db: Database) -> None:
    cat = await catalog(db)
    town = await cat.add_area(1, parse_area_args(["Chengguan", "30.27,120.15", "5"]))
    station = await cat.add_area(1, parse_area_args(["城关派出所", "parent=chengguan"]))
    assert (town.code, station.code, station.parent) == ("chengguan", "a2", "chengguan")
    assert (await cat.area("城关派出所")).code == "a2"
    assert (await cat.area("CHENGGUAN")).code == "chengguan"
    with pytest.raises(InvalidInput):
        await cat.add_area(1, AreaSpec(name="chengguan"))  # names are unique, case-insensitively
    with pytest.raises(InvalidInput):
        await cat.edit_area(1, "chengguan", AreaSpec(parent="a2"))
    with pytest.raises(NotFound):
        await cat.area("nowhere")
    # Edited centres stay usable for notice targeting.
    await cat.edit_area(1, "a2", parse_area_args(["30.28,120.16", "2"]))
    groups = MongoGroupRepository(db)
    await groups.save(Group(-1, "G", "drivers", "a2"))
    from groups.model import Audience, GeoPoint

    hits = await groups.targets(Audience(center=GeoPoint(30.28, 120.16), radius_km=1))
    assert [g.chat_id for g in hits] == [-1]


async def test_one_open_application_per_person_and_group(db: Database) -> None:
    repo = MongoApplicationRepository(db)
    assert await repo.create(app("a" * 12, 1, -10))
    assert not await repo.create(app("b" * 12, 1, -10))
    assert await repo.create(app("c" * 12, 1, -20))
    await repo.transition("a" * 12, frozenset({AppState.SUBMITTED}), AppState.DECLINED)
    assert await repo.create(app("d" * 12, 1, -10))  # closed ones do not block a new one


async def test_answers_are_stored_once_per_step(db: Database) -> None:
    repo = MongoApplicationRepository(db)
    form = Application("e" * 12, 2, -10, "drivers", None, AppState.FORM, ("name", "phone"))
    await repo.create(form)
    assert await repo.answer(form.id, "name", "Ann") is not None
    assert await repo.answer(form.id, "name", "Bob") is None
    stored = await repo.get(form.id)
    assert stored is not None and stored.answers == {"name": "Ann"}
    assert (await repo.filling(2)) is not None


async def test_first_decision_wins_and_duplicate_is_told_who(db: Database) -> None:
    repo = MongoApplicationRepository(db)
    members = MongoMemberRepository(db)
    gateway = RecordingGateway()
    service = AdmissionService(
        repo,
        members,
        gateway,
        MongoMemberGrants(db),
        MongoAuditLog(db),
        ManualClock(NOW),
        timedelta(hours=48),
    )
    await repo.create(app("f" * 12, 3, -10))
    await repo.add_card("f" * 12, Card(100, 1))
    first = await service.decide(manager(100, "drivers"), "f" * 12, approve=True)
    second = await service.decide(manager(101), "f" * 12, approve=False, reason="no way")
    assert first.won and not second.won
    assert second.app.decided_by == 100 and second.app.state is AppState.APPROVED
    assert gateway.calls == [("approve", -10, 3)]
    member = await members.get(3)
    assert member is not None and member.status is MemberStatus.ACTIVE
    assert await db.roles.count_documents({"user_id": 3, "role": "member"}) == 1
    with pytest.raises(PermissionDenied):
        await service.decide(manager(102, "landlords"), "f" * 12, approve=True)


async def test_expiry_declines_only_old_open_applications(db: Database) -> None:
    repo = MongoApplicationRepository(db)
    clock = ManualClock(NOW)
    gateway = RecordingGateway()
    service = AdmissionService(
        repo,
        MongoMemberRepository(db),
        gateway,
        MongoMemberGrants(db),
        MongoAuditLog(db),
        clock,
        timedelta(hours=48),
    )
    await repo.create(app("1" * 12, 4, -10))
    clock.advance(timedelta(hours=24))
    await repo.create(replace(app("2" * 12, 5, -10), created_at=clock.now()))
    clock.advance(timedelta(hours=25))
    expired = await service.expire_due()
    assert [a.id for a in expired] == ["1" * 12]
    assert await service.expire_due() == []
    assert gateway.calls == [("decline", -10, 4)]


async def test_members_scope_filter_and_chat_migration(db: Database) -> None:
    repo = MongoMemberRepository(db)
    await repo.admit(
        Member(1, "Ann", "+861", sector="drivers"),
        Membership(-10, "drivers", "a1", joined_at=NOW),
    )
    await repo.admit(
        Member(2, "Bob", "+862", sector="landlords"),
        Membership(-20, "landlords", None, joined_at=NOW),
    )
    await repo.admit(Member(1, "Ann", "+861"), Membership(-20, "landlords", None, joined_at=NOW))
    ann = await repo.get(1)
    assert ann is not None and {g.chat_id for g in ann.groups} == {-10, -20}
    assert ann.sector == "drivers"  # first admission is the home sector

    def ids(ms: list[Member]) -> list[int]:
        return [m.user_id for m in ms]

    assert ids(await repo.find(MemberFilter((Scope("drivers"),)))) == [1]
    assert ids(await repo.find(MemberFilter((Scope(None, "a1"),)))) == [1]
    assert sorted(ids(await repo.find(MemberFilter((Scope("landlords"),))))) == [1, 2]
    assert sorted(ids(await repo.find(MemberFilter((Scope(),))))) == [1, 2]
    assert ids(await repo.find(MemberFilter((), "drivers", "a2"))) == []

    await repo.migrate_chat(-20, -2000)
    assert await repo.active_counts() == {-10: 1, -2000: 2}
    left = await repo.set_membership(1, -10, MemberStatus.LEFT, NOW)
    assert left is not None and left.status is MemberStatus.ACTIVE  # still in -2000
    left = await repo.set_membership(1, -2000, MemberStatus.LEFT, NOW)
    assert left is not None and left.status is MemberStatus.LEFT
    assert await repo.set_membership(1, -999, MemberStatus.LEFT, NOW) is None


async def test_ban_reaches_every_active_group_and_reports_failures(db: Database) -> None:
    groups = MongoGroupRepository(db)
    for chat_id, status in (
        (-1, GroupStatus.ACTIVE),
        (-2, GroupStatus.ACTIVE),
        (-3, GroupStatus.ARCHIVED),
    ):
        await groups.save(Group(chat_id, "G", "drivers", None, status))
    repo = MongoMemberRepository(db)
    await repo.admit(Member(9, "Eve", "+869", sector="drivers"), Membership(-1, "drivers", None))
    gateway = RecordingGateway(fail={-2})
    service = MemberService(
        repo, groups, gateway, MongoMemberGrants(db), MongoAuditLog(db), ManualClock(NOW)
    )
    with pytest.raises(NotFound):
        await service.ban(manager(50, "landlords"), 9, "@eve", "fraud")
    with pytest.raises(InvalidInput):
        await service.ban(manager(50), 9, "@eve", "   ")
    sweep = await service.ban(manager(50), 9, "@eve", "fraud")  # unrestricted: platform-wide
    assert (sweep.done, sweep.failed, sweep.untouched) == ((-1,), (-2,), ())
    assert sweep.member.status is MemberStatus.BANNED
    assert sweep.member.groups[0].status is MemberStatus.REMOVED
    with pytest.raises(InvalidInput):
        await service.remove(manager(50, "drivers"), 9, "@eve", "again")
    # A manager limited to a sector cannot lift a platform-wide ban.
    with pytest.raises(PermissionDenied):
        await service.unban(manager(51, "drivers"), 9, "@eve")
    undone = await service.unban(manager(50), 9, "@eve")
    assert undone.member.status is MemberStatus.LEFT
    assert [c[0] for c in gateway.calls] == ["ban", "ban", "unban", "unban"]
    actions = [e.action for e in await MongoAuditLog(db).list(object_type="member")]
    assert actions == ["member.unban", "member.ban"]


async def test_scoped_managers_remove_and_ban_only_inside_their_scope(db: Database) -> None:
    groups = MongoGroupRepository(db)
    for chat_id, sector in ((-1, "drivers"), (-2, "landlords"), (-3, "drivers")):
        await groups.save(Group(chat_id, f"G{chat_id}", sector, None, GroupStatus.ACTIVE))
    repo = MongoMemberRepository(db)
    await repo.admit(Member(9, "Eve", "+869", sector="drivers"), Membership(-1, "drivers", None))
    await repo.admit(Member(9, "Eve", "+869"), Membership(-2, "landlords", None))
    gateway = RecordingGateway()
    service = MemberService(
        repo, groups, gateway, MongoMemberGrants(db), MongoAuditLog(db), ManualClock(NOW)
    )
    drivers = manager(50, "drivers")
    sweep = await service.remove(drivers, 9, "@eve", "left the trade")
    assert (sweep.done, sweep.untouched, sweep.scoped) == ((-1,), (-2,), True)
    assert sweep.member.status is MemberStatus.ACTIVE
    assert {g.chat_id: g.status for g in sweep.member.groups} == {
        -1: MemberStatus.REMOVED,
        -2: MemberStatus.ACTIVE,
    }
    with pytest.raises(InvalidInput):  # nothing of theirs is left in the drivers' scope
        await service.remove(drivers, 9, "@eve", "again")

    sweep = await service.ban(drivers, 9, "@eve", "fraud")
    assert set(sweep.done) == {-1, -3} and sweep.untouched == (-2,)
    assert sweep.member.status is MemberStatus.ACTIVE  # still a landlord in good standing
    assert sweep.member.banned_in(Scope("drivers")) and not sweep.member.banned_in(
        Scope("landlords")
    )
    with pytest.raises(InvalidInput):
        await service.ban(drivers, 9, "@eve", "again")
    assert not [c for c in gateway.calls if c[1] == -2]  # the landlords' group: untouched

    with pytest.raises(InvalidInput):  # a landlords' manager has no ban of theirs to lift
        await service.unban(manager(52, "landlords"), 9, "@eve")
    undone = await service.unban(drivers, 9, "@eve")
    assert set(undone.done) == {-1, -3} and not undone.member.bans
