"""Issue 7 end to end: the real bot over the fake Bot API and the real database.

Notices are inserted in their documented shape (docs/integration.md); tips are created
with the tips feature's own repository, so the real ``tips_api`` and ``tipster_messenger``
(provided by the tips router) resolve them: the rewards code never sees who a tipster is.
"""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from decimal import Decimal
from typing import Any

from bot.i18n import Translator
from bot.tip_views import TipsterMessenger
from groups.roles import UNRESTRICTED, Role, Scope
from rewards.model import RewardState, fold
from storage.rewards import MongoRewardStore
from storage.tips import MongoTipRepository
from tests.e2e.harness import START, World, wait_until
from tips.model import Part, PartKind, Tip, TipStatus, TipsterIdentity

TIPS = {
    # code: (tip id, notice, sector, area)
    "T-AAAA3": ("tip1", "n1", "drivers", "town-a"),
    "T-AAAA4": ("tip2", "n1", "drivers", "town-b"),
    "T-CCCC3": ("tip3", None, "drivers", "town-a"),
    "T-CCCC4": ("tip4", "n2", "landlords", "town-b"),
}


class Cast:
    def __init__(self, world: World) -> None:
        self.boss = world.superadmin(lang="en")
        self.officer = world.person("ivan", lang="en")  # investigator
        self.manager = world.person("mia", lang="en")  # manager of drivers
        self.approver = world.person("alice", lang="en")
        self.approver2 = world.person("bob", lang="en")
        self.tipster = world.person("tina", lang="en")  # sent T-AAAA3 and T-CCCC3
        self.tipster2 = world.person("zhao", lang="zh-hans")  # sent T-AAAA4
        self.member = world.person("max", lang="en")  # a member who sent nothing


async def setup(world: World, **claim: str) -> Cast:
    if claim:
        await world.runner.restart(rewards_claim_instructions=claim)
    cast = Cast(world)
    ctx = world.app.ctx
    assert isinstance(ctx.services.tipster_messenger, TipsterMessenger)  # the real one
    boss = await ctx.roles.principal(cast.boss.id)
    for person, role, scope in (
        (cast.officer, Role.INVESTIGATOR, UNRESTRICTED),
        (cast.manager, Role.MANAGER, Scope("drivers")),
        (cast.approver, Role.APPROVER, UNRESTRICTED),
        (cast.approver2, Role.APPROVER, UNRESTRICTED),
        (cast.member, Role.MEMBER, UNRESTRICTED),
        (cast.tipster, Role.MEMBER, UNRESTRICTED),
    ):
        await ctx.roles.grant(boss, person.id, role, scope)
    for p in (cast.boss, cast.officer, cast.manager, cast.approver, cast.approver2):
        await p.says("/start")
        await p.expect()
    db = world.db
    await db.notices.insert_many(
        [
            {
                "_id": "n1",
                "ref": "N-2611-07",
                "kind": "wanted",
                "title": "Stolen van",
                "status": "active",
                "created_by": cast.officer.id,
                "investigators": [cast.officer.id],
                "reward": {"amount": "1000.00", "currency": "CNY", "terms": "arrest"},
                "expires_at": None,
            },
            {
                "_id": "n2",
                "ref": "N-2611-08",
                "kind": "missing",
                "title": "Missing man",
                "status": "active",
                "created_by": cast.officer.id,
                "investigators": [],
                "reward": None,
                "expires_at": None,
            },
        ]
    )
    owners = {"T-AAAA3": cast.tipster, "T-AAAA4": cast.tipster2, "T-CCCC3": cast.tipster}
    owners["T-CCCC4"] = cast.tipster2
    repo = MongoTipRepository(db, world.clock)
    for code, (tip_id, notice, sector, area) in TIPS.items():
        who = owners[code]
        tip = Tip(
            tip_id=tip_id,
            code=code,
            notice_id=notice,
            category=None,
            parts=(Part(PartKind.TEXT, "a white van at the station"),),
            locations=(),
            sector=sector,
            area=area,
            pseudonym=f"P-{tip_id}",
            status=TipStatus.IN_PROGRESS,
            created_at=START,
            updated_at=START,
            notice_title="Stolen van" if notice == "n1" else None,
        )
        lang = "zh-CN" if who is cast.tipster2 else "en"
        await repo.create(
            tip, TipsterIdentity(tip_id, who.id, who.user["first_name"], language=lang)
        )
    return cast


