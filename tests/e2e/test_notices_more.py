"""Issue 4 end to end, continued: pacing priority, progress, preview figures, targeting,
photos one by one, /cancel, withdrawal, and a group Telegram no longer knows."""

from __future__ import annotations

import re
from typing import Any

from bot.i18n import Translator
from bot.routers.notices import Nm
from groups.model import Audience, Group, GroupStatus
from tests.e2e.harness import Person, World, wait_until
from tests.e2e.test_notices import (
    GROUPS,
    buttons,
    compose,
    group_msgs,
    investigator,
    nt,
    press_and_wait_edit,
    seed,
    send_notice,
)
from tests.e2e.test_tips import SEND, head, member, tip_docs
from tests.fakebot import TgError

SLOW = 30.0  # deadline for deliveries deliberately slowed down by the pacer


def group_sends(world: World, chats: set[int], method: str = "sendMessage") -> list[int]:
    """Sequence numbers of the successful ``method`` calls to ``chats``, in order."""
    return [c.seq for c in world.tg.calls_of(method, ok=True) if int(c.params["chat_id"]) in chats]


async def test_urgent_notice_overtakes_queued_normal_traffic(world: World) -> None:
    normal = [(-3000 - i, f"司机群{i}", "drivers", "town-a") for i in range(12)]
    urgent = [(-3100 - i, f"房东群{i}", "landlords", "town-b") for i in range(3)]
    await seed(world, normal + urgent)
    normal_ids = {c for c, *_ in normal}
    urgent_ids = {c for c, *_ in urgent}
    ann = await investigator(world, "ann")
    bob = await investigator(world, "bob")
    routine = await compose(
        world,
        ann,
        kind="publicity",
        photos=0,
        title="防诈骗提示",
        body="陌生来电要求转账，一律是诈骗。",
    )
    alarm = await compose(
        world,
        bob,
        kind="urgent_alert",
        photos=0,
        title="持刀抢劫嫌疑人在逃",
        body="请勿靠近，立即报警。",
        audience=[("s", "landlords")],
        urgency="urgent",
    )
    # Three messages a second for the whole bot: the routine notice's 12 group messages
    # (and the investigators' own messages) queue up in the pacer.
    await world.runner.restart(send_global_per_s=3)
    await ann.presses(routine, nt("send"))
    await wait_until(lambda: group_sends(world, normal_ids), timeout=SLOW)
    normal_before = len(group_sends(world, normal_ids))
    await bob.presses(alarm, nt("send"))
    await bob.expect("delivered: 3 sent, 0 failed (of 3 groups)", timeout=SLOW)
    await ann.expect("delivered: 12 sent, 0 failed (of 12 groups)", timeout=SLOW)
    n_seqs = group_sends(world, normal_ids)
    u_seqs = group_sends(world, urgent_ids)
    assert len(n_seqs) == 12 and len(u_seqs) == 3
    last_urgent = max(u_seqs)
    overtaken = [s for s in n_seqs if s > last_urgent]
    leaked = len(n_seqs) - normal_before - len(overtaken)  # went while the press was handled
    # First come, first served would send every queued routine message before the urgent
    # ones; urgent first lets at most a burst of them slip through while the press is
    # being handled, and the rest wait.
    assert normal_before < 6, normal_before  # the routine queue was still long
    assert leaked <= 3, (normal_before, leaked, overtaken)
    assert len(overtaken) >= 12 - normal_before - 3


