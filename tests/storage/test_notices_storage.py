"""Notices and deliveries against the real database; the engine with a scripted messenger."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from broadcasts.delivery import (
    ChatGone,
    CountsFn,
    DeliveryEngine,
    Migrated,
    Outcome,
    Rejected,
    Sent,
    Step,
    Transient,
)
from broadcasts.model import (
    Delivery,
    DeliveryCounts,
    DeliveryState,
    Draft,
    Notice,
    NoticeKind,
    NoticeStatus,
    Photo,
    Reward,
    Urgency,
)
from broadcasts.ports import Target
from broadcasts.service import NoticeService
from groups.model import Area, Audience, GeoPoint, Group, GroupStatus
from groups.roles import Principal, Role, RoleGrant, Scope
from kernel.clock import ManualClock
from kernel.errors import InvalidInput, NotFound, PermissionDenied
from storage.audit import MongoAuditLog
from storage.client import Database
from storage.groups import MongoAreaRepository, MongoGroupRepository
from storage.notices import (
    MongoDeliveryRepository,
    MongoDraftRepository,
    MongoNoticeRepository,
    MongoRecurrenceRepository,
)
from tests.flaky import FlakyDeliveries

T0 = datetime(2026, 11, 5, 8, 0, tzinfo=UTC)
BOSS = Principal(1001, is_superadmin=True)
INV = Principal(5, (RoleGrant(5, Role.INVESTIGATOR, Scope("drivers")),))


class Script:
    """A messenger that records every message a chat got and answers as told."""

    def __init__(self) -> None:
        self.got: Counter[tuple[int, str]] = Counter()
        self.answers: dict[int, list[Outcome]] = {}
        self.uploads = 0
        self.next_id = 100
        self.crash_on: tuple[int, Step] | None = None
        self.edits: Counter[int] = Counter()
        self.sync_answers: dict[int, list[Outcome]] = {}
        self.shown: dict[int, Notice] = {}  # the notice as each chat's last step showed it

    async def send_step(
        self, notice: Notice, chat_id: int, step: Step, shown: tuple[int, ...]
    ) -> Outcome:
        queued = self.answers.get(chat_id)
        if queued:
            return queued.pop(0)
        if self.crash_on == (chat_id, step):
            raise asyncio.CancelledError  # the process dies mid-request
        self.got[(chat_id, step.value)] += 1
        self.shown[chat_id] = notice
        n = len(notice.photos) if step is Step.ALBUM else 1
        self.uploads += (
            sum(1 for p in notice.photos if p.file_id is None)
            if step
            in (
                Step.ALBUM,
                Step.PHOTO,
            )
            else 0
        )
        ids = tuple(range(self.next_id, self.next_id + n))
        self.next_id += n
        fids = (
            tuple(f"file{i}" for i in range(len(notice.photos)))
            if step in (Step.ALBUM, Step.PHOTO)
            else ()
        )
        return Sent(ids if step is not Step.PIN else (), fids)

    async def sync_copy(self, notice: Notice, delivery: Delivery) -> Outcome:
        queued = self.sync_answers.get(delivery.chat_id)
        if queued:
            return queued.pop(0)
        self.edits[delivery.chat_id] += 1
        self.shown[delivery.chat_id] = notice
        return Sent(())


class Progress:
    def __init__(self) -> None:
        self.updates = 0
        self.final: tuple[DeliveryCounts, list[Delivery]] | None = None

    async def progress(self, notice: Notice, counts: CountsFn) -> None:
        self.updates += 1
        assert (await counts()).total > 0

    async def finished(
        self, notice: Notice, counts: DeliveryCounts, failures: list[Delivery]
    ) -> None:
        self.final = (counts, failures)


async def setup(db: Database, n_groups: int = 6):
    clock = ManualClock(T0)
    notices, deliveries = MongoNoticeRepository(db), MongoDeliveryRepository(db)
    groups, areas = MongoGroupRepository(db), MongoAreaRepository(db)
    await areas.save(Area("town-a", "Town A", center=GeoPoint(30.0, 120.0)))
    await areas.save(Area("town-b", "Town B", center=GeoPoint(31.0, 121.0)))
    for i in range(1, n_groups + 1):
        await groups.save(
            Group(
                -i, f"g{i}", "drivers" if i % 2 else "landlords", "town-a" if i <= 4 else "town-b"
            )
        )
    svc = NoticeService(
        notices,
        deliveries,
        groups,
        MongoRecurrenceRepository(db),
        MongoAuditLog(db),
        clock,
        lambda n: f"{n.ref} {n.title}\n{n.body}",
    )
    return clock, notices, deliveries, groups, svc


def engine(
    db: Database,
    svc: NoticeService,
    clock: ManualClock,
    messenger: Script,
    progress: Progress,
    worker: str = "w1",
    *,
    deliveries: MongoDeliveryRepository | None = None,
    retries: list[tuple[str, float]] | None = None,
) -> DeliveryEngine:
    async def no_sleep(_: float) -> None:
        return None

    def retry(notice_id: str, seconds: float) -> None:
        if retries is not None:
            retries.append((notice_id, seconds))

    return DeliveryEngine(
        MongoNoticeRepository(db),
        deliveries or MongoDeliveryRepository(db),
        MongoGroupRepository(db),
        messenger,
        progress,
        clock,
        worker,
        svc.plan_targets,
        concurrency=3,
        stale_s=60,
        backoff_s=0,
        sleep=no_sleep,
        retry=retry,
    )


def draft(**kw: object) -> Draft:
    base = dict(
        user_id=5,
        kind=NoticeKind.WANTED_PERSON,
        title="寻找嫌疑人",
        body="身高175，黑色外套",
        photos=(Photo(source="a.jpg"), Photo(source="b.jpg"), Photo(source="c.jpg")),
        audience=Audience(sectors=("drivers", "landlords")),
        expires_at=T0 + timedelta(days=7),
        reward=Reward(Decimal("5000"), "提供关键线索"),
    )
    base.update(kw)
    return Draft(**base)  # type: ignore[arg-type]


async def test_refs_are_sequential_per_month(db: Database) -> None:
    repo = MongoNoticeRepository(db)
    assert await repo.next_ref(T0) == "N-2611-01"
    assert await repo.next_ref(T0) == "N-2611-02"
    assert await repo.next_ref(T0 + timedelta(days=30)) == "N-2612-01"


async def test_submit_validates_scopes_and_delivers_everyone_once(db: Database) -> None:
    clock, notices, deliveries, _groups, svc = await setup(db)
    with pytest.raises(PermissionDenied):
        await svc.submit(Principal(9), draft())
    with pytest.raises(InvalidInput):
        await svc.submit(INV, draft(audience=Audience()))
    with pytest.raises(InvalidInput):
        await svc.submit(INV, draft(expires_at=T0 - timedelta(minutes=1)))
    with pytest.raises(InvalidInput):
        await svc.submit(INV, draft(photos=()))
    assert await notices.list_for(None) == []  # refusals stored nothing

    # A drivers-only investigator reaches drivers groups only, whatever the audience says.
    n = await svc.submit(INV, draft())
    assert n.status is NoticeStatus.SENDING and n.ref == "N-2611-01"
    script, progress = Script(), Progress()
    await engine(db, svc, clock, script, progress).run(n.notice_id)
    assert set(script.got) == {(c, s) for c in (-1, -3, -5) for s in ("album", "buttons")}
    assert max(script.got.values()) == 1
    assert script.uploads == 3  # three photos, uploaded once each, then by file id
    stored = await notices.get(n.notice_id)
    assert stored is not None and stored.status is NoticeStatus.ACTIVE
    assert all(p.file_id for p in stored.photos)
    assert progress.final is not None and progress.final[0] == DeliveryCounts(sent=3)
    for d in await deliveries.list(n.notice_id):
        assert d.state is DeliveryState.SENT and len(d.message_ids) == 4
        assert await deliveries.notice_for_message(d.chat_id, d.message_ids[-1]) == n.notice_id
    doc = await db.notices.find_one({"_id": n.notice_id})
    assert doc is not None and doc["reward"] == {
        "amount": "5000",
        "currency": "CNY",
        "terms": "提供关键线索",
    }
    assert doc["investigators"] == [5]


async def test_migration_removed_bot_rejection_and_transient(db: Database) -> None:
    clock, _notices, deliveries, groups, svc = await setup(db)
    n = await svc.submit(
        BOSS, draft(photos=(Photo("known"),), audience=Audience(areas=("town-a",)))
    )
    script, progress = Script(), Progress()
    script.answers = {
        -1: [Migrated(-1001)],
        -2: [ChatGone("bot_removed")],
        -3: [Transient("network"), Transient("network")],
        -4: [Rejected("no_rights")],
    }
    await engine(db, svc, clock, script, progress).run(n.notice_id)
    by_chat = {d.chat_id: d for d in await deliveries.list(n.notice_id)}
    assert by_chat[-1001].state is DeliveryState.SENT and script.got[(-1001, "photo")] == 1
    assert (await groups.get(-1)).status is GroupStatus.MIGRATED  # type: ignore[union-attr]
    assert (await groups.get(-1001)).status is GroupStatus.ACTIVE  # type: ignore[union-attr]
    assert by_chat[-2].state is DeliveryState.FAILED and by_chat[-2].reason == "bot_removed"
    assert (await groups.get(-2)).status is GroupStatus.BOT_REMOVED  # type: ignore[union-attr]
    assert by_chat[-3].state is DeliveryState.SENT
    assert by_chat[-4].state is DeliveryState.FAILED and by_chat[-4].reason == "no_rights"
    assert (await groups.get(-4)).status is GroupStatus.ACTIVE  # type: ignore[union-attr]
    assert progress.final is not None
    assert {d.chat_id for d in progress.final[1]} == {-2, -4}


async def test_crash_mid_delivery_resumes_without_duplicate_or_gap(db: Database) -> None:
    clock, notices, deliveries, _groups, svc = await setup(db)
    n = await svc.submit(BOSS, draft())
    script, progress = Script(), Progress()
    script.crash_on = (-4, Step.BUTTONS)  # album delivered to -4, then the process dies
    with pytest.raises(asyncio.CancelledError):
        await engine(db, svc, clock, script, progress, "old").run(n.notice_id)
    before = dict(script.got)
    stuck = [d for d in await deliveries.list(n.notice_id) if d.state is DeliveryState.SENDING]
    assert stuck and all(d.chat_id != -4 or d.step == 1 for d in stuck)
    script.crash_on = None
    fresh = engine(db, svc, clock, script, progress, "new")
    await fresh.run(n.notice_id)  # claims of the dead worker are not stale yet
    assert any(d.state is DeliveryState.SENDING for d in await deliveries.list(n.notice_id))
    clock.advance(61)
    await fresh.run(n.notice_id)
    assert script.got[(-4, "album")] == 1 and script.got[(-4, "buttons")] == 1
    assert set(k[0] for k in script.got) == {-1, -2, -3, -4, -5, -6}
    assert max(script.got.values()) == 1, {k: v for k, v in script.got.items() if v > 1}
    assert before.items() <= script.got.items()
    assert (await notices.get(n.notice_id)).status is NoticeStatus.ACTIVE  # type: ignore[union-attr]
    d4 = next(d for d in await deliveries.list(n.notice_id) if d.chat_id == -4)
    assert len(d4.message_ids) == 4


async def test_update_close_and_expiry_propagate(db: Database) -> None:
    clock, notices, deliveries, _groups, svc = await setup(db)
    n = await svc.submit(BOSS, draft(urgency=Urgency.URGENT, pin=True))
    script, progress = Script(), Progress()
    eng = engine(db, svc, clock, script, progress)
    await eng.run(n.notice_id)
    assert script.got[(-1, "pin")] == 1
    with pytest.raises(PermissionDenied):
        await svc.update(INV, n.ref, body="x")
    with pytest.raises(NotFound):
        await svc.update(BOSS, "N-9999-01", body="x")
    updated = await svc.update(BOSS, n.ref.lower(), body="新的描述")
    assert updated.revision == 1 and updated.body == "新的描述"
    assert n.notice_id in await notices.with_work()
    await eng.run(n.notice_id)
    assert set(script.edits.values()) == {1} and len(script.edits) == 6
    assert n.notice_id not in await notices.with_work()
    closed = await svc.close(BOSS, n.ref, NoticeStatus.SOLVED)
    assert closed.status is NoticeStatus.SOLVED and closed.revision == 2
    with pytest.raises(InvalidInput):
        await svc.close(BOSS, n.ref, NoticeStatus.WITHDRAWN)
    with pytest.raises(InvalidInput):
        await svc.update(BOSS, n.ref, body="again")
    await eng.sync(n.notice_id)
    assert set(script.edits.values()) == {2}
    # Expiry closes open notices on its own.
    m = await svc.submit(BOSS, draft(photos=(Photo("x"),), expires_at=T0 + timedelta(hours=1)))
    clock.advance(timedelta(hours=2))
    assert [e.ref for e in await svc.expire_due()] == [m.ref]
    assert (await notices.get(m.notice_id)).status is NoticeStatus.EXPIRED  # type: ignore[union-attr]
    counts = await deliveries.counts(m.notice_id)
    assert counts.sent == 0  # never planned: nothing goes out for an expired notice


async def test_schedule_and_recurrence(db: Database) -> None:
    clock, _notices, _deliveries, _groups, svc = await setup(db)
    with pytest.raises(InvalidInput):
        await svc.submit(BOSS, draft(), send_at=T0 - timedelta(hours=1))
    s = await svc.submit(BOSS, draft(), send_at=T0 + timedelta(hours=2))
    assert s.status is NoticeStatus.SCHEDULED
    assert await svc.dispatch_due() == []
    clock.advance(timedelta(hours=2))
    assert [n.ref for n in await svc.dispatch_due()] == [s.ref]
    assert await svc.dispatch_due() == []  # claimed once
    pub = await svc.submit(
        BOSS, draft(kind=NoticeKind.PUBLICITY, photos=(), title="防诈骗提示", body="不要转账")
    )
    with pytest.raises(InvalidInput):
        await svc.repeat(BOSS, s.ref, 7)  # only publicity recurs
    rec = await svc.repeat(BOSS, pub.ref, 7)
    assert rec is not None and rec.next_at == clock.now() + timedelta(days=7)
    clock.advance(timedelta(days=7, minutes=1))
    again = await svc.recur_due()
    assert len(again) == 1 and again[0].ref != pub.ref and again[0].title == "防诈骗提示"
    assert await svc.recur_due() == []
    await svc.repeat(BOSS, pub.ref, None)
    clock.advance(timedelta(days=8))
    assert await svc.recur_due() == []


async def test_drafts_take_album_photos_atomically(db: Database) -> None:
    drafts = MongoDraftRepository(db)
    await drafts.save(Draft(5, kind=NoticeKind.WANTED_PERSON, step="photos"))
    counts = await asyncio.gather(*(drafts.add_photo(5, Photo(f"f{i}"), i, 10) for i in range(12)))
    assert sorted(c for c in counts if c is not None) == list(range(1, 11))
    got = await drafts.get(5)
    assert got is not None and len(got.photos) == 10
    assert [p.file_id for p in got.photos] == sorted(
        (p.file_id for p in got.photos), key=lambda f: int(f[1:])
    )  # type: ignore[arg-type,index]
    assert await drafts.first_of_album(5, "g1") and not await drafts.first_of_album(5, "g1")
    await drafts.save(got.__class__(5, title="x", photos=()))
    assert (await drafts.get(5)).photos == ()  # type: ignore[union-attr]


async def test_migration_into_a_group_that_was_targeted_too_sends_once(db: Database) -> None:
    clock, _notices, deliveries, groups, svc = await setup(db)
    n = await svc.submit(BOSS, draft(photos=(Photo("known"),)))
    script, progress = Script(), Progress()
    script.answers = {-1: [Migrated(-5)]}  # g1 became the supergroup -5, also a target
    await engine(db, svc, clock, script, progress).run(n.notice_id)
    assert script.got[(-5, "photo")] == 1  # once, by its own delivery
    by_chat = {d.chat_id: d for d in await deliveries.list(n.notice_id)}
    assert by_chat[-1].state is DeliveryState.FAILED and by_chat[-1].reason == "migrated_duplicate"
    assert by_chat[-5].state is DeliveryState.SENT
    assert (await groups.get(-1)).status is GroupStatus.MIGRATED  # type: ignore[union-attr]
    assert progress.final is not None and [d.chat_id for d in progress.final[1]] == [-1]


async def test_closed_while_sending_stops_the_rest_and_reports_once(db: Database) -> None:
    clock, notices, deliveries, _groups, svc = await setup(db)
    n = await svc.submit(BOSS, draft(photos=(Photo("known"),)))

    class ClosingScript(Script):
        async def send_step(
            self, notice: Notice, chat_id: int, step: Step, shown: tuple[int, ...]
        ) -> Outcome:
            if chat_id == -2:
                await svc.close(BOSS, notice.ref, NoticeStatus.WITHDRAWN)
            return await super().send_step(notice, chat_id, step, shown)

    script, progress = ClosingScript(), Progress()
    finals: list[Notice] = []
    original = progress.finished

    async def finished(notice: Notice, counts: DeliveryCounts, failures: list[Delivery]) -> None:
        finals.append(notice)
        await original(notice, counts, failures)

    progress.finished = finished  # type: ignore[method-assign]
    eng = engine(db, svc, clock, script, progress)
    await eng.run(n.notice_id)
    counts = await deliveries.counts(n.notice_id)
    sent_to = {c for c, _ in script.got}
    assert counts.done and counts.sent == len(sent_to) < 6  # the groups not reached got nothing
    assert counts.failed == 6 - len(sent_to)
    assert [f.status for f in finals] == [NoticeStatus.WITHDRAWN]
    assert progress.final is not None and progress.final[1] == []  # "closed" is no failure
    stored = await notices.get(n.notice_id)
    assert stored is not None and stored.sent_at is not None
    await eng.run(n.notice_id)  # a resumed run (or another worker) does not report again
    assert len(finals) == 1


# -- claims are leases -----------------------------------------------------------------------
async def test_own_stale_claim_is_reclaimed_and_a_fresh_one_is_not(db: Database) -> None:
    _clock, _notices, deliveries, _groups, svc = await setup(db)
    n = await svc.submit(BOSS, draft(photos=(Photo("known"),)))
    await deliveries.plan(n, [Target(-1, "g1")])
    nid, stale = n.notice_id, timedelta(seconds=60)

    async def claim(worker: str, at: datetime) -> Delivery | None:
        return await deliveries.claim(nid, worker, at, at - stale)

    first = await claim("w1", T0)
    assert first is not None and first.state is DeliveryState.SENDING and first.lease
    # A fresh claim is nobody's to take, its holder's included.
    assert await claim("w1", T0 + timedelta(seconds=30)) is None
    assert await claim("w2", T0 + timedelta(seconds=30)) is None
    # The holder keeps it fresh ...
    assert await deliveries.step_started(nid, -1, first.lease, 0, T0 + timedelta(seconds=40))
    assert await claim("w1", T0 + timedelta(seconds=61)) is None
    # ... and once it has lapsed, the same worker id takes it over, under a new lease.
    again = await claim("w1", T0 + timedelta(seconds=101))
    assert again is not None and again.chat_id == -1 and again.attempts == 2
    assert again.lease and again.lease != first.lease
    # The old holder's writes are refused from then on; the new holder's go through, and
    # writing the same step twice (a retry after a lost reply) changes nothing.
    later = T0 + timedelta(seconds=102)
    assert not await deliveries.step_started(nid, -1, first.lease, 0, later)
    assert not await deliveries.step_done(nid, -1, first.lease, 0, [7], later)
    assert not await deliveries.finish(nid, -1, DeliveryState.SENT, later, lease=first.lease)
    assert await deliveries.step_done(nid, -1, again.lease, 0, [8], later)
    assert await deliveries.step_done(nid, -1, again.lease, 0, [8], later)
    assert await deliveries.finish(nid, -1, DeliveryState.SENT, later, lease=again.lease)
    (d,) = await deliveries.list(nid)
    assert (d.state, d.step, d.message_ids) == (DeliveryState.SENT, 1, (8,))
    assert await claim("w1", T0 + timedelta(days=1)) is None  # finished: nothing to take


async def test_database_error_once_mid_delivery_still_delivers_everyone_once(
    db: Database,
) -> None:
    clock, notices, deliveries, _groups, svc = await setup(db)
    n = await svc.submit(BOSS, draft())
    flaky = FlakyDeliveries(db)
    flaky.fail("step_done", -3)  # the album went out to -3; recording it fails once
    flaky.fail("claim")  # and one claim fails
    script, progress, retries = Script(), Progress(), []
    await engine(db, svc, clock, script, progress, deliveries=flaky, retries=retries).run(
        n.notice_id
    )
    assert flaky.failed == {("step_done", -3): 1, ("claim", None): 1}
    assert set(script.got) == {(c, s) for c in range(-6, 0) for s in ("album", "buttons")}
    assert max(script.got.values()) == 1  # the write was tried again, not the send
    stored = await notices.get(n.notice_id)
    assert stored is not None and stored.status is NoticeStatus.ACTIVE
    assert all(
        d.state is DeliveryState.SENT and len(d.message_ids) == 4
        for d in await deliveries.list(n.notice_id)
    )
    assert progress.final is not None and progress.final[0] == DeliveryCounts(sent=6)
    assert retries == []  # nothing left over


async def test_delivery_left_claimed_by_a_database_error_is_taken_over_by_its_own_worker(
    db: Database,
) -> None:
    clock, notices, deliveries, _groups, svc = await setup(db)
    n = await svc.submit(BOSS, draft())
    flaky = FlakyDeliveries(db)
    # -3's album is recorded, then the database stays away longer than the engine tries the
    # last write (the button message's record, with the finish) again in place: -3 is left
    # claimed by this very worker.
    flaky.fail("finish", -3, times=6)
    script, progress, retries = Script(), Progress(), []
    eng = engine(db, svc, clock, script, progress, deliveries=flaky, retries=retries)
    await eng.run(n.notice_id)  # the other groups are not held up by it
    assert flaky.failed == {("finish", -3): 6}
    by_chat = {d.chat_id: d for d in await deliveries.list(n.notice_id)}
    assert by_chat.pop(-3).state is DeliveryState.SENDING
    assert all(d.state is DeliveryState.SENT for d in by_chat.values())
    assert (await notices.get(n.notice_id)).status is NoticeStatus.SENDING  # type: ignore[union-attr]
    assert progress.final is None
    # The run asked to be run again once the claim has lapsed.
    assert retries == [(n.notice_id, 61.0)]
    await eng.run(n.notice_id)  # too early: the claim is still fresh
    assert (await deliveries.counts(n.notice_id)).sending == 1
    assert len(retries) == 2
    clock.advance(61)
    await eng.run(n.notice_id)  # the same worker id takes its own lapsed claim over
    assert (await notices.get(n.notice_id)).status is NoticeStatus.ACTIVE  # type: ignore[union-attr]
    assert all(d.state is DeliveryState.SENT for d in await deliveries.list(n.notice_id))
    assert set(script.got) == {(c, s) for c in range(-6, 0) for s in ("album", "buttons")}
    # The one step whose record never reached the database goes out again (the documented
    # at-least-once window); the recorded album does not.
    assert script.got.pop((-3, "buttons")) == 2
    assert max(script.got.values()) == 1
    assert progress.final is not None and progress.final[0] == DeliveryCounts(sent=6)
    assert len(retries) == 2


# -- groups that became supergroups after they got the notice ----------------------------------
async def test_group_migrated_after_delivery_gets_a_fresh_copy_then_edits(db: Database) -> None:
    clock, _notices, deliveries, groups, svc = await setup(db)
    n = await svc.submit(BOSS, draft(urgency=Urgency.URGENT, pin=True))
    script, progress = Script(), Progress()
    eng = engine(db, svc, clock, script, progress)
    await eng.run(n.notice_id)
    old_ids = next(d for d in await deliveries.list(n.notice_id) if d.chat_id == -1).message_ids
    # -1 became the supergroup -1001 since: editing its copy says so.
    script.sync_answers = {-1: [Migrated(-1001)]}
    await svc.update(BOSS, n.ref, body="新的描述")
    await eng.run(n.notice_id)
    assert (await groups.get(-1)).status is GroupStatus.MIGRATED  # type: ignore[union-attr]
    assert (await groups.get(-1001)).status is GroupStatus.ACTIVE  # type: ignore[union-attr]
    by_chat = {d.chat_id: d for d in await deliveries.list(n.notice_id)}
    assert -1 not in by_chat
    moved = by_chat[-1001]
    # A fresh copy of the notice as it now is, pinned like the first one, recorded.
    assert [script.got[(-1001, s)] for s in ("album", "buttons", "pin")] == [1, 1, 1]
    assert script.shown[-1001].body == "新的描述"
    assert moved.state is DeliveryState.SENT and moved.shown_revision == 1
    assert len(moved.message_ids) == 4 and not set(moved.message_ids) & set(old_ids)
    assert moved.pinned_id == moved.message_ids[0]
    doc = await db.deliveries.find_one({"chat_id": -1001})
    assert doc is not None and doc["migrated_from"] == -1
    assert doc["migrated_message_ids"] == list(old_ids)
    assert script.edits[-1001] == 0 and all(script.edits[c] == 1 for c in range(-6, -1))
    assert n.notice_id not in await _notices.with_work()
    # Closing edits the fresh copy (and no other message goes to the supergroup).
    await svc.close(BOSS, n.ref, NoticeStatus.SOLVED)
    await eng.run(n.notice_id)
    assert script.edits[-1001] == 1 and script.shown[-1001].status is NoticeStatus.SOLVED
    assert [script.got[(-1001, s)] for s in ("album", "buttons", "pin")] == [1, 1, 1]
    assert all(d.shown_revision == 2 for d in await deliveries.list(n.notice_id))


async def test_group_migrated_found_when_closing_gets_the_closed_version(db: Database) -> None:
    clock, _notices, deliveries, _groups, svc = await setup(db)
    n = await svc.submit(BOSS, draft(urgency=Urgency.URGENT, pin=True))
    script, progress = Script(), Progress()
    eng = engine(db, svc, clock, script, progress)
    await eng.run(n.notice_id)
    script.sync_answers = {-2: [Migrated(-1002)]}
    await svc.close(BOSS, n.ref, NoticeStatus.WITHDRAWN)
    await eng.run(n.notice_id)
    # The closed version, not pinned (the other copies are unpinned on closing).
    assert [script.got[(-1002, s)] for s in ("album", "buttons", "pin")] == [1, 1, 0]
    assert script.shown[-1002].status is NoticeStatus.WITHDRAWN
    moved = next(d for d in await deliveries.list(n.notice_id) if d.chat_id == -1002)
    assert moved.state is DeliveryState.SENT and moved.pinned_id is None
    assert moved.shown_revision == 1


async def test_fresh_copy_interrupted_by_a_crash_is_finished_once(db: Database) -> None:
    clock, notices, deliveries, _groups, svc = await setup(db, n_groups=1)
    n = await svc.submit(BOSS, draft())
    script, progress = Script(), Progress()
    await engine(db, svc, clock, script, progress, "old").run(n.notice_id)
    script.sync_answers = {-1: [Migrated(-1001)]}
    script.crash_on = (-1001, Step.BUTTONS)  # the album reached the supergroup, then death
    await svc.update(BOSS, n.ref, body="新的描述")
    with pytest.raises(asyncio.CancelledError):
        await engine(db, svc, clock, script, progress, "old").run(n.notice_id)
    (d,) = await deliveries.list(n.notice_id)
    assert (d.chat_id, d.state, d.step) == (-1001, DeliveryState.SENDING, 1)
    assert n.notice_id in await notices.with_work()  # the notice still has work
    script.crash_on = None
    fresh = engine(db, svc, clock, script, progress, "new")
    await fresh.run(n.notice_id)  # the dead worker's claim has not lapsed yet
    assert script.got[(-1001, "buttons")] == 0
    clock.advance(61)
    await fresh.run(n.notice_id)
    assert script.got[(-1001, "album")] == 1 and script.got[(-1001, "buttons")] == 1
    (d,) = await deliveries.list(n.notice_id)
    assert d.state is DeliveryState.SENT and len(d.message_ids) == 4 and d.shown_revision == 1
    # Resumed after its album, the copy is edited once to be sure it shows the revision.
    assert script.edits[-1001] == 1
    assert n.notice_id not in await notices.with_work()


async def test_closed_notice_never_reaches_groups_planned_but_not_reached(db: Database) -> None:
    clock, notices, deliveries, _groups, svc = await setup(db)
    n = await svc.submit(BOSS, draft(photos=(Photo("known"),)))
    await svc.close(BOSS, n.ref, NoticeStatus.WITHDRAWN)
    # A run that planned just as the notice was closed, and died.
    await deliveries.plan(n, [Target(-1, "g1"), Target(-2, "g2")])
    script, progress = Script(), Progress()
    await engine(db, svc, clock, script, progress).run(n.notice_id)
    assert script.got == Counter()
    assert await deliveries.counts(n.notice_id) == DeliveryCounts(failed=2)
    assert {d.reason for d in await deliveries.failures(n.notice_id)} == {"closed"}
    assert n.notice_id not in await notices.with_work()


async def test_plan_writes_in_chunks_and_is_idempotent(db: Database) -> None:
    from broadcasts.ports import Target

    _clock, _notices, deliveries, _groups, svc = await setup(db, n_groups=1)
    n = await svc.submit(BOSS, draft())
    deliveries.PLAN_CHUNK = 2
    targets = [Target(-i, f"g{i}") for i in range(101, 106)]
    assert await deliveries.plan(n, targets[:3]) == 3
    # Planned again after a crash, with more targets: only the new ones are added.
    assert await deliveries.plan(n, targets) == 2
    assert await db.deliveries.count_documents({"notice_id": n.notice_id}) == 5
    assert (await deliveries.counts(n.notice_id)).remaining == 5


class HoldFirstButtons(Script):
    """Holds the first group's button message until another group got its album: a fan-out
    that waited for the first group to finish would never release it (then it times out)."""

    def __init__(self) -> None:
        super().__init__()
        self.order: list[tuple[int, str]] = []
        self.other_album = asyncio.Event()
        self.first: int | None = None
        self.timed_out = False

    async def send_step(
        self, notice: Notice, chat_id: int, step: Step, shown: tuple[int, ...]
    ) -> Outcome:
        if self.first is None:
            self.first = chat_id
        if step is Step.BUTTONS and chat_id == self.first:
            try:
                await asyncio.wait_for(self.other_album.wait(), 5)
            except TimeoutError:
                self.timed_out = True
        outcome = await super().send_step(notice, chat_id, step, shown)
        self.order.append((chat_id, step.value))
        if step is Step.ALBUM and chat_id != self.first:
            self.other_album.set()
        return outcome


async def test_fan_out_starts_as_soon_as_the_photos_have_file_ids(db: Database) -> None:
    clock, _notices, deliveries, _groups, svc = await setup(db)
    n = await svc.submit(BOSS, draft())  # three photos, none uploaded yet
    script, progress = HoldFirstButtons(), Progress()
    await engine(db, svc, clock, script, progress).run(n.notice_id)
    assert not script.timed_out
    first = script.order[0]
    assert first[1] == "album" and script.uploads == 3  # uploaded once, by the first group
    assert script.order.index((first[0], "buttons")) > 1  # others went on meanwhile
    assert set(script.got) == {(c, s) for c in range(-6, 0) for s in ("album", "buttons")}
    assert max(script.got.values()) == 1
    assert progress.final is not None and progress.final[0] == DeliveryCounts(sent=6)
    stored = await deliveries.list(n.notice_id)
    assert all(d.state is DeliveryState.SENT and len(d.message_ids) == 4 for d in stored)
    assert all(d.step == 2 for d in stored)  # the last step recorded with the finish
