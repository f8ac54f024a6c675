"""Issue 4 end to end: the real bot over the fake Bot API and the real database."""

from __future__ import annotations

from typing import Any

from bot.routers.notices import Nt
from groups.model import Area, GeoPoint, Group
from groups.roles import UNRESTRICTED, Role
from tests.e2e.harness import SUPERADMIN_ID, Person, World, wait_until

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
