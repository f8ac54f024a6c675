"""Issue 13, bad input and honesty: the real bot over the fake Bot API and the real database.

Each test here failed before its fix: a flood guard that forgot nothing and let edits and
join requests through, numbers that overflowed the database, buttons left spinning, relays
that failed silently, scope leaks of /remove and /ban, an acknowledgement the tipster never
heard of.
"""

from __future__ import annotations

import logging

import pytest

from tests.e2e.harness import BotRunner, World, wait_until

GROUP = -1001300000001


async def test_flood_guard_covers_edits_and_join_requests_and_forgets(
    world: World, runner: BotRunner
) -> None:
    await runner.restart(throttle_messages=2, throttle_window_s=10)
    guard = world.app.ctx.provided["throttle"]
    now = [1000.0]
    guard.clock = lambda: now[0]
    world.tg.add_group(GROUP, "Drivers")
    ann = world.person("ann", lang="en")

    await ann.says("/start")
    await ann.expect("Six Circles")
    said = await ann.says("/whoami")
    await ann.expect("User id")
    # Third update in the window: an edit. Refused, and said once.
    await world.tg.edit_message(said, "/whoami again")
    await ann.expect("Too many requests")
    # A button press is answered even when the warning was already given.
    qid = await world.tg.press(ann.user, said, "zz:nothing", strict=False)
    await wait_until(lambda: world.tg.answered_callback(qid) is not None)
    # A join request is declined (left pending nobody would decide it) and explained.
    await world.tg.join_request(ann.id, GROUP)
    await world.tg.wait_for_call("declineChatJoinRequest", chat_id=GROUP)
    await ann.expect("ask to join again")
    assert await world.db.applications.count_documents({}) == 0

    # Many people hit the guard; a window later it remembers none of them.
    for i in range(5):
        p = world.person(f"p{i}", lang="en")
        for _ in range(3):
            await p.says("/whoami")
        await p.expect("Too many requests")
    assert guard.tracked() == (6, 6)
    now[0] += 11
    await ann.says("/whoami")
    await ann.expect("User id")
    assert guard.tracked() == (1, 0)