async def test_progress_message_is_edited_during_delivery_and_report_names_failures(
    world: World,
) -> None:
    many = [(-4000 - i, f"司机群{i}", "drivers", "town-a") for i in range(10)]
    await seed(world, many)
    inv = await investigator(world)
    summary = await compose(
        world, inv, kind="publicity", photos=0, title="夜间巡逻", body="注意门窗。"
    )
    world.tg.remove_bot(-4003)
    world.tg.fail_next(
        "sendMessage",
        TgError.bad_request("not enough rights to send text messages to the chat"),
        chat_id=-4007,
    )
    interval = 1.0
    await world.runner.restart(send_global_per_s=4, notice_progress_s=interval)
    await inv.presses(summary, nt("send"))
    started = await inv.expect("is being sent to 10 groups")
    # The report is one message: the summary, then the groups not reached.
    report = await inv.expect("delivered: 8 sent, 2 failed (of 10 groups)", timeout=SLOW)
    assert "\n\nGroups not reached:\n" in report["text"]
    assert "司机群3 (-4003): the bot was removed from the group" in report["text"]
    assert "司机群7 (-4007): the bot lacks the right to post" in report["text"]
    assert report["text"].count("\n• ") == 2
    # The start message was the progress message: edited while sending, then the summary.
    versions = [v["text"] for v in world.tg.versions(started)]
    assert versions[-1] == "Notice N-2611-01 delivered: 8 sent, 2 failed (of 10 groups)."
    progress = [
        tuple(map(int, m.groups()))
        for v in versions
        if (
            m := re.fullmatch(
                r"Notice N-2611-01 sending: (\d+) sent, (\d+) failed, (\d+) remaining \(of 10\)", v
            )
        )
    ]
    assert progress, versions
    assert len(progress) == len(versions) - 2, versions  # nothing else in between
    for sent, failed, remaining in progress:
        assert sent + failed + remaining == 10 and remaining > 0 and failed <= 2
    done = [s + f for s, f, _ in progress]
    assert done == sorted(done)
    # At most one edit per interval (the first may come one interval after the start).
    edits = [
        c
        for c in world.tg.calls_of("editMessageText", ok=True)
        if c.params.get("message_id") == started["message_id"]
    ]
    (opened,) = [
        c
        for c in world.tg.calls_of("sendMessage", ok=True, chat_id=inv.id)
        if c.result["message_id"] == started["message_id"]
    ]
    span = edits[-1].timestamp - opened.timestamp
    assert len(progress) <= span / interval + 1, (len(progress), span)
    for chat_id, *_ in many:
        expected = 0 if chat_id in (-4003, -4007) else 1
        assert len(group_msgs(world, chat_id)) == expected, chat_id
    failed = {
        d["chat_id"]: d["reason"] async for d in world.db.deliveries.find({"state": "failed"})
    }
    assert failed == {-4003: "bot_removed", -4007: "no_rights"}
    # A bot removed from a group marks it; a refused post leaves the group as it was.
    groups = world.app.ctx.groups
    assert (await groups.get(-4003)).status is GroupStatus.BOT_REMOVED  # type: ignore[union-attr]
    assert (await groups.get(-4007)).status is GroupStatus.ACTIVE  # type: ignore[union-attr]


async def test_preview_counts_groups_and_members_and_lists_them(world: World) -> None:
    drivers = [(-5000 - i, f"司机群{i:02d}", "drivers", "town-a") for i in range(17)]
    await seed(world, [])
    ctx = world.app.ctx
    for i, (chat_id, title, sector, area) in enumerate(drivers):
        world.tg.add_group(chat_id, title)
        await ctx.groups.save(Group(chat_id, title, sector, area, member_count=10 + i))
    # Neither a group the bot was removed from nor another sector counts.
    await ctx.groups.save(
        Group(
            -5100,
            "旧司机群",
            "drivers",
            "town-a",
            member_count=1000,
            status=GroupStatus.BOT_REMOVED,
        )
    )
    world.tg.add_group(-5200, "城关房东群")
    await ctx.groups.save(Group(-5200, "城关房东群", "landlords", "town-a", member_count=500))
    inv = await investigator(world)
    summary = await compose(world, inv, kind="publicity", photos=0, title="提示", body="注意安全。")
    text = summary["text"]
    assert f"Target groups: 17, about {sum(range(10, 27))} members" in text  # 306
    listed = [line for line in text.splitlines() if line.startswith("• ")]
    assert len(listed) == 15 and "… and 2 more groups" in text
    assert all(line.endswith("(drivers/town-a)") for line in listed)
    titles = {line[2:].split(" (")[0] for line in listed}
    assert titles <= {title for _, title, *_ in drivers} and len(titles) == 15
    assert "旧司机群" not in text and "城关房东群" not in text
    # Another sector chosen from the preview: its group and members are added.
    await inv.presses(summary, nt("e", "audience"))
    msg = await inv.expect("Choose who receives it")
    msg = await press_and_wait_edit(world, inv, msg, nt("s", "landlords"))
    assert "Matching groups: 18" in msg["text"]
    await inv.presses(msg, nt("aud_ok"))
    summary = await inv.expect("Preview:")
    assert "Target groups: 18, about 806 members" in summary["text"]
    assert "… and 3 more groups" in summary["text"]


async def test_sector_and_area_together_reach_only_groups_matching_both(world: World) -> None:
    await seed(world)
    # A group bound to the landlords' whole territory (no area): not reached once an area
    # is chosen (README: "reached only when no area and no radius is chosen").
    world.tg.add_group(-1007, "房东总群")
    await world.app.ctx.groups.save(Group(-1007, "房东总群", "landlords", None, member_count=80))
    inv = await investigator(world)
    summary = await compose(
        world,
        inv,
        kind="publicity",
        photos=0,
        title="出租屋安全检查",
        body="请房东配合登记。",
        audience=[("s", "landlords"), ("ar", "town-b")],
    )
    text = summary["text"]
    assert "Target groups: 1, about 50 members" in text
    assert "• 新港房东群 (landlords/town-b)" in text
    # A group of the right sector in another area, or of the right area in another
    # sector, is not targeted.
    assert "城关房东群" not in text and "新港司机群" not in text and "房东总群" not in text
    await inv.presses(summary, nt("send"))
    await inv.expect("delivered: 1 sent, 0 failed (of 1 groups)")
    assert len(group_msgs(world, -1004)) == 1
    for chat_id, *_ in GROUPS:
        if chat_id != -1004:
            assert group_msgs(world, chat_id) == [], chat_id
    assert group_msgs(world, -1007) == []
    assert [d["chat_id"] async for d in world.db.deliveries.find({})] == [-1004]
    notice = await world.db.notices.find_one({})
    assert notice["audience"]["sectors"] == ["landlords"]
    assert notice["audience"]["areas"] == ["town-b"]


