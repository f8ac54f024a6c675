"""Duty repositories and the duty service against the real database."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta

import pytest

from duty.alerts import Alert, AlertKind, AlertState, Card, Level, Step, TipRef
from duty.model import EscalationPolicy, Team, parse_patterns
from duty.ports import OpenTip, SwapState
from duty.service import DutyService
from groups.access import RoleService
from groups.roles import UNRESTRICTED, Principal, Role, Scope
from kernel.clock import ManualClock
from kernel.errors import InvalidInput, NotFound, PermissionDenied
from storage.audit import MongoAuditLog
from storage.catalog import MongoScopeCatalog
from storage.client import Database
from storage.duty import MongoDutyRepository, MongoNoticeDirectory, MongoTipDirectory
from storage.roles import MongoRoleRepository

SUPER = 1
MANAGER = 2
OPS = (11, 12, 13, 14)
INVESTIGATORS = [31, 32]
# Monday 2 March 2026, 09:00 in Shanghai.
T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)


class FakeTips:
    """In-memory double of duty's TipSource port."""

    def __init__(self) -> None:
        self.acked: list[tuple[str, int]] = []
        self.handled: set[str] = set()
        self.open: list[OpenTip] = []

    async def mark_acknowledged(self, tip_id: str, actor_id: int) -> None:
        self.acked.append((tip_id, actor_id))
        self.handled.add(tip_id)

    async def is_handled(self, tip_id: str) -> bool:
        return tip_id in self.handled

    async def open_tips(self, sector: str | None, area: str | None) -> list[OpenTip]:
        return list(self.open)


async def make_service(db: Database, clock: ManualClock) -> tuple[DutyService, FakeTips]:
    catalog = MongoScopeCatalog(db)
    await catalog.seed()
    audit = MongoAuditLog(db)
    roles = RoleService(MongoRoleRepository(db), catalog, audit, clock, [SUPER])
    boss = await roles.principal(SUPER)
    await roles.grant(boss, MANAGER, Role.MANAGER, Scope("drivers"))
    for uid in OPS:
        await roles.grant(boss, uid, Role.OPERATOR, Scope("drivers"))
    for uid in INVESTIGATORS:
        await roles.grant(boss, uid, Role.INVESTIGATOR, UNRESTRICTED)
    tips = FakeTips()
    svc = DutyService(
        MongoDutyRepository(db),
        roles,
        catalog,
        tips,
        MongoNoticeDirectory(db),
        audit,
        clock,
        coverage_hour=9,
    )
    return svc, tips


async def make_team(svc: DutyService, **changes: object) -> Team:
    manager = await svc.roles.principal(MANAGER)
    await svc.create_team(manager, "d1", "Asia/Shanghai", parse_patterns("2x12"), 2)
    return await svc.update_team(manager, "d1", operators=OPS, **changes)


def tip(tip_id: str = "t1", notice: str | None = "n1") -> TipRef:
    return TipRef(tip_id, f"T-{tip_id}", notice, "drivers", "town-a", T0)


async def test_team_round_trip_scope_and_refusals(db: Database) -> None:
    clock = ManualClock(T0)
    svc, _ = await make_service(db, clock)
    team = await make_team(svc, policy=EscalationPolicy(3, 7))
    assert team.sector == "drivers"  # narrowed to the manager's own scope
    stored = await svc.team("D1")
    assert stored == team and stored.start_date == date(2026, 3, 1)  # from the day before
    assert [t.code for t in await svc.teams()] == ["d1"]
    outsider = Principal(99, (), False)
    with pytest.raises(PermissionDenied):
        await svc.update_team(outsider, "d1", per_shift=1)
    with pytest.raises(InvalidInput):
        await svc.update_team(await svc.roles.principal(MANAGER), "d1", operators=(11, 77))
    with pytest.raises(InvalidInput):  # duplicate code
        await svc.create_team(
            await svc.roles.principal(SUPER), "d1", "UTC", parse_patterns("3x8"), 1
        )
    with pytest.raises(NotFound):
        await svc.team("nope")
    assert (await svc.team("d1")).per_shift == 2  # refusals changed nothing


