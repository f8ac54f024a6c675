"""Issue 13 (items 7-9) end to end: no reward is approved by the person who stands to gain
from it or who set its amount, and one maximum bounds offers and every proposal.

The real bot over the fake Bot API and the real database; tips are created with the tips
feature's own repository (``setup`` of ``test_rewards``), so the real
``tipster_messenger`` answers whether the person acting sent the tip.
"""

from __future__ import annotations

from decimal import Decimal

from bot.i18n import Translator
from groups.roles import UNRESTRICTED, Role
from rewards.model import Basis, EventKind, RewardEvent, RewardRecord, RewardState
from storage.rewards import MongoRewardStore
from tests.e2e.harness import START, SUPERADMIN_ID, World, wait_until
from tests.e2e.test_notices import compose, investigator, nt, seed
from tests.e2e.test_rewards import answer_of, buttons, reward_doc, state_of
from tests.e2e.test_rewards import setup as cast_of

EN = Translator("en")


async def grant(world: World, user_id: int, role: Role) -> None:
    ctx = world.app.ctx
    boss = await ctx.roles.principal(SUPERADMIN_ID)
    await ctx.roles.grant(boss, user_id, role, UNRESTRICTED)


async def test_item7_an_approver_may_not_decide_on_a_reward_for_their_own_tip(
    world: World,
) -> None:
    c = await cast_of(world)
    await grant(world, c.tipster.id, Role.APPROVER)  # tina sent T-AAAA3 and approves
    await c.tipster.says("/start")
    await c.tipster.expect()
    await c.officer.says("/outcome T-AAAA3 decisive suspect arrested")
    await c.officer.expect("Reward proposal")
    rid = (await reward_doc(world, "T-AAAA3"))["_id"]
    await c.approver.expect("New reward proposal")
    await c.approver2.expect("New reward proposal")
    refusal = EN("rewards.self_approval", reward_id=rid)

    # Command, by reward id and by tip code, and reject: one and the same refusal.
    for text in (f"/approve_reward {rid}", "/approve_reward t-aaaa3", f"/reject_reward {rid} no"):
        await c.tipster.says(text)
        assert (await c.tipster.expect())["text"] == refusal
    # The button, on a card for the current version: refused as well.
    msg = await c.tipster.says("hello")
    qid = await world.tg.press(c.tipster.user, msg, f"rw:a:{rid}:1", strict=False)
    assert await answer_of(world, qid) == refusal
    state = await state_of(world, rid)
    assert state.state is RewardState.PROPOSED and state.version == 1
    # No card with buttons came to them, and /reward_info offers none.
    assert not [m for m in c.tipster.inbox() if "reward proposal" in (m.get("text") or "")]
    await c.tipster.says(f"/reward_info {rid}")
    info = await c.tipster.expect("History")
    assert buttons(info) == []
    # The refusal is exactly what a barred proposer gets: it tells the tipster nothing new.
    await c.boss.says("/propose T-AAAA3 900 part of the goods only")
    await c.boss.expect("changed to ¥900.00")
    await c.boss.says(f"/approve_reward {rid}")
    boss_refusal = (await c.boss.expect())["text"]
    assert boss_refusal == refusal
    await c.tipster.says(f"/approve_reward {rid}")
    assert (await c.tipster.expect())["text"] == refusal
    # Another approver approves; the tipster may not record the payment to themselves.
    await c.approver.says(f"/approve_reward {rid}")
    await c.approver.expect("approved")
    await c.tipster.expect("Your tip earned a reward: ¥900.00")
    await c.tipster.says(f"/paid {rid} cash RC-1")
    assert (await c.tipster.expect())["text"] == EN("rewards.self_payment", reward_id=rid)
    assert (await state_of(world, rid)).state is RewardState.APPROVED
    await c.approver2.says(f"/paid {rid} cash RC-1")
    await c.approver2.expect("recorded")
    # Being an approver is no bar on someone else's tip.
    await c.officer.says("/outcome T-AAAA4 decisive van recovered")
    await c.officer.expect("Outcome of tip T-AAAA4 recorded")
    other = (await reward_doc(world, "T-AAAA4"))["_id"]
    card = await c.tipster.expect("New reward proposal")
    assert other in card["text"]
    await c.tipster.says(f"/approve_reward {other}")
    await c.tipster.expect(f"Reward {other} (¥500.00) approved")