async def photos_one_by_one(inv: Person, count: int) -> tuple[list[str], dict[str, Any]]:
    """Send ``count`` separate photo messages (no album) quickly, as a phone does when
    photos are sent one after the other; returns their file ids in sending order and the
    bot's answer to the last one counted."""
    sent = [await inv.sends(photo=True) for _ in range(count)]
    done = await inv.expect(f"{count} photo(s) received")
    return [m["photo"][-1]["file_id"] for m in sent], done


async def test_photos_sent_one_by_one_become_one_album(world: World) -> None:
    await seed(world)
    inv = await investigator(world)
    await inv.says("/notice")
    msg = await inv.expect("choose the kind")
    await inv.presses(msg, nt("k", "wanted_person"))
    await inv.expect("title")
    await inv.says("寻找抢劫嫌疑人")
    await inv.expect("notice text")
    await inv.says("男，约30岁，黑色夹克。")
    await inv.expect("Send photos")
    file_ids, done = await photos_one_by_one(inv, 3)
    assert len(set(file_ids)) == 3
    await inv.presses(done, nt("ph_ok"))
    msg = await inv.expect("case number")
    await inv.presses(msg, nt("skip"))
    msg = await inv.expect("reward amount")
    await inv.presses(msg, nt("skip"))
    msg = await inv.expect("Choose who receives it")
    msg = await press_and_wait_edit(world, inv, msg, nt("s", "drivers"))
    await inv.presses(msg, nt("aud_ok"))
    msg = await inv.expect("urgency")
    await inv.presses(msg, nt("u", "normal"))
    msg = await inv.expect("Send the expiry")
    await inv.presses(msg, nt("exp", "7"))
    summary = await inv.expect("Preview:")
    # The preview is one album of the three, in the order they were sent.
    preview = world.tg.calls_of("sendMediaGroup", chat_id=inv.id)
    assert len(preview) == 1
    assert [m["media"] for m in preview[0].params["media"]] == file_ids
    await inv.presses(summary, nt("send"))
    await inv.expect("delivered: 3 sent, 0 failed (of 3 groups)")
    for chat_id in (-1001, -1002, -1005):
        (album_call,) = world.tg.calls_of("sendMediaGroup", chat_id=chat_id)
        assert [m["media"] for m in album_call.params["media"]] == file_ids
        msgs = group_msgs(world, chat_id)
        assert len(msgs) == 4  # three photos in one album, then the button message
        assert len({m["media_group_id"] for m in msgs[:3]}) == 1
        assert "寻找抢劫嫌疑人" in msgs[0]["caption"] and "caption" not in msgs[1]
        assert buttons(msgs[3])
    assert world.tg.calls_of("sendPhoto", chat_id=-1001) == []  # never photo by photo
    notice = await world.db.notices.find_one({})
    assert [p["file_id"] for p in notice["photos"]] == file_ids


async def test_typed_cancel_ends_the_dialog_and_keeps_nothing(world: World) -> None:
    await seed(world)
    inv = await investigator(world)
    # Early: at the title.
    await inv.says("/notice")
    msg = await inv.expect("choose the kind")
    await inv.presses(msg, nt("k", "publicity"))
    await inv.expect("title")
    await inv.says("/cancel")
    await inv.expect("Cancelled. Nothing was sent.")
    assert await world.db.notice_drafts.count_documents({}) == 0
    await inv.says("这不是标题")  # no longer a dialog answer
    await inv.expect_nothing_new()
    assert await world.db.notice_drafts.count_documents({}) == 0
    # Late: at the preview, with everything filled in.
    summary = await compose(world, inv, photos=3)
    await inv.says("/cancel")
    await inv.expect("Cancelled. Nothing was sent.")
    await world.idle()
    assert await world.db.notice_drafts.count_documents({}) == 0
    # The preview's Send button is stale now: pressing it sends nothing.
    qid = await inv.presses(summary, nt("send"))
    answer = await wait_until(lambda: world.tg.answered_callback(qid))
    assert answer["text"] == Translator("en")("core.stale_button")
    await world.idle()
    assert await world.db.notices.count_documents({}) == 0
    assert await world.db.deliveries.count_documents({}) == 0
    assert not any(group_msgs(world, g[0]) for g in GROUPS)
    assert await world.db.audit.count_documents({"object_type": "notice"}) == 0