def buttons(message: dict[str, Any]) -> list[str]:
    rows = message.get("reply_markup", {}).get("inline_keyboard", [])
    return [b["callback_data"] for row in rows for b in row]


async def answer_of(world: World, qid: str) -> str:
    answer = await wait_until(lambda: world.tg.answered_callback(qid))
    return str(answer.get("text") or "")


async def reward_doc(world: World, code: str) -> dict[str, Any]:
    doc = await wait_until(lambda: world.db.rewards.find_one({"tip_code": code}))
    assert isinstance(doc, dict)
    return doc


async def state_of(world: World, reward_id: str) -> Any:
    store = MongoRewardStore(world.db)
    record = await store.record(reward_id)
    assert record is not None
    return fold(record, await store.events(reward_id))


async def test_outcome_proposal_approval_payment_and_the_tipsters_side(world: World) -> None:
    c = await setup(world, **{"town-a": "Visit Town A police station with your tip code"})
    await c.officer.says("/outcome T-AAAA3 decisive suspect arrested with the van")
    await c.officer.expect("Outcome of tip T-AAAA3 recorded: decisive")
    tip = await world.db.tips.find_one({"_id": "tip1"})
    assert tip is not None and tip["status"] == "verified"
    rid = (await reward_doc(world, "T-AAAA3"))["_id"]

    # Both approvers get the card; the proposer does not.
    card = await c.approver.expect("New reward proposal")
    assert "¥1,000.00" in card["text"] and "N-2611-07" in card["text"] and rid in card["text"]
    card2 = await c.approver2.expect("New reward proposal")
    assert not [m for m in c.officer.inbox() if "New reward proposal" in (m.get("text") or "")]

    # Nobody learns anything about the reward through /reward except the tipster.
    await c.tipster.says("/reward T-AAAA3")
    await c.tipster.expect("under review")
    unknown = Translator("en")("rewards.status_unknown")
    for someone, lang in ((c.member, "en"), (c.officer, "en"), (c.tipster2, "zh-CN")):
        await someone.says("/reward T-AAAA3")
        assert (await someone.expect())["text"] == Translator(lang)("rewards.status_unknown")
    # Asked in a group, the question disappears and is answered privately.
    group = world.tg.add_group(-100777, "Drivers A", members=[c.tipster.user])
    asked = await c.tipster.says("/reward T-AAAA3", chat=group)
    await c.tipster.expect("never ask about a reward in a group")
    await wait_until(lambda: world.tg.is_deleted(asked))
    assert not [m for m in world.tg.sent_to(-100777) if "T-AAAA3" in (m.get("text") or "")]
    for code in ("T-99999", "T-ZZZZ9", "<b>"):
        await c.member.says(f"/reward {code}")
        assert (await c.member.expect())["text"] == unknown

    # Approval with the card's button: the tipster is told the amount and how to claim.
    qid = await c.approver.presses(card, buttons(card)[0])
    assert rid in await answer_of(world, qid)
    told = await c.tipster.expect("Your tip earned a reward: ¥1,000.00")
    assert "T-AAAA3" in told["text"].splitlines()[0]  # headed by the tip code
    assert "Visit Town A police station with your tip code" in told["text"]
    assert str(c.approver.id) not in told["text"] and "alice" not in told["text"].lower()
    await c.officer.expect("was approved")
    edited = world.tg.current(card)
    assert buttons(edited) == [] and "approved" in edited["text"]
    await c.tipster.says("/reward t-aaaa3")
    status = await c.tipster.expect("is approved: ¥1,000.00")
    assert "Visit Town A police station" in status["text"]

    # The second approver's card is now stale; a second approval changes nothing.
    qid = await c.approver2.presses(card2, buttons(card2)[0])
    assert "no longer valid" in await answer_of(world, qid)

    # Payment, recorded by an approver, with reference, method and date.
    await c.approver2.says(f"/paid {rid} bitcoin X1")
    await c.approver2.expect("Unknown payment method")
    await c.approver2.says(f"/paid {rid} cash RC-2026-118 2026-13-01")
    await c.approver2.expect("Invalid date")
    await c.approver2.says(f"/paid {rid} cash RC-2026-118 2026-11-24")
    await c.approver2.expect("in the future")
    await c.approver2.says(f"/paid {rid} cash RC-2026-118")
    await c.approver2.expect(f"Payment of reward {rid} recorded: ¥1,000.00 on 2026-11-23")
    await c.tipster.expect("recorded as paid on 2026-11-23")
    await c.tipster.says("/reward T-AAAA3")
    await c.tipster.expect("was paid on 2026-11-23")

    # The append-only history, and the state replayed from it.
    await c.approver.says(f"/reward_info {rid}")
    info = (await c.approver.expect("History (append-only)"))["text"]
    for word in ("proposed", "approved", "payment recorded", "RC-2026-118"):
        assert word in info
    state = await state_of(world, rid)
    assert state.state is RewardState.PAID and state.amount == Decimal("1000.00")
    # What the bot shows is that replayed state.
    assert f"Reward {rid} · {state.state.value}" in info and "Amount: ¥1,000.00" in info
    assert state.approved_by == c.approver.id and state.paid_by == c.approver2.id
    assert [e.actor_id for e in state.events] == [c.officer.id, c.approver.id, c.approver2.id]
    events = [d async for d in world.db.reward_events.find({"reward_id": rid})]
    assert all(isinstance(d["amount"], str | None) for d in events)  # never floats
    actions = {d["action"] async for d in world.db.audit.find({"object_id": rid})}
    assert {"reward.proposed", "reward.approved", "reward.paid"} <= actions


