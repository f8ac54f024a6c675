"""Duty end to end: the real bot against the fake Bot API and the real database.

The bot's clock starts at 09:00 Asia/Shanghai on Monday 23 November 2026 (harness START).
Teams are created then, so their rotation counts from 22 November: with four operators,
two per shift and 08:00-20:00 / 20:00-08:00 shifts, op1+op2 work the day of the 23rd,
op3+op4 the night after, op1+op2 the day of the 24th, and so on.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from bot.i18n import Translator
from bot.routers.duty import AckCB, OpenCB, SwapCB
from bot.routers.tips import TipCb
from duty.alerts import TipRef
from duty.model import Team, parse_patterns
from duty.service import DutyService
from groups.model import Group
from groups.roles import UNRESTRICTED, Role, Scope
from tests.e2e.harness import SUPERADMIN_ID, Person, World, wait_until

ZH = Translator("zh-CN")
REF = "N-2611-07"
GROUP = -1001234500
TEAM = "drivers-a"
ESCALATE = "duty.escalate"
HANDOVER = "duty.handover"
COVERAGE = "duty.coverage"


def head(key: str) -> str:
    """The fixed beginning of a catalogue message (up to its first placeholder)."""
    return ZH(key).split("{")[0]


def svc(world: World) -> DutyService:
    service = world.app.ctx.services.duty
    assert isinstance(service, DutyService)
    return service


async def officer(world: World, name: str, role: Role, scope: Scope = UNRESTRICTED) -> Person:
    person = world.person(name)
    ctx = world.app.ctx
    boss = await ctx.roles.principal(SUPERADMIN_ID)
    await ctx.roles.grant(boss, person.id, role, scope)
    return person


async def crew(world: World) -> tuple[list[Person], Person, Person]:
    """Four operators of the drivers sector, their manager and the notice investigator."""
    ops = [await officer(world, f"op{i}", Role.OPERATOR, Scope("drivers")) for i in (1, 2, 3, 4)]
    mgr = await officer(world, "mgr", Role.MANAGER, Scope("drivers"))
    inv = await officer(world, "inv", Role.INVESTIGATOR, Scope("drivers"))
    for p in (*ops, mgr, inv):  # officers have opened a private chat with the bot
        await p.says("/start")
        await p.expect()
    return ops, mgr, inv


async def make_team(world: World, ops: list[Person], mgr: Person, *, per_shift: int = 2) -> Team:
    service = svc(world)
    boss = await world.app.ctx.roles.principal(SUPERADMIN_ID)
    await service.create_team(
        boss, TEAM, "Asia/Shanghai", parse_patterns("2x12"), per_shift, "drivers"
    )
    return await service.update_team(
        boss, TEAM, operators=tuple(p.id for p in ops), managers=(mgr.id,)
    )


async def seed_notice(world: World, investigators: list[int]) -> None:
    """A bound group with a delivered notice, in the documented shapes of issues 3 and 4."""
    ctx = world.app.ctx
    world.tg.add_group(GROUP, "城关司机群")
    await ctx.groups.save(Group(GROUP, "城关司机群", "drivers", "chengguan"))
    sent = await ctx.bot.send_message(GROUP, f"协查通报 {REF}：寻找白色面包车")
    await world.db.notices.insert_one(
        {
            "_id": "n1",
            "ref": REF,
            "kind": "wanted",
            "title": "寻找白色面包车",
            "status": "active",
            "created_by": 7000,
            "investigators": investigators,
            "reward": None,
            "expires_at": None,
        }
    )
    await world.db.deliveries.insert_one(
        {"notice_id": "n1", "chat_id": GROUP, "state": "sent", "message_ids": [sent.message_id]}
    )


async def member(world: World, name: str) -> Person:
    person = world.person(name)
    ctx = world.app.ctx
    boss = await ctx.roles.principal(SUPERADMIN_ID)
    await ctx.roles.grant(boss, person.id, Role.MEMBER, UNRESTRICTED)
    await world.db.members.insert_one(
        {"_id": person.id, "status": "active", "sector": "drivers", "area": "chengguan"}
    )
    return person


async def send_tip(person: Person, text: str) -> str:
    await person.says(f"/start tip_{REF}")
    await person.expect(head("tips.panel_hint"))
    await person.says(text)
    ack = await person.expect(head("tips.added"))
    await person.presses(ack, TipCb(action="send").pack())
    receipt = await person.expect(head("tips.received"))
    m = re.search(r"T-[0-9A-Z]{5}", receipt["text"])
    assert m, receipt["text"]
    return m.group(0)


def button(message: dict[str, Any], prefix: str) -> str:
    for row in message.get("reply_markup", {}).get("inline_keyboard", []):
        for b in row:
            if b.get("callback_data", "").startswith(prefix):
                return str(b["callback_data"])
    raise AssertionError(f"no {prefix} button on {message.get('text')!r}")


def has_button(world: World, message: dict[str, Any], prefix: str) -> bool:
    current = world.tg.current(message)
    rows = current.get("reply_markup", {}).get("inline_keyboard", [])
    return any(b.get("callback_data", "").startswith(prefix) for row in rows for b in row)


async def answer_of(world: World, qid: str) -> str:
    answer = await world.tg.wait_for(lambda: world.tg.answered_callback(qid), what="answer")
    return str(answer.get("text") or "")


async def test_tip_goes_to_the_two_on_duty_and_the_first_acknowledgement_wins(
    world: World,
) -> None:
    ops, mgr, inv = await crew(world)
    op1, op2, op3, _ = ops
    await make_team(world, ops, mgr)
    await seed_notice(world, [inv.id])
    tia = await member(world, "tia")
    code = await send_tip(tia, "白色面包车停在加油站后面")

    card1 = await op1.expect(head("duty.card_new_tip"))
    card2 = await op2.expect(head("duty.card_new_tip"))
    for card in (card1, card2):
        assert code in card["text"] and "白色面包车停在加油站后面" in card["text"]
        assert REF in card["text"]  # the notice
        for secret in ("Tia", "@tia", str(tia.id)):  # only the pseudonym, never the tipster
            assert secret not in card["text"]
    await op3.expect_nothing_new()  # off duty
    await mgr.expect_nothing_new()
    # Every card is a registered tip card (replying to it writes to the tipster).
    wanted = {(op1.id, card1["message_id"]), (op2.id, card2["message_id"])}

    async def registered() -> bool:
        cards = {(d["chat_id"], d["message_id"]) async for d in world.db.tip_cards.find()}
        return wanted <= cards

    await wait_until(registered)

    # An off-duty operator cannot take it (a forwarded or forged button press).
    data = button(card1, "dack:")
    qid = await world.tg.press(op3.user, card1, data, strict=False)
    assert await answer_of(world, qid) == ZH("duty.ack_refused")
    (tip,) = [d async for d in world.db.tips.find()]
    assert tip["status"] == "new"

    # op2 takes it; op1's card now says who took it and when, without the button.
    qid = await op2.presses(card2, button(card2, "dack:"))
    assert await answer_of(world, qid) == ZH("duty.you_took", code=code)
    taken = ZH("duty.card_taken", name="Op2", at="11-23 09:00")
    for card in (card1, card2):
        await world.tg.wait_for(lambda c=card: taken in world.tg.current(c)["text"], what="edit")
    assert not has_button(world, card1, "dack:") and has_button(world, card1, "dopen:")
    tip = await world.db.tips.find_one({"_id": tip["_id"]})
    assert tip is not None and tip["status"] == "acknowledged"
    # A late press on the old button: already taken, by whom; nothing changes.
    qid = await world.tg.press(op1.user, card1, data, strict=False)
    assert await answer_of(world, qid) == ZH("duty.already_taken", name="Op2", at="11-23 09:00")
    alert = await world.db.duty_alerts.find_one({"tip_id": tip["_id"]})
    assert alert is not None and alert["acked_by"] == op2.id
    # Nobody escalates a tip that was taken.
    await world.advance(30 * 60, ESCALATE)
    await mgr.expect_nothing_new()
    await inv.expect_nothing_new()

    # Malformed and forged buttons are refused and change nothing.
    qid = await world.tg.press(op1.user, card1, "dack:x:y", strict=False)
    assert await answer_of(world, qid) == ZH("core.bad_callback")
    qid = await world.tg.press(op1.user, card1, AckCB(a="nope").pack(), strict=False)
    assert await answer_of(world, qid) == ZH("duty.alert_unknown")
    # Open: the full card, privately, registered as a tip card too.
    qid = await op1.presses(card1, OpenCB(a=alert["_id"]).pack())
    opened = await op1.expect(head("duty.card_open"))
    assert code in opened["text"]
    await wait_until(
        lambda: world.db.tip_cards.find_one({"chat_id": op1.id, "message_id": opened["message_id"]})
    )


async def test_each_card_of_a_batch_is_in_its_recipients_language(world: World) -> None:
    ops, mgr, inv = await crew(world)
    op1, op2 = ops[:2]
    await op2.says("/lang en")
    await op2.expect()
    await make_team(world, ops, mgr)
    await seed_notice(world, [inv.id])
    tia = await member(world, "tia")
    code = await send_tip(tia, "白色面包车停在加油站后面")
    en = Translator("en")
    card1 = await op1.expect(ZH("duty.card_new_tip", code=code))
    card2 = await op2.expect(en("duty.card_new_tip", code=code))
    for card in (card1, card2):
        assert "白色面包车停在加油站后面" in card["text"]
    await op1.presses(card1, button(card1, "dack:"))
    for card, t in ((card1, ZH), (card2, en)):
        taken = t("duty.card_taken", name="Op1", at="11-23 09:00")
        await world.tg.wait_for(lambda c=card, s=taken: s in world.tg.current(c)["text"])


async def test_open_sends_the_tips_files_and_each_is_a_tip_card(world: World) -> None:
    ops, mgr, inv = await crew(world)
    op1 = ops[0]
    await make_team(world, ops, mgr)
    await seed_notice(world, [inv.id])
    tia = await member(world, "tia")
    await tia.says(f"/start tip_{REF}")
    await tia.expect(head("tips.panel_hint"))
    shot = await tia.sends(photo=True, caption="车牌看得清")
    ack = await tia.expect(head("tips.added"))
    await tia.presses(ack, TipCb(action="send").pack())
    receipt = await tia.expect(head("tips.received"))
    found = re.search(r"T-[0-9A-Z]{5}", receipt["text"])
    assert found, receipt["text"]
    code = found.group(0)

    card = await op1.expect(head("duty.card_new_tip"))
    assert not any(m.get("photo") for m in op1.inbox())  # the card only counts the files
    await op1.presses(card, button(card, "dopen:"))
    opened = await op1.expect(head("duty.card_open"))
    assert code in opened["text"] and "车牌看得清" in opened["text"]
    photos = await wait_until(lambda: [m for m in op1.inbox() if m.get("photo")])
    assert len(photos) == 1
    photo = photos[0]
    assert photo["photo"][-1]["file_id"] == shot["photo"][-1]["file_id"]
    assert code in photo["caption"] and "车牌看得清" in photo["caption"]
    for secret in ("Tia", "@tia", str(tia.id)):
        assert secret not in photo["caption"]
    # The photo is a tip card too: replying to it writes to the tipster, name hidden.
    await op1.says("几点看到的？", reply_to=photo)
    await op1.expect(head("tips.relayed"))
    relayed = await tia.expect("几点看到的")
    assert code in relayed["text"] and "Op1" not in relayed["text"]

    # The tipster answers with a video: its card's Open sends that video, not the photo.
    clip = await tia.sends(video=True, caption="刚拍的", reply_to=relayed)
    await tia.expect(head("tips.added_to_thread"))
    news = await op1.expect(ZH("duty.card_new_message", code=code))
    # (op1 wrote to the tipster, so the thread also relays the video itself to op1)
    await world.idle()

    def files() -> list[dict[str, Any]]:
        return [m for m in op1.inbox() if m.get("photo") or m.get("video")]

    before = files()
    await op1.presses(news, button(news, "dopen:"))
    await op1.expect(head("duty.card_open"))
    await wait_until(lambda: files()[len(before) :])
    await world.idle()
    assert [m.get("video", {}).get("file_id") for m in files()[len(before) :]] == [
        clip["video"]["file_id"]
    ]


async def test_both_escalation_levels_fire_on_time_once_across_restarts(world: World) -> None:
    ops, mgr, inv = await crew(world)
    op1, op2, _, _ = ops
    await make_team(world, ops, mgr)
    await seed_notice(world, [inv.id])
    tia = await member(world, "tia")
    code = await send_tip(tia, "可疑人员在学校门口")
    card1 = await op1.expect(head("duty.card_new_tip"))
    await op2.expect(head("duty.card_new_tip"))

    # The bot restarts between the tip and its first escalation.
    await world.runner.restart()
    await world.advance(4 * 60 + 59, ESCALATE)
    await mgr.expect_nothing_new()
    await world.advance(1, ESCALATE)
    backup = await mgr.expect(ZH("duty.card_backup", code=code, minutes=5))
    assert "可疑人员在学校门口" in backup["text"]
    await world.advance(0, ESCALATE)
    await mgr.expect_nothing_new()  # never twice

    # And again before the second step; still exactly once, exactly on time.
    await world.runner.restart()
    await world.advance(14 * 60 + 59, ESCALATE)
    await inv.expect_nothing_new()
    await world.advance(1, ESCALATE)
    second = await inv.expect(ZH("duty.card_investigators", code=code, minutes=20))
    await world.runner.restart()
    await world.advance(60, ESCALATE)
    await inv.expect_nothing_new()
    await mgr.expect_nothing_new()
    entries = await world.app.ctx.audit.list(action="duty.escalate")
    assert sorted(e.details["level"] for e in entries) == [1, 2]

    # The investigator asked by the escalation takes it; every card follows.
    qid = await inv.presses(second, button(second, "dack:"))
    assert await answer_of(world, qid) == ZH("duty.you_took", code=code)
    for card in (card1, backup, second):
        await world.tg.wait_for(
            lambda c=card: "已由 Inv 于" in world.tg.current(c)["text"], what="card edited"
        )


async def test_nobody_on_duty_asks_the_backup_at_once(world: World) -> None:
    ops, mgr, inv = await crew(world)
    await make_team(world, ops, mgr)
    await seed_notice(world, [inv.id])
    for p in ops:
        world.tg.block_bot(p.user)  # nobody on duty can be reached
    tia = await member(world, "tia")
    code = await send_tip(tia, "有人在撬车")
    await wait_until(lambda: world.db.duty_alerts.find_one({}))
    await world.advance(0, ESCALATE)
    await mgr.expect(ZH("duty.card_backup", code=code, minutes=5))


async def test_handover_reminder_and_coverage_warning(world: World) -> None:
    ops, mgr, inv = await crew(world)
    op1, op2, op3, op4 = ops
    await make_team(world, ops, mgr)
    await seed_notice(world, [inv.id])
    tia = await member(world, "tia")
    code = await send_tip(tia, "夜里有人卸货")
    await op1.expect(head("duty.card_new_tip"))
    await world.advance(5 * 60, ESCALATE)  # escalated during the day shift
    await mgr.expect(ZH("duty.card_backup", code=code, minutes=5))

    # 19:30: the night shift is reminded, once.
    world.clock.set(world.clock.now().replace(hour=11, minute=30))
    await world.advance(0, HANDOVER)
    await op3.expect(ZH("duty.reminder", team=TEAM, at="11-23 20:00", line="").split("\n")[0])
    await op4.expect(head("duty.reminder"))
    await world.advance(60, HANDOVER)
    await op3.expect_nothing_new()

    # 20:00: outgoing and incoming operators get the handover.
    world.clock.set(world.clock.now().replace(hour=12, minute=0))
    await world.advance(0, HANDOVER)
    title = ZH("duty.handover_title", team=TEAM, label="20:00-08:00")
    for p in (op1, op2, op3, op4):
        msg = await p.expect(title)
        assert code in msg["text"]  # the open tip, with its age
        assert ZH("duty.handover_out", who="Op1、Op2") in msg["text"]
        assert ZH("duty.handover_in", who="Op3、Op4") in msg["text"]
        assert ZH("duty.handover_escalated", count=1) in msg["text"]
        assert "11小时0分" in msg["text"]
    await world.advance(60, HANDOVER)
    await op3.expect_nothing_new()
    # A restart does not repeat it.
    await world.runner.restart()
    await world.advance(60, HANDOVER)
    await op1.expect_nothing_new()
    await op3.expect_nothing_new()

    # Coverage: two operators leave the rotation; the manager is warned once a day.
    boss = await world.app.ctx.roles.principal(SUPERADMIN_ID)
    await svc(world).update_team(boss, TEAM, operators=(op1.id,))
    world.clock.set(world.clock.now().replace(hour=0, minute=59) + timedelta(days=1))
    await world.advance(0, COVERAGE)  # 08:59 local: not yet
    await mgr.expect_nothing_new()
    await world.advance(60, COVERAGE)
    warn = await mgr.expect(head("duty.coverage_title"))
    assert TEAM in warn["text"] and ZH("duty.gap_mark", missing=1) in warn["text"]
    await world.advance(3600, COVERAGE)
    await mgr.expect_nothing_new()
    await world.advance(24 * 3600, COVERAGE)
    await mgr.expect(head("duty.coverage_title"))


async def test_team_commands_schedule_swap_and_unavailability(world: World) -> None:
    ops, mgr, _inv = await crew(world)
    op1, op2, op3, op4 = ops
    # Refusals change nothing.
    await op1.says(f"/team_add {TEAM} 2x12 2")
    await op1.expect(ZH("errors.permission_denied"))
    await mgr.says(f"/team_add {TEAM} 2x12")
    await mgr.expect(head("duty.team_add_usage"))
    await mgr.says(f"/team_add {TEAM} 08:00-20:00,19:00-08:00 2")
    await mgr.expect(head("duty.patterns_overlap"))
    await mgr.says(f"/team_add {TEAM} 2x12 2 landlords")
    await mgr.expect(ZH("duty.outside_scope", scope="landlords"))
    await mgr.says(f"/team_add {TEAM} 2x12 2 tz=Mars/Base")
    await mgr.expect(ZH("duty.bad_tz", tz="Mars/Base"))
    assert await world.db.duty_teams.count_documents({}) == 0

    await mgr.says(f"/team_add {TEAM} 08:00-20:00,20:00-08:00 2")
    await mgr.expect(head("duty.team_created"))
    await mgr.says(f"/team_set {TEAM} operators @op1 @op2 @op3 @op4")
    await mgr.expect(ZH("duty.team_updated", team=TEAM, field="operators"))
    await mgr.says(f"/team_set {TEAM} operators @op1 @inv_nobody")
    await mgr.expect(ZH("roles.unknown_user", who="@inv_nobody"))
    await mgr.says(f"/team_set {TEAM} chat abc")
    await mgr.expect(ZH("duty.bad_chat"))
    world.tg.add_group(GROUP, "城关司机群")
    await world.app.ctx.groups.save(Group(GROUP, "城关司机群", "drivers", None))
    await mgr.says(f"/team_set {TEAM} chat {GROUP}")  # a community group: never
    await mgr.expect(ZH("duty.chat_is_community"))
    assert (await svc(world).team(TEAM)).duty_chat_id is None
    await mgr.says(f"/team_set {TEAM} escalation 3 10")
    await mgr.expect(ZH("duty.team_updated", team=TEAM, field="escalation"))
    await mgr.says("/teams")
    info = await mgr.expect(f"【{TEAM}】")
    assert "Op1、Op2、Op3、Op4" in info["text"] and "3 分钟" in info["text"]

    await op1.says("/duty")
    now = await op1.expect(f"【{TEAM}】")
    assert ZH("duty.now", line="11-23 周一 08:00-20:00：Op1、Op2") in now["text"]
    assert ZH("duty.next", line="11-23 周一 20:00-08:00：Op3、Op4") in now["text"]
    await op1.says("/myshifts 2")
    mine = await op1.expect(head("duty.myshifts_header"))
    assert "11-24 周二 08:00-20:00" in mine["text"] and "20:00-08:00" not in mine["text"]
    await op1.says("/schedule 99")
    await op1.expect(ZH("duty.bad_days", max=31))
    await op1.says("/schedule 1 nosuch")
    await op1.expect(ZH("duty.unknown_team", team="nosuch"))

    # A swap: op1 gives the 24th's day shift to op3 and takes op3's night shift.
    await op1.says(f"/swap {TEAM} 2026-11-24 25:00 @op3")
    await op1.expect(ZH("duty.bad_time", value="25:00"))
    await op1.says(f"/swap {TEAM} 2026-11-23 20:00 @op3")
    await op1.expect(ZH("duty.not_your_shift"))
    await op1.says(f"/swap {TEAM} 2026-11-24 08:00 @op3 2026-11-24 20:00")
    await op1.expect(ZH("duty.swap_sent", name="Op3"))
    request = await op3.expect(f"请您接替值班组 {TEAM}")
    assert "11-24 08:00" in request["text"] and "11-24 20:00" in request["text"]
    accept = button(request, "dswp:")
    assert SwapCB.unpack(accept).ok is True
    qid = await world.tg.press(op2.user, request, accept, strict=False)  # not for op2
    assert await answer_of(world, qid) == ZH("duty.swap_not_yours")
    await op3.presses(request, accept)
    await op1.expect(ZH("duty.swap_answer_accepted", name="Op3", team=TEAM))
    qid = await world.tg.press(op3.user, request, accept, strict=False)  # answered once
    assert await answer_of(world, qid) == ZH("duty.swap_settled")
    await op1.says(f"/schedule 2 {TEAM}")
    sched = await op1.expect(head("duty.schedule_header"))
    assert ZH("duty.slot_swap", name="Op3", other="Op1") in sched["text"]
    assert ZH("duty.slot_swap", name="Op1", other="Op3") in sched["text"]

    # Unavailability: op2 is away on the 24th; the rotation fills and says so.
    await op2.says("/unavailable 2026-11-24")
    reply = await op2.expect(ZH("duty.unavailable_set", first="2026-11-24", last="2026-11-24"))
    assert ZH("duty.slot_fill", name="Op4", other="Op2") in reply["text"]
    await op4.expect(head("duty.you_fill_in"))
    await mgr.expect(head("duty.manager_unavailable"))
    await op2.says("/unavailable 2026-11-25 2026-11-24")
    await op2.expect(head("duty.bad_range"))

    # Manager override; an operator may not.
    await op4.says(f"/assign {TEAM} 2026-11-25 08:00 @op4 @op1")
    await op4.expect(ZH("errors.permission_denied"))
    await mgr.says(f"/assign {TEAM} 2026-11-25 08:00 @op4 @op1")
    await mgr.expect(head("duty.assigned"))
    await op1.expect(head("duty.you_were_relieved"))
    await op4.expect(head("duty.you_were_assigned"))


async def test_sla_figures_from_known_data(world: World) -> None:
    ops, mgr, _ = await crew(world)
    op1, op2, _op3, _ = ops
    await make_team(world, ops, mgr)
    dispatch = world.app.ctx.provided["duty_dispatch"]
    # Four tips an hour apart, acknowledged after 60 s, 240 s and 600 s; one never.
    for i, (wait, who) in enumerate(((60, op1), (240, op2), (600, op1), (None, None))):
        world.clock.set(world.clock.now().replace(hour=2 + i, minute=0, second=0))
        ref = TipRef(f"sla{i}", f"T-SLA{i}", None, "drivers", None, world.clock.now())
        await dispatch.route(ref)
        card = await op1.expect(f"T-SLA{i}")
        if wait is None or who is None:
            continue
        await world.advance(wait, ESCALATE)
        mine = card if who is op1 else await op2.expect(f"T-SLA{i}")
        qid = await who.presses(mine, button(mine, "dack:"))
        await answer_of(world, qid)
    # 20:00: the night shift starts one operator short (three left the rotation).
    boss = await world.app.ctx.roles.principal(SUPERADMIN_ID)
    await svc(world).update_team(boss, TEAM, operators=(op1.id,))
    world.clock.set(world.clock.now().replace(hour=12, minute=0))
    await world.advance(60, HANDOVER)
    await mgr.says("/sla 7")
    report = await mgr.expect(head("duty.sla_title"))
    text = report["text"]
    assert (
        ZH(
            "duty.sla_row",
            label=ZH("duty.sla_all"),
            received=4,
            acked=3,
            median="4分0秒",
            p90="10分0秒",
            within="50%",
        )
        in text
    )
    assert (
        ZH("duty.sla_op_row", label="Op1", acked=2, median="5分30秒", p90="10分0秒", within="50%")
        in text
    )
    assert (
        ZH("duty.sla_op_row", label="Op2", acked=1, median="4分0秒", p90="4分0秒", within="100%")
        in text
    )
    assert ZH("duty.sla_gaps", count=1, detail=f"{TEAM}: 1") in text
    await op1.says("/sla")
    await op1.expect(ZH("errors.permission_denied"))
    await mgr.says("/sla abc")
    await mgr.expect(ZH("duty.bad_days", max=366))


async def test_cards_in_an_officers_duty_group_only_on_duty_may_take(world: World) -> None:
    ops, mgr, inv = await crew(world)
    op1, _, op3, _ = ops
    duty_room = -100777
    world.tg.add_group(duty_room, "值班室", members=[p.user for p in (*ops, mgr)])
    await make_team(world, ops, mgr)
    boss = await world.app.ctx.roles.principal(SUPERADMIN_ID)
    await svc(world).update_team(boss, TEAM, duty_chat_id=duty_room)
    await seed_notice(world, [inv.id])
    tia = await member(world, "tia")
    code = await send_tip(tia, "仓库门口有陌生车辆")
    card = await world.tg.wait_for_message(duty_room, text_contains=code)
    assert "仓库门口有陌生车辆" in card["text"] and "Tia" not in card["text"]
    await op1.expect_nothing_new()  # not privately: the team uses its duty group
    # The community group never sees it.
    assert all(code not in (m.get("text") or "") for m in world.tg.sent_to(GROUP))
    data = button(card, "dack:")
    qid = await op3.presses(card, data)  # in the room, but off duty
    assert await answer_of(world, qid) == ZH("duty.ack_refused")
    assert has_button(world, card, "dack:")
    qid = await op1.presses(card, data)
    assert await answer_of(world, qid) == ZH("duty.you_took", code=code)
    await world.tg.wait_for(
        lambda: "已由 Op1 于" in world.tg.current(card)["text"], what="room card edited"
    )
    assert not has_button(world, card, "dack:")
