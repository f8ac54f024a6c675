"""Tips end to end: the real bot against the fake Bot API and the real database."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bot.i18n import Translator
from bot.routers.tips import TipCb
from groups.model import Group
from groups.roles import UNRESTRICTED, Role, Scope
from storage.embedded import EmbeddedMongo
from tests.e2e.harness import DEADLINE_S, SUPERADMIN_ID, BotRunner, Person, World, wait_until
from tests.fakebot import FakeTelegram, tiny_png
from tests.fakes.nominatim import FakeNominatim

ZH = Translator("zh-CN")
REF = "N-2611-07"
GROUP = -1001234500
SEND = TipCb(action="send").pack()
ADDR = TipCb(action="addr").pack()


def head(key: str) -> str:
    """The fixed beginning of a catalogue message (up to its first placeholder)."""
    return ZH(key).split("{")[0]


async def seed_notice(
    world: World,
    *,
    ref: str = REF,
    notice_id: str = "n1",
    status: str = "active",
    group_id: int = GROUP,
    delete_replies: bool = True,
) -> dict[str, Any]:
    """A bound group with a delivered notice, in the documented shapes of issues 3 and 4."""
    ctx = world.app.ctx
    if group_id not in world.tg.chats:
        world.tg.add_group(group_id, "城关司机群")
        await ctx.groups.save(
            Group(group_id, "城关司机群", "drivers", "chengguan", delete_tip_replies=delete_replies)
        )
    sent = await ctx.bot.send_message(group_id, f"协查通报 {ref}：寻找白色面包车")
    button = await ctx.bot.send_message(group_id, "举报线索 / Report a tip")
    await world.db.notices.insert_one(
        {
            "_id": notice_id,
            "ref": ref,
            "kind": "wanted",
            "title": "寻找白色面包车",
            "status": status,
            "created_by": 7000,
            "investigators": [7001],
            "reward": None,
            "expires_at": None,
        }
    )
    await world.db.deliveries.insert_one(
        {
            "notice_id": notice_id,
            "chat_id": group_id,
            "state": "sent",
            "message_ids": [sent.message_id, button.message_id],
        }
    )
    return {"message_id": sent.message_id, "text": sent.text}


async def member(world: World, name: str, *, started: bool = True) -> Person:
    person = world.person(name, started=started)
    ctx = world.app.ctx
    boss = await ctx.roles.principal(SUPERADMIN_ID)
    await ctx.roles.grant(boss, person.id, Role.MEMBER, UNRESTRICTED)
    await world.db.members.insert_one(
        {"_id": person.id, "status": "active", "sector": "drivers", "area": "chengguan"}
    )
    return person


async def officer(world: World, name: str, role: Role, scope: Scope = UNRESTRICTED) -> Person:
    person = world.person(name)
    ctx = world.app.ctx
    boss = await ctx.roles.principal(SUPERADMIN_ID)
    await ctx.roles.grant(boss, person.id, role, scope)
    return person


async def tip_docs(world: World) -> list[dict[str, Any]]:
    return [d async for d in world.db.tips.find().sort("created_at", 1)]


def code_in(text: str) -> str:
    import re

    m = re.search(r"T-[0-9A-Z]{5}", text)
    assert m, text
    return m.group(0)


async def send_tip(person: Person, world: World, text: str) -> str:
    await person.says(f"/start tip_{REF}")
    await person.expect(head("tips.panel_hint"))
    await person.says(text)
    ack = await person.expect(head("tips.added"))
    await person.presses(ack, SEND)
    receipt = await person.expect(head("tips.received"))
    return code_in(receipt["text"])


# ---- ways in and location sources ----------------------------------------------------


async def test_deep_link_tip_with_every_location_source_and_an_album(world: World) -> None:
    await seed_notice(world)
    ann = await member(world, "ann")
    await ann.says(f"/start tip_{REF}")
    await ann.expect(REF)
    await ann.expect(head("tips.panel_hint"))

    await ann.says("白色面包车，车牌浙A·12345，往北开了")
    await ann.expect(head("tips.added"))
    await world.tg.send_album(ann.user, photos=3, caption="车尾照片")
    await ann.expect(head("tips.added_album"))
    await ann.sends(location=(30.2741, 120.1551, 12.0))
    await ann.expect(head("tips.added_location"))
    await ann.sends(
        venue={
            "latitude": 30.25,
            "longitude": 120.16,
            "title": "城关加油站",
            "address": "城关路 8 号",
        }
    )
    await ann.expect(head("tips.added_location"))
    live = await ann.sends(location=(30.3, 120.2), live_period=900)
    await ann.expect(head("tips.added_location"))
    await world.tg.edit_location(live, 30.31, 120.21)
    await ann.says("30°16'27\"N 120°9'18\"E")
    await ann.expect(head("tips.added_coordinates"))
    await ann.says("30.2555, 120.1777")
    await ann.expect(head("tips.added_coordinates"))
    await ann.says("95.5, 120.1")  # out of range: refused, nothing recorded
    await ann.expect(head("tips.coords_out_of_range"))
    panel = await ann.says("再补充一句：司机戴帽子")
    assert panel
    ack = await ann.expect(head("tips.added"))
    await ann.presses(ack, ADDR)
    await ann.expect(head("tips.ask_address"))
    await ann.says("城关镇人民路 100 号")  # geocoding is off: kept as text, pin asked for
    await ann.expect(head("tips.added_address_only"))
    await world.idle()
    draft = await world.db.tip_drafts.find_one({"_id": ann.id})
    assert draft is not None
    assert draft["locations"][2]["point"]["coordinates"] == [120.21, 30.31]  # live moved

    await ann.presses(ack, SEND)
    receipt = await ann.expect(head("tips.received"))
    code = code_in(receipt["text"])
    (tip,) = await tip_docs(world)
    assert tip["code"] == code and tip["notice_id"] == "n1" and tip["status"] == "new"
    assert tip["sector"] == "drivers" and tip["area"] == "chengguan"
    sources = [loc["source"] for loc in tip["locations"]]
    assert sources == ["telegram", "venue", "live", "typed_dms", "typed_decimal", "address"]
    assert tip["locations"][0]["accuracy_m"] == 12.0
    assert tip["locations"][1]["title"] == "城关加油站"
    assert tip["locations"][2]["first_point"]["coordinates"] == [120.2, 30.3]
    assert tip["locations"][5] == {"source": "address", "address": "城关镇人民路 100 号"}
    assert tip["location_source"] == "telegram"
    assert tip["point"] == {"type": "Point", "coordinates": [120.1551, 30.2741]}
    kinds = [p["kind"] for p in tip["parts"]]
    assert kinds == ["text", "photo", "photo", "photo", "text"]
    assert len({p["album"] for p in tip["parts"] if p["kind"] == "photo"}) == 1
    assert all(p.get("file_id") and p.get("size") for p in tip["parts"][1:4])
    # Nothing about the tipster in the tip body.
    assert ann.id not in tip.values() and "Ann" not in json.dumps(tip, default=str)
    ident = await world.db.tip_identities.find_one({"_id": tip["_id"]})
    assert ident is not None and ident["user_id"] == ann.id

    # The live location keeps moving after the tip was sent: the stored tip follows.
    await world.tg.edit_location(live, 30.32, 120.22)
    await wait_until(
        lambda: world.db.tips.find_one(
            {"_id": tip["_id"], "locations.2.point.coordinates": [120.22, 30.32]}
        )
    )
    # Nothing reached the group.
    for msg in world.tg.sent_to(GROUP):
        assert code not in (msg.get("text") or "")


async def test_general_tip_with_category(world: World) -> None:
    ann = await member(world, "ann")
    await ann.says("/tip")
    menu = await ann.expect(head("tips.choose_category"))
    await ann.presses(menu, TipCb(action="cat", value="vehicle").pack())
    await ann.expect(ZH("tips.category.vehicle"))
    await ann.says("一辆无牌摩托车在学校门口转悠")
    ack = await ann.expect(head("tips.added"))
    await ann.presses(ack, SEND)
    await ann.expect(head("tips.received"))
    (tip,) = await tip_docs(world)
    assert tip["category"] == "vehicle" and tip["notice_id"] is None
    # A stale press (an old copy of the button; the draft is gone) changes nothing.
    qid = await world.tg.press(ann.user, ack, SEND, strict=False)
    answer = await wait_until(lambda: world.tg.answered_callback(qid))
    assert answer["text"] == ZH("core.stale_button")
    assert len(await tip_docs(world)) == 1


async def test_forwarding_a_notice_starts_a_tip_on_it(world: World) -> None:
    notice = await seed_notice(world)
    ann = await member(world, "ann")
    await ann.sends(text=notice["text"], forward_from=world.tg.bot_user)
    await ann.expect(REF)
    await ann.says("我见过这辆车")
    ack = await ann.expect(head("tips.added"))
    await ann.presses(ack, SEND)
    await ann.expect(head("tips.received"))
    (tip,) = await tip_docs(world)
    assert tip["notice_id"] == "n1"
    # A forward that is not a notice gets a clear answer.
    await ann.sends(text="今天天气不错", forward_from=ann.user)
    await ann.expect(head("tips.forward_not_notice"))


async def test_group_reply_becomes_a_private_tip_and_is_deleted(world: World) -> None:
    notice = await seed_notice(world)
    ann = await member(world, "ann")
    reply = await ann.says("车停在城关菜市场后面", chat=GROUP, reply_to=notice["message_id"])
    receipt = await ann.expect(head("tips.received_from_group"))
    code = code_in(receipt["text"])
    await wait_until(lambda: world.tg.is_deleted(reply))
    (tip,) = await tip_docs(world)
    assert tip["code"] == code and tip["channel"] == "group_reply"
    assert tip["sector"] == "drivers" and tip["area"] == "chengguan"
    assert all(code not in (m.get("text") or "") for m in world.tg.sent_to(GROUP))

    # Telegram delivers the same message again (a new update id): still one tip.
    await world.tg.inject({"message": reply})
    await world.idle()
    assert len(await tip_docs(world)) == 1


async def test_group_reply_album_is_one_tip(world: World) -> None:
    notice = await seed_notice(world)
    ann = await member(world, "ann")
    for i in range(3):
        await ann.sends(
            chat=GROUP,
            photo=tiny_png(4 + i, 4),  # three different pictures
            caption="照片" if i == 0 else None,
            media_group_id="album-1",
            reply_to=notice["message_id"],
        )
    await ann.expect(head("tips.received_from_group"))
    await world.idle()
    (tip,) = await tip_docs(world)
    assert [p["kind"] for p in tip["parts"]] == ["photo", "photo", "photo"]
    assert len([m for m in world.tg.sent_to(GROUP, include_deleted=True) if m.get("photo")]) == 0


async def test_group_reply_from_someone_who_never_started_the_bot(world: World) -> None:
    notice = await seed_notice(world)
    bob = await member(world, "bob", started=False)
    reply = await bob.says("我知道车主是谁", chat=GROUP, reply_to=notice["message_id"])

    def has_link(msg: dict[str, Any]) -> bool:  # the hint's button opens a private tip
        rows = (msg.get("reply_markup") or {}).get("inline_keyboard", [])
        return any(f"start=tip_{REF}" in (b.get("url") or "") for row in rows for b in row)

    hint = await world.tg.wait_for_message(GROUP, has_link, timeout=DEADLINE_S)
    assert world.tg.is_deleted(reply)
    assert "我知道车主" not in hint["text"] and "Bob" not in hint["text"]
    (tip,) = await tip_docs(world)
    ident = await world.db.tip_identities.find_one({"_id": tip["_id"]})
    assert ident is not None and ident["receipt"] == "pending"
    # The hint goes after a minute.
    await world.advance(30, "tips.group_hints")
    assert not world.tg.is_deleted(hint)
    await world.advance(31, "tips.group_hints")
    assert world.tg.is_deleted(hint)
    # Opening the link delivers the receipt they missed.
    await bob.says(f"/start tip_{REF}")
    receipt = await bob.expect(head("tips.received_from_group"))
    assert code_in(receipt["text"]) == tip["code"]


async def test_group_can_keep_replies_public(world: World) -> None:
    notice = await seed_notice(world)
    ann = await member(world, "ann")
    boss = world.superadmin(lang="en")

    def said_in_group(text: str) -> bool:
        return any(text in (m.get("text") or "") for m in world.tg.sent_to(GROUP))

    await ann.says("/tipreplies keep", chat=GROUP)  # a member may not change it
    await wait_until(lambda: said_in_group(Translator("zh-CN")("errors.permission_denied")))
    await boss.says("/tipreplies sometimes", chat=GROUP)
    await wait_until(lambda: said_in_group("Usage: /tipreplies"))
    stored = await world.db.groups.find_one({"_id": GROUP})
    assert stored["delete_tip_replies"] is True  # the default, unchanged by refusals
    await boss.says("/tipreplies keep", chat=GROUP)
    await wait_until(lambda: said_in_group("stay in the group"))
    reply = await ann.says("在桥下", chat=GROUP, reply_to=notice["message_id"])
    await ann.expect(head("tips.received_from_group"))
    await world.idle()
    assert not world.tg.is_deleted(reply)
    await boss.says("/tipreplies delete", chat=GROUP)
    await wait_until(lambda: said_in_group("are deleted from the group"))
    reply = await ann.says("还在桥下", chat=GROUP, reply_to=notice["message_id"])
    await wait_until(lambda: world.tg.is_deleted(reply))
    actions = [d["action"] async for d in world.db.audit.find({"action": "group.tip_replies"})]
    assert actions == ["group.tip_replies"] * 2


# ---- typed addresses, geocoded by a (fake) Nominatim server ------------------------------

ADDRESS = "城关镇人民路 100 号"
MATCHED = "人民路 100 号, 城关镇, 杭州市, 浙江省, 中国"


@pytest.fixture
async def geo() -> AsyncIterator[FakeNominatim]:
    async with FakeNominatim(prefix="/nominatim") as server:
        server.add(ADDRESS, 30.2741, 120.1551, MATCHED)
        yield server


async def tip_with_address(person: Person, address: str, expected_key: str) -> dict[str, Any]:
    """Start a tip, type a line of text, press Address, type ``address``."""
    await person.says(f"/start tip_{REF}")
    await person.expect(head("tips.panel_hint"))
    await person.says("车就停在这里")
    ack = await person.expect(head("tips.added"))
    await person.presses(ack, ADDR)
    await person.expect(head("tips.ask_address"))
    await person.says(address)
    return await person.expect(head(expected_key))


async def send_draft(person: Person, panel: dict[str, Any]) -> str:
    await person.presses(panel, SEND)
    return code_in((await person.expect(head("tips.received")))["text"])


async def test_typed_address_is_geocoded_cached_and_failures_ask_for_a_pin(
    tg: FakeTelegram, runner: BotRunner, geo: FakeNominatim
) -> None:
    await runner.start(
        tips_geocoder="nominatim",
        tips_nominatim_url=geo.base_url,
        tips_nominatim_user_agent="six-circles-e2e",
    )
    world = World(tg, runner)
    await seed_notice(world)
    ann = await member(world, "ann")

    # A free-text address becomes the geocoded point; the typed text is kept.
    found = await tip_with_address(ann, ADDRESS, "tips.added_geocoded")
    assert MATCHED in found["text"]
    (lookup,) = geo.requests
    assert lookup.query == ADDRESS and lookup.user_agent == "six-circles-e2e"
    assert lookup.params["format"] == "json" and lookup.params["countrycodes"] == "cn"
    first = await send_draft(ann, found)
    (tip,) = await tip_docs(world)
    assert tip["code"] == first
    point = {"type": "Point", "coordinates": [120.1551, 30.2741]}
    assert tip["locations"] == [
        {"source": "geocoded", "point": point, "address": ADDRESS, "title": MATCHED}
    ]
    assert tip["location_source"] == "geocoded" and tip["point"] == point

    # The same address again (spaced differently) comes from the cache: no new request.
    again = await tip_with_address(ann, "城关镇人民路  100 号", "tips.added_geocoded")
    await send_draft(ann, again)
    assert geo.queries() == [ADDRESS]
    second = (await tip_docs(world))[1]
    assert second["locations"][0]["source"] == "geocoded"
    assert second["point"] == point

    # The geocoder failing: the address is kept as text and the member is asked for a pin.
    # (The bot spaces lookups 1 s apart by its clock: move it instead of waiting. Another
    # member goes on, as ann's private chat has had a burst of messages by now.)
    bob = await member(world, "bob")
    geo.fail_with = 500
    world.clock.advance(1)
    failed = await tip_with_address(bob, "城关镇解放路 8 号", "tips.added_address_only")
    keyboard = world.tg.message_rec(failed).sent_reply_markup
    assert keyboard is not None and keyboard["keyboard"][0][0].get("request_location") is True
    assert geo.queries() == [ADDRESS, "城关镇解放路 8 号"]
    panel = await bob.expect(head("tips.panel_hint"))
    await send_draft(bob, panel)
    third = (await tip_docs(world))[2]
    assert third["locations"] == [{"source": "address", "address": "城关镇解放路 8 号"}]
    assert "point" not in third and "location_source" not in third  # no coordinates known

    # No place found is the same for the member; the pin they then share is the best source.
    geo.fail_with = None
    world.clock.advance(1)
    await tip_with_address(bob, "查无此地 999 号", "tips.added_address_only")
    await bob.expect(head("tips.panel_hint"))
    assert len(geo.requests) == 3 and geo.requests[-1].status == 200
    await bob.sends(location=(30.2, 120.1))
    pinned = await bob.expect(head("tips.added_location"))
    await send_draft(bob, pinned)
    fourth = (await tip_docs(world))[3]
    assert [loc["source"] for loc in fourth["locations"]] == ["address", "telegram"]
    assert fourth["locations"][0]["address"] == "查无此地 999 号"
    assert fourth["location_source"] == "telegram"


# ---- anonymity, threads, forget ---------------------------------------------------------


async def test_officers_see_a_pseudonym_and_reveals_are_audited(world: World) -> None:
    await seed_notice(world)
    ann = await member(world, "ann")
    code = await send_tip(ann, world, "嫌疑人穿红色外套")
    op = await officer(world, "olga", Role.OPERATOR, Scope("drivers"))
    await op.says(f"/tipinfo {code}")
    card = await op.expect(code)
    (tip,) = await tip_docs(world)
    assert tip["pseudonym"] in card["text"]
    for secret in ("Ann", "@ann", str(ann.id)):
        assert secret not in card["text"]
    await op.says(f"/reveal {code} 想联系他")
    await op.expect(ZH("tips.reveal_not_allowed"))
    # An operator of another sector does not even learn the tip exists.
    other = await officer(world, "oscar", Role.OPERATOR, Scope("landlords"))
    await other.says(f"/tipinfo {code}")
    await other.expect(head("tips.unknown_code"))

    boss = world.superadmin()
    await boss.says(f"/reveal {code}")
    await boss.expect(head("tips.reveal_usage"))
    await boss.says(f"/reveal {code} 需要当面询问目击细节")
    shown = await boss.expect(code)
    assert str(ann.id) in shown["text"] and "@ann" in shown["text"]
    entries = await world.app.ctx.audit.list(action="tip.reveal")
    assert len(entries) == 1 and entries[0].actor_id == SUPERADMIN_ID
    assert entries[0].details["reason"] == "需要当面询问目击细节"


async def test_reveal_is_refused_to_investigators_by_default(world: World) -> None:
    await seed_notice(world)
    ann = await member(world, "ann")
    code = await send_tip(ann, world, "嫌疑人往东走了")
    inv = await officer(world, "ivan", Role.INVESTIGATOR)
    await inv.says("/help")
    menu = await inv.expect(ZH("core.help_header"))
    assert "/tipinfo" in menu["text"] and "/reveal" not in menu["text"]
    await inv.says(f"/reveal {code} 需要当面询问目击细节")
    refusal = await inv.expect(ZH("tips.reveal_not_allowed"))
    for secret in ("Ann", "@ann", str(ann.id)):
        assert secret not in refusal["text"]
    await inv.expect_nothing_new()
    assert await world.app.ctx.audit.list(action="tip.reveal") == []


async def test_reveal_granted_to_investigators_by_configuration(
    world: World, runner: BotRunner
) -> None:
    await runner.restart(reveal_tipster_roles="superadmin, investigator")
    await seed_notice(world)
    ann = await member(world, "ann")
    code = await send_tip(ann, world, "嫌疑人往东走了")
    inv = await officer(world, "ivan", Role.INVESTIGATOR, Scope("drivers"))
    manager = await officer(world, "mona", Role.MANAGER)
    outsider = await officer(world, "otto", Role.INVESTIGATOR, Scope("landlords"))

    await manager.says(f"/reveal {code} 想联系举报人")
    await manager.expect(ZH("tips.reveal_not_allowed"))
    await outsider.says(f"/reveal {code} 想联系举报人")  # another sector: not even found
    await outsider.expect(head("tips.unknown_code"))
    await world.idle()
    assert await world.app.ctx.audit.list(action="tip.reveal") == []

    await inv.says("/help")
    menu = await inv.expect(ZH("core.help_header"))
    assert "/reveal" in menu["text"]
    await inv.says(f"/reveal {code}")
    await inv.expect(head("tips.reveal_usage"))
    await inv.says(f"/reveal {code} 需要当面询问目击细节")
    shown = await inv.expect(head("tips.revealed"))
    assert code in shown["text"] and str(ann.id) in shown["text"] and "@ann" in shown["text"]
    (entry,) = await world.app.ctx.audit.list(action="tip.reveal")
    assert entry.actor_id == inv.id and entry.details["reason"] == "需要当面询问目击细节"
    assert entry.details["code"] == code
    # Superadmins keep it: they are in the configured list.
    boss = world.superadmin()
    await boss.says(f"/reveal {code} 复核身份信息")
    await boss.expect(head("tips.revealed"))
    assert len(await world.app.ctx.audit.list(action="tip.reveal")) == 2


async def test_two_way_thread_with_media_then_forget(world: World) -> None:
    await seed_notice(world)
    ann = await member(world, "ann")
    code = await send_tip(ann, world, "看到可疑人员")
    inv = await officer(world, "ivan", Role.INVESTIGATOR, Scope("drivers"))
    await inv.says(f"/tipinfo {code}")
    card = await inv.expect(code)

    await inv.says("请问他往哪个方向走了？", reply_to=card)
    await inv.expect(head("tips.relayed"))
    relayed = await ann.expect("请问他往哪个方向走了")
    assert code in relayed["text"] and "寻找白色面包车" in relayed["text"]
    assert "Ivan" not in relayed["text"] and "ivan" not in relayed["text"]

    await inv.sends(photo=True, caption="是这个人吗？", reply_to=card)
    await inv.expect(head("tips.relayed"))
    await ann.expect(head("tips.officer_says"))
    photo = await ann.expect("是这个人吗")
    assert photo.get("photo") and "forward_origin" not in photo

    await ann.sends(voice=True, reply_to=relayed)
    await ann.expect(head("tips.added_to_thread"))
    await inv.expect(code)
    voice = await wait_until(lambda: [m for m in inv.inbox() if m.get("voice")])
    assert voice
    await ann.says("往北边去了", reply_to=photo)
    await ann.expect(head("tips.added_to_thread"))
    note = await inv.expect("往北边去了")
    # The officer can answer the forwarded reply too: it is a tip card.
    await inv.says("谢谢", reply_to=note)
    await inv.expect(head("tips.relayed"))
    await ann.expect("谢谢")

    thread = [d async for d in world.db.tip_messages.find().sort("at", 1)]
    assert [m["direction"] for m in thread] == [
        "officer",
        "officer",
        "tipster",
        "tipster",
        "officer",
    ]
    assert thread[2]["parts"][0]["kind"] == "voice"

    await ann.says("/mytips")
    mine = await ann.expect(code)
    assert "5" in mine["text"]

    await ann.says(f"/forget {code}")
    await ann.expect(head("tips.forgotten"))
    (tip,) = await tip_docs(world)
    assert tip["forgotten"] and await world.db.tip_identities.count_documents({}) == 0
    await inv.says("还在吗？", reply_to=card)
    await inv.expect(head("tips.relay_forgotten"))
    await ann.says(f"/forget {code}")
    await ann.expect(head("tips.unknown_code"))
    await ann.says("/forget nonsense")
    await ann.expect(head("tips.bad_code"))
    boss = world.superadmin()
    await boss.says(f"/reveal {code} 核实身份")
    await boss.expect(head("tips.reveal_forgotten"))


async def test_addinfo_and_status_updates(world: World) -> None:
    await seed_notice(world)
    ann = await member(world, "ann")
    code = await send_tip(ann, world, "第一次线索")
    await ann.says(f"/addinfo {code.lower()}")
    await ann.expect(head("tips.panel_hint"))
    await ann.sends(location=(30.1, 120.1))
    ack = await ann.expect(head("tips.added_location"))
    await ann.presses(ack, SEND)
    await ann.expect(head("tips.added_to_thread"))
    assert len(await tip_docs(world)) == 1
    assert await world.db.tip_messages.count_documents({"direction": "tipster"}) == 1
    inv = await officer(world, "ivan", Role.INVESTIGATOR)
    await inv.says(f"/tipstatus {code} verified")
    await inv.expect(head("tips.status_set"))
    await ann.expect(ZH("tips.status_changed.verified"))
    await inv.says(f"/tipstatus {code} closed")
    await ann.expect(ZH("tips.status_changed.closed"))
    await ann.says(f"/addinfo {code}")
    await ann.expect(head("tips.tip_closed"))
    await ann.says("/addinfo T-AAAAA")
    await ann.expect(head("tips.unknown_code"))


# ---- robustness --------------------------------------------------------------------------


async def test_flood_limit_oversize_and_unsupported_content(
    world: World, runner: BotRunner
) -> None:
    await runner.restart(tips_flood_limit=2, tips_max_text_chars=200, tips_max_file_mb=1)
    await seed_notice(world)
    ann = await member(world, "ann")
    await send_tip(ann, world, "一")
    await send_tip(ann, world, "二")
    await ann.says(f"/start tip_{REF}")
    await ann.expect(head("tips.panel_hint"))
    await ann.sends(sticker=True)
    await ann.expect(head("tips.unsupported"))
    await ann.sends(poll="你看见了吗？")
    await ann.expect(head("tips.unsupported"))
    await ann.says("长" * 201)
    await ann.expect(head("tips.text_too_long"))
    await ann.sends(document=("video.zip", b"\0" * (1024 * 1024 + 1)))
    await ann.expect(head("tips.file_too_big"))
    await ann.says("三")
    ack = await ann.expect(head("tips.added"))
    qid = await ann.presses(ack, SEND)
    await world.idle()
    answer = await wait_until(lambda: world.tg.answered_callback(qid))
    assert head("tips.flood") in answer["text"]
    assert len(await tip_docs(world)) == 2
    draft = await world.db.tip_drafts.find_one({"_id": ann.id})
    assert draft is not None and [p["text"] for p in draft["parts"]] == ["三"]
    await world.advance(601)
    await ann.presses(ack, SEND)
    await ann.expect(head("tips.received"))
    assert len(await tip_docs(world)) == 3


async def test_closed_notice_and_unknown_ref(world: World) -> None:
    await seed_notice(world, ref="N-2611-01", notice_id="old", status="solved")
    ann = await member(world, "ann")
    await ann.says("/start tip_N-2611-01")
    await ann.expect(head("tips.notice_closed"))
    await ann.says("/start tip_N-9999-99")
    await ann.expect(head("tips.unknown_notice"))
    assert await world.db.tip_drafts.count_documents({}) == 0


async def test_near_sorted_by_distance_and_exports_parse(world: World) -> None:
    await seed_notice(world)
    ann = await member(world, "ann")
    # Typed coordinates about 5.6, 1.1 and 3.3 km north of the centre, sent out of order.
    for lat in ("30.05", "30.01", "30.03"):
        await ann.says(f"/start tip_{REF}")
        await ann.expect(head("tips.panel_hint"))
        await ann.says(f"{lat}, 120.0")
        ack = await ann.expect(head("tips.added_coordinates"))
        await ann.presses(ack, SEND)
        await ann.expect(head("tips.received"))
        world.clock.advance(60)
    await send_tip(ann, world, "没有位置的线索")
    tips = {
        d["locations"][0]["point"]["coordinates"][1] if d["locations"] else None: d["code"]
        for d in await tip_docs(world)
    }

    inv = await officer(world, "ivan", Role.INVESTIGATOR, Scope("drivers"))
    await inv.says(f"/near 10 {REF}")
    await inv.expect(head("tips.near_ask_location"))
    await inv.sends(location=(30.0, 120.0))
    listing = await inv.expect(head("tips.near_header"))
    text = listing["text"]
    order = [text.index(tips[lat]) for lat in (30.01, 30.03, 30.05)]
    assert order == sorted(order) and tips[None] not in text
    assert "1.11" in text and "3.34" in text
    # Replying to a location works too, with filters.
    pin = await inv.sends(location=(30.0, 120.0))
    await inv.says("/near 4 new", reply_to=pin)
    listing = await inv.expect(head("tips.near_header"))
    assert tips[30.05] not in listing["text"] and tips[30.01] in listing["text"]
    await inv.says("/near abc")
    await inv.expect(head("tips.near_usage"))
    await inv.says("/near 500")
    await inv.expect(head("tips.bad_radius"))

    await inv.says(f"/tips {REF}")
    page = await inv.expect(REF)
    assert page["text"].index(tips[None]) < page["text"].index(tips[30.05])  # newest first

    await inv.says(f"/tipexport {REF}")
    geo_msg = await inv.expect(head("tips.export_geojson"))
    csv_msg = await inv.expect(head("tips.export_csv"))
    geo = json.loads(world.tg.files[geo_msg["document"]["file_id"]].data)
    assert geo["type"] == "FeatureCollection" and len(geo["features"]) == 4
    coords = sorted(f["geometry"]["coordinates"][1] for f in geo["features"] if f["geometry"])
    assert coords == [30.01, 30.03, 30.05]
    raw = world.tg.files[csv_msg["document"]["file_id"]].data.decode("utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(raw)))
    assert {r["code"] for r in rows} == set(tips.values())
    assert all(str(ann.id) not in json.dumps(r, ensure_ascii=False) for r in rows)
    assert "Ann" not in raw


async def send_tip_at(person: Person, lat: str) -> str:
    await person.says(f"/start tip_{REF}")
    await person.expect(head("tips.panel_hint"))
    await person.says(f"{lat}, 120.0")
    ack = await person.expect(head("tips.added_coordinates"))
    await person.presses(ack, SEND)
    return code_in((await person.expect(head("tips.received")))["text"])


async def test_near_with_a_date_range_in_the_team_time_zone(world: World) -> None:
    await seed_notice(world)
    ann = await member(world, "ann")
    codes: dict[str, str] = {}
    # When each tip arrives (UTC; the team's zone is Asia/Shanghai, UTC+8) and where.
    for name, at, lat in (
        ("a", datetime(2026, 11, 23, 1, 0, tzinfo=UTC), "30.01"),  # 23 Nov 09:00 local
        ("b", datetime(2026, 11, 24, 15, 59, tzinfo=UTC), "30.04"),  # 24 Nov 23:59 local
        ("c", datetime(2026, 11, 24, 16, 0, tzinfo=UTC), "30.02"),  # 25 Nov 00:00 local
        ("d", datetime(2026, 11, 25, 2, 0, tzinfo=UTC), "30.03"),  # 25 Nov 10:00 local
    ):
        world.clock.set(at)
        codes[name] = await send_tip_at(ann, lat)
    world.clock.set(datetime(2026, 11, 26, 1, 0, tzinfo=UTC))

    inv = await officer(world, "ivan", Role.INVESTIGATOR, Scope("drivers"))

    def listed(text: str) -> list[str]:
        found = sorted((text.index(code), name) for name, code in codes.items() if code in text)
        return [name for _, name in found]

    # Asked for the centre afterwards: the range waits with the other filters.
    await inv.says(f"/near 10 {REF} 2026-11-24..2026-11-25")
    await inv.expect(head("tips.near_ask_location"))
    await inv.sends(location=(30.0, 120.0))
    listing = await inv.expect(head("tips.near_header"))
    assert listed(listing["text"]) == ["c", "d", "b"]  # nearest first, "a" is before the range
    assert "2026-11-24" in listing["text"] and "2026-11-25" in listing["text"]
    pin = await inv.sends(location=(30.0, 120.0))
    await inv.says("/near 10 ..2026-11-24", reply_to=pin)  # up to the end of the 24th
    assert listed((await inv.expect(head("tips.near_header")))["text"]) == ["a", "b"]
    await inv.says("/near 10 2026-11-25.. new", reply_to=pin)
    assert listed((await inv.expect(head("tips.near_header")))["text"]) == ["c", "d"]
    await inv.says("/near 10 2026-11-23", reply_to=pin)  # one day
    assert listed((await inv.expect(head("tips.near_header")))["text"]) == ["a"]
    await inv.says("/near 10 2026-11-26..", reply_to=pin)
    await inv.expect(head("tips.near_empty"))

    # Bad ranges are refused with a clear message; no location is asked for.
    await inv.says("/near 10 2026-11-25..2026-11-24")
    refusal = await inv.expect(head("tips.near_range_reversed"))
    assert "2026-11-25" in refusal["text"] and "2026-11-24" in refusal["text"]
    await inv.says("/near 10 2026-11-31..")
    await inv.expect(head("tips.near_bad_date"))
    await inv.says("/near 10 7d 2026-11-01..")
    await inv.expect(head("tips.near_two_periods"))
    await inv.expect_nothing_new()


async def test_duplicate_update_delivery_makes_one_tip(world: World) -> None:
    notice = await seed_notice(world)
    ann = await member(world, "ann")
    reply = await ann.says("重复投递测试", chat=GROUP, reply_to=notice["message_id"])
    await ann.expect(head("tips.received_from_group"))
    update = {"update_id": 999_001, "message": reply}
    await world.tg.inject(update)
    await world.tg.inject_duplicate(update)
    await world.idle()
    assert len(await tip_docs(world)) == 1
    assert await world.db.tip_identities.count_documents({}) == 1


async def test_database_down_means_retry_and_nothing_half_written(
    tg: FakeTelegram, db_name: str, tmp_path: Path
) -> None:
    server = EmbeddedMongo(tmp_path / "dedicated")
    await server.start()
    runner = BotRunner(tg, server.uri, db_name, tmp_path)
    try:
        await runner.start()
        world = World(tg, runner)
        await seed_notice(world)
        ann = await member(world, "ann")
        await ann.says(f"/start tip_{REF}")
        await ann.expect(head("tips.panel_hint"))
        await ann.says("数据库故障测试")
        ack = await ann.expect(head("tips.added"))
        await server.stop()
        qid = await ann.presses(ack, SEND)
        answer = await wait_until(lambda: tg.answered_callback(qid), timeout=60)
        assert ZH("core.db_unavailable")[:10] in answer["text"]
        assert not [m for m in ann.inbox() if head("tips.received") in (m.get("text") or "")]
        await server.start()
        db = runner.app.ctx.db if runner.app else None
        assert db is not None
        assert await db.tips.count_documents({}) == 0
        assert await db.tip_identities.count_documents({}) == 0
        # The draft is intact: pressing Send again stores the tip once.
        await ann.presses(ack, SEND)
        await ann.expect(head("tips.received"), timeout=30)
        assert await db.tips.count_documents({}) == 1
    finally:
        await runner.stop()
        await server.stop()


async def test_tip_in_webhook_mode(webhook_world: World) -> None:
    world = webhook_world
    await seed_notice(world)
    ann = await member(world, "ann")
    code = await send_tip(ann, world, "webhook 模式下的线索")
    (tip,) = await tip_docs(world)
    assert tip["code"] == code


async def test_tips_list_pages_with_buttons(world: World) -> None:
    from bot.routers.tips import TipPage

    notice = await seed_notice(world)
    people = [await member(world, name) for name in ("ann", "bob")]
    for i in range(12):
        who = people[i % 2]
        await who.says(f"第 {i} 条", chat=GROUP, reply_to=notice["message_id"])
        await who.expect(head("tips.received_from_group"))
        world.clock.advance(10)
    codes = [d["code"] for d in await tip_docs(world)]
    inv = await officer(world, "ivan", Role.INVESTIGATOR)
    await inv.says(f"/tips {REF}")
    first = await inv.expect(REF)
    assert "1/2" in first["text"] and codes[-1] in first["text"] and codes[0] not in first["text"]
    await inv.presses(first, TipPage(ref=REF, page=1).pack())
    await wait_until(lambda: codes[0] in (world.tg.current(first).get("text") or ""))
    assert "2/2" in world.tg.current(first)["text"]
    await inv.says(f"/tips {REF} 9")
    last = await inv.expect(REF)
    assert "2/2" in last["text"] and codes[0] in last["text"]
    await inv.says("/tips")
    await inv.expect(head("tips.tips_usage"))
    member_only = people[0]
    await member_only.says(f"/tips {REF}")
    await member_only.expect(ZH("errors.permission_denied"))


async def test_reply_that_cannot_be_deleted_is_flagged_to_the_tipster(world: World) -> None:
    notice = await seed_notice(world)
    world.tg.set_bot_rights(GROUP, can_delete_messages=False)
    ann = await member(world, "ann")
    reply = await ann.says("就在路口", chat=GROUP, reply_to=notice["message_id"])
    receipt = await ann.expect(head("tips.received_from_group"))
    assert ZH("tips.reply_not_deleted") in receipt["text"]
    assert not world.tg.is_deleted(reply)
    assert len(await tip_docs(world)) == 1