async def test_split_between_two_decisive_tips(world: World) -> None:
    c = await setup(world)
    await c.officer.says("/outcome T-AAAA3 decisive arrest")
    await c.officer.expect("¥1,000.00")
    first_card = await c.approver.expect("New reward proposal")
    world.clock.advance(60)
    await c.officer.says("/outcome T-AAAA4 decisive van recovered")
    reply = (await c.officer.expect("Outcome of tip T-AAAA4 recorded"))["text"]
    first = (await reward_doc(world, "T-AAAA3"))["_id"]
    second = (await reward_doc(world, "T-AAAA4"))["_id"]
    assert f"Reward {first} on the same notice re-split to ¥500.00" in reply
    await c.approver.expect("New reward proposal")
    changed = await c.approver.expect("A reward proposal changed")
    assert first in changed["text"] and "¥500.00" in changed["text"]
    assert (await state_of(world, first)).amount == Decimal("500.00")
    assert (await state_of(world, second)).amount == Decimal("500.00")
    # The card that still shows ¥1,000.00 cannot approve anything.
    qid = await c.approver.presses(first_card, buttons(first_card)[0])
    assert "no longer valid" in await answer_of(world, qid)
    assert (await state_of(world, first)).state is RewardState.PROPOSED
    # The re-split is in the history with its reason.
    await c.approver.says(f"/reward_info {first}")
    info = (await c.approver.expect("History"))["text"]
    assert "re-split" in info and "offer shared among 2 decisive tips" in info
    # The Chinese tipster gets Chinese.
    qid = await c.approver.presses(changed, buttons(changed)[0])
    await answer_of(world, qid)
    await c.approver.says(f"/approve_reward {second}")
    await c.approver.expect("approved")
    told = await c.tipster2.expect("您的线索获得奖励：¥500.00")
    assert "派出所" in told["text"]