async def test_item8_whoever_resplit_an_amount_may_not_approve_it(world: World) -> None:
    c = await cast_of(world)
    await grant(world, c.manager.id, Role.APPROVER)  # mia manages drivers and approves
    await c.officer.says("/outcome T-AAAA3 decisive arrest")
    await c.officer.expect("Reward proposal")
    world.clock.advance(60)
    await c.officer.says("/outcome T-AAAA4 decisive van recovered")
    await c.officer.expect("re-split to ¥500.00")
    a = (await reward_doc(world, "T-AAAA3"))["_id"]
    b = (await reward_doc(world, "T-AAAA4"))["_id"]
    await world.idle()  # the cards of the re-split have gone out
    c.manager.skip_inbox()
    c.approver.skip_inbox()

    # Mia makes T-AAAA4 merely useful: T-AAAA3's share goes from 500 to 1000 in her name.
    world.clock.advance(60)
    await c.manager.says("/outcome T-AAAA4 useful")
    reply = (await c.manager.expect("Outcome of tip T-AAAA4 recorded"))["text"]
    assert f"Reward {a} on the same notice re-split to ¥1,000.00" in reply
    state = await state_of(world, a)
    assert state.amount == Decimal("1000.00") and state.events[-1].kind is EventKind.RESPLIT
    assert state.events[-1].actor_id == c.manager.id
    changed = await c.approver.expect("A reward proposal changed")
    assert a in changed["text"] or b in changed["text"]
    # Neither changed proposal is put before her: she changed both amounts.
    await c.manager.expect_nothing_new()

    refusal = EN("rewards.self_approval", reward_id=a)
    await c.manager.says(f"/approve_reward {a}")
    assert (await c.manager.expect())["text"] == refusal
    await c.manager.says(f"/reject_reward {a} too much")
    assert (await c.manager.expect())["text"] == refusal
    msg = await c.manager.says("hello")
    qid = await world.tg.press(c.manager.user, msg, f"rw:a:{a}:{state.version}", strict=False)
    assert await answer_of(world, qid) == refusal
    assert (await state_of(world, a)).state is RewardState.PROPOSED
    await c.manager.says(f"/reward_info {a}")
    assert buttons(await c.manager.expect("History")) == []

    # An approver whose action changed nothing decides, at the re-split amount.
    await c.approver.says(f"/approve_reward {a}")
    await c.approver.expect(f"Reward {a} (¥1,000.00) approved")
    assert (await state_of(world, a)).approved_by == c.approver.id


async def test_item9_a_notice_offer_above_the_maximum_is_refused_at_compose_time(
    world: World,
) -> None:
    await world.runner.restart(rewards_max_amount=Decimal("4000"))
    await seed(world)
    inv = await investigator(world)
    await inv.says("/notice")
    msg = await inv.expect("choose the kind")
    await inv.presses(msg, nt("k", "publicity"))
    await inv.expect("title")
    await inv.says("Watch for the van")
    await inv.expect("notice text")
    await inv.says("White van, plate unknown.")
    msg = await inv.expect("Send photos")
    await inv.presses(msg, nt("ph_ok"))
    msg = await inv.expect("case number")
    await inv.presses(msg, nt("skip"))
    await inv.expect("reward amount")
    limit = EN("notices.err.reward_too_large", max="4,000")
    for text in ("4000.01 arrest", "5,000", "2000000元", "10000000"):
        await inv.says(text)
        assert (await inv.expect())["text"] == limit
    draft = await world.db.notice_drafts.find_one({})
    assert draft is not None and not draft.get("reward")
    await inv.says("4000 for the arrest")
    await inv.expect("Choose who receives it")
    draft = await world.db.notice_drafts.find_one({})
    assert draft is not None and Decimal(str(draft["reward"]["amount"])) == Decimal("4000")


async def test_item9_a_saved_draft_above_a_lowered_maximum_is_not_sent(world: World) -> None:
    await seed(world)
    inv = await investigator(world)
    summary = await compose(world, inv)  # offers 5000, within the default maximum
    await world.runner.restart(rewards_max_amount=Decimal("3000"))
    await inv.presses(summary, nt("send"))

    def refused() -> bool:
        return any(
            "at most CNY 3,000" in c.params.get("text", "")
            for c in world.tg.calls_of("answerCallbackQuery")
        )

    await wait_until(refused)
    await world.idle()
    assert await world.db.notices.count_documents({}) == 0