async def test_alert_steps_are_claimed_exactly_once_by_racing_sweepers(db: Database) -> None:
    repo_a, repo_b = MongoDutyRepository(db), MongoDutyRepository(db)
    policy = EscalationPolicy(5, 15)
    for i in range(5):
        await repo_a.add_alert(
            Alert(
                f"a{i}",
                f"t{i}",
                "T",
                AlertKind.TIP,
                "d1",
                None,
                None,
                None,
                T0,
                policy,
                due=T0 + timedelta(minutes=5),
                steps=(Step(Level.DUTY, T0, (1,)),),
            )
        )
    assert await repo_a.next_due() == T0 + timedelta(minutes=5)
    assert await repo_a.claim_step(T0 + timedelta(minutes=4)) is None

    async def drain(repo: MongoDutyRepository, now: datetime) -> list[tuple[str, Level]]:
        got = []
        while (c := await repo.claim_step(now)) is not None:
            got.append((c[0].id, c[1]))
        return got

    now = T0 + timedelta(minutes=6)
    a, b = await asyncio.gather(drain(repo_a, now), drain(repo_b, now))
    assert sorted(a + b) == [(f"a{i}", Level.BACKUP) for i in range(5)]
    # The next step is due 20 minutes after creation, once.
    later = T0 + timedelta(minutes=21)
    a, b = await asyncio.gather(drain(repo_a, later), drain(repo_b, later))
    assert sorted(a + b) == [(f"a{i}", Level.INVESTIGATORS) for i in range(5)]
    assert await drain(repo_a, T0 + timedelta(days=1)) == []
    # First acknowledgement wins.
    first, second = await asyncio.gather(
        repo_a.acknowledge("a0", 11, later), repo_b.acknowledge("a0", 12, later)
    )
    assert (first is None) != (second is None)
    stored = await repo_a.get_alert("a0")
    assert stored is not None and stored.state is AlertState.ACKNOWLEDGED
    assert stored.acked_by in (11, 12)
    await repo_a.add_card("a1", Card(5, 6))
    assert (await repo_a.get_alert("a1")).cards == (Card(5, 6),)  # type: ignore[union-attr]


async def test_routing_escalation_and_acknowledgement(db: Database) -> None:
    clock = ManualClock(T0)
    svc, tips = await make_service(db, clock)
    await make_team(svc)
    await db.notices.insert_one({"_id": "n1", "investigators": INVESTIGATORS})
    routing = await svc.route(tip())
    assert routing.recipients == (11, 12) and routing.team is not None
    again = await svc.route(tip())  # the same event delivered twice is routed once
    assert again.duplicate and again.recipients == () and again.alert.id == routing.alert.id
    assert routing.alert.due == T0 + timedelta(minutes=5)
    assert await svc.claim_escalations() == []
    # An off-duty operator of the team may not take it; an unrelated person neither.
    with pytest.raises(PermissionDenied):
        await svc.acknowledge(await svc.roles.principal(13), routing.alert.id)
    with pytest.raises(PermissionDenied):
        await svc.acknowledge(Principal(500), routing.alert.id)
    clock.advance(timedelta(minutes=5))
    (backup,) = await svc.claim_escalations()
    assert backup.level is Level.BACKUP and backup.recipients == (MANAGER,)
    assert await svc.claim_escalations() == []  # never twice
    clock.advance(timedelta(minutes=14, seconds=59))
    assert await svc.claim_escalations() == []
    clock.advance(timedelta(seconds=1))
    (inv,) = await svc.claim_escalations()
    assert inv.level is Level.INVESTIGATORS and inv.recipients == tuple(INVESTIGATORS)
    # An investigator asked by the escalation may take it; the first one wins.
    taken = await svc.acknowledge(await svc.roles.principal(31), routing.alert.id)
    assert taken.acked_by == 31 and tips.acked == [("t1", 31)]
    with pytest.raises(InvalidInput):
        await svc.acknowledge(await svc.roles.principal(11), routing.alert.id)
    stored = await svc.repo.get_alert(routing.alert.id)
    assert stored is not None and [s.level for s in stored.steps] == [0, 1, 2]
    with pytest.raises(NotFound):
        await svc.acknowledge(await svc.roles.principal(11), "forged")