async def test_two_person_rule_rejection_and_refusals(world: World) -> None:
    c = await setup(world)
    await c.officer.says("/outcome T-AAAA3 decisive arrest")
    await c.officer.expect("Reward proposal")
    rid = (await reward_doc(world, "T-AAAA3"))["_id"]
    # The superadmin changes the amount, so they may not decide on it.
    await c.boss.says("/propose T-AAAA3 1,200.50 recovered goods worth more")
    await c.boss.expect(f"Reward {rid} changed to ¥1,200.50")
    await c.boss.says(f"/approve_reward {rid}")
    await c.boss.expect("Two-person rule")
    # Officers and members are not approvers; approvers need a reason to reject.
    await c.officer.says(f"/approve_reward {rid}")
    await c.officer.expect("not allowed")
    await c.member.says("/outcome T-AAAA3 useful")
    await c.member.expect("not allowed")
    await c.approver.says(f"/reject_reward {rid}")
    await c.approver.expect("Usage: /reject_reward")
    state = await state_of(world, rid)
    assert state.state is RewardState.PROPOSED and state.version == 2

    # Malformed input changes nothing.
    for text, answer in (
        ("/propose T-AAAA3 -5 less", "Invalid amount"),
        ("/propose T-AAAA3 12.345 odd", "Invalid amount"),
        ("/propose T-AAAA3 1e9 big", "Invalid amount"),
        ("/propose T-AAAA3 2000000 big", "exceeds the limit"),
        ("/propose T-99999 100 who", "not found"),
        ("/propose T-AAAA3 300", "Usage: /propose"),
        ("/outcome T-AAAA3 brilliant", "Unknown outcome"),
        ("/outcome T-AAAA4 decisive", "needs a note"),
    ):
        await c.officer.says(text)
        await c.officer.expect(answer)
    assert (await state_of(world, rid)).version == 2
    assert await world.db.rewards.count_documents({}) == 1

    # Forged and malformed buttons.
    for data, answer in (
        ("rw:a:R-ZZZZZZ:1", "Invalid action"),
        (f"rw:x:{rid}:2", "Invalid action"),
        ("rw:a", "Invalid action"),
    ):
        msg = await c.approver.says("hello")
        qid = await world.tg.press(c.approver.user, msg, data, strict=False)
        assert answer in await answer_of(world, qid)
    assert (await state_of(world, rid)).version == 2

    # Rejection with a reason, by another approver.
    await c.approver.says(f"/reject_reward {rid} duplicate of an earlier report")
    await c.approver.expect(f"Reward {rid} rejected")
    await c.officer.expect("was rejected: duplicate of an earlier report")
    await c.approver2.says(f"/approve_reward {rid}")
    await c.approver2.expect("cannot be approved")
    await c.tipster.says("/reward T-AAAA3")
    await c.tipster.expect("will not be rewarded")
    state = await state_of(world, rid)
    assert state.state is RewardState.REJECTED
    assert state.reject_reason == "duplicate of an earlier report"
    # The tipster heard nothing of the proposal or the rejection.
    assert not [m for m in c.tipster.inbox() if "earned" in (m.get("text") or "")]


async def test_discretionary_reward_for_a_general_tip(world: World) -> None:
    c = await setup(world)
    await c.officer.says("/outcome T-CCCC3 useful helpful description")
    await c.officer.expect("no usable notice offer")
    assert await world.db.rewards.count_documents({}) == 0
    await c.officer.says("/propose T-CCCC3 200 helped")
    await c.officer.expect("only a manager")
    await c.manager.says("/propose T-CCCC3 ¥200 identified the vehicle")
    await c.manager.expect("Reward proposal")
    card = await c.approver.expect("discretionary")
    assert "¥200.00" in card["text"]
    rid = (await reward_doc(world, "T-CCCC3"))["_id"]
    # The reject button asks for the reason with the command to send.
    qid = await c.approver.presses(card, buttons(card)[1])
    await answer_of(world, qid)
    await c.approver.expect(f"/reject_reward {rid} <reason>")
    assert (await state_of(world, rid)).state is RewardState.PROPOSED
    # Approved, then cancelled (never claimed): the tipster hears of both.
    await c.approver.says("/approve_reward t-cccc3")
    await c.approver.expect("approved")
    await c.tipster.expect("Your tip earned a reward: ¥200.00")
    await c.manager.says(f"/cancel_reward {rid} not claimed")
    await c.manager.expect("not allowed")  # only approvers cancel approved rewards
    await c.approver.says(f"/cancel_reward {rid}")
    await c.approver.expect("Usage: /cancel_reward")
    await c.approver.says(f"/cancel_reward {rid} not claimed within 90 days")
    await c.approver.expect(f"Reward {rid} cancelled")
    await c.tipster.expect("was cancelled")
    await c.tipster.says("/reward T-CCCC3")
    await c.tipster.expect("The reward for tip T-CCCC3 was cancelled")
    await c.approver.says(f"/paid {rid} cash R1")
    await c.approver.expect("Only approved, unpaid rewards")
    state = await state_of(world, rid)
    assert state.state is RewardState.CANCELLED
    assert state.cancel_reason == "not claimed within 90 days"
    assert state.cancelled_by == c.approver.id
    # Not useful: the tip moves, no reward can be proposed.
    await c.officer.says("/outcome T-CCCC4 not_useful")
    await c.officer.expect("not useful")
    tip = await world.db.tips.find_one({"_id": "tip4"})
    assert tip is not None and tip["status"] == "not_useful"