async def test_numbers_are_range_checked_and_every_button_is_answered(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    from bot.routers.tips import TipPage
    from tests.e2e.test_tips import REF, seed_notice

    caplog.set_level(logging.WARNING, logger="six_circles.errors")
    await seed_notice(world)
    boss = world.superadmin(lang="en")
    huge = "99999999999999999999"

    # /tips <ref> <page>: a page must be 1..9999 (full-width digits are fine).
    for page in (huge, "0", "-2", "²", "1_0", "3.5"):
        await boss.says(f"/tips {REF} {page}")
        await boss.expect("The page must be a whole number from 1 to 9999")
    await boss.says(f"/tips {REF} ２")
    listing = await boss.expect(f"No tips you may see on notice {REF}")

    # Forged, malformed and stale buttons are all answered; the real one works.
    async def pressed(data: str) -> str:
        qid = await world.tg.press(boss.user, listing, data, strict=False)
        answer = await wait_until(lambda: world.tg.answered_callback(qid))
        return str(answer.get("text", ""))

    for data in (f"tpl:{REF}:{huge}", f"tpl:{REF}:-1", f"tpl:{REF}:abc", "tpl:x", "zz", "x:1:2"):
        assert await pressed(data) == "Invalid action.", data
    for data in ("nm:upd:N-2611-07:", "nt:send:"):  # well formed, but no dialog is waiting
        assert await pressed(data) == "This button is no longer valid.", data
    assert await pressed(TipPage(ref=REF, page=0).pack()) == ""

    # Duty: days, operators per shift, escalation minutes and a duty group id.
    for command, answer in (
        (f"/sla {huge}", "Days must be between 1 and 366"),
        ("/sla ²", "Days must be between 1 and 366"),
        (f"/schedule {huge}", "Days must be between 1 and 31"),
        ("/myshifts ²", "Days must be between 1 and 31"),
        ("/team_add dx 2x12 ²", "Usage: /team_add"),
        (f"/team_add dx 2x12 {huge}", "Usage: /team_add"),
        ("/team_add dx 2x12 1", "Duty team dx created"),
        (f"/team_set dx chat -{huge}", "Invalid duty group id"),
        ("/team_set dx chat 12", "Invalid duty group id"),
        ("/team_set dx per_shift ²", "Operators per shift must be between 1 and 20"),
        (f"/team_set dx per_shift {huge}", "Operators per shift must be between 1 and 20"),
        ("/team_set dx escalation ² 5", "Escalation times must be 1 to 1440 minutes"),
        (f"/team_set dx escalation 5 {huge}", "Escalation times must be 1 to 1440 minutes"),
        (f"/notice_repeat {REF} ²", "Usage: /notice_repeat"),
        (f"/notice_repeat {REF} {huge}", "Usage: /notice_repeat"),
        # Dates near the calendar's ends overflowed date arithmetic and the database.
        ("/unavailable 9999-12-31", "out of range: it must lie in the years 2000 to 2099"),
        ("/team_set dx start 0001-01-01", "out of range: it must lie in the years 2000 to 2099"),
        ("/near 5 0001-01-01..2026-01-01", "out of range: dates must lie in the years 2000"),
    ):
        await boss.says(command)
        await boss.expect(answer)
    team = await world.db.duty_teams.find_one({})
    assert team is not None and team["per_shift"] == 1 and team.get("duty_chat_id") is None
    await world.idle()
    assert not [r.getMessage() for r in caplog.records]


async def test_first_acknowledgement_from_a_duty_card_tells_the_tipster(world: World) -> None:
    from tests.e2e.test_duty import ZH, button, crew, make_team, member, send_tip
    from tests.e2e.test_duty import seed_notice as seed_duty_notice

    ops, mgr, inv = await crew(world)
    op1, op2, _, _ = ops
    await make_team(world, ops, mgr)
    await seed_duty_notice(world, [inv.id])
    tia = await member(world, "tia")
    code = await send_tip(tia, "白色面包车停在加油站后面")
    card = await op2.expect(code)
    await op1.expect(code)

    await op2.presses(card, button(card, "dack:"))
    told = await tia.expect(ZH("tips.status_changed.acknowledged"))
    assert code in told["text"]
    assert "Op2" not in told["text"] and "op2" not in told["text"]

    # Her reply is a new thread message; acknowledging that one tells her nothing more.
    await tia.says("车牌是浙A12345", reply_to=told)
    await tia.expect(code)
    message_card = await op1.expect("浙A12345")
    await op1.presses(message_card, button(message_card, "dack:"))
    await world.idle()
    await tia.expect_nothing_new()

    # A tipster who unlinked the tip (/forget) before it was taken hears nothing.
    bob = await member(world, "bob")
    code2 = await send_tip(bob, "另一条线索")
    card2 = await op2.expect(code2)
    await bob.says(f"/forget {code2}")
    await bob.expect(code2)
    await op2.presses(card2, button(card2, "dack:"))
    await wait_until(lambda: world.db.tips.find_one({"code": code2, "status": "acknowledged"}))
    await world.idle()
    await bob.expect_nothing_new()


def long_text(units: int) -> str:
    """Lines of Chinese with an emoji (two UTF-16 units each) up to about ``units``."""
    from broadcasts.text import utf16_len

    lines: list[str] = []
    i = 0
    while utf16_len("\n".join([*lines, f"第{i}行：白色面包车向北行驶😀"])) <= units:
        lines.append(f"第{i}行：白色面包车向北行驶😀")
        i += 1
    return "\n".join(lines)


async def test_long_thread_messages_arrive_whole_and_failed_relays_are_reported(
    world: World,
) -> None:
    from broadcasts.text import utf16_len
    from groups.roles import Role, Scope
    from tests.e2e.test_tips import ZH, head, member, officer, send_tip
    from tests.e2e.test_tips import seed_notice as seed_tip_notice
    from tests.fakebot import TgError

    await seed_tip_notice(world)
    ann = await member(world, "ann")
    code = await send_tip(ann, world, "看到可疑人员")
    inv = await officer(world, "ivan", Role.INVESTIGATOR, Scope("drivers"))
    await inv.says("/start")
    await inv.expect()
    await inv.says(f"/tipinfo {code}")
    card = await inv.expect(code)

    # Officer -> tipster: a full 4,096-unit message no longer fits under the header.
    question = long_text(4096)
    assert utf16_len(question) > 4000
    await inv.says(question, reply_to=card)
    await inv.expect(head("tips.relayed"))
    first = await ann.expect(code)
    pieces = [first]
    while "\n".join(m["text"] for m in pieces).count("第") < question.count("第"):
        pieces.append(await ann.expect())
    assert len(pieces) >= 2 and question in "\n".join(m["text"] for m in pieces)

    # Tipster -> officer: the same, every piece a tip card the officer can answer.
    answer = long_text(4096)
    await ann.says(answer, reply_to=pieces[-1])
    await ann.expect(head("tips.added_to_thread"))
    got = [await inv.expect(code)]
    while "\n".join(m["text"] for m in got).count("第") < answer.count("第"):
        got.append(await inv.expect())
    assert len(got) >= 2 and answer in "\n".join(m["text"] for m in got)
    await inv.says("收到，谢谢", reply_to=got[-1])
    await inv.expect(head("tips.relayed"))
    await ann.expect("收到，谢谢")

    # Failures name Telegram's real reason and are never reported as passed on.
    world.tg.block_bot(ann.user)
    await inv.says("还在吗？", reply_to=card)
    refused = await inv.expect(code)
    assert refused["text"] == ZH("tips.relay_failed", code=code, reason=ZH("tips.why.blocked")), (
        refused["text"]
    )
    world.tg.block_bot(ann.user, blocked=False)
    world.tg.fail_next("sendMessage", TgError.bad_request("chat not found"), chat_id=ann.id)
    await inv.says("请回复", reply_to=card)
    refused = await inv.expect(code)
    assert (
        ZH("tips.why.not_found") in refused["text"] and head("tips.relayed") not in refused["text"]
    )
    # Part of a long message delivered: said so, with how much.
    from bot.kit.text import split_text

    again = long_text(4096)
    header = ZH("tips.thread_header_notice", code=code, title="寻找白色面包车")
    second = split_text(f"{header}\n\n{ZH('tips.officer_says')}\n{again}")[1]
    world.tg.fail_next("sendMessage", TgError.forbidden("user is deactivated"), text=second)
    await inv.says(again, reply_to=card)
    partial = await inv.expect(code)
    assert partial["text"] == ZH(
        "tips.relay_partial", code=code, sent=1, total=2, reason=ZH("tips.why.deactivated")
    ), partial["text"]

    # The officer blocked the bot: the tipster learns it did not reach them, and why.
    relayed = [m for m in ann.inbox() if code in (m.get("text") or "")][-1]
    ann.skip_inbox()
    world.tg.block_bot(inv.user)
    await ann.says("补充：车往北开了", reply_to=relayed)
    told = await ann.expect(code)
    assert told["text"] == ZH("tips.forward_failed", code=code, reason=ZH("tips.why.blocked"))
    thread = [d async for d in world.db.tip_messages.find({"direction": "tipster"})]
    assert any("车往北开了" in p.get("text", "") for d in thread for p in d["parts"])


async def test_a_long_tip_reaches_duty_and_open_and_tipinfo_show_all_of_it(world: World) -> None:
    """Cards were cut by characters, not by Telegram's UTF-16 units: a tip full of emoji
    made a card Telegram refused, so no operator got it; Open and /tipinfo cut the text."""
    from bot.routers.tips import TipCb
    from broadcasts.text import utf16_len
    from tests.e2e.test_duty import REF, ZH, button, crew, head, make_team, member
    from tests.e2e.test_duty import seed_notice as seed_duty_notice

    ops, mgr, inv = await crew(world)
    op1 = ops[0]
    await make_team(world, ops, mgr)
    await seed_duty_notice(world, [inv.id])
    tia = await member(world, "tia")
    await tia.says(f"/start tip_{REF}")
    await tia.expect(head("tips.panel_hint"))
    await tia.says("开头标记" + "😀" * 1000)
    await tia.expect(head("tips.added"))
    await tia.says("🚐" * 1000 + "结尾标记")
    ack = await tia.expect(head("tips.added"))
    await tia.presses(ack, TipCb(action="send").pack())
    await tia.expect(head("tips.received"))

    card = await op1.expect(head("duty.card_new_tip"))
    assert utf16_len(card["text"]) <= 4096 and "开头标记" in card["text"]

    def whole(messages: list[dict[str, object]]) -> str:
        return "".join(str(m.get("text") or "") for m in messages)

    await op1.presses(card, button(card, "dopen:"))
    opened = [await op1.expect(head("duty.card_open"))]
    while "结尾标记" not in whole(opened):
        opened.append(await op1.expect())
    assert whole(opened).count("😀") == 1000 and whole(opened).count("🚐") == 1000

    code = card["text"].split("T-", 1)[1][:5]
    await op1.says(f"/tipinfo T-{code}")
    shown = [await op1.expect(f"T-{code}")]
    while "结尾标记" not in whole(shown):
        shown.append(await op1.expect())
    assert whole(shown).count("😀") == 1000 and whole(shown).count("🚐") == 1000
    assert ZH("tips.card.reply_hint") in whole(shown)


async def test_scoped_managers_remove_ban_and_unban_only_inside_their_scope(
    world: World,
) -> None:
    from tests.e2e.test_groups import (
        BUSINESS_CHAT,
        DRIVERS_CHAT,
        LANDLORDS_CHAT,
        admit_driver,
        bound,
        buttons,
        manager,
    )

    boss = world.superadmin(lang="en")
    mgr = await manager(world, "mgr", "drivers")
    biz = await manager(world, "biz", "businesses")
    await bound(world, mgr, DRIVERS_CHAT, "Drivers", "drivers")
    await bound(world, boss, BUSINESS_CHAT, "Shops", "businesses")
    await bound(world, boss, LANDLORDS_CHAT, "Landlords", "landlords")
    ann = world.person("ann", lang="en")
    await admit_driver(world, ann, mgr, DRIVERS_CHAT)
    await world.tg.join_request(ann.id, BUSINESS_CHAT)
    confirm = await ann.expect("You are already a member of the platform")
    await ann.presses(confirm, next(b for b in buttons(confirm) if b.endswith(":ok")))
    card = await biz.expect("Join request")
    await biz.presses(card, next(b for b in buttons(card) if b.endswith(":a")))
    await ann.expect("was approved")

    # /remove by the drivers' manager: out of the drivers' group only.
    await mgr.says("/remove @ann left the trade")
    done = await mgr.expect("Removed Ann Zhang")
    assert "your scope (drivers)" in done["text"]
    assert "Left untouched, outside your scope: Shops." in done["text"]
    assert world.tg.member_status(DRIVERS_CHAT, ann.id) == "left"
    assert world.tg.member_status(BUSINESS_CHAT, ann.id) == "member"
    member = await world.db.members.find_one({"_id": ann.id})
    assert member is not None and member["status"] == "active"
    assert {g["chat_id"]: g["status"] for g in member["groups"]} == {
        DRIVERS_CHAT: "removed",
        BUSINESS_CHAT: "active",
    }
    assert await world.db.roles.count_documents({"user_id": ann.id, "role": "member"}) == 1
    entry = await world.db.audit.find_one({"action": "member.remove"})
    assert entry is not None and entry["details"]["untouched"] == [BUSINESS_CHAT]

    # /ban by the drivers' manager: the drivers' groups only; later requests there declined.
    await mgr.says("/ban @ann sold stolen phones")
    banned = await mgr.expect("Banned Ann Zhang")
    assert "Left untouched, outside your scope:" in banned["text"]
    assert "Shops" in banned["text"] and "Landlords" in banned["text"]
    assert {int(c.params["chat_id"]) for c in world.tg.calls_of("banChatMember")} == {DRIVERS_CHAT}
    assert world.tg.member_status(BUSINESS_CHAT, ann.id) == "member"
    assert world.tg.member_status(LANDLORDS_CHAT, ann.id) == "left"  # never touched
    await world.tg.join_request(ann.id, DRIVERS_CHAT)
    await ann.expect("was not approved")
    await world.tg.wait_for_call("declineChatJoinRequest", chat_id=DRIVERS_CHAT)
    await biz.says("/member @ann")
    profile = await biz.expect("Ann Zhang (id")
    assert "Banned in drivers: Mgr" in profile["text"] and "sold stolen phones" in profile["text"]

    # The landlords' manager has no ban to lift; the drivers' manager lifts theirs.
    landlords = await manager(world, "lan", "landlords")
    await landlords.says("/unban @ann")
    await landlords.expect("No member")  # ann has never been in a landlords' group
    await mgr.says("/unban @ann")
    await mgr.expect("Lifted your scope's (drivers) ban on Ann Zhang")
    member = await world.db.members.find_one({"_id": ann.id})
    assert member is not None and member["bans"] == [] and member["status"] == "active"

    # A platform-wide ban is a superadmin's (or an unrestricted manager's) to lift.
    await boss.says("/ban @ann fraud")
    await boss.expect("Banned Ann Zhang")
    assert world.tg.member_status(LANDLORDS_CHAT, ann.id) == "kicked"
    await mgr.says("/unban @ann")
    await mgr.expect("banned platform-wide; only an unrestricted manager or a superadmin")
    member = await world.db.members.find_one({"_id": ann.id})
    assert member is not None and member["status"] == "banned"