async def test_no_team_or_nobody_on_duty_escalates_at_once_and_handled_tips_stop(
    db: Database,
) -> None:
    clock = ManualClock(T0)
    svc, tips = await make_service(db, clock)
    routing = await svc.route(TipRef("t9", "T-9", None, "landlords", None, T0))
    assert routing.team is None and routing.recipients == () and routing.alert.due == T0
    (due,) = await svc.claim_escalations()
    assert due.level is Level.BACKUP and due.recipients == (SUPER,)
    # Handled elsewhere before the next step: the alert is cancelled, nobody is bothered.
    tips.handled.add("t9")
    clock.advance(timedelta(minutes=30))
    assert await svc.claim_escalations() == []
    assert (await svc.repo.get_alert(routing.alert.id)).state is AlertState.CANCELLED  # type: ignore[union-attr]


async def test_assign_swap_and_unavailability(db: Database) -> None:
    clock = ManualClock(T0)
    svc, _ = await make_service(db, clock)
    team = await make_team(svc)
    manager = await svc.roles.principal(MANAGER)
    day1 = date(2026, 3, 3)
    assert (await svc.shift(team, day1, 0)).operators == (11, 12)
    with pytest.raises(InvalidInput):  # 13 is not on that shift
        await svc.assign(manager, team, day1, 0, 14, 99)
    with pytest.raises(PermissionDenied):
        await svc.assign(Principal(12), team, day1, 0, 14, 11)
    s = await svc.assign(manager, team, day1, 0, 14, 11)
    assert s.operators == (14, 12)
    # Swap: 12 gives day1's day shift to 13 and takes 13's night shift on 3 March.
    swap = await svc.request_swap(12, team, (day1, 0), 13, (date(2026, 3, 2), 1))
    with pytest.raises(PermissionDenied):
        await svc.answer_swap(14, swap.id, True)
    done = await svc.answer_swap(13, swap.id, True)
    assert done.state is SwapState.ACCEPTED
    assert (await svc.shift(team, day1, 0)).operators == (14, 13)
    assert 12 in (await svc.shift(team, date(2026, 3, 2), 1)).operators
    with pytest.raises(InvalidInput):
        await svc.answer_swap(13, swap.id, True)  # settled once
    # Unavailability: 11 away on 4 March; the schedule fills from the rotation.
    res = await svc.mark_unavailable(11, date(2026, 3, 4), date(2026, 3, 4))
    assert res.affected and all(11 not in s.operators for s in res.affected)
    assert all(s.gap == 0 for s in res.affected)
    with pytest.raises(InvalidInput):
        await svc.mark_unavailable(11, date(2026, 3, 5), date(2026, 3, 4))
    assert await svc.clear_unavailable(11) == 1


async def test_handover_coverage_and_sla(db: Database) -> None:
    clock = ManualClock(T0 - timedelta(hours=1))  # 08:00 Shanghai: the day shift starts
    svc, tips = await make_service(db, clock)
    await make_team(svc)
    tips.open = [OpenTip("t1", "T-1", "new", T0 - timedelta(hours=3))]
    (h,) = await svc.due_handovers()
    assert h.incoming.operators == (11, 12) and h.open_tips
    assert h.outgoing is not None and h.outgoing.operators == (13, 14)
    assert h.recipients == (13, 14, 11, 12)
    assert await svc.due_handovers() == []  # once per shift change
    # Coverage: make the team short-handed (one operator), warned once a day after 09:00.
    await svc.update_team(await svc.roles.principal(MANAGER), "d1", operators=(11,))
    assert await svc.due_coverage_warnings() == []  # 08:00: not yet
    clock.set(T0)
    (warn,) = await svc.due_coverage_warnings()
    assert warn.recipients == (MANAGER,) and len(warn.gaps) == 7  # the current one and the next 6
    assert await svc.due_coverage_warnings() == []
    # SLA from known data: three tips, acknowledged after 60 s, 240 s and 600 s; one not.
    await svc.update_team(await svc.roles.principal(MANAGER), "d1", operators=OPS)
    for i, wait in enumerate((60, 240, 600, None)):
        clock.set(T0 + timedelta(hours=i))
        r = await svc.route(tip(f"s{i}"))
        if wait is not None:
            clock.advance(timedelta(seconds=wait))
            await svc.acknowledge(await svc.roles.principal(11 if i < 2 else 12), r.alert.id)
    clock.set(T0 + timedelta(hours=11, minutes=1))  # the night shift starts with a gap
    await svc.update_team(await svc.roles.principal(MANAGER), "d1", operators=(11,))
    (h2,) = await svc.due_handovers()
    assert h2.incoming.gap == 1 and h2.outgoing is not None
    report = await svc.sla(await svc.roles.principal(MANAGER), 7)
    assert report.total.received == 4 and report.total.acknowledged == 3
    assert report.total.median_s == 240 and report.total.p90_s == 600
    assert report.total.within_first == pytest.approx(2 / 4)
    assert [(r.label, r.acknowledged) for r in report.operators] == [("11", 2), ("12", 1)]
    assert report.gap_shifts == {"d1": 1}
    with pytest.raises(InvalidInput):
        await svc.sla(await svc.roles.principal(MANAGER), 0)
    outsider = await svc.sla(Principal(5, (), False), 7)
    assert outsider.total.received == 0