async def test_reminders_follow_the_controllable_clock(world: World) -> None:
    c = await setup(world)
    await c.officer.says("/outcome T-AAAA3 decisive arrest")
    await c.officer.expect("Reward proposal")
    await c.approver.expect("New reward proposal")
    rid = (await reward_doc(world, "T-AAAA3"))["_id"]
    await world.advance(timedelta(days=3).total_seconds() - 60, "rewards.remind")
    await c.approver.expect_nothing_new()
    await world.advance(60, "rewards.remind")
    reminder = await c.approver.expect("waited for approval longer")
    assert rid in reminder["text"] and "waiting 3 day(s)" in reminder["text"]
    await c.approver2.expect("waited for approval longer")
    await world.advance(3600, "rewards.remind")
    await c.approver.expect_nothing_new()
    assert not [m for m in c.officer.inbox() if "waited" in (m.get("text") or "")]
    await world.advance(timedelta(days=3).total_seconds(), "rewards.remind")
    await c.approver.expect("waiting 6 day(s)")
    await c.approver.says(f"/approve_reward {rid}")
    await c.approver.expect("approved")
    await world.advance(timedelta(days=30).total_seconds(), "rewards.remind")
    await c.approver.expect_nothing_new()


async def test_ledger_totals_and_csv_from_known_data(world: World) -> None:
    c = await setup(world)
    # Known data: A decisive (approved, paid), B decisive (approved, unpaid), C
    # discretionary (proposed), all in November 2026.
    await c.officer.says("/outcome T-AAAA3 decisive arrest")
    await c.officer.expect("Reward proposal")
    world.clock.advance(60)
    await c.officer.says("/outcome T-AAAA4 decisive van")
    await c.officer.expect("re-split")
    a = (await reward_doc(world, "T-AAAA3"))["_id"]
    b = (await reward_doc(world, "T-AAAA4"))["_id"]
    await c.officer.says("/outcome T-CCCC3 useful")
    await c.officer.expect("no usable")
    await c.manager.says("/propose T-CCCC3 80 helpful")
    await c.manager.expect("Reward proposal")
    cc = (await reward_doc(world, "T-CCCC3"))["_id"]
    await c.approver.says(f"/approve_reward {a}")
    await c.approver.expect("approved")
    await c.approver.says(f"/approve_reward {b}")
    await c.approver.expect("approved")
    await c.approver.says(f"/paid {a} bank TX-77")
    await c.approver.expect("recorded")

    await c.approver.says("/rewards 2026-11")
    text = (await c.approver.expect("Rewards ledger · 2026-11"))["text"]
    assert "Awaiting approval (1):" in text and cc in text and "¥80.00" in text
    assert "Approved, not yet paid (1):" in text and b in text
    assert "• N-2611-07: ¥1,000.00 (2) / ¥500.00 (1)" in text
    assert "• drivers: ¥1,000.00 (2) / ¥500.00 (1)" in text
    assert "• town-a: ¥500.00 (1) / ¥500.00 (1)" in text
    assert "• town-b: ¥500.00 (1) / ¥0.00 (0)" in text
    assert "• 2026-11: ¥1,000.00 (2) / ¥500.00 (1)" in text
    await c.approver.says("/rewards 2026-10")
    await c.approver.expect("No reward was approved or paid in this period")
    await c.manager.says("/rewards all")
    assert "N-2611-07" in (await c.manager.expect("Rewards ledger · all"))["text"]
    await c.officer.says("/rewards")
    await c.officer.expect("not allowed")

    await c.approver.says("/rewards_csv 2026-11-01 2026-11")
    doc = await c.approver.expect("Rewards ledger 2026-11-01..2026-11-30: 3 row(s)")
    data = world.tg.files[doc["document"]["file_id"]].data.decode("utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(data)))
    by_id = {r["reward_id"]: r for r in rows}
    assert set(by_id) == {a, b, cc}
    assert by_id[a]["state"] == "paid" and by_id[a]["amount"] == "500.00"
    assert by_id[a]["method"] == "bank" and by_id[a]["reference"] == "TX-77"
    assert by_id[a]["paid_on"] == "2026-11-23" and by_id[a]["currency"] == "CNY"
    assert by_id[b]["state"] == "approved" and by_id[b]["approved_by"] == str(c.approver.id)
    assert by_id[cc]["basis"] == "discretionary" and by_id[cc]["state"] == "proposed"
    await c.approver.says("/rewards_csv 2026-12-01 2026-11-01")
    await c.approver.expect("before the start")
    await c.approver.says("/rewards_csv 2026-10-01 2026-10-31")
    empty = await c.approver.expect("0 row(s)")
    assert empty["document"]["file_id"]

    async def exports() -> bool:
        return await world.db.audit.count_documents({"action": "reward.export"}) == 2

    await wait_until(exports)