async def test_item9_proposals_never_exceed_the_maximum(world: World) -> None:
    c = await cast_of(world)
    # A notice whose offer was accepted before the maximum applied to offers.
    await world.db.notices.update_one({"_id": "n1"}, {"$set": {"reward.amount": "2000000.00"}})
    await c.officer.says("/outcome T-AAAA3 decisive arrest")
    reply = (await c.officer.expect("Outcome of tip T-AAAA3 recorded"))["text"]
    assert (
        EN(
            "rewards.offer_over_max",
            notice="N-2611-07",
            offer="¥2,000,000.00",
            max="¥1,000,000.00",
        )
        in reply
    )
    await world.idle()
    assert await world.db.rewards.count_documents({}) == 0
    assert not [m for m in c.approver.inbox() if "proposal" in (m.get("text") or "")]
    # By hand: at most the maximum, whoever proposes and however.
    await c.officer.says("/propose T-AAAA3 500 a share")
    await c.officer.expect("only a manager of its sector")
    await c.manager.says("/propose T-AAAA3 1000000.01 the offer")
    await c.manager.expect("exceeds the limit of ¥1,000,000.00")
    await c.manager.says("/propose T-AAAA3 ¥1,000,000 the most we may pay")
    await c.manager.expect("Reward proposal")
    rid = (await reward_doc(world, "T-AAAA3"))["_id"]
    assert (await state_of(world, rid)).amount == Decimal("1000000")
    await c.officer.says("/propose T-AAAA3 2000000 as the notice promised")
    await c.officer.expect("exceeds the limit")
    assert (await state_of(world, rid)).version == 1
    # A second decisive tip re-splits nothing from an offer above the maximum.
    await c.officer.says("/outcome T-AAAA4 decisive van")
    reply = (await c.officer.expect("Outcome of tip T-AAAA4 recorded"))["text"]
    assert "above the maximum" in reply and "on the same notice re-split" not in reply
    assert await world.db.rewards.count_documents({}) == 1


async def test_item9_a_stored_proposal_above_the_maximum_is_not_approved(world: World) -> None:
    c = await cast_of(world)
    # A proposal copied from an offer before the maximum applied (10,000,000 was accepted).
    store = MongoRewardStore(world.db)
    record = RewardRecord(
        "R-2222QQ", "tip1", "T-AAAA3", "n1", "N-2611-07", "drivers", "town-a", Basis.OFFER,
        "CNY", START,
    )  # fmt: skip
    first = RewardEvent(
        "R-2222QQ", 1, EventKind.PROPOSED, c.officer.id, START, amount=Decimal("10000000")
    )
    await store.create(record, first)
    await c.approver.says("/approve_reward R-2222QQ")
    answer = (await c.approver.expect())["text"]
    assert answer == EN(
        "rewards.over_max",
        reward_id="R-2222QQ",
        amount="¥10,000,000.00",
        max="¥1,000,000.00",
    )
    await c.approver.says("/reward_info R-2222QQ")
    card = await c.approver.expect("History")
    qid = await c.approver.presses(card, buttons(card)[0])
    assert await answer_of(world, qid) == answer
    assert (await state_of(world, "R-2222QQ")).state is RewardState.PROPOSED
    await c.officer.says("/propose T-AAAA3 5000 within the limit")
    await c.officer.expect("changed to ¥5,000.00")
    await c.approver.says("/approve_reward R-2222QQ")
    await c.approver.expect("R-2222QQ (¥5,000.00) approved")


async def test_forget_waits_until_the_tips_reward_is_decided_and_paid(world: World) -> None:
    """An approver who sent the tip could otherwise /forget it (nothing then tells them
    apart from any approver), approve their own reward and claim it with the tip code."""
    c = await cast_of(world)
    await grant(world, c.tipster.id, Role.APPROVER)
    await c.tipster.says("/start")
    await c.tipster.expect()
    await c.officer.says("/outcome T-AAAA3 decisive suspect arrested")
    await c.officer.expect("Reward proposal")
    rid = (await reward_doc(world, "T-AAAA3"))["_id"]
    refused = EN("tips.forget_reward_open", code="T-AAAA3")
    await c.tipster.says("/forget T-AAAA3")
    assert (await c.tipster.expect(refused))["text"] == refused
    await c.approver.says(f"/approve_reward {rid}")
    await c.approver.expect("approved")
    await c.tipster.says("/forget T-AAAA3")  # approved but not paid: still refused
    assert (await c.tipster.expect(refused))["text"] == refused
    # Still linked: they may not record the payment to themselves.
    await c.tipster.says(f"/paid {rid} cash RC-9")
    assert (await c.tipster.expect())["text"] == EN("rewards.self_payment", reward_id=rid)
    await c.approver2.says(f"/paid {rid} cash RC-9")
    await c.approver2.expect("recorded")
    await c.tipster.says("/forget T-AAAA3")
    await c.tipster.expect(EN("tips.forgotten", code="T-AAAA3"))
