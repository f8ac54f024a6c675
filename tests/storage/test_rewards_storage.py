"""The rewards service against the real database: eligibility, splits, the two-person rule,
append-only history, concurrency, reminders and the tipster outbox."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from groups.roles import Principal, Role, RoleGrant, Scope
from kernel.clock import ManualClock
from kernel.errors import DomainError, InvalidInput, NotFound, PermissionDenied
from rewards.model import (
    Basis,
    EventKind,
    Outcome,
    PayMethod,
    RewardEvent,
    RewardRecord,
    RewardState,
    fold,
)
from rewards.ports import DuplicateReward, VersionConflict
from rewards.service import RewardService
from storage.audit import MongoAuditLog
from storage.client import Database
from storage.rewards import (
    MongoNoticeDirectory,
    MongoOutbox,
    MongoOutcomeStore,
    MongoReminderClaims,
    MongoRewardStore,
    MongoTipDirectory,
)
from storage.tips import MongoTipRepository, identity_doc, tip_from
from tips.model import TipsterIdentity

T0 = datetime(2026, 11, 2, 2, 0, tzinfo=UTC)


def person(uid: int, *roles: tuple[Role, Scope]) -> Principal:
    return Principal(uid, tuple(RoleGrant(uid, r, s) for r, s in roles))


ALL = Scope()
OFFICER = person(10, (Role.INVESTIGATOR, ALL))
OFFICER2 = person(11, (Role.INVESTIGATOR, ALL))
OPERATOR = person(12, (Role.OPERATOR, ALL))
MANAGER = person(13, (Role.MANAGER, Scope("drivers")))
OTHER_MANAGER = person(14, (Role.MANAGER, Scope("landlords")))
APPROVER = person(20, (Role.APPROVER, ALL))
APPROVER2 = person(21, (Role.APPROVER, ALL))
MEMBER = person(30, (Role.MEMBER, ALL))
BOSS = Principal(1, (), is_superadmin=True)
TIPSTER_APPROVER = person(22, (Role.APPROVER, ALL))  # an approver who sent T-AAAA2
MANAGER_APPROVER = person(23, (Role.MANAGER, ALL), (Role.APPROVER, ALL))
MAX = Decimal("5000.00")


class TipsOwners:
    """The TipsterCheck port answered through the tips feature's own storage, as the bot
    answers it through ``tipster_messenger.owns``."""

    def __init__(self, db: Database) -> None:
        self._tips = MongoTipDirectory(db)
        self._repo = MongoTipRepository(db, ManualClock(T0))

    async def is_tipster(self, code: str, user_id: int) -> bool:
        tip = await self._tips.by_code(code)
        return tip is not None and await self._repo.owner_of(tip.tip_id) == user_id


@dataclass
class Env:
    db: Database
    clock: ManualClock
    svc: RewardService
    store: MongoRewardStore
    outbox: MongoOutbox
    audit: MongoAuditLog


async def make_env(db: Database) -> Env:
    clock = ManualClock(T0)
    store = MongoRewardStore(db)
    outbox = MongoOutbox(db, clock)
    audit = MongoAuditLog(db)
    svc = RewardService(
        store,
        MongoOutcomeStore(db),
        MongoTipDirectory(db),
        MongoNoticeDirectory(db),
        outbox,
        MongoReminderClaims(db),
        audit,
        clock,
        tz=ZoneInfo("Asia/Shanghai"),
        tipsters=TipsOwners(db),
        max_amount=MAX,
        claim_instructions={"town-a": "Visit Town A police station with your tip code"},
    )
    await db.notices.insert_many(
        [
            {
                "_id": "n1",
                "ref": "N-2611-07",
                "kind": "wanted",
                "title": "Missing van",
                "status": "active",
                "created_by": 10,
                "investigators": [10],
                "reward": {"amount": "1000.00", "currency": "CNY", "terms": "arrest"},
                "expires_at": None,
            },
            {"_id": "n2", "ref": "N-2611-08", "title": "No offer", "status": "active"},
            {
                "_id": "n3",
                "ref": "N-2611-09",
                "title": "Offer above the maximum",
                "status": "active",
                "reward": {"amount": "8000.00", "currency": "CNY", "terms": ""},
            },
        ]
    )
    tips = []
    for i, (code, notice, sector) in enumerate(
        [
            ("T-AAAA1", "n1", "drivers"),
            ("T-AAAA2", "n1", "drivers"),
            ("T-AAAA3", "n1", "drivers"),
            ("T-BBBB1", None, "drivers"),
            ("T-BBBB2", "n2", "landlords"),
            ("T-DDDD1", "n3", "drivers"),
            ("T-DDDD2", "n3", "drivers"),
        ]
    ):
        tips.append(
            {
                "_id": f"tip{i + 1}",
                "code": code,
                "notice_id": notice,
                "status": "in_progress",
                "sector": sector,
                "area": "town-a",
                "created_at": T0,
            }
        )
    await db.tips.insert_many(tips)
    for tip_id, user_id in (("tip1", MEMBER.user_id), ("tip2", TIPSTER_APPROVER.user_id)):
        tip = tip_from(await db.tips.find_one({"_id": tip_id}) | {"pseudonym": "#A1"})
        await db.tip_identities.insert_one(identity_doc(TipsterIdentity(tip_id, user_id), tip))
    return Env(db, clock, svc, store, outbox, audit)


@pytest.fixture
async def env(db: Database) -> Env:
    return await make_env(db)


async def test_outcome_moves_the_tip_and_proposes_the_offer(env: Env) -> None:
    res = await env.svc.record_outcome(OFFICER, "t-aaaa1", Outcome.DECISIVE, "arrest made")
    assert res.created and res.reward is not None
    r = res.reward
    assert (r.state, r.amount, r.currency, r.record.basis) == (
        RewardState.PROPOSED,
        Decimal("1000.00"),
        "CNY",
        Basis.OFFER,
    )
    assert r.record.notice_ref == "N-2611-07" and r.proposed_by == OFFICER.user_id
    tip = await env.db.tips.find_one({"_id": "tip1"})
    assert tip is not None and tip["status"] == "verified"
    # Amounts are decimal strings in MongoDB, never floats.
    stored = await env.db.reward_events.find_one({"reward_id": r.reward_id})
    assert stored is not None and stored["amount"] == "1000.00"
    actions = [e.action for e in await env.audit.list()]
    assert "reward.outcome" in actions and "reward.proposed" in actions

    # Not useful: the tip moves, and no reward exists.
    res2 = await env.svc.record_outcome(OFFICER, "T-AAAA2", Outcome.NOT_USEFUL, "")
    assert res2.reward is None and not res2.offer_missing
    tip2 = await env.db.tips.find_one({"_id": "tip2"})
    assert tip2 is not None and tip2["status"] == "not_useful"
    # A general tip: eligible, but only a manager's discretionary proposal can reward it.
    res3 = await env.svc.record_outcome(OPERATOR, "T-BBBB1", Outcome.USEFUL, "")
    assert res3.reward is None and res3.offer_missing


async def test_bad_outcome_input_changes_nothing(env: Env) -> None:
    with pytest.raises(InvalidInput):
        await env.svc.record_outcome(OFFICER, "T-AAAA1", Outcome.DECISIVE, "  ")
    with pytest.raises(NotFound):
        await env.svc.record_outcome(OFFICER, "T-NOPE1", Outcome.USEFUL, "")
    with pytest.raises(NotFound):  # out of scope looks like unknown
        await env.svc.record_outcome(OTHER_MANAGER, "T-AAAA1", Outcome.USEFUL, "")
    assert await env.db.tip_outcomes.count_documents({}) == 0
    assert await env.db.rewards.count_documents({}) == 0
    tip = await env.db.tips.find_one({"_id": "tip1"})
    assert tip is not None and tip["status"] == "in_progress"


async def test_two_decisive_tips_split_the_offer(env: Env) -> None:
    first = (await env.svc.record_outcome(OFFICER, "T-AAAA1", Outcome.DECISIVE, "a")).reward
    assert first is not None and first.amount == Decimal("1000.00")
    env.clock.advance(60)
    res = await env.svc.record_outcome(OFFICER2, "T-AAAA2", Outcome.DECISIVE, "b")
    assert res.reward is not None and res.reward.amount == Decimal("500.00")
    assert {c.reward_id for c in res.changed} == {first.reward_id, res.reward.reward_id}
    again = await env.svc.load(first.reward_id)
    assert again is not None and again.amount == Decimal("500.00")
    assert again.events[-1].kind is EventKind.RESPLIT and again.events[-1].reason == "split:2"
    # A useful tip is proposed one base share; three-way splits stay exact.
    env.clock.advance(60)
    useful = (await env.svc.record_outcome(OFFICER, "T-AAAA3", Outcome.USEFUL, "")).reward
    assert useful is not None and useful.amount == Decimal("500.00")
    await env.svc.record_outcome(OFFICER, "T-AAAA3", Outcome.DECISIVE, "c")
    amounts = sorted([r.amount for r in await env.svc.all()], reverse=True)
    assert amounts == [Decimal("333.34"), Decimal("333.33"), Decimal("333.33")]
    assert sum(amounts) == Decimal("1000.00")


async def test_hand_amended_and_approved_amounts_are_never_resplit(env: Env) -> None:
    a = (await env.svc.record_outcome(OFFICER, "T-AAAA1", Outcome.DECISIVE, "a")).reward
    env.clock.advance(1)
    b = (await env.svc.record_outcome(OFFICER, "T-AAAA2", Outcome.DECISIVE, "b")).reward
    env.clock.advance(1)
    assert a is not None and b is not None
    await env.svc.propose(OFFICER2, "T-AAAA1", Decimal("700.00"), None, "led the arrest")
    await env.svc.approve(APPROVER, b.reward_id)
    await env.svc.record_outcome(OFFICER, "T-AAAA3", Outcome.DECISIVE, "c")
    got = {r.record.tip_code: r.amount for r in await env.svc.all()}
    assert got == {
        "T-AAAA1": Decimal("700.00"),
        "T-AAAA2": Decimal("500.00"),
        "T-AAAA3": Decimal("333.33"),
    }


async def test_two_person_rule_and_decisions(env: Env) -> None:
    r = (await env.svc.record_outcome(OFFICER, "T-AAAA1", Outcome.DECISIVE, "a")).reward
    assert r is not None
    rid = r.reward_id
    # An amender becomes a proposer too; neither may decide, not even a superadmin.
    await env.svc.propose(BOSS, "T-AAAA1", Decimal("800"), None, "bigger haul")
    for who in (OFFICER, BOSS):
        with pytest.raises(PermissionDenied) as exc:
            await env.svc.approve(who, rid)
        assert exc.value.key in ("rewards.self_approval", "errors.permission_denied")
    with pytest.raises(PermissionDenied):
        await env.svc.approve(MANAGER, rid)  # not an approver
    with pytest.raises(InvalidInput):
        await env.svc.reject(APPROVER, rid, "   ")  # a reason is required
    with pytest.raises(InvalidInput):
        await env.svc.pay(APPROVER, rid, PayMethod.CASH, "RC-1", None)  # not approved yet
    assert (await env.svc.load(rid)).version == 2  # type: ignore[union-attr]

    approved = await env.svc.approve(APPROVER, rid)
    assert approved.state is RewardState.APPROVED and approved.approved_by == APPROVER.user_id
    with pytest.raises(InvalidInput):
        await env.svc.approve(APPROVER2, rid)
    with pytest.raises(InvalidInput):
        await env.svc.propose(OFFICER, "T-AAAA1", Decimal("900"), None, "late change")
    with pytest.raises(InvalidInput):  # outcome locked once approved
        await env.svc.record_outcome(OFFICER, "T-AAAA1", Outcome.USEFUL, "")
    with pytest.raises(InvalidInput):
        await env.svc.pay(APPROVER, rid, PayMethod.BANK, "TX1", date(2026, 12, 1))  # future
    with pytest.raises(InvalidInput):
        await env.svc.pay(APPROVER, rid, PayMethod.BANK, "TX1", date(2026, 10, 1))  # pre-approval
    env.clock.advance(timedelta(days=1))
    paid = await env.svc.pay(APPROVER2, rid, PayMethod.BANK, "TX-99", None)
    assert paid.state is RewardState.PAID and paid.paid_on == date(2026, 11, 3)
    assert paid.method is PayMethod.BANK and paid.reference == "TX-99"
    with pytest.raises(InvalidInput):
        await env.svc.cancel(APPROVER, rid, "too late")

    # Replaying the stored history reproduces the state the service reported.
    record = await env.store.record(rid)
    assert record is not None
    replayed = fold(record, await env.store.events(rid))
    assert replayed == paid
    assert [e.kind for e in replayed.events] == [
        EventKind.PROPOSED,
        EventKind.AMENDED,
        EventKind.APPROVED,
        EventKind.PAID,
    ]
    assert [e.actor_id for e in replayed.events] == [10, 1, 20, 21]

    # The tipster is told of the approval and the payment, through the outbox.
    first = await env.outbox.claim()
    assert first is not None and first.template == "rewards.tipster_approved_custom"
    assert first.params == {
        "amount": "¥800.00",
        "claim": "Visit Town A police station with your tip code",
    }
    assert first.tip_id == "tip1"


async def test_reject_and_cancel(env: Env) -> None:
    a = (await env.svc.record_outcome(OFFICER, "T-AAAA1", Outcome.DECISIVE, "a")).reward
    b = (await env.svc.record_outcome(OFFICER, "T-AAAA2", Outcome.DECISIVE, "b")).reward
    assert a is not None and b is not None
    rejected = await env.svc.reject(APPROVER, a.reward_id, "duplicate of an earlier report")
    assert rejected.state is RewardState.REJECTED
    assert rejected.reject_reason == "duplicate of an earlier report"
    # One record per tip: a rejected tip never gets a second one.
    with pytest.raises(InvalidInput):
        await env.svc.propose(MANAGER, "T-AAAA1", Decimal("10"), None, "again")
    # The proposer may withdraw their own pending proposal; others may not.
    with pytest.raises(PermissionDenied):
        await env.svc.cancel(OFFICER2, b.reward_id, "nope")
    with pytest.raises(InvalidInput):  # not_useful conflicts with a pending reward
        await env.svc.record_outcome(OFFICER, "T-AAAA2", Outcome.NOT_USEFUL, "")
    cancelled, changed = await env.svc.cancel(OFFICER, b.reward_id, "wrong tip")
    assert cancelled.state is RewardState.CANCELLED and cancelled.cancel_reason == "wrong tip"
    assert changed == ()  # the other decisive tip was rejected: nothing left to re-split
    assert await env.outbox.claim() is None  # nothing approved: the tipster hears nothing


async def test_discretionary_rewards_are_for_managers(env: Env) -> None:
    with pytest.raises(InvalidInput):  # no useful outcome yet
        await env.svc.propose(MANAGER, "T-BBBB1", Decimal("100"), None, "helped")
    await env.svc.record_outcome(OPERATOR, "T-BBBB1", Outcome.USEFUL, "")
    with pytest.raises(PermissionDenied):
        await env.svc.propose(OFFICER, "T-BBBB1", Decimal("100"), None, "helped")
    with pytest.raises(InvalidInput):
        await env.svc.propose(MANAGER, "T-BBBB1", Decimal("100"), None, "")
    with pytest.raises(InvalidInput):
        await env.svc.propose(MANAGER, "T-BBBB1", Decimal("100"), "USD", "helped")
    with pytest.raises(NotFound):  # a landlords manager does not see a drivers tip
        await env.svc.propose(OTHER_MANAGER, "T-BBBB1", Decimal("100"), None, "helped")
    res = await env.svc.propose(MANAGER, "T-BBBB1", Decimal("150.5"), "CNY", "helped")
    assert res.created and res.reward.record.basis is Basis.DISCRETIONARY
    assert res.reward.amount == Decimal("150.50") and res.reward.proposed_by == MANAGER.user_id
    with pytest.raises(InvalidInput):  # same amount again is not a change
        await env.svc.propose(MANAGER, "T-BBBB1", Decimal("150.50"), None, "again")


async def test_one_record_per_tip_and_versioned_appends(env: Env) -> None:
    rec = RewardRecord(
        "R-AAAAAA", "tip1", "T-AAAA1", "n1", "N-1", "drivers", None, Basis.OFFER, "CNY", T0
    )
    ev = RewardEvent("R-AAAAAA", 1, EventKind.PROPOSED, 10, T0, amount=Decimal("5.00"))
    await env.store.create(rec, ev)
    rec2 = RewardRecord(
        "R-BBBBBB", "tip1", "T-AAAA1", "n1", "N-1", "drivers", None, Basis.OFFER, "CNY", T0
    )
    with pytest.raises(DuplicateReward):
        await env.store.create(
            rec2, RewardEvent("R-BBBBBB", 1, EventKind.PROPOSED, 10, T0, amount=Decimal(1))
        )
    assert await env.db.rewards.count_documents({}) == 1
    approve = RewardEvent("R-AAAAAA", 2, EventKind.APPROVED, 20, T0)
    await env.store.append(approve)
    with pytest.raises(VersionConflict):
        await env.store.append(RewardEvent("R-AAAAAA", 2, EventKind.REJECTED, 21, T0, reason="x"))
    # The unique index itself holds, whatever the _id.
    names = {ix["name"] async for ix in await env.db.reward_events.list_indexes()}
    assert "reward_event_seq" in names
    names = {ix["name"] async for ix in await env.db.rewards.list_indexes()}
    assert "reward_one_per_tip" in names


async def test_racing_decisions_have_one_winner(env: Env) -> None:
    r = (await env.svc.record_outcome(OFFICER, "T-AAAA1", Outcome.DECISIVE, "a")).reward
    assert r is not None
    results = await asyncio.gather(
        env.svc.approve(APPROVER, r.reward_id),
        env.svc.reject(APPROVER2, r.reward_id, "no"),
        return_exceptions=True,
    )
    wins = [x for x in results if not isinstance(x, BaseException)]
    losses = [x for x in results if isinstance(x, DomainError)]
    assert len(wins) == 1 and len(losses) == 1
    final = await env.svc.load(r.reward_id)
    assert final is not None and final.version == 2
    env.clock.advance(1)
    # Two outcomes on the same notice at once still end fairly split.
    await asyncio.gather(
        env.svc.record_outcome(OFFICER, "T-AAAA2", Outcome.DECISIVE, "b"),
        env.svc.record_outcome(OFFICER2, "T-AAAA3", Outcome.DECISIVE, "c"),
    )
    pending = [x for x in await env.svc.all() if x.state is RewardState.PROPOSED]
    if final.state is RewardState.APPROVED:  # it keeps its 1000; the others get a third
        assert {p.amount for p in pending} == {Decimal("333.33")}
    else:  # the rejected one no longer counts: two decisive tips share the offer
        assert {p.amount for p in pending} == {Decimal("500.00")}


async def test_reminders_once_per_waiting_period(env: Env) -> None:
    r = (await env.svc.record_outcome(OFFICER, "T-AAAA1", Outcome.DECISIVE, "a")).reward
    assert r is not None
    env.clock.advance(timedelta(days=3) - timedelta(seconds=1))
    assert await env.svc.overdue() == []
    env.clock.advance(timedelta(seconds=1))
    assert [x.reward_id for x in await env.svc.overdue()] == [r.reward_id]
    assert await env.svc.overdue() == []  # claimed: never twice
    env.clock.advance(timedelta(days=3))
    assert len(await env.svc.overdue()) == 1  # and again after another period
    await env.svc.approve(APPROVER, r.reward_id)
    env.clock.advance(timedelta(days=30))
    assert await env.svc.overdue() == []


async def test_outbox_retries_then_gives_up(env: Env) -> None:
    await env.outbox.enqueue("k1", "tip1", "rewards.tipster_paid", {"amount": "¥1.00"})
    await env.outbox.enqueue("k1", "tip1", "rewards.tipster_paid", {"amount": "¥2.00"})
    item = await env.outbox.claim()
    assert item is not None and item.params == {"amount": "¥1.00"} and item.attempts == 1
    assert await env.outbox.claim() is None  # being sent
    await env.outbox.failed(item, "blocked")
    assert await env.outbox.claim() is None  # backing off
    env.clock.advance(timedelta(minutes=1))
    again = await env.outbox.claim()
    assert again is not None and again.attempts == 2
    await env.outbox.sent("k1")
    assert await env.outbox.state("k1") == "sent"
    env.clock.advance(timedelta(days=1))
    assert await env.outbox.claim() is None


async def test_resolve_by_id_or_code_within_scope(env: Env) -> None:
    r = (await env.svc.record_outcome(OFFICER, "T-AAAA1", Outcome.DECISIVE, "a")).reward
    assert r is not None
    assert (await env.svc.resolve(APPROVER, r.reward_id.lower())).reward_id == r.reward_id
    assert (await env.svc.resolve(APPROVER, "t-aaaa1")).reward_id == r.reward_id
    with pytest.raises(NotFound):
        await env.svc.resolve(
            MEMBER,
            "T-AAAA1",
        )
    with pytest.raises(NotFound):
        await env.svc.resolve(APPROVER, "R-ZZZZZZ")


async def test_tipster_messages_survive_a_crash_between_decision_and_outbox(env: Env) -> None:
    r = (await env.svc.record_outcome(OFFICER, "T-BBBB2", Outcome.USEFUL, "")).reward
    assert r is None  # no offer on n2
    r = (await env.svc.record_outcome(OFFICER, "T-AAAA1", Outcome.DECISIVE, "a")).reward
    assert r is not None
    await env.svc.approve(APPROVER, r.reward_id)
    key = f"{r.reward_id}:2"
    sent = await env.outbox.claim(key)
    assert sent is not None and sent.template == "rewards.tipster_approved_custom"
    await env.outbox.sent(key)
    await env.svc.pay(APPROVER, r.reward_id, PayMethod.CASH, "RC-7", None)
    await env.db.reward_outbox.delete_one({"_id": f"{r.reward_id}:3"})  # "crashed" before
    await env.svc.reconcile()
    assert await env.outbox.state(key) == "sent"  # never sent twice
    paid = await env.outbox.claim()
    assert paid is not None and paid.key == f"{r.reward_id}:3"
    assert paid.params == {"amount": "¥1,000.00", "date": "2026-11-02"}
    env.clock.advance(timedelta(days=2))
    await env.db.reward_outbox.delete_many({})
    await env.svc.reconcile()  # old decisions are not replayed to the tipster
    assert await env.db.reward_outbox.count_documents({}) == 0


async def test_concurrent_outcomes_on_one_tip_make_one_record(env: Env) -> None:
    results = await asyncio.gather(
        env.svc.record_outcome(OFFICER, "T-AAAA1", Outcome.DECISIVE, "a"),
        env.svc.record_outcome(OFFICER2, "T-AAAA1", Outcome.DECISIVE, "b"),
    )
    assert sum(r.created for r in results) == 1
    ids = {r.reward.reward_id for r in results if r.reward is not None}
    assert len(ids) == 1 and await env.db.rewards.count_documents({}) == 1


async def test_cancelling_a_decisive_proposal_gives_the_others_its_share(env: Env) -> None:
    a = (await env.svc.record_outcome(OFFICER, "T-AAAA1", Outcome.DECISIVE, "a")).reward
    env.clock.advance(1)
    b = (await env.svc.record_outcome(OFFICER, "T-AAAA2", Outcome.DECISIVE, "b")).reward
    assert a is not None and b is not None
    _, changed = await env.svc.cancel(APPROVER, b.reward_id, "same person as tip 1")
    assert [(c.reward_id, c.amount) for c in changed] == [(a.reward_id, Decimal("1000.00"))]


async def test_a_hand_edited_history_is_left_out_loudly(
    env: Env, caplog: pytest.LogCaptureFixture
) -> None:
    good = (await env.svc.record_outcome(OFFICER, "T-AAAA1", Outcome.DECISIVE, "a")).reward
    assert good is not None
    await env.db.rewards.insert_one(
        {
            "_id": "R-BADBAD",
            "tip_id": "tip9",
            "tip_code": "T-99999",
            "basis": "offer",
            "currency": "CNY",
            "created_at": T0,
        }
    )
    await env.db.reward_events.insert_one(
        {"_id": "R-BADBAD#1", "reward_id": "R-BADBAD", "seq": 1, "kind": "paid", "at": T0}
    )
    assert [r.reward_id for r in await env.svc.all()] == [good.reward_id]
    assert "R-BADBAD" in caplog.text


# --- issue 13: the two-person rule without loopholes, one maximum for every amount -------


async def test_the_tipster_may_not_approve_reject_or_record_payment(env: Env) -> None:
    r = (await env.svc.record_outcome(OFFICER, "T-AAAA2", Outcome.DECISIVE, "arrest")).reward
    assert r is not None
    rid = r.reward_id
    assert await env.svc.barred(TIPSTER_APPROVER.user_id, r)
    assert not await env.svc.barred(APPROVER.user_id, r)
    await env.svc.propose(BOSS, "T-AAAA2", Decimal("900"), None, "part recovered")
    refusals = []
    for act in (
        lambda: env.svc.approve(TIPSTER_APPROVER, rid),
        lambda: env.svc.approve(TIPSTER_APPROVER, rid, expected_version=2),
        lambda: env.svc.reject(TIPSTER_APPROVER, rid, "not worth it"),
        lambda: env.svc.approve(BOSS, rid),  # who changed the amount, for comparison
    ):
        with pytest.raises(PermissionDenied) as exc:
            await act()
        refusals.append((exc.value.key, exc.value.params))
    # The tipster gets exactly the refusal a proposer gets: it says nothing more.
    assert all(refusal == ("rewards.self_approval", {"reward_id": rid}) for refusal in refusals)
    assert (await env.svc.load(rid)).version == 2  # type: ignore[union-attr]
    # Another approver decides; the tipster may not attest the payment to themselves.
    await env.svc.approve(APPROVER, rid)
    with pytest.raises(PermissionDenied) as exc:
        await env.svc.pay(TIPSTER_APPROVER, rid, PayMethod.CASH, "RC-7", None)
    assert exc.value.key == "rewards.self_payment"
    assert (await env.svc.load(rid)).version == 3  # type: ignore[union-attr]
    paid = await env.svc.pay(APPROVER2, rid, PayMethod.CASH, "RC-7", None)
    assert paid.state is RewardState.PAID
    # Someone else's tip is no bar: the same approver decides on tip 1 (sent by a member).
    other = (await env.svc.record_outcome(OFFICER, "T-AAAA1", Outcome.DECISIVE, "van")).reward
    assert other is not None
    assert (await env.svc.approve(TIPSTER_APPROVER, other.reward_id)).state is (
        RewardState.APPROVED
    )


async def test_an_approver_who_cannot_be_checked_is_refused(env: Env) -> None:
    class Unknown:
        async def is_tipster(self, code: str, user_id: int) -> bool:
            return True  # what the bot's adapter answers when the tips feature is absent

    env.svc._tipsters = Unknown()
    r = (await env.svc.record_outcome(OFFICER, "T-AAAA1", Outcome.DECISIVE, "arrest")).reward
    assert r is not None
    with pytest.raises(PermissionDenied):
        await env.svc.approve(APPROVER, r.reward_id)


async def test_whoever_resplit_an_amount_may_not_decide_on_it(env: Env) -> None:
    a = (await env.svc.record_outcome(OFFICER, "T-AAAA1", Outcome.DECISIVE, "arrest")).reward
    env.clock.advance(60)
    b = (await env.svc.record_outcome(OFFICER2, "T-AAAA2", Outcome.DECISIVE, "van")).reward
    assert a is not None and b is not None
    # A manager who is also an approver makes tip 2 merely useful: tip 1's share goes from
    # 500 back to 1000 under their name, so they may not approve (or reject) it.
    env.clock.advance(60)
    res = await env.svc.record_outcome(MANAGER_APPROVER, "T-AAAA2", Outcome.USEFUL, "")
    moved = {c.reward_id: c.amount for c in res.changed}
    assert moved[a.reward_id] == Decimal("1000.00")
    a_now = await env.svc.load(a.reward_id)
    assert a_now is not None and a_now.events[-1].kind is EventKind.RESPLIT
    assert a_now.events[-1].actor_id == MANAGER_APPROVER.user_id
    assert MANAGER_APPROVER.user_id in a_now.amount_setters
    assert MANAGER_APPROVER.user_id not in a_now.proposers  # not a proposer: may not cancel
    assert not a_now.amended  # still shared automatically
    for act in (
        lambda: env.svc.approve(MANAGER_APPROVER, a.reward_id),
        lambda: env.svc.reject(MANAGER_APPROVER, a.reward_id, "too much"),
    ):
        with pytest.raises(PermissionDenied) as exc:
            await act()
        assert exc.value.key == "rewards.self_approval"
    assert await env.svc.barred(MANAGER_APPROVER.user_id, a_now)
    # A cancellation that changes no amount bars nobody; one that re-splits bars its actor.
    _, changed = await env.svc.cancel(APPROVER, b.reward_id, "same person as tip 1")
    assert changed == ()  # tip 1 keeps the whole offer
    env.clock.advance(60)
    c = (await env.svc.record_outcome(OFFICER, "T-AAAA3", Outcome.DECISIVE, "found")).reward
    assert c is not None
    _, changed = await env.svc.cancel(APPROVER2, c.reward_id, "duplicate")
    assert [x.reward_id for x in changed] == [a.reward_id]
    with pytest.raises(PermissionDenied):
        await env.svc.approve(APPROVER2, a.reward_id)
    # Someone whose action changed nothing decides.
    assert (await env.svc.approve(APPROVER, a.reward_id)).state is RewardState.APPROVED


async def test_one_maximum_for_offers_and_every_proposal(env: Env) -> None:
    # The notice's offer (8000) is above the maximum (5000): nothing is proposed from it.
    res = await env.svc.record_outcome(OFFICER, "T-DDDD1", Outcome.DECISIVE, "arrest")
    assert res.reward is None and not res.created and not res.offer_missing
    assert res.offer_over_max is not None and res.offer_over_max.ref == "N-2611-09"
    assert await env.db.rewards.count_documents({}) == 0
    # A manager proposes an amount by hand: never above the maximum.
    with pytest.raises(InvalidInput) as exc:
        await env.svc.propose(MANAGER, "T-DDDD1", Decimal("5000.01"), None, "the offer")
    assert exc.value.key == "rewards.amount_too_large"
    assert await env.db.rewards.count_documents({}) == 0
    made = await env.svc.propose(MANAGER, "T-DDDD1", Decimal("5000"), None, "the maximum")
    assert made.created and made.reward.amount == Decimal("5000")
    with pytest.raises(InvalidInput):  # nor may an amendment exceed it
        await env.svc.propose(OFFICER, "T-DDDD1", Decimal("8000"), None, "the offer")
    assert (await env.svc.load(made.reward.reward_id)).version == 1  # type: ignore[union-attr]
    # Another decisive tip on that notice re-splits nothing.
    res = await env.svc.record_outcome(OFFICER, "T-DDDD2", Outcome.DECISIVE, "van")
    assert res.changed == () and res.offer_over_max is not None


async def test_a_stored_proposal_above_the_maximum_cannot_be_approved(env: Env) -> None:
    # A proposal made before the maximum was lowered (the offer was copied as it was).
    record = RewardRecord(
        "R-2222QQ", "tip6", "T-DDDD1", "n3", "N-2611-09", "drivers", "town-a", Basis.OFFER,
        "CNY", T0,
    )  # fmt: skip
    await env.store.create(
        record, RewardEvent("R-2222QQ", 1, EventKind.PROPOSED, 10, T0, amount=Decimal("8000"))
    )
    with pytest.raises(InvalidInput) as exc:
        await env.svc.approve(APPROVER, "R-2222QQ")
    assert exc.value.key == "rewards.over_max"
    assert exc.value.params["max"] == "¥5,000.00"
    assert (await env.svc.load("R-2222QQ")).version == 1  # type: ignore[union-attr]
    await env.svc.propose(OFFICER2, "T-DDDD1", Decimal("4000"), None, "within the limit")
    assert (await env.svc.approve(APPROVER, "R-2222QQ")).amount == Decimal("4000")