async def test_withdrawn_notice_is_marked_everywhere_and_takes_no_tips(world: World) -> None:
    await seed(world)
    inv = await investigator(world)
    ann = await member(world, "ann")
    ref = await send_notice(world, inv, photos=3, urgency="pin")
    copies = {c: group_msgs(world, c) for c in (-1001, -1002, -1005)}
    for c, msgs in copies.items():
        assert len(msgs) == 4 and world.tg.pinned(c) == [msgs[0]["message_id"]]
        (tip,) = buttons(msgs[3])
        assert tip["url"].endswith(f"start=tip_{ref}")
    # Before: the deep link opens a tip about the notice; ann starts one.
    await ann.says(f"/start tip_{ref}")
    await ann.expect(ref)
    await ann.expect(head("tips.panel_hint"))
    await ann.says("我在城关菜市场见过此人")
    ack = await ann.expect(head("tips.added"))
    # Withdraw it.
    await inv.says(f"/notice_close {ref} withdrawn")
    confirm = await inv.expect(f'Mark notice {ref} as "withdrawn"')
    await inv.presses(confirm, Nm(a="close", ref=ref, v="withdrawn").pack())
    await inv.expect(f'Notice {ref} marked "withdrawn"')
    for c, msgs in copies.items():
        await wait_until(
            lambda m=msgs: world.tg.current(m[0])["caption"].startswith("⛔【已撤销】")
        )
        await wait_until(lambda m=msgs: buttons(world.tg.current(m[3])) == [])
        await wait_until(lambda c=c: world.tg.pinned(c) == [])
        caption = world.tg.current(msgs[0])["caption"]
        assert "已破案" not in caption and "此通报已结束，不再接收线索" in caption
        assert world.tg.current(msgs[3])["text"] == f"通报 {ref} 已结束，不再接收线索。"
    await wait_until(
        lambda: world.db.notices.count_documents(
            {"ref": ref, "status": "withdrawn", "dirty": False}
        )
    )
    assert await world.db.audit.count_documents({"action": "notice.withdrawn"}) == 1
    # After: the tip begun before is refused, the link opens nothing, a reply is no tip.
    qid = await ann.presses(ack, SEND)
    answer = await wait_until(lambda: world.tg.answered_callback(qid))
    assert head("tips.notice_closed") in answer["text"]
    await ann.says(f"/start tip_{ref}")
    await ann.expect(head("tips.notice_closed"))
    reply = await ann.says("他往北走了", chat=-1001, reply_to=copies[-1001][0])
    await ann.expect(head("tips.notice_closed"))
    await wait_until(lambda: world.tg.is_deleted(reply))
    assert await tip_docs(world) == []
    await inv.says(f"/notice_close {ref} solved")
    await inv.expect(f"Notice {ref} has ended")


async def test_chat_not_found_fails_that_group_only_and_is_reported(world: World) -> None:
    await seed(world)
    # In the registry, but Telegram no longer knows the chat (400 chat not found).
    await world.app.ctx.groups.save(Group(-1006, "幽灵司机群", "drivers", "town-a", member_count=9))
    inv = await investigator(world)
    summary = await compose(world, inv, photos=3)
    assert "Target groups: 4" in summary["text"] and "幽灵司机群" in summary["text"]
    await inv.presses(summary, nt("send"))
    await inv.expect("delivered: 3 sent, 1 failed (of 4 groups)")
    report = await inv.expect("Groups not reached:")
    assert "幽灵司机群 (-1006): the group no longer exists" in report["text"]
    assert report["text"].count("\n• ") == 1
    (call,) = world.tg.calls_of("sendMediaGroup", chat_id=-1006)  # not retried
    assert call.error is not None and call.error.description == "Bad Request: chat not found"
    assert world.tg.calls_of("sendMessage", chat_id=-1006) == []  # no button message either
    for chat_id in (-1001, -1002, -1005):
        assert len(group_msgs(world, chat_id)) == 4, chat_id
    d = await world.db.deliveries.find_one({"chat_id": -1006})
    assert d["state"] == "failed" and d["reason"] == "chat_not_found" and d["message_ids"] == []
    # The registry marks the group unreachable, so later notices leave it out.
    groups = world.app.ctx.groups
    assert (await groups.get(-1006)).status is GroupStatus.BOT_REMOVED  # type: ignore[union-attr]
    targets = await groups.targets(Audience(sectors=("drivers",)))
    assert [g.chat_id for g in targets] == [-1005, -1002, -1001]
    notice = await world.db.notices.find_one({})
    assert notice["status"] == "active"
