"""The console's sign-in links, sessions and live hub against the real database."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from console.live import CLOSED, RELOAD, LiveEvent, LiveHub, Topic
from groups.access import RoleService
from groups.roles import Role, RoleGrant
from groups.signin import SignInRefused, SignInService, digest
from kernel.clock import ManualClock
from kernel.errors import PermissionDenied
from storage.audit import MongoAuditLog
from storage.catalog import MongoScopeCatalog
from storage.changes import MongoChangeFeed, ResumeLost
from storage.client import Database
from storage.console import MongoConsoleSessions, MongoLivePositions, MongoSignInLinks
from storage.roles import MongoRoleRepository
from tests.waiting import DEADLINE_S

OFFICER, MEMBER = 501, 502


async def service(db: Database, clock: ManualClock) -> SignInService:
    repo = MongoRoleRepository(db)
    await repo.add(RoleGrant(OFFICER, Role.OPERATOR))
    await repo.add(RoleGrant(MEMBER, Role.MEMBER))
    audit = MongoAuditLog(db)
    roles = RoleService(repo, MongoScopeCatalog(db), audit, clock, [])
    return SignInService(
        MongoSignInLinks(db),
        MongoConsoleSessions(db),
        roles,
        audit,
        clock,
        session_lifetime=timedelta(hours=12),
    )


async def test_a_link_signs_in_once_within_60_seconds(db: Database) -> None:
    clock = ManualClock()
    signin = await service(db, clock)
    roles = signin._roles  # the same RoleService
    with pytest.raises(PermissionDenied):
        await signin.issue_link(await roles.principal(MEMBER))
    assert await db.console_tokens.count_documents({}) == 0
    token = await signin.issue_link(await roles.principal(OFFICER))
    stored = await db.console_tokens.find_one({})
    assert stored is not None and stored["_id"] == digest(token) and token not in str(stored)
    assert stored["purge_at"] > stored["expires_at"] - timedelta(days=3650)  # server time
    for _ in range(2):  # looking does not use it
        assert (await signin.preview(token)).user_id == OFFICER
    created = await signin.sign_in(token, "UA " * 200)
    assert created.session.user_id == OFFICER and len(created.session.user_agent) == 300
    with pytest.raises(SignInRefused) as used:
        await signin.sign_in(token, "UA")
    assert used.value.key == "console.link_used"
    with pytest.raises(SignInRefused) as unknown:
        await signin.preview("no-such-token")
    assert unknown.value.key == "console.link_unknown"
    late = await signin.issue_link(await roles.principal(OFFICER))
    clock.advance(60)
    with pytest.raises(SignInRefused) as expired:
        await signin.sign_in(late, "UA")
    assert expired.value.key == "console.link_expired"
    assert await db.console_sessions.count_documents({}) == 1


async def test_two_presses_of_the_button_open_one_session(db: Database) -> None:
    clock = ManualClock()
    signin = await service(db, clock)
    token = await signin.issue_link(await signin._roles.principal(OFFICER))
    results = await asyncio.gather(
        *(signin.sign_in(token, "UA") for _ in range(5)), return_exceptions=True
    )
    assert sum(not isinstance(r, BaseException) for r in results) == 1
    assert await db.console_sessions.count_documents({}) == 1


async def test_a_session_lasts_its_lifetime_and_ends_everywhere(db: Database) -> None:
    clock = ManualClock()
    signin = await service(db, clock)
    principal = await signin._roles.principal(OFFICER)
    first = await signin.sign_in(await signin.issue_link(principal), "A")
    second = await signin.sign_in(await signin.issue_link(principal), "B")
    stored = await db.console_sessions.find_one({"_id": first.session.session_hash})
    assert stored is not None and first.session_id not in str(stored)
    clock.advance(timedelta(minutes=5))
    found = await signin.session(first.session_id)
    assert found is not None
    touched = await db.console_sessions.find_one({"_id": first.session.session_hash})
    assert touched is not None and touched["last_seen"] == clock.now()
    clock.advance(timedelta(hours=12))
    assert await signin.session(first.session_id) is None  # past its lifetime
    assert await signin.session("") is None and await signin.session("x" * 500) is None
    assert len(await signin.sessions_of(OFFICER)) == 0
    clock.set(first.session.created_at)
    assert len(await signin.sessions_of(OFFICER)) == 2
    assert await signin.end_sessions_of(OFFICER, reason="test") == 2
    assert await signin.session(second.session_id) is None
    actions = [e.action for e in await MongoAuditLog(db).list(object_type="console_session")]
    assert actions.count("console.sign_in") == 2 and "console.sign_out_all" in actions


async def test_ttl_indexes_purge_on_the_servers_time(db: Database) -> None:
    for coll in ("console_tokens", "console_sessions", "console_live"):
        indexes = {ix["name"]: ix async for ix in await db[coll].list_indexes()}
        assert indexes["ttl"]["expireAfterSeconds"] == 0, coll
        assert dict(indexes["ttl"]["key"]) == {"purge_at": 1}


def test_identities_and_secrets_can_never_be_watched(db: Database) -> None:
    for coll in ("tip_identities", "console_sessions", "console_tokens", "tips_meta"):
        with pytest.raises(ValueError, match="never be watched"):
            MongoChangeFeed(db, ["tips", coll])


async def next_event(sub: object) -> object:
    return await asyncio.wait_for(sub.get(), DEADLINE_S)  # type: ignore[attr-defined]


def make_hub(db: Database, name: str = "live:test") -> LiveHub:
    hub = LiveHub(MongoChangeFeed(db, ["tips", "notices"]), MongoLivePositions(db), name)
    hub.add_topic(Topic("tips", ("tips",)))
    hub.add_topic(Topic("notices", ("notices",)))
    return hub


async def test_a_subscriber_gets_changes_of_its_topics(db: Database) -> None:
    hub = make_hub(db)
    with pytest.raises(ValueError, match="LIVE_COLLECTIONS"):
        hub.add_topic(Topic("duty", ("duty_alerts",)))
    await hub.start()
    try:
        with hub.subscribe(["tips"]) as sub:
            await db.notices.insert_one({"_id": "n1"})
            await db.tips.insert_one({"_id": "t1", "code": "T-1", "sector": "drivers"})
            event = await next_event(sub)
            assert isinstance(event, LiveEvent)
            assert (event.topic, event.op, event.doc_id) == ("tips", "insert", "t1")
            assert event.document == {"code": "T-1", "sector": "drivers"}
            await db.tips.delete_one({"_id": "t1"})
            gone = await next_event(sub)
            assert isinstance(gone, LiveEvent) and gone.op == "delete" and gone.document is None
            assert sub.pending() == 0  # the notice went to nobody here
        assert hub.subscribers == 0
    finally:
        await hub.stop()


async def test_a_restarted_hub_resumes_where_it_stopped(db: Database) -> None:
    first = make_hub(db)
    await first.start()
    with first.subscribe(["tips"]) as sub:
        await db.tips.insert_one({"_id": "before", "code": "before"})
        assert (await next_event(sub)).doc_id == "before"  # type: ignore[attr-defined]
        await first.stop()
        assert await next_event(sub) is CLOSED
    await db.tips.insert_one(
        {"_id": "while-down", "code": "while-down"}
    )  # nobody is reading the stream
    second = make_hub(db)
    with second.subscribe(["tips"]) as sub:
        await second.start()
        try:
            event = await next_event(sub)
            assert isinstance(event, LiveEvent) and event.doc_id == "while-down"
            await db.tips.insert_one({"_id": "after", "code": "after"})
            assert (await next_event(sub)).doc_id == "after"  # type: ignore[attr-defined]
        finally:
            await second.stop()
    # Another process (another name) has its own position: it starts from now.
    assert await MongoLivePositions(db).load("live:other") is None


async def test_a_slow_subscriber_is_bounded_and_told_to_reload(db: Database) -> None:
    hub = LiveHub(MongoChangeFeed(db, ["tips"]), None, "live:small", queue_size=3)
    hub.add_topic(Topic("tips", ("tips",)))
    await hub.start()
    try:
        with hub.subscribe(["tips"]) as slow, hub.subscribe(["tips"]) as fast:
            for i in range(5):
                await db.tips.insert_one({"_id": f"t{i}", "code": f"t{i}"})
                assert (await next_event(fast)).doc_id == f"t{i}"  # type: ignore[attr-defined]
            assert slow.pending() <= 3
            drained = [await next_event(slow) for _ in range(slow.pending())]
            assert RELOAD in drained and slow.dropped >= 2
    finally:
        await hub.stop()


async def test_replay_after_a_token_and_refusals(db: Database) -> None:
    hub = make_hub(db)
    await hub.start()
    try:
        with hub.subscribe(["tips"]) as sub:
            await db.tips.insert_one({"_id": "seen", "code": "seen"})
            seen = await next_event(sub)
            assert isinstance(seen, LiveEvent)
            await db.notices.insert_one({"_id": "other-topic"})
            await db.tips.insert_one({"_id": "missed", "code": "missed"})
            missed = await hub.replay(seen.id, ["tips"])
            assert [e.doc_id for e in missed] == ["missed"]
            with pytest.raises(ResumeLost):
                await hub.replay("not hex", ["tips"])
            with pytest.raises(ResumeLost):
                await hub.replay("00ff", ["tips"])
    finally:
        await hub.stop()
