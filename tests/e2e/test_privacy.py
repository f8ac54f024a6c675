"""Tipster anonymity, tried as members, officers and an attacker would (issue 13).

Through the fake Bot API and the real database: what a group sees, what the database
holds after ``/forget``, what a reader of the database (with or without TIPS_ID_KEY) can
work out, and what the logs say.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest

from bot.logs import JsonFormatter
from groups.roles import UNRESTRICTED, Role
from tests.e2e.harness import DEADLINE_S, SUPERADMIN_ID, Person, World, wait_until
from tests.e2e.test_tips import GROUP, REF, SEND, ZH, code_in, head, officer, seed_notice
from tests.fakebot import tiny_png
from tips.model import TipCategory

# Distinctive ids and names, so that finding one anywhere is never a coincidence.
ANN_ID, BOB_ID, CAROL_ID, DAN_ID, EVE_ID = (
    987_650_001,
    987_650_002,
    987_650_003,
    987_650_004,
    987_650_005,
)
NAMES = {ANN_ID: "xiaoling", BOB_ID: "haoran", CAROL_ID: "yuxuan", DAN_ID: "zihan"}
PHONES = {
    ANN_ID: "+8613800001111",
    BOB_ID: "+8613800002222",
    CAROL_ID: "+8613800003333",
    DAN_ID: "+8613800004444",
}
KINDS = ("intake", "tipster", "officer", "live")  # every keyed derivation of a private message


async def member(world: World, user_id: int, *, started: bool = True) -> Person:
    """An admitted member with a profile (real name, phone) in the registry."""
    name = NAMES[user_id]
    person = world.person(name, user_id=user_id, started=started)
    ctx = world.app.ctx
    boss = await ctx.roles.principal(SUPERADMIN_ID)
    await ctx.roles.grant(boss, person.id, Role.MEMBER, UNRESTRICTED)
    await world.db.members.insert_one(
        {
            "_id": person.id,
            "status": "active",
            "sector": "drivers",
            "area": "chengguan",
            "profile": {"real_name": f"{name.upper()} 真名", "phone": PHONES[user_id]},
        }
    )
    return person


def identifiers(user_id: int) -> list[str]:
    """What names a person: Telegram id, first name, username, registry name and phone."""
    name = NAMES[user_id]
    return [str(user_id), name, name.capitalize(), name.upper(), PHONES[user_id]]


def names_anyone(text: str, user_ids: list[int]) -> list[str]:
    found = []
    for uid in user_ids:
        for token in identifiers(uid):
            if re.search(rf"(?<![0-9A-Za-z]){re.escape(token)}(?![0-9A-Za-z])", text):
                found.append(token)
    return found


def leaves(value: Any) -> Iterator[Any]:
    if isinstance(value, dict):
        for v in value.values():
            yield from leaves(v)
    elif isinstance(value, list | tuple):
        for v in value:
            yield from leaves(v)
    else:
        yield value


async def every_document(world: World) -> list[tuple[str, dict[str, Any]]]:
    docs = []
    for name in sorted(await world.db.list_collection_names()):
        async for doc in world.db[name].find():
            docs.append((name, doc))
    return docs


def candidate_keys(docs: list[tuple[str, dict[str, Any]]]) -> list[bytes]:
    """Everything in the database that could serve as a secret (as text and as hex)."""
    keys: set[bytes] = set()
    for _, doc in docs:
        for v in leaves(doc):
            if isinstance(v, bytes) and len(v) >= 16:
                keys.add(v)
            if isinstance(v, str) and len(v) >= 16:
                keys.add(v.encode())
                if re.fullmatch(r"(?:[0-9a-f]{2})+", v):
                    keys.add(bytes.fromhex(v))
    return sorted(keys)


def derivations(keys: list[bytes], user_id: int, max_message_id: int) -> set[str]:
    """Every keyed hash of (kind, the user's private chat, a message in it) the code uses
    or used, under every key: what a brute force of user ids would compare against."""
    out: set[str] = set()
    for key in keys:
        for kind in KINDS:
            for mid in range(max_message_id + 1):
                digest = hmac.new(key, f"{kind}:{user_id}:{mid}".encode(), hashlib.sha256)
                full = digest.hexdigest()
                out.update((full, full[:24], full[:32]))
    return out


def secret_like(docs: list[tuple[str, dict[str, Any]]]) -> list[bytes]:
    """What looks like a stored secret: 256-bit hex strings, anything in a *meta* collection
    (few enough to test a short label against without a chance match)."""
    keys: set[bytes] = set()
    for name, doc in docs:
        for v in leaves(doc):
            if not isinstance(v, str):
                continue
            if re.fullmatch(r"[0-9a-f]{64}", v):
                keys.update((v.encode(), bytes.fromhex(v)))
            elif "meta" in name and len(v) >= 16:
                keys.add(v.encode())
    return sorted(keys)


def old_pseudonym(key: bytes, user_id: int, notice_id: str | None) -> str:
    """How pseudonyms used to be made: a keyed hash of the user id and the notice."""
    digest = hmac.new(key, f"pseudonym:{user_id}:{notice_id or '-'}".encode(), hashlib.sha256)
    d = digest.digest()
    return f"{'ACDEFGHJKMNPQRTWXY'[d[0] % 18]}{int.from_bytes(d[1:4], 'big') % 1000:03d}"


def id_key(world: World) -> bytes:
    key = getattr(world.app.ctx.settings, "tips_id_key", None)
    return key.get_secret_value().encode() if key is not None else b""


def has_link(msg: dict[str, Any], part: str) -> bool:
    rows = (msg.get("reply_markup") or {}).get("inline_keyboard", [])
    return any(part in (b.get("url") or "") for row in rows for b in row)


def mentions_link(msg: dict[str, Any]) -> bool:
    """A message pointing to a private tip about the notice (in its text or a button)."""
    return f"start=tip_{REF}" in json.dumps(msg, ensure_ascii=False)


def call_that_sent(world: World, chat_id: int, message_id: int) -> dict[str, Any]:
    for c in world.tg.calls:
        result = c.result if isinstance(c.result, dict) else {}
        if str(c.params.get("chat_id")) == str(chat_id) and result.get("message_id") == message_id:
            return c.params
    raise AssertionError(f"no call sent message {message_id} to {chat_id}")


async def deep_link_tip(person: Person, text: str, **extra: Any) -> str:
    await person.says(f"/start tip_{REF}")
    await person.expect(head("tips.panel_hint"))
    await person.says(text)
    ack = await person.expect(head("tips.added"))
    if extra.get("photo"):
        await person.sends(photo=tiny_png(5, 7), caption=extra["photo"])
        ack = await person.expect(head("tips.added"))
    await person.presses(ack, SEND)
    return code_in((await person.expect(head("tips.received")))["text"])


# ---- 1. the hint for someone who never started the bot --------------------------------


async def test_hint_for_a_member_who_never_started_the_bot_names_nobody(world: World) -> None:
    notice = await seed_notice(world)
    bob = await member(world, BOB_ID, started=False)
    reply = await bob.says("车就停在加油站后面", chat=GROUP, reply_to=notice["message_id"])
    hint = await world.tg.wait_for_message(GROUP, mentions_link, timeout=DEADLINE_S)
    assert world.tg.is_deleted(reply)
    params = call_that_sent(world, GROUP, hint["message_id"])
    body = json.dumps(params, ensure_ascii=False)
    assert names_anyone(body, [BOB_ID]) == [], body
    assert "车就停在" not in body
    # No reply to their message, no mention: nothing points at the sender.
    assert not {"reply_to_message_id", "reply_parameters", "entities"} & set(params)
    assert "reply_to_message" not in hint and not hint.get("entities")
    assert REF in hint["text"] and has_link(hint, f"start=tip_{REF}")  # anyone may press it

    # Someone else who never started the bot replies while it is up: no second hint.
    haoran_too = world.person("other", user_id=987_650_099, started=False)
    boss = await world.app.ctx.roles.principal(SUPERADMIN_ID)
    await world.app.ctx.roles.grant(boss, haoran_too.id, Role.MEMBER, UNRESTRICTED)
    await haoran_too.says("我也看见了", chat=GROUP, reply_to=notice["message_id"])
    await world.idle()
    assert await world.db.tips.count_documents({}) == 2
    hints = [m for m in world.tg.sent_to(GROUP, include_deleted=True) if mentions_link(m)]
    assert len(hints) == 1

    # The button opens a private tip about the notice, where the receipt waits.
    await bob.says(f"/start tip_{REF}")
    receipt = await bob.expect(head("tips.received_from_group"))
    first = await world.db.tips.find_one({"parts.text": "车就停在加油站后面"})
    assert first is not None and code_in(receipt["text"]) == first["code"]
    await world.advance(61, "tips.group_hints")
    assert world.tg.is_deleted(hint)


# ---- 2 and 3. /forget unlinks; the database does not give tipsters away ----------------


async def test_forget_leaves_nothing_that_matches_the_tipster(world: World) -> None:
    notice = await seed_notice(world)
    ann = await member(world, ANN_ID)
    ivan = await officer(world, "ivan", Role.INVESTIGATOR)
    boss = world.superadmin()
    world.clock.advance(5)

    # Tip A: text, a photo and a live location, then a thread both ways and /addinfo.
    await ann.says(f"/start tip_{REF}")
    await ann.expect(head("tips.panel_hint"))
    await ann.says("FORGET-ME 白色面包车在城关")
    await ann.expect(head("tips.added"))
    await ann.sends(photo=tiny_png(6, 6), caption="FORGET-ME 车尾")
    await ann.expect(head("tips.added"))
    await ann.sends(location=(30.3, 120.2), live_period=900)
    panel = await ann.expect(head("tips.added_location"))
    await ann.presses(panel, SEND)
    code_a = code_in((await ann.expect(head("tips.received")))["text"])
    world.clock.advance(5)
    await ivan.says(f"/tipinfo {code_a}")
    card = await ivan.expect(code_a)
    await ivan.says("FORGET-ME 往哪边走了？", reply_to=card)
    await ivan.expect(head("tips.relayed"))
    relayed = await ann.expect("往哪边走了")
    await ann.says("FORGET-ME 往北", reply_to=relayed)
    await ann.expect(head("tips.added_to_thread"))
    await ann.says(f"/addinfo {code_a}")
    await ann.expect(head("tips.panel_hint"))
    await ann.says("FORGET-ME 补充")
    ack = await ann.expect(head("tips.added"))
    await ann.presses(ack, SEND)
    await ann.expect(head("tips.added_to_thread"))
    # Tip B on the same notice, which stays linked: a reply in the group.
    world.clock.advance(5)
    await ann.says("KEEP-ME 又看见了", chat=GROUP, reply_to=notice["message_id"])
    code_b = code_in((await ann.expect(head("tips.received_from_group")))["text"])
    await world.idle()

    tip_a = await world.db.tips.find_one({"code": code_a})
    tip_b = await world.db.tips.find_one({"code": code_b})
    assert tip_a is not None and tip_b is not None
    label = tip_a["pseudonym"]
    assert tip_b["pseudonym"] == label  # one label per tipster and notice while linked
    refs = {tip_a["_id"], code_a}
    refs |= {m["_id"] async for m in world.db.tip_messages.find({"tip_id": tip_a["_id"]})}
    refs |= {p["file_id"] for p in tip_a["parts"] if p.get("file_id")}
    refs |= {p["file_unique_id"] for p in tip_a["parts"] if p.get("file_unique_id")}
    assert len(refs) >= 6  # the tip, its code, 3 thread messages, a photo

    world.clock.advance(5)
    await ann.says(f"/forget {code_a}")
    await ann.expect(head("tips.forgotten"))
    await world.idle()

    # Someone holding the database and TIPS_ID_KEY tries every way the code links things.
    docs = await every_document(world)
    keys = [id_key(world), *candidate_keys(docs)]
    max_mid = world.tg.chats[ANN_ID].next_message_id
    derived = derivations([k for k in keys if k], ANN_ID, max_mid)
    # Times recorded about her (her profile, her tips still linked): none may equal a time
    # in the forgotten tip or its thread, or the two could be joined.
    user = await world.db.users.find_one({"_id": ANN_ID})
    assert user is not None
    her_times = {v for v in leaves(user) if isinstance(v, datetime)}
    async for ident in world.db.tip_identities.find({"user_id": ANN_ID}):
        her_times |= {v for v in leaves(ident) if isinstance(v, datetime)}
    checked = 0
    for name, doc in docs:
        values = list(leaves(doc))
        strings = {str(v) for v in values}
        text = json.dumps(doc, default=str, ensure_ascii=False)
        if not (refs & strings or "FORGET-ME" in text):
            continue
        checked += 1
        where = f"{name}: {text[:300]}"
        assert names_anyone(text, [ANN_ID]) == [], where
        assert not derived & strings, where  # no keyed hash of her messages
        assert label not in strings, where  # not the label her other tips carry
        if name in ("tips", "tip_messages"):  # the tip's own records (officers' are theirs)
            assert not her_times & {v for v in values if isinstance(v, datetime)}, where
    assert checked >= 4  # the tip, its thread messages, duty's alert...
    assert user["last_seen"].hour == 0  # kept to the day only
    after = await world.db.tips.find_one({"_id": tip_a["_id"]})
    assert after is not None and after["forgotten"] and "pseudonym" not in after
    assert all("live_key" not in loc for loc in after["locations"])
    assert await world.db.tip_identities.count_documents({"_id": tip_a["_id"]}) == 0
    assert await world.db.tip_intake.count_documents({"tip_id": tip_a["_id"]}) == 0

    # Her next tip on the notice is not tied to the forgotten one.
    world.clock.advance(5)
    code_c = await deep_link_tip(ann, "KEEP-ME 第三条")
    tip_c = await world.db.tips.find_one({"code": code_c})
    assert tip_c is not None and tip_c["pseudonym"] != label
    await boss.says(f"/reveal {code_c} 需要当面核实")
    revealed = await boss.expect(str(ANN_ID))
    assert code_c in revealed["text"]
    await boss.says(f"/reveal {code_a} 需要当面核实")
    await boss.expect(ZH("tips.reveal_forgotten", code=code_a))
    ivan.skip_inbox()
    await ivan.says(f"/tips {REF}")
    listing = (await ivan.expect(code_a))["text"]
    line_a = next(line for line in listing.splitlines() if code_a in line)
    assert label not in line_a and ZH("tips.forgotten_tipster") in line_a


async def test_a_database_reader_cannot_work_out_who_sent_a_tip(world: World) -> None:
    notice = await seed_notice(world)
    ann = await member(world, ANN_ID)
    ivan = await officer(world, "ivan", Role.INVESTIGATOR)
    code = await deep_link_tip(ann, "车牌浙A12345", photo="车头")
    await ann.says("/tip")
    menu = await ann.expect(head("tips.choose_category"))
    from bot.routers.tips import TipCb

    await ann.presses(menu, TipCb(action="cat", value=TipCategory.VEHICLE.value).pack())
    await ann.expect(head("tips.panel_hint"))
    await ann.says("一辆无牌摩托车")
    ack = await ann.expect(head("tips.added"))
    await ann.presses(ack, SEND)
    await ann.expect(head("tips.received"))
    await ann.says("在桥下", chat=GROUP, reply_to=notice["message_id"])
    await ann.expect(head("tips.received_from_group"))
    await ivan.says(f"/tipinfo {code}")
    card = await ivan.expect(code)
    await ivan.says("还在吗？", reply_to=card)
    relayed = await ann.expect("还在吗")
    await ann.says("还在", reply_to=relayed)
    await ann.expect(head("tips.added_to_thread"))
    await world.idle()

    docs = await every_document(world)
    # Without TIPS_ID_KEY: nothing in the database works as the key of any derivation.
    derived = derivations(candidate_keys(docs), ANN_ID, world.tg.chats[ANN_ID].next_message_id)
    for name, doc in docs:
        strings = {str(v) for v in leaves(doc)}
        assert not derived & strings, f"{name}: {doc}"
    key = id_key(world).decode()
    assert key and all(key not in {str(v) for v in leaves(doc)} for _, doc in docs)
    # Pseudonyms are not a keyed hash of the user id under a secret from the database.
    tips = [d async for d in world.db.tips.find()]
    assert len(tips) == 3
    for k in secret_like(docs):
        for tip in tips:
            assert old_pseudonym(k, ANN_ID, tip["notice_id"]) != tip["pseudonym"]


# ---- 4 and 14. logs ------------------------------------------------------------------------


async def test_logs_of_tip_intake_name_nobody(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    notice = await seed_notice(world)
    ann = await member(world, ANN_ID)
    bob = await member(world, BOB_ID, started=False)
    ivan = await officer(world, "ivan", Role.INVESTIGATOR)
    code = await deep_link_tip(ann, "日志测试一", photo="照片")
    await ann.sends(text=notice["text"], forward_from=world.tg.bot_user)
    await ann.expect(REF)
    await ann.says("转发后的线索")
    ack = await ann.expect(head("tips.added"))
    await ann.presses(ack, SEND)
    await ann.expect(head("tips.received"))
    await ann.says("群里回复的线索", chat=GROUP, reply_to=notice["message_id"])
    await ann.expect(head("tips.received_from_group"))
    await bob.says("没开过机器人的人回复", chat=GROUP, reply_to=notice["message_id"])
    await world.tg.wait_for_message(GROUP, mentions_link)
    await ivan.says(f"/tipinfo {code}")
    card = await ivan.expect(code)
    await ivan.says("请补充", reply_to=card)
    relayed = await ann.expect("请补充")
    await ann.says("补充如下", reply_to=relayed)
    await ann.expect(head("tips.added_to_thread"))
    await ann.says("/mytips")
    await ann.expect(code)
    await ann.says(f"/reward {code}")
    await ann.expect()
    await ann.says(f"/reward {code}", chat=GROUP)
    await ann.expect()
    await ann.says(f"/forget {code}", chat=GROUP)
    await world.idle()
    await ann.says(f"/forget {code}")
    await ann.expect(head("tips.forgotten"))
    eve = world.person("eve", user_id=EVE_ID)  # not a member: refused
    await eve.says("/tip")
    await eve.expect(ZH("errors.permission_denied"))
    boss = world.superadmin()
    await boss.says("/help", chat=GROUP)  # public activity in a group
    await world.idle()

    formatter = JsonFormatter()
    lines = [formatter.format(r) for r in caplog.records]
    for line in lines:
        assert names_anyone(line, [ANN_ID, BOB_ID]) == [], line
        assert str(EVE_ID) not in line, line
    updates = [
        (json.loads(line), json.loads(json.loads(line)["msg"]))
        for line in lines
        if json.loads(line)["logger"] == "six_circles.updates"
    ]
    handlers = {u.get("handler") for _, u in updates}
    assert {
        "tips.start_from_link",
        "tips.collect",
        "tips.dialog_button",
        "tips.forwarded_notice",
        "tips.group_reply",
        "tips.reply_in_thread",
        "tips.my_tips",
        "tips.forget",
        "tips.tipster_command_in_group",
        "rewards.reward_status",
        "rewards.reward_status_in_group",
        "tips.tip_info",
    } <= handlers, handlers
    for entry, u in updates:
        assert u["outcome"] in ("handled", "unhandled", "refused", "error", "duplicate"), u
        if str(u.get("handler", "")).startswith("tips.") and u["handler"] != "tips.tip_info":
            # tipster business: nobody named, and the time to the minute only
            assert not {"user_id", "chat_id", "actor"} & set(u), u
            assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d", entry["ts"]), entry
    # A refusal is logged as one, with the handler that refused.
    refused = [u for _, u in updates if u["outcome"] == "refused"]
    assert any(
        u["handler"] == "tips.start_general" and u["reason"] == "permission:send_tips"
        for u in refused
    ), refused
    # An officer's private command: a per-process alias, not the id.
    (info,) = [u for _, u in updates if u.get("handler") == "tips.tip_info"]
    assert "actor" in info and "user_id" not in info
    # Public activity in a group keeps who and where.
    assert any(
        u.get("user_id") == SUPERADMIN_ID and u.get("chat_id") == GROUP for _, u in updates
    ), updates


# ---- 5. a tipster's commands in a group -----------------------------------------------------


async def test_tipster_commands_in_a_group_are_taken_down_and_answered_privately(
    world: World,
) -> None:
    notice = await seed_notice(world)
    assert notice
    ann = await member(world, ANN_ID)
    code = await deep_link_tip(ann, "群里命令测试")
    before = len(world.tg.sent_to(GROUP, include_deleted=True))
    for text, answer in (
        (f"/addinfo {code}", "tips.command_in_group"),
        (f"/forget {code}", "tips.command_in_group"),
        (f"/reward {code}", "rewards.status_in_group"),
        ("/mytips", "tips.command_in_group"),
        ("/tip", "tips.command_in_group"),
    ):
        sent = await ann.says(text, chat=GROUP)
        await wait_until(lambda sent=sent: world.tg.is_deleted(sent))
        reply = await ann.expect(head(answer))
        if answer.startswith("tips."):
            assert text in reply["text"] and ZH("tips.command_deleted") in reply["text"]
    await world.idle()
    assert len(world.tg.sent_to(GROUP, include_deleted=True)) == before  # not a word there
    tip = await world.db.tips.find_one({"code": code})
    assert tip is not None and not tip["forgotten"]  # a command in a group is not run
    assert await world.db.tip_identities.count_documents({"_id": tip["_id"]}) == 1

    # Someone the bot cannot write to: taken down too, and a hint that names nobody.
    bob = await member(world, BOB_ID, started=False)
    sent = await bob.says(f"/forget {code}", chat=GROUP)
    hint = await world.tg.wait_for_message(GROUP, lambda m: has_link(m, "t.me/"))
    assert world.tg.is_deleted(sent)
    body = json.dumps(call_that_sent(world, GROUP, hint["message_id"]), ensure_ascii=False)
    assert names_anyone(body, [BOB_ID]) == [] and code not in body


# ---- every way in: nothing reaches a group ---------------------------------------------------


async def test_nothing_about_a_tip_or_its_tipster_reaches_a_group(world: World) -> None:
    notice = await seed_notice(world)
    ann = await member(world, ANN_ID)  # group replies, a forward, reward questions
    bob = await member(world, BOB_ID, started=False)  # replies without ever starting the bot
    carol = await member(world, CAROL_ID)  # deep link, with a photo, and a thread
    dan = await member(world, DAN_ID)  # /tip, with a photo
    ivan = await officer(world, "ivan", Role.INVESTIGATOR)
    texts = ["REPLYTEXT-ANN", "REPLYTEXT-BOB", "LINKTEXT-CAROL", "GENTEXT-DAN", "FWDTEXT-ANN"]

    await ann.says(texts[0], chat=GROUP, reply_to=notice["message_id"])
    await ann.expect(head("tips.received_from_group"))
    await ann.sends(
        chat=GROUP, photo=tiny_png(9, 9), caption="ALBUMTEXT-ANN", reply_to=notice["message_id"]
    )
    await ann.expect(head("tips.received_from_group"))
    await bob.says(texts[1], chat=GROUP, reply_to=notice["message_id"])
    await world.tg.wait_for_message(GROUP, mentions_link)
    code_carol = await deep_link_tip(carol, texts[2], photo="PHOTOTEXT-CAROL")
    from bot.routers.tips import TipCb

    await dan.says("/tip")
    menu = await dan.expect(head("tips.choose_category"))
    await dan.presses(menu, TipCb(action="cat", value="person").pack())
    await dan.expect(head("tips.panel_hint"))
    await dan.says(texts[3])
    await dan.expect(head("tips.added"))
    await dan.sends(photo=tiny_png(8, 5), caption="PHOTOTEXT-DAN")
    ack = await dan.expect(head("tips.added"))
    await dan.presses(ack, SEND)
    await dan.expect(head("tips.received"))
    await ann.sends(text=notice["text"], forward_from=world.tg.bot_user)
    await ann.expect(REF)
    await ann.says(texts[4])
    ack = await ann.expect(head("tips.added"))
    await ann.presses(ack, SEND)
    await ann.expect(head("tips.received"))
    await ivan.says(f"/tipinfo {code_carol}")
    card = await ivan.expect(code_carol)
    await ivan.says("THREADTEXT-IVAN", reply_to=card)
    relayed = await carol.expect("THREADTEXT-IVAN")
    await carol.says("THREADTEXT-CAROL", reply_to=relayed)
    await carol.expect(head("tips.added_to_thread"))
    await ann.says(f"/reward {code_carol}", chat=GROUP)
    await ann.expect(head("rewards.status_in_group"))
    await ann.says(f"/reward {code_carol}")
    await ann.expect()
    await world.idle()

    tips = [d async for d in world.db.tips.find()]
    assert len(tips) == 6
    forbidden = [d["code"] for d in tips]
    forbidden += [*texts, "ALBUMTEXT-ANN", "PHOTOTEXT-CAROL", "PHOTOTEXT-DAN", "THREADTEXT"]
    for d in tips:
        for p in d["parts"]:
            forbidden += [p[k] for k in ("file_id", "file_unique_id") if p.get(k)]
    people = [ANN_ID, BOB_ID, CAROL_ID, DAN_ID]

    # Every request the bot made about a group (messages, edits, captions, buttons)...
    outputs = [
        json.dumps(c.params, ensure_ascii=False)
        for c in world.tg.calls
        if str(c.params.get("chat_id")) == str(GROUP)
    ]
    # ...and every version of every message it has there, deleted ones included.
    outputs += [
        json.dumps(version, ensure_ascii=False)
        for rec in world.tg.sent_records(GROUP, include_deleted=True)
        for version in rec.versions()
    ]
    assert len(outputs) > 4
    for out in outputs:
        assert names_anyone(out, people) == [], out
        assert [f for f in forbidden if f in out] == [], out