async def test_tip_directory_reads_open_tips_only(db: Database) -> None:
    await db.tips.insert_many(
        [
            {"_id": "a", "code": "T-A", "intake_key": "ka", "status": "new", "sector": "drivers", "area": None,
             "created_at": T0},
            {"_id": "b", "code": "T-B", "intake_key": "kb", "status": "closed", "sector": "drivers", "area": None,
             "created_at": T0},
            {"_id": "c", "code": "T-C", "intake_key": "kc", "status": "acknowledged", "sector": "landlords",
             "area": None, "created_at": T0},
        ]
    )  # fmt: skip
    tips = MongoTipDirectory(db)
    assert [t.code for t in await tips.open_tips("drivers", None)] == ["T-A"]
    assert [t.code for t in await tips.open_tips(None, None)] == ["T-A", "T-C"]
    assert await tips.status("c") == "acknowledged" and await tips.status("zz") is None
    assert await MongoNoticeDirectory(db).investigators("none") == []
    assert UNRESTRICTED.covers(Scope("drivers"))


async def test_thread_message_reaches_the_owner_too(db: Database) -> None:
    clock = ManualClock(T0)
    svc, _ = await make_service(db, clock)
    await make_team(svc)
    first = await svc.route(tip("m1"))
    await svc.acknowledge(await svc.roles.principal(12), first.alert.id)
    clock.set(T0 + timedelta(hours=12))  # the night shift (13, 14) is on now
    msg = await svc.route(TipRef("m1", "T-m1", "n1", "drivers", "town-a", T0, AlertKind.MESSAGE))
    assert msg.recipients == (13, 14, 12)
    # The owner (off duty now) may acknowledge the message; another off-duty operator not.
    with pytest.raises(PermissionDenied):
        await svc.acknowledge(await svc.roles.principal(11), msg.alert.id)
    taken = await svc.acknowledge(await svc.roles.principal(12), msg.alert.id)
    assert taken.acked_by == 12


async def test_shift_reminders_fire_once_within_the_lead_time(db: Database) -> None:
    clock = ManualClock(T0 + timedelta(hours=10, minutes=29))  # 19:29: night starts at 20:00
    svc, _ = await make_service(db, clock)
    await make_team(svc)
    assert await svc.due_reminders() == []
    clock.advance(timedelta(minutes=1))
    ((team, shift),) = await svc.due_reminders()
    assert team.code == "d1" and shift.operators == (13, 14) and shift.label == "20:00-08:00"
    clock.advance(timedelta(minutes=10))
    assert await svc.due_reminders() == []  # never twice


async def test_next_shift_changes_for_early_wake_ups(db: Database) -> None:
    clock = ManualClock(T0)  # 09:00 Shanghai
    svc, _ = await make_service(db, clock)
    await make_team(svc)
    night = T0 + timedelta(hours=11)
    assert await svc.next_changes() == [night - timedelta(minutes=30), night]
