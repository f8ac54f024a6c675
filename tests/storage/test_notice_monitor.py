"""The console's delivery monitor and retry against the real database: counts, pages of a
notice's groups in plan order, retry of failed groups, and every query on an index (the
plans SecantusDB's ``explain`` returns)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from pymongo import AsyncMongoClient, monitoring

from broadcasts.delivery import ChatGone, Migrated, Rejected
from broadcasts.model import DeliveryCounts, DeliveryState, NoticeStatus, Photo
from broadcasts.monitor import NoticeMonitor, Progress
from broadcasts.ports import Target
from groups.model import Audience, Group
from groups.roles import Principal, Role, RoleGrant, Scope
from kernel.errors import InvalidInput, PermissionDenied
from storage.audit import MongoAuditLog
from storage.client import Database, Document
from storage.embedded import EmbeddedMongo
from storage.groups import MongoGroupRepository
from storage.notices import MongoDeliveryRepository, MongoNoticeRepository
from storage.schema import ensure_schema
from storage.tips import MongoTipRepository
from tests.storage.test_notices_storage import (
    BOSS,
    INV,
    T0,
    Script,
    draft,
    engine,
    setup,
)
from tests.storage.test_notices_storage import (
    Progress as Reports,
)
from tips.model import TipStatus, Visibility

OTHER = Principal(6, (RoleGrant(6, Role.INVESTIGATOR, Scope()),))


def monitor_for(db: Database, svc: Any, page_size: int = 50) -> NoticeMonitor:
    return NoticeMonitor(
        svc,
        MongoNoticeRepository(db),
        MongoDeliveryRepository(db),
        MongoGroupRepository(db),
        page_size=page_size,
    )


async def test_monitor_counts_states_reasons_and_migrations_of_a_delivery(db: Database) -> None:
    clock, notices, _deliveries, _groups, svc = await setup(db)
    n = await svc.submit(INV, draft(photos=(Photo("known"),), audience=Audience(("drivers",))))
    script = Script()
    script.answers = {
        -1: [Migrated(-1001)],
        -3: [ChatGone("bot_removed")],
        -5: [Rejected("no_rights")],
    }
    await engine(db, svc, clock, script, Reports()).run(n.notice_id)
    notice = await notices.get(n.notice_id)
    assert notice is not None and notice.groups == 3 and notice.status is NoticeStatus.ACTIVE
    monitor = monitor_for(db, svc)
    progress = await monitor.overview(notice)
    assert progress == Progress(DeliveryCounts(sent=1, failed=2), migrated=1, retryable=2)
    assert progress.percent == 100
    page = await monitor.rows(notice)
    # In plan order (the registry's targets: by chat id).
    assert [(r.delivery.chat_id, r.delivery.state, r.delivery.reason) for r in page.rows] == [
        (-5, DeliveryState.FAILED, "no_rights"),
        (-3, DeliveryState.FAILED, "bot_removed"),
        (-1001, DeliveryState.SENT, None),
    ]
    moved = page.rows[2]
    assert moved.delivery.migrated_from == -1 and moved.group is not None
    assert (moved.group.sector, moved.group.area) == ("drivers", "town-a")
    assert (page.page, page.pages, page.prev_before, page.next_after) == (0, 1, None, None)
    failed = await monitor.rows(notice, "failed")
    assert [r.delivery.chat_id for r in failed.rows] == [-5, -3]
    migrated = await monitor.rows(notice, "migrated")
    assert [r.delivery.chat_id for r in migrated.rows] == [-1001]
    # The list shows it with the same counts ("reach").
    listing = await monitor.notices(INV)
    assert [(x.ref, p.counts) for x, p in listing.items] == [(n.ref, progress.counts)]
    assert (await monitor.notices(OTHER)).items == ()  # not theirs


async def test_retry_sends_failed_groups_again_and_is_audited(db: Database) -> None:
    clock, notices, deliveries, _groups, svc = await setup(db)
    n = await svc.submit(INV, draft(photos=(Photo("known"),), audience=Audience(("drivers",))))
    script = Script()
    script.answers = {-3: [Rejected("no_rights")], -5: [Rejected("no_rights")]}
    eng = engine(db, svc, clock, script, Reports())
    await eng.run(n.notice_id)
    monitor = monitor_for(db, svc)
    # Not the author: refused, nothing changes.
    with pytest.raises(PermissionDenied):
        await svc.retry(OTHER, n.ref)
    assert (await deliveries.counts(n.notice_id)).failed == 2
    notice, count = await svc.retry(INV, n.ref.lower())
    assert count == 2 and notice.status is NoticeStatus.SENDING
    assert n.notice_id in await notices.with_work()  # the delivery sweep picks it up
    counts = (await monitor.overview(notice)).counts
    assert counts == DeliveryCounts(pending=2, sent=1)
    await eng.run(n.notice_id)
    after = await notices.get(n.notice_id)
    assert after is not None and after.status is NoticeStatus.ACTIVE
    assert (await monitor.overview(after)).counts == DeliveryCounts(sent=3)
    assert script.got[(-3, "photo")] == 1 and script.got[(-1, "photo")] == 1
    [entry] = await MongoAuditLog(db).list(action="notice.retry")
    assert entry.actor_id == INV.user_id and entry.details["groups"] == 2
    # Nothing left to retry: said so, nothing changes.
    with pytest.raises(InvalidInput) as refused:
        await svc.retry(INV, n.ref)
    assert refused.value.key == "notices.retry.none"
    # A closed notice is never sent again; groups skipped because it closed are no failures.
    await svc.close(INV, n.ref, NoticeStatus.WITHDRAWN)
    with pytest.raises(InvalidInput) as closed:
        await svc.retry(INV, n.ref)
    assert closed.value.key == "notices.err.closed"


async def test_retry_leaves_groups_skipped_by_closing_alone(db: Database) -> None:
    _clock, notices, deliveries, _groups, svc = await setup(db)
    n = await svc.submit(INV, draft(audience=Audience(("drivers",))))
    await deliveries.plan(n, [Target(-1, "g1"), Target(-3, "g3")])
    await notices.mark_planned(n.notice_id, 2)
    await deliveries.finish(n.notice_id, -1, DeliveryState.FAILED, T0, reason="closed")
    await deliveries.finish(n.notice_id, -3, DeliveryState.FAILED, T0, reason="migrated_duplicate")
    with pytest.raises(InvalidInput):
        await svc.retry(INV, n.ref)
    assert (await deliveries.counts(n.notice_id)).failed == 2


async def test_pages_walk_every_group_once_in_plan_order(db: Database) -> None:
    _clock, notices, deliveries, groups, svc = await setup(db, n_groups=0)
    # 95 groups, planned directly (the engine is not needed to page).
    for i in range(1, 96):
        await groups.save(Group(-i, f"g{i}", "drivers", "town-a"))
    notice = await svc.submit(BOSS, draft(audience=Audience(("drivers",))))
    targets = [Target(-i, f"g{i}") for i in range(1, 96)]
    await deliveries.plan(notice, targets)
    await notices.mark_planned(notice.notice_id, await deliveries.total(notice.notice_id))
    for i in range(1, 96, 10):
        await deliveries.finish(notice.notice_id, -i, DeliveryState.FAILED, T0, reason="no_rights")
    planned = await notices.get(notice.notice_id)
    assert planned is not None and planned.groups == 95
    monitor = monitor_for(db, svc, page_size=20)
    seen: list[int] = []
    page = await monitor.rows(planned)
    numbers = []
    while True:
        seen += [r.delivery.chat_id for r in page.rows]
        numbers.append((page.page, page.pages))
        if page.next_after is None:
            break
        page = await monitor.rows(planned, after=page.next_after)
    assert seen == [-i for i in range(1, 96)]
    assert numbers == [(k, 5) for k in range(5)]
    # ... and back again from the last page.
    back: list[int] = []
    while page.prev_before is not None:
        page = await monitor.rows(planned, before=page.prev_before)
        back = [r.delivery.chat_id for r in page.rows] + back
    assert back == [-i for i in range(1, 81)]
    # A page by number.
    third = await monitor.rows(planned, page=2)
    assert [r.delivery.chat_id for r in third.rows] == [-i for i in range(41, 61)]
    assert third.page == 2 and third.prev_before == 40 and third.next_after == 59
    # One state, a page at a time.
    failed = await monitor.rows(planned, "failed")
    assert [r.delivery.chat_id for r in failed.rows] == [-i for i in range(1, 96, 10)]
    assert failed.next_after is None and failed.page is None
    counts = (await monitor.overview(planned)).counts
    assert counts == DeliveryCounts(pending=85, failed=10)
    with pytest.raises(ValueError):
        await monitor.rows(planned, "nonsense")


async def test_notices_planned_by_an_older_release_are_counted_and_paged_by_chat(
    db: Database,
) -> None:
    _clock, notices, deliveries, _groups, svc = await setup(db)
    n = await svc.submit(BOSS, draft(audience=Audience(("drivers", "landlords"))))
    await deliveries.plan(n, [Target(-i, f"g{i}") for i in range(1, 7)])
    await db.deliveries.update_many({"notice_id": n.notice_id}, {"$unset": {"seq": ""}})
    await notices.mark_planned(n.notice_id)  # an older release stored no total
    await deliveries.finish(n.notice_id, -2, DeliveryState.SENT, T0)
    legacy = await notices.get(n.notice_id)
    assert legacy is not None and legacy.groups is None and legacy.planned
    monitor = monitor_for(db, svc, page_size=4)
    assert (await monitor.overview(legacy)).counts == DeliveryCounts(pending=5, sent=1)
    first = await monitor.rows(legacy)
    assert [r.delivery.chat_id for r in first.rows] == [-6, -5, -4, -3]
    assert first.page is None and first.next_after == -3
    second = await monitor.rows(legacy, after=first.next_after)
    assert [r.delivery.chat_id for r in second.rows] == [-2, -1]
    assert second.prev_before == -2 and second.next_after is None


async def test_list_pages_and_superadmins_see_everyones(db: Database) -> None:
    clock, _notices, _deliveries, _groups, svc = await setup(db)
    refs = []
    for i in range(5):
        clock.advance(60)
        author = INV if i % 2 == 0 else OTHER
        refs.append((await svc.submit(author, draft(title=f"t{i}"))).ref)
    monitor = monitor_for(db, svc)
    mine = await monitor.notices(INV, size=2)
    assert [n.ref for n, _ in mine.items] == [refs[4], refs[2]] and mine.has_next
    rest = await monitor.notices(INV, size=2, page=1)
    assert [n.ref for n, _ in rest.items] == [refs[0]] and not rest.has_next
    # "everyone" is a superadmin's; anyone else still sees only their own.
    assert len((await monitor.notices(INV, everyone=True)).items) == 3
    everyone = await monitor.notices(BOSS, everyone=True)
    assert [n.ref for n, _ in everyone.items] == refs[::-1] and everyone.everyone
    with pytest.raises(PermissionDenied):
        await monitor.notices(Principal(77))
    sending = await monitor.sending(INV)
    assert [n.ref for n, _ in sending] == [refs[0], refs[2], refs[4]]
    assert await monitor.sending(Principal(77)) == []


# -- query plans --------------------------------------------------------------------------------


@dataclass
class Recorder(monitoring.CommandListener):
    """Every read command a client sends (to explain them afterwards)."""

    commands: list[Document] = field(default_factory=list)

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if event.command_name in ("find", "aggregate", "count"):
            self.commands.append(dict(event.command))

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


SENT_FIELDS = ("find", "aggregate", "count", "filter", "sort", "projection", "hint", "limit")
SENT_FIELDS += ("skip", "pipeline", "query")


def stages(plan: Document) -> Iterator[Document]:
    yield plan
    if "inputStage" in plan:
        yield from stages(plan["inputStage"])
    for inner in plan.get("inputStages", []):
        yield from stages(inner)


def winning_plan(explained: Document) -> Document:
    planner = explained.get("queryPlanner")
    if planner is None:
        planner = explained["stages"][0]["$cursor"]["queryPlanner"]
    plan: Document = planner["winningPlan"]
    return plan


async def explain(db: Database, command: Document) -> list[str]:
    """The stages of the plan the server chose for a command as it was sent."""
    body = {k: v for k, v in command.items() if k in SENT_FIELDS}
    if "aggregate" in body:
        body["cursor"] = {}
    result = await db.command({"explain": body, "verbosity": "queryPlanner"})
    out = []
    for stage in stages(winning_plan(result)):
        name = stage["stage"]
        if "indexName" in stage:
            name += f"({stage['indexName']})"
        out.append(name)
    return out


@pytest.fixture
async def recorded(
    mongo_server: EmbeddedMongo, db_name: str
) -> AsyncIterator[tuple[Database, Recorder]]:
    recorder = Recorder()
    client: AsyncMongoClient[Document] = AsyncMongoClient(
        mongo_server.uri, event_listeners=[recorder]
    )
    database = client[db_name]
    await ensure_schema(database)
    yield database, recorder
    await client.close()


async def test_every_monitor_list_and_start_page_query_is_served_by_an_index(
    recorded: tuple[Database, Recorder],
) -> None:
    db, recorder = recorded
    clock, notices, deliveries, _groups, svc = await setup(db)
    n = await svc.submit(INV, draft(photos=(Photo("known"),), audience=Audience(("drivers",))))
    script = Script()
    script.answers = {-1: [Migrated(-1001)], -5: [Rejected("no_rights")]}
    await engine(db, svc, clock, script, Reports()).run(n.notice_id)
    notice = await notices.get(n.notice_id)
    assert notice is not None
    legacy = await svc.submit(INV, draft(audience=Audience(("drivers",))))
    await deliveries.plan(legacy, [Target(-2, "g2")])
    await notices.mark_planned(legacy.notice_id)
    legacy_notice = await notices.get(legacy.notice_id)
    assert legacy_notice is not None
    monitor = monitor_for(db, svc, page_size=2)
    tips = MongoTipRepository(db, clock)
    recorder.commands.clear()
    # Everything the console's notices pages and start page read:
    await monitor.notices(INV)
    await monitor.notices(BOSS, everyone=True, page=1)
    await monitor.sending(INV)
    await monitor.sending(BOSS)
    for shown in (notice, legacy_notice):
        await monitor.overview(shown)
        first = await monitor.rows(shown)
        await monitor.rows(shown, page=1)
        await monitor.rows(shown, before=first.next_after or 0)
        for view in ("pending", "sending", "sent", "failed", "migrated"):
            await monitor.rows(shown, view)
            await monitor.rows(shown, view, after=-5, before=None)
            await monitor.rows(shown, view, before=5)
    await tips.count(Visibility(everything=True), since=T0, until=T0 + timedelta(days=1))
    await tips.count(Visibility(everything=True), status=TipStatus.NEW)
    scoped = Visibility(scopes=(("drivers", "town-a"), ("landlords", None)))
    await tips.count(scoped, since=T0, until=T0 + timedelta(days=1))
    await tips.count(scoped, status=TipStatus.NEW)
    reads = [c for c in recorder.commands if c.get("find") or c.get("aggregate") or c.get("count")]
    assert len(reads) > 40
    for command in reads:
        what = command.get("find") or command.get("aggregate") or command.get("count")
        if what == "groups":
            continue  # by _id ($in): the primary key
        plan = await explain(db, command)
        shown = {k: command.get(k) for k in ("find", "aggregate", "filter", "pipeline", "hint")}
        assert not any(s.startswith("COLLSCAN") for s in plan), (shown, plan)
        assert any(s.startswith("IXSCAN") for s in plan), (shown, plan)


async def test_tip_counts_follow_the_officers_scopes_and_count_each_tip_once(
    db: Database,
) -> None:
    _clock, *_ = await setup(db)
    tips = MongoTipRepository(db, _clock)
    places = [
        ("drivers", "town-a"),
        ("drivers", "town-b"),
        ("drivers", None),
        ("landlords", "town-a"),
        ("landlords", "town-b"),
        ("hospitality", None),
    ]
    docs = []
    for i, (sector, area) in enumerate(places * 3):
        docs.append(
            {
                "_id": f"tip{i}",
                "code": f"T-{i:05d}",
                "sector": sector,
                "area": area,
                "status": "new" if i % 3 else "acknowledged",
                "created_at": T0 - timedelta(hours=i),
            }
        )
    await db.tips.insert_many(docs)

    def expected(scopes: list[tuple[str | None, str | None]], **only: Any) -> int:
        def seen(d: Document) -> bool:
            return any(
                (s is None or d["sector"] == s) and (a is None or d["area"] == a) for s, a in scopes
            )

        return sum(
            1
            for d in docs
            if seen(d)
            and ("status" not in only or d["status"] == only["status"])
            and ("since" not in only or d["created_at"] >= only["since"])
        )

    since = T0 - timedelta(hours=7)
    for scopes in (
        [("drivers", None)],
        [("drivers", "town-a"), ("drivers", None)],  # one inside the other
        [("drivers", None), (None, "town-a")],  # overlapping: drivers in town-a once
        [(None, "town-b"), ("landlords", "town-b"), ("hospitality", None)],
        [(None, "town-a"), (None, "town-b")],
    ):
        vis = Visibility(scopes=tuple(scopes))
        assert await tips.count(vis, status=TipStatus.NEW) == expected(scopes, status="new")
        received = await tips.count(vis, since=since, until=T0 + timedelta(seconds=1))
        assert received == expected(scopes, since=since), scopes
    everything = Visibility(everything=True)
    assert await tips.count(everything, status=TipStatus.NEW) == 12
    assert await tips.count(Visibility(), status=TipStatus.NEW) == 0
