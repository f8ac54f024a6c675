"""Issue 4 end to end: the real bot over the fake Bot API and the real database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo import AsyncMongoClient

from bot.i18n import Translator
from bot.routers.notices import Nm, Nt
from groups.model import Area, GeoPoint, Group, GroupStatus
from groups.roles import UNRESTRICTED, Role
from storage.client import Document
from tests.e2e.harness import SUPERADMIN_ID, Person, World, wait_until
from tests.fakebot import TgError
from tests.flaky import FlakyDeliveries

# Groups: (chat id, title, sector, area)
GROUPS = [
    (-1001, "城关司机群", "drivers", "town-a"),
    (-1002, "新港司机群", "drivers", "town-b"),
    (-1003, "城关房东群", "landlords", "town-a"),
    (-1004, "新港房东群", "landlords", "town-b"),
    (-1005, "远郊司机群", "drivers", "far"),
]


async def seed(world: World, groups: list[tuple[int, str, str, str]] = GROUPS) -> None:
    ctx = world.app.ctx
    await ctx.areas.save(Area("town-a", "城关镇", center=GeoPoint(30.00, 120.00)))
    await ctx.areas.save(Area("town-b", "新港镇", center=GeoPoint(30.02, 120.03)))
    await ctx.areas.save(Area("far", "远郊", center=GeoPoint(31.5, 121.5)))
    for chat_id, title, sector, area in groups:
        world.tg.add_group(chat_id, title, member_count=50)
        await ctx.groups.save(Group(chat_id, title, sector, area, member_count=50))


async def investigator(world: World, name: str = "inv", lang: str = "en") -> Person:
    person = world.person(name, lang=lang)
    ctx = world.app.ctx
    boss = await ctx.roles.principal(SUPERADMIN_ID)
    await ctx.roles.grant(boss, person.id, Role.INVESTIGATOR, UNRESTRICTED)
    return person


def nt(a: str, v: str = "") -> str:
    return Nt(a=a, v=v).pack()


def buttons(msg: dict[str, Any]) -> list[dict[str, Any]]:
    return [b for row in msg.get("reply_markup", {}).get("inline_keyboard", []) for b in row]


def group_msgs(world: World, chat_id: int) -> list[dict[str, Any]]:
    return world.tg.sent_to(chat_id)


async def press_and_wait_edit(
    world: World, who: Person, msg: dict[str, Any], data: str
) -> dict[str, Any]:
    before = world.tg.current(msg).get("text")
    await who.presses(msg, data)
    await wait_until(lambda: world.tg.current(msg).get("text") != before)
    return world.tg.current(msg)


async def compose(
    world: World,
    inv: Person,
    *,
    kind: str = "wanted_person",
    title: str = "Find the suspect",
    body: str = "Male, about 30, black jacket.",
    photos: int = 3,
    audience: list[tuple[str, str]] | None = None,
    urgency: str = "normal",
) -> dict[str, Any]:
    """Walk the dialog to the preview; returns the preview summary message."""
    await inv.says("/notice")
    msg = await inv.expect("choose the kind")
    await inv.presses(msg, nt("k", kind))
    msg = await inv.expect("title")
    await inv.says(title)
    await inv.expect("notice text")
    await inv.says(body)
    msg = await inv.expect("Send photos")
    if photos == 1:
        await inv.sends(photo=True)
        msg = await inv.expect("1 photo(s) received")
    elif photos > 1:
        await world.tg.send_album(inv.user, photos=photos)
        msg = await inv.expect("Album received")
        # The album is acknowledged at its first photo; the others may still be on their
        # way in (updates are handled concurrently): let every photo land before Done.
        await world.idle()
    await inv.presses(msg, nt("ph_ok"))
    msg = await inv.expect("case number")
    await inv.presses(msg, nt("skip"))
    await inv.expect("reward amount")
    await inv.says("5000 for decisive information")
    msg = await inv.expect("Choose who receives it")
    for a, v in audience or [("s", "drivers")]:
        msg = await press_and_wait_edit(world, inv, msg, nt(a, v))
    await inv.presses(msg, nt("aud_ok"))
    msg = await inv.expect("urgency")
    await inv.presses(msg, nt("u", urgency))
    msg = await inv.expect("Send the expiry")
    await inv.presses(msg, nt("exp", "7"))
    return await inv.expect("Preview:")


async def test_dialog_edit_from_preview_and_album_delivery(world: World) -> None:
    await seed(world)
    inv = await investigator(world)
    summary = await compose(world, inv)
    # The preview showed exactly the group view: album with caption, then the button message.
    previews = [m for m in inv.inbox() if m.get("media_group_id")]
    assert len(previews) == 3 and "Find the suspect" in previews[0]["caption"]
    assert "Target groups: 3" in summary["text"] and "城关司机群" in summary["text"]
    assert "新港房东群" not in summary["text"]
    assert not any(group_msgs(world, g[0]) for g in GROUPS)  # nothing sent before confirming
    # Edit the title from the preview; the dialog returns to the preview.
    await inv.presses(summary, nt("e", "title"))
    await inv.expect("title")
    await inv.says("Wanted: robbery suspect")
    summary = await inv.expect("Preview:")
    await inv.presses(summary, nt("send"))
    await inv.expect("is being sent to 3 groups")
    report = await inv.expect("delivered: 3 sent, 0 failed")
    assert "N-2611-01" in report["text"]
    for chat_id in (-1001, -1002, -1005):
        msgs = group_msgs(world, chat_id)
        assert len(msgs) == 4, msgs
        album, button_msg = msgs[:3], msgs[3]
        assert len({m["media_group_id"] for m in album}) == 1
        assert "Wanted: robbery suspect" in album[0]["caption"]
        assert "N-2611-01" in album[0]["caption"] and "5,000" in album[0]["caption"]
        (tip,) = buttons(button_msg)
        assert tip["url"] == "https://t.me/six_circles_bot?start=tip_N-2611-01"
        d = await world.db.deliveries.find_one({"chat_id": chat_id})
        assert d["state"] == "sent"
        assert d["message_ids"] == [m["message_id"] for m in msgs]
    for chat_id in (-1003, -1004):
        assert group_msgs(world, chat_id) == []
    # Photos went by file id: the bot never uploaded a file.
    assert all(not c.files for c in world.tg.calls_of("sendMediaGroup"))
    notice = await world.db.notices.find_one({"ref": "N-2611-01"})
    assert notice["status"] == "active" and notice["created_by"] == inv.id
    assert notice["reward"] == {
        "amount": "5000",
        "currency": "CNY",
        "terms": "for decisive information",
    }
    actions = [d["action"] async for d in world.db.audit.find({"object_type": "notice"})]
    assert "notice.send" in actions
    assert await world.db.notice_drafts.count_documents({}) == 0


async def test_refusals_invalid_input_and_cancel_change_nothing(world: World) -> None:
    await seed(world)
    eve = world.person("eve", lang="en")
    await eve.says("/notice")
    await eve.expect("not allowed")
    await eve.says("/notices")
    await eve.expect("not allowed")
    inv = await investigator(world)
    await inv.says("/notice_close N-2611-01 solved")
    await inv.expect("was not found")
    await inv.says("/notice_update")
    await inv.expect("Usage: /notice_update")
    await inv.says("/notice")
    msg = await inv.expect("choose the kind")
    await inv.presses(msg, nt("k", "missing_person"))
    await inv.expect("title")
    await inv.says("/help")  # another command is not the title: it is answered, the step stays
    assert "/notice_close" in (await inv.expect("/notice_update"))["text"]
    await inv.says("x" * 121)
    await inv.expect("The title is too long: 121 characters, at most 120.")
    await inv.says("寻找走失老人")
    await inv.expect("notice text")
    await inv.says("🚨" * 2049)  # 2049 characters but 4098 UTF-16 units
    await inv.expect("The text is too long: 4098 characters, at most 4096.")
    await inv.says("王某，78岁，身穿蓝色上衣。" * 75)  # 975 characters
    photos = await inv.expect("Send photos")
    await inv.says("here is the photo")
    await inv.expect("Send a photo, or press Done.")
    await inv.presses(photos, nt("ph_ok"))  # a missing person needs a photo: refused
    await wait_until(lambda: world.tg.calls_of("answerCallbackQuery", show_alert=True))
    assert (
        "at least one photo"
        in world.tg.calls_of("answerCallbackQuery", show_alert=True)[-1].params["text"]
    )
    await inv.sends(photo=True)
    msg = await inv.expect("1 photo(s) received")
    await inv.presses(msg, nt("ph_ok"))
    await inv.expect("case number")
    await inv.says("(2026)浙0102刑字第123号")
    await inv.expect("reward amount")
    await inv.says("a lot")
    await inv.expect("The reward amount was not understood")
    await inv.says("-5")
    await inv.expect("The reward must be positive")
    await inv.says("2000")
    msg = await inv.expect("Choose who receives it")
    await inv.presses(msg, nt("aud_ok"))  # nothing chosen: refused
    await wait_until(
        lambda: any(
            "Choose at least one" in c.params.get("text", "")
            for c in world.tg.calls_of("answerCallbackQuery")
        )
    )
    msg = await press_and_wait_edit(world, inv, msg, nt("ar", "town-a"))
    assert "Matching groups: 2" in msg["text"]
    await inv.presses(msg, nt("aud_ok"))
    msg = await inv.expect("urgency")
    await inv.presses(msg, nt("u", "urgent"))
    await inv.expect("Send the expiry")
    await inv.says("2020-01-01")
    await inv.expect("The expiry must be in the future.")
    await inv.says("next week")
    await inv.expect("The time was not understood")
    await inv.says("2026-12-31")
    # 975 characters of text + a header and footer exceed a photo caption's 1024: the
    # preview says so and offers the edits, but no Send button.
    err = await inv.expect("The notice is too long: with photos at most 1024")
    assert nt("send") not in [b.get("callback_data") for b in buttons(err)]
    await inv.presses(err, nt("e", "body"))
    await inv.expect("notice text")
    await inv.says("王某，78岁，身穿蓝色上衣，走失于城关镇菜市场附近。")
    summary = await inv.expect("Preview:")
    assert "Target groups: 2" in summary["text"]
    await inv.presses(summary, nt("x"))
    await inv.expect("Cancelled. Nothing was sent.")
    await world.idle()
    assert await world.db.notices.count_documents({}) == 0
    assert await world.db.deliveries.count_documents({}) == 0
    assert await world.db.notice_drafts.count_documents({}) == 0
    assert not any(group_msgs(world, g[0]) for g in GROUPS)
    # A stale preview button changes nothing either.
    assert buttons(world.tg.current(summary)) == []  # the preview's buttons were removed
    await world.tg.press(inv.user, summary, nt("send"), strict=False)  # an old client
    stale = Translator("en")("core.stale_button")
    await wait_until(
        lambda: any(c.params.get("text") == stale for c in world.tg.calls_of("answerCallbackQuery"))
    )
    assert await world.db.notices.count_documents({}) == 0


async def test_single_photo_by_radius_urgent_pinned(world: World) -> None:
    await seed(world)
    inv = await investigator(world)
    await inv.says("/notice")
    msg = await inv.expect("choose the kind")
    await inv.presses(msg, nt("k", "wanted_vehicle"))
    await inv.expect("title")
    await inv.says("白色面包车 浙A·12345")
    await inv.expect("notice text")
    await inv.says("涉嫌抢劫，向北逃窜。")
    await inv.expect("Send photos")
    await inv.sends(photo=True)
    msg = await inv.expect("1 photo(s) received")
    await inv.presses(msg, nt("ph_ok"))
    msg = await inv.expect("case number")
    await inv.presses(msg, nt("skip"))
    msg = await inv.expect("reward amount")
    await inv.presses(msg, nt("skip"))
    msg = await inv.expect("Choose who receives it")
    await inv.presses(msg, nt("rad"))
    await inv.expect("Share a location")
    await inv.says("not a place")
    await inv.expect("The coordinates were not understood")
    await inv.sends(location=(30.01, 120.01))
    await inv.expect("Send the radius in km")
    await inv.says("900")
    await inv.expect("The radius must be a number between 0.1 and 500 km.")
    await inv.says("5")
    msg = await inv.expect("within 5 km of 30.0100,120.0100")
    assert "Matching groups: 4" in msg["text"]  # town-a and town-b, not the far one
    await inv.presses(msg, nt("aud_ok"))
    msg = await inv.expect("urgency")
    await inv.presses(msg, nt("u", "pin"))
    msg = await inv.expect("Send the expiry")
    await inv.presses(msg, nt("exp", "30"))
    summary = await inv.expect("Preview:")
    assert "urgent (pinned)" in summary["text"]
    await inv.presses(summary, nt("send"))
    await inv.expect("delivered: 4 sent, 0 failed")
    for chat_id in (-1001, -1002, -1003, -1004):
        (photo,) = group_msgs(world, chat_id)
        assert photo["caption"].startswith("🚨") and "白色面包车" in photo["caption"]
        assert buttons(photo)[0]["url"].endswith("start=tip_N-2611-01")
        assert world.tg.pinned(chat_id) == [photo["message_id"]]
    assert group_msgs(world, -1005) == []


async def send_notice(world: World, inv: Person, **kw: Any) -> str:
    summary = await compose(world, inv, **kw)
    await inv.presses(summary, nt("send"))
    report = await inv.expect("delivered:")
    ref = report["text"].split()[1]
    return ref


async def test_delivery_survives_429_migration_and_removed_bot(world: World) -> None:
    await seed(world)
    world.tg.add_group(-1009, "城关司机二群", type="group")
    await world.app.ctx.groups.save(Group(-1009, "城关司机二群", "drivers", "town-a"))
    inv = await investigator(world)
    world.tg.fail_next("sendMediaGroup", TgError.retry_after(1), chat_id=-1001)
    world.tg.migrate_group(-1009, -1000000009)
    world.tg.remove_bot(-1002)
    summary = await compose(world, inv)
    await inv.presses(summary, nt("send"))
    await inv.expect("delivered: 3 sent, 1 failed (of 4 groups)")
    report = await inv.expect("Groups not reached:")
    assert "新港司机群 (-1002): the bot was removed from the group" in report["text"]
    assert len(group_msgs(world, -1001)) == 4  # after waiting out the 429
    assert len(world.tg.calls_of("sendMediaGroup", chat_id=-1001)) == 2
    assert len(group_msgs(world, -1000000009)) == 4  # under the supergroup's new id
    groups = world.app.ctx.groups
    assert (await groups.get(-1009)).status is GroupStatus.MIGRATED  # type: ignore[union-attr]
    assert (await groups.get(-1000000009)).status is GroupStatus.ACTIVE  # type: ignore[union-attr]
    assert (await groups.get(-1002)).status is GroupStatus.BOT_REMOVED  # type: ignore[union-attr]
    d = await world.db.deliveries.find_one({"chat_id": -1000000009})
    assert d["state"] == "sent" and len(d["message_ids"]) == 4
    failed = await world.db.deliveries.find_one({"chat_id": -1002})
    assert failed["state"] == "failed" and failed["reason"] == "bot_removed"


async def test_restart_mid_delivery_no_duplicate_no_gap(
    world: World, mongo_client: AsyncMongoClient[Document], db_name: str
) -> None:
    many = [(-2000 - i, f"司机群{i}", "drivers", "town-a") for i in range(10)]
    await seed(world, many)
    inv = await investigator(world)
    await world.runner.restart(send_global_per_s=3)  # slow enough to stop in the middle
    summary = await compose(world, inv, photos=1)
    await inv.presses(summary, nt("send"))
    reached = lambda: [c for c, *_ in many if group_msgs(world, c)]  # noqa: E731
    await wait_until(lambda: len(reached()) >= 3)
    # From now on Telegram fails every send (so nothing is in flight when we crash) ...
    left = len(many) - len(reached())
    world.tg.fail_next("sendPhoto", TgError.server_error(), times=left)
    await wait_until(lambda: len(world.tg.calls_of("sendPhoto", ok=False)) >= left, timeout=20)
    await world.runner.crash()  # ... and the process dies mid-delivery.
    done_before = set(reached())
    assert 3 <= len(done_before) < len(many)
    states = {d["state"] async for d in mongo_client[db_name].deliveries.find({})}
    assert "sending" in states
    await world.runner.start(send_global_per_s=25)
    # The dead process still holds the scheduler lease and its claims. The lease lapses
    # first: the new process takes it over and runs the notice, but the claims are fresh.
    world.clock.advance(31)
    world.tg.advance(31)
    assert await world.app.ctx.jobs.renew()
    await world.app.ctx.jobs.run_now("notices.deliver")
    await world.app.ctx.provided["broadcaster"].wait_idle()
    assert set(reached()) == done_before
    # That run asked for another once the claims have lapsed (the 5 s sweep runs too) ...
    wake = world.app.ctx.scheduler.get_job("wake:notices.deliver:in")
    assert wake is not None and wake.next_run_time > datetime.now(UTC) + timedelta(seconds=50)
    # ... which resumes delivery.
    world.clock.advance(30)
    world.tg.advance(30)
    await world.app.ctx.jobs.run_now("notices.deliver")
    await inv.expect("delivered: 10 sent, 0 failed")
    for chat_id, *_ in many:
        assert len(group_msgs(world, chat_id)) == 1, chat_id  # nobody twice, nobody skipped
    notice = await world.db.notices.find_one({})
    assert notice["status"] == "active"


async def test_update_and_close_propagate_to_every_copy(world: World) -> None:
    await seed(world)
    inv = await investigator(world)
    other = await investigator(world, "other")
    ref = await send_notice(world, inv, photos=3, urgency="pin")
    assert ref == "N-2611-01"
    copies = {c: group_msgs(world, c) for c in (-1001, -1002, -1005)}
    assert all(world.tg.pinned(c) == [m[0]["message_id"]] for c, m in copies.items())
    # Someone else's notice: refused, nothing changes.
    await other.says(f"/notice_close {ref} solved")
    await other.expect(f"You may not manage notice {ref}.")
    # Update the text: every group's caption is edited.
    await inv.says(f"/notice_update {ref.lower()}")
    await inv.expect(f"Send the new text of notice {ref}")
    await inv.says("UPDATE: last seen at the railway station, 14:00.")
    confirm = await inv.expect("will be changed in all 3 groups")
    await inv.presses(confirm, Nm(a="upd", ref=ref).pack())
    await inv.expect(f"Notice {ref} changed")

    def captions_say(text: str) -> bool:
        return all(text in world.tg.current(m[0]).get("caption", "") for m in copies.values())

    await wait_until(lambda: captions_say("railway station"))
    # Close as solved: captions marked, tip buttons gone, pins removed.
    await inv.says(f"/notice_close {ref} solved")
    confirm = await inv.expect(f'Mark notice {ref} as "solved"')
    await inv.presses(confirm, Nm(a="close", ref=ref, v="solved").pack())
    await inv.expect(f'Notice {ref} marked "solved"')
    await wait_until(lambda: captions_say("已破案"))
    for c, msgs in copies.items():  # each copy's messages are edited in their own time
        await wait_until(
            lambda m=msgs[3]: (
                buttons(world.tg.current(m)) == [] and "已结束" in world.tg.current(m)["text"]
            )
        )
        await wait_until(lambda c=c: world.tg.pinned(c) == [])
    await wait_until(
        lambda: world.db.notices.count_documents({"ref": ref, "status": "solved", "dirty": False})
    )
    await inv.says(f"/notice_update {ref}")
    await inv.expect(f"Notice {ref} has ended")
    await inv.says("/notices")
    listing = await inv.expect("Your notices")
    assert f"{ref} [solved]" in listing["text"] and "delivered 3/3" in listing["text"]
    actions = [d["action"] async for d in world.db.audit.find({"object_type": "notice"})]
    assert {"notice.send", "notice.update", "notice.solved"} <= set(actions)


async def test_scheduled_notice_goes_out_on_time_and_expires(world: World) -> None:
    await seed(world)
    inv = await investigator(world)
    summary = await compose(
        world,
        inv,
        kind="publicity",
        photos=0,
        title="防诈骗提示",
        body="陌生来电要求转账，一律是诈骗。",
    )
    await inv.presses(summary, nt("sched"))
    await inv.expect("Send the time to send it")
    await inv.says("2026-11-20 10:00")
    await inv.expect("The sending time must be in the future.")
    await inv.says("2026-11-23 12:00")  # 04:00 UTC; the clock is at 01:00 UTC
    await inv.expect("will be sent at 2026-11-23 12:00")
    await world.advance(3600, "notices.schedule", "notices.deliver")
    await world.idle()
    assert all(group_msgs(world, c) == [] for c, *_ in GROUPS)  # not yet
    # A restart in between changes nothing: the schedule lives in the database.
    await world.runner.restart()
    await world.advance(3 * 3600, "notices.schedule")
    await inv.expect("delivered: 3 sent, 0 failed")
    for c in (-1001, -1002, -1005):
        (text,) = group_msgs(world, c)
        assert "防诈骗提示" in text["text"] and buttons(text)
    # A manager re-posts it weekly.
    manager = world.person("mgr", lang="en")
    boss = await world.app.ctx.roles.principal(SUPERADMIN_ID)
    await world.app.ctx.roles.grant(boss, manager.id, Role.MANAGER, UNRESTRICTED)
    await inv.says("/notice_repeat N-2611-01 7")
    await inv.expect("not allowed")
    await manager.says("/notice_repeat N-2611-01 7")
    await manager.expect("You may not manage notice N-2611-01.")
    await world.app.ctx.roles.grant(boss, inv.id, Role.MANAGER, UNRESTRICTED)
    await inv.says("/notice_repeat N-2611-01 7")
    await inv.expect("will be posted again every 7 days")
    await world.advance(7 * 86400, "notices.schedule")
    await wait_until(lambda: all(len(group_msgs(world, c)) == 2 for c in (-1001, -1002, -1005)))
    assert "N-2611-02" in group_msgs(world, -1001)[1]["text"]
    # Expiry closes the first notice on its own and marks every copy.
    await world.advance(0, "notices.expire")
    for c in (-1001, -1002, -1005):  # every copy is edited, each in its own time
        await wait_until(
            lambda c=c: (
                "已过期" in world.tg.current(group_msgs(world, c)[0])["text"]
                and buttons(world.tg.current(group_msgs(world, c)[0])) == []
            )
        )
    first = await world.db.notices.find_one({"ref": "N-2611-01"})
    assert first["status"] == "expired"


async def test_database_error_mid_delivery_still_reaches_every_group_once(world: World) -> None:
    await seed(world)
    inv = await investigator(world)
    # The engine's delivery repository: the real one, whose write after -1002's photo
    # went out (the photo is the only step: its record comes with the finish) fails once
    # (the database away a moment).
    flaky = FlakyDeliveries(world.db)
    flaky.fail("finish", -1002)
    world.app.ctx.provided["broadcaster"]._engine._deliveries = flaky
    summary = await compose(world, inv, photos=1)
    await inv.presses(summary, nt("send"))
    await inv.expect("delivered: 3 sent, 0 failed (of 3 groups)")
    assert flaky.failed == {("finish", -1002): 1}
    for chat_id in (-1001, -1002, -1005):
        (photo,) = group_msgs(world, chat_id)  # exactly once: the write was retried, not the send
        d = await world.db.deliveries.find_one({"chat_id": chat_id})
        assert d["state"] == "sent" and d["message_ids"] == [photo["message_id"]]
    notice = await world.db.notices.find_one({})
    assert notice["status"] == "active"


async def test_groups_migrated_after_delivery_get_a_fresh_copy_of_updates(world: World) -> None:
    await seed(world)
    basic = [(-1009, "城关司机二群", "town-a"), (-1010, "新港司机二群", "town-b")]
    for chat_id, title, area in basic:
        world.tg.add_group(chat_id, title, type="group", member_count=50)
        await world.app.ctx.groups.save(Group(chat_id, title, "drivers", area, member_count=50))
    inv = await investigator(world)
    ref = await send_notice(world, inv, photos=3, urgency="pin")
    others = {c: group_msgs(world, c) for c in (-1001, -1002, -1005)}
    before = {c: group_msgs(world, c) for c, *_ in basic}
    assert all(len(m) == 4 for m in [*others.values(), *before.values()])
    # Both basic groups become supergroups: -1009 quietly (the bot hears of it only when it
    # next acts there), -1010 with the service messages, which the registry follows.
    world.tg.migrate_group(-1009, -1000000009)
    await world.tg.migrate_update(-1010, -1000000010)
    await wait_until(
        lambda: world.db.groups.count_documents({"_id": -1010, "migrated_to": -1000000010})
    )
    last_seq = world.tg.calls[-1].seq
    new_ids = (-1000000009, -1000000010)
    assert all(group_msgs(world, c) == [] for c in new_ids)

    # Updating the text edits the copies in place, and posts a fresh copy in each supergroup.
    await inv.says(f"/notice_update {ref}")
    await inv.expect(f"Send the new text of notice {ref}")
    await inv.says("UPDATE: last seen at the railway station, 14:00.")
    confirm = await inv.expect("will be changed")
    await inv.presses(confirm, Nm(a="upd", ref=ref).pack())
    await inv.expect(f"Notice {ref} changed")
    await wait_until(lambda: all(len(group_msgs(world, c)) == 4 for c in new_ids))
    for c in new_ids:
        album, button_msg = group_msgs(world, c)[:3], group_msgs(world, c)[3]
        assert len({m["media_group_id"] for m in album}) == 1
        assert "railway station" in album[0]["caption"] and ref in album[0]["caption"]
        assert all(m.get("photo") for m in album)
        (tip,) = buttons(button_msg)
        assert tip["url"].endswith(f"start=tip_{ref}")
        await wait_until(lambda c=c, first=album[0]: world.tg.pinned(c) == [first["message_id"]])
    # Photos went by file id, as at delivery: the bot never uploaded a file again.
    assert all(not c.files for c in world.tg.calls_of("sendMediaGroup") if c.seq > last_seq)
    await wait_until(
        lambda: all(
            "railway station" in world.tg.current(m[0]).get("caption", "") for m in others.values()
        )
    )
    await wait_until(lambda: world.db.notices.count_documents({"ref": ref, "dirty": False}))
    groups = world.app.ctx.groups
    for (old, *_), new in zip(basic, new_ids, strict=True):
        assert (await groups.get(old)).migrated_to == new  # type: ignore[union-attr]
        assert (await groups.get(new)).status is GroupStatus.ACTIVE  # type: ignore[union-attr]
        d = await world.db.deliveries.find_one({"chat_id": new})
        assert d["state"] == "sent" and d["shown_revision"] == 1 and d["migrated_from"] == old
        assert d["message_ids"] == [m["message_id"] for m in group_msgs(world, new)]
        assert await world.db.deliveries.count_documents({"chat_id": old}) == 0

    # Closing edits the supergroups' fresh copies: marked, tip button gone, unpinned.
    await inv.says(f"/notice_close {ref} solved")
    confirm = await inv.expect(f'Mark notice {ref} as "solved"')
    await inv.presses(confirm, Nm(a="close", ref=ref, v="solved").pack())
    await inv.expect(f'Notice {ref} marked "solved"')
    for c in (*new_ids, *others):
        msgs = group_msgs(world, c)
        await wait_until(lambda m=msgs[0]: "已破案" in world.tg.current(m).get("caption", ""))
        await wait_until(
            lambda m=msgs[3]: (
                buttons(world.tg.current(m)) == [] and "已结束" in world.tg.current(m)["text"]
            )
        )
        await wait_until(lambda c=c: world.tg.pinned(c) == [])
    await wait_until(
        lambda: world.db.notices.count_documents({"ref": ref, "status": "solved", "dirty": False})
    )
    assert all(len(group_msgs(world, c)) == 4 for c in new_ids)  # edited, not posted again
    # Nothing reached the old chats after they moved: the one edit that found out failed.
    for old, *_ in basic:
        after = [c for c in world.tg.calls_of(chat_id=old) if c.seq > last_seq]
        assert not any(c.ok for c in after), [(c.method, c.ok) for c in after]
        assert group_msgs(world, old) == before[old]
    assert len([c for c in world.tg.calls_of(chat_id=-1009) if c.seq > last_seq]) == 1
