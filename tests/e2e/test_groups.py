"""Issue 3 end to end: sectors, areas, binding, admission, members (real bot, fake Telegram, real DB)."""

from __future__ import annotations

from typing import Any

from tests.e2e.harness import START, SUPERADMIN_ID, Person, World, wait_until

DRIVERS_CHAT = -1001000000001
LANDLORDS_CHAT = -1001000000002
HOTELS_CHAT = -1001000000003
BUSINESS_CHAT = -1001000000004
SWEEP = "groups.expire_applications"


# ---------------------------------------------------------------------- helpers
async def manager(
    world: World, name: str, sector: str | None = None, area: str | None = None
) -> Person:
    person = world.person(name, lang="en")
    await world.db.roles.insert_one(
        {
            "user_id": person.id,
            "role": "manager",
            "sector": sector,
            "area": area,
            "granted_by": SUPERADMIN_ID,
            "granted_at": START,
        }
    )
    await person.says("/start")
    await person.expect("Six Circles")
    return person


async def group_says(world: World, chat_id: int, contains: str) -> dict[str, Any]:
    return await world.tg.wait_for_message(chat_id, text_contains=contains)


async def bound(world: World, by: Person, chat_id: int, title: str, args: str) -> None:
    world.tg.add_group(chat_id, title, admins=[by.id])
    await by.says(f"/bind {args}", chat=chat_id)
    await group_says(world, chat_id, "is now bound")


async def answer_of(world: World, qid: str) -> str:
    """The text a button press was answered with (waits for the answer)."""
    answer = await wait_until(lambda: world.tg.answered_callback(qid))
    return str(answer.get("text", ""))


def buttons(message: dict[str, Any]) -> list[str]:
    rows = message.get("reply_markup", {}).get("inline_keyboard", [])
    return [b["callback_data"] for row in rows for b in row]


async def app_doc(world: World, user_id: int) -> dict[str, Any]:
    doc = await world.db.applications.find_one({"user_id": user_id}, sort=[("created_at", -1)])
    assert doc is not None
    return doc


async def fill_driver_form(world: World, who: Person, chat_id: int) -> None:
    await world.tg.join_request(who.id, chat_id)
    await who.expect("Your real full name")
    await who.says(f"{who.user['first_name']} Zhang")
    await who.expect("Share my phone number")
    await who.sends(contact="13812345678")
    await who.expect("workplace or business name")
    await who.says("Didi Chuxing")
    await who.expect("address of your workplace")
    await who.says("88 Renmin Road, Chengguan")
    await who.expect("plate number")
    await who.says("浙A12345")
    await who.expect("transport company")
    await who.says("Hangzhou Taxi Co.")
    await who.expect("has been submitted")


async def admit_driver(world: World, who: Person, mgr: Person, chat_id: int) -> None:
    await fill_driver_form(world, who, chat_id)
    card = await mgr.expect("Join request")
    approve = next(b for b in buttons(card) if b.endswith(":a"))
    await mgr.presses(card, approve)
    await who.expect("was approved")


# ---------------------------------------------------------------------- binding
async def test_bind_needs_admin_rights_and_says_which_are_missing(world: World) -> None:
    mgr = await manager(world, "mgr", "drivers")
    world.tg.add_group(
        DRIVERS_CHAT,
        "Drivers",
        admins=[mgr.id],
        bot_rights={"can_pin_messages": False, "can_restrict_members": False},
    )
    await mgr.says("/bind drivers", chat=DRIVERS_CHAT)
    refusal = await group_says(world, DRIVERS_CHAT, "lacks these administrator rights")
    assert "can_pin_messages, can_restrict_members" in refusal["text"]
    assert "can_invite_users" not in refusal["text"]
    assert await world.db.groups.count_documents({}) == 0

    world.tg.set_bot_rights(DRIVERS_CHAT, can_pin_messages=True, can_restrict_members=True)
    await mgr.says("/bind 交通运输司乘人员", chat=DRIVERS_CHAT)
    await group_says(world, DRIVERS_CHAT, "is now bound")
    doc = await world.db.groups.find_one({"_id": DRIVERS_CHAT})
    assert doc is not None
    assert (doc["sector"], doc["area"], doc["status"], doc["bound_by"]) == (
        "drivers",
        None,
        "active",
        mgr.id,
    )
    audit = await world.db.audit.find_one({"action": "group.bind"})
    assert audit is not None and audit["actor_id"] == mgr.id

    # Bound already: a second /bind changes nothing.
    await mgr.says("/bind drivers", chat=DRIVERS_CHAT)
    await group_says(world, DRIVERS_CHAT, "already bound")


async def test_bind_refused_when_bot_is_not_an_administrator(world: World) -> None:
    mgr = await manager(world, "mgr", "drivers")
    world.tg.add_group(DRIVERS_CHAT, "Drivers", admins=[mgr.id], bot_status="member")
    await mgr.says("/bind drivers", chat=DRIVERS_CHAT)
    refusal = await group_says(world, DRIVERS_CHAT, "not an administrator")
    assert "can_invite_users" in refusal["text"]
    assert await world.db.groups.count_documents({}) == 0


async def test_bind_refusals_change_nothing(world: World) -> None:
    boss = world.superadmin(lang="en")
    mgr = await manager(world, "mgr", "drivers")
    eve = world.person("eve", lang="en")
    world.tg.add_group(LANDLORDS_CHAT, "Landlords", admins=[mgr.id], members=[eve.id])

    await eve.says("/bind landlords", chat=LANDLORDS_CHAT)
    await group_says(world, LANDLORDS_CHAT, "not allowed")
    await mgr.says("/bind landlords", chat=LANDLORDS_CHAT)
    await group_says(world, LANDLORDS_CHAT, "inside your scope (landlords)")
    await mgr.says("/bind wizards", chat=LANDLORDS_CHAT)
    await group_says(world, LANDLORDS_CHAT, "Unknown sector: wizards")
    await mgr.says("/bind drivers nowhere", chat=LANDLORDS_CHAT)
    await group_says(world, LANDLORDS_CHAT, "Unknown area: nowhere")
    await mgr.says("/bind", chat=LANDLORDS_CHAT)
    await group_says(world, LANDLORDS_CHAT, "Usage, in the group")
    await mgr.says("/bind drivers")
    await mgr.expect("only in a group")
    await mgr.says("/unbind", chat=LANDLORDS_CHAT)
    await group_says(world, LANDLORDS_CHAT, "not bound")
    await mgr.says("/groups", chat=LANDLORDS_CHAT)
    await group_says(world, LANDLORDS_CHAT, "private chat")
    assert await world.db.groups.count_documents({}) == 0

    # A retired sector cannot be bound; its name still resolves.
    await boss.says("/sector_retire landlords")
    await boss.expect("retired")
    await boss.says("/bind landlords", chat=LANDLORDS_CHAT)
    await group_says(world, LANDLORDS_CHAT, "is retired")
    assert await world.db.groups.count_documents({}) == 0


async def test_supergroup_migration_keeps_identity_and_bot_removal_tells_managers(
    world: World,
) -> None:
    mgr = await manager(world, "mgr", "drivers")
    old_id, new_id = -5001, -1005001
    world.tg.add_group(old_id, "Drivers basic", type="group", admins=[mgr.id])
    await mgr.says("/bind drivers", chat=old_id)
    await group_says(world, old_id, "is now bound")
    await world.db.members.insert_one(
        {
            "_id": 777,
            "name": "Old Member",
            "phone": "+8613800000000",
            "status": "active",
            "sector": "drivers",
            "area": None,
            "groups": [{"chat_id": old_id, "sector": "drivers", "area": None, "status": "active"}],
        }
    )

    await world.tg.migrate_update(old_id, new_id)
    await wait_until(
        lambda: world.db.members.count_documents({"_id": 777, "groups.chat_id": new_id})
    )
    new = await world.db.groups.find_one({"_id": new_id})
    old = await world.db.groups.find_one({"_id": old_id})
    assert new is not None and old is not None
    assert (new["status"], new["sector"], new["bound_by"]) == ("active", "drivers", mgr.id)
    assert new["previous_ids"] == [old_id]  # both service messages handled, once
    assert (old["status"], old["migrated_to"]) == ("migrated", new_id)
    member = await world.db.members.find_one({"_id": 777})
    assert member is not None and member["groups"][0]["chat_id"] == new_id

    await mgr.says("/groups")
    listing = await mgr.expect("Groups (")
    assert str(new_id) in listing["text"] and str(old_id) not in listing["text"]

    await world.tg.my_chat_member_update(new_id, "administrator", "kicked")
    await mgr.expect("The bot was removed from “Drivers basic”")
    await wait_until(
        lambda: world.db.groups.count_documents({"_id": new_id, "status": "bot_removed"})
    )


async def test_unbind_archives_the_group(world: World) -> None:
    mgr = await manager(world, "mgr", "drivers")
    await bound(world, mgr, DRIVERS_CHAT, "Drivers", "drivers")
    await mgr.says("/unbind", chat=DRIVERS_CHAT)
    await group_says(world, DRIVERS_CHAT, "unbound and archived")
    doc = await world.db.groups.find_one({"_id": DRIVERS_CHAT})
    assert doc is not None and doc["status"] == "archived"
    # Join requests to an archived group are left to the group's own admins.
    ann = world.person("ann", lang="en")
    await world.tg.join_request(ann.id, DRIVERS_CHAT)
    await ann.expect_nothing_new()


# ---------------------------------------------------------------------- admission
async def test_full_admission_from_invite_link_to_approval(world: World) -> None:
    mgr = await manager(world, "mgr", "drivers")
    await bound(world, mgr, DRIVERS_CHAT, "Drivers", "drivers")
    await mgr.says("/invite", chat=DRIVERS_CHAT)
    link_msg = await mgr.expect("Invite link for “Drivers”")
    await group_says(world, DRIVERS_CHAT, "sent you the invite link privately")
    created = world.tg.calls_of("createChatInviteLink")
    assert created and created[0].params.get("creates_join_request") in (True, "true")
    link = next(w for w in link_msg["text"].split() if w.startswith("https://"))
    assert await world.db.invite_links.count_documents({"created_by": mgr.id}) == 1

    ann = world.person("ann", lang="en", started=False)
    await world.tg.join_request(ann.id, DRIVERS_CHAT, invite_link=link)
    first = await ann.expect("You asked to join “Drivers”")
    assert "Your real full name" in first["text"]
    await ann.says("Zhang 3")
    await ann.expect("without digits")
    await ann.says("Zhang San")
    phone_prompt = await ann.expect("Share my phone number")
    keyboard = world.tg.message_rec(phone_prompt).sent_reply_markup
    assert keyboard is not None and keyboard["keyboard"][0][0]["request_contact"] is True
    await ann.says("13812345678")
    await ann.expect("instead of typing it")
    await ann.sends(contact={"phone_number": "13900000000", "first_name": "X", "user_id": 99})
    await ann.expect("Only your own phone number")
    await ann.sends(photo=True)
    await ann.expect("instead of typing it")
    await ann.sends(contact="+86 138 1234 5678")
    await ann.expect("workplace or business name")
    await ann.says("Didi")
    await ann.expect("address of your workplace")
    await ann.says("Renmin Road 88")
    await ann.expect("plate number")
    await ann.says("ABC123")
    await ann.expect("does not look right")
    await ann.says("浙a 12345")
    await ann.expect("transport company")
    await ann.says("Hangzhou Taxi")
    await ann.expect("has been submitted")

    card = await mgr.expect("Join request")
    assert "Zhang San" in card["text"] and "浙A12345" in card["text"]
    assert "+86138****5678" in card["text"] and "13812345678" not in card["text"]
    approve = next(b for b in buttons(card) if b.endswith(":a"))
    await mgr.presses(card, approve)
    await ann.expect("was approved")
    await world.tg.wait_for_call("approveChatJoinRequest")
    assert world.tg.member_status(DRIVERS_CHAT, ann.id) == "member"
    edited = world.tg.current(card)
    assert "Approved by Mgr" in edited["text"] and not buttons(edited)

    member = await world.db.members.find_one({"_id": ann.id})
    assert member is not None
    assert (member["name"], member["phone"], member["status"], member["admitted_by"]) == (
        "Zhang San",
        "+8613812345678",
        "active",
        mgr.id,
    )
    assert member["fields"] == {"plate": "浙A12345", "company": "Hangzhou Taxi"}
    assert [g["chat_id"] for g in member["groups"]] == [DRIVERS_CHAT]
    assert await world.db.roles.count_documents({"user_id": ann.id, "role": "member"}) == 1
    actions = {d["action"] async for d in world.db.audit.find({})}
    assert {"application.start", "application.submit", "application.approve"} <= actions
    # Nothing about the applicant was posted into the group.
    for msg in world.tg.sent_to(DRIVERS_CHAT):
        assert "Zhang" not in (msg.get("text") or "")


async def test_applicant_can_cancel(world: World) -> None:
    mgr = await manager(world, "mgr", "drivers")
    await bound(world, mgr, DRIVERS_CHAT, "Drivers", "drivers")
    ann = world.person("ann", lang="en")
    await world.tg.join_request(ann.id, DRIVERS_CHAT)
    await ann.expect("Your real full name")
    await ann.says("Ann Li")
    await ann.expect("Share my phone number")
    # Asking again continues the same application where it stopped.
    await world.tg.join_request(ann.id, DRIVERS_CHAT)
    await ann.expect("Share my phone number")
    assert await world.db.applications.count_documents({"user_id": ann.id}) == 1
    await ann.says("/cancel")
    await ann.expect("withdrawn")
    await world.tg.wait_for_call("declineChatJoinRequest")
    assert (await app_doc(world, ann.id))["state"] == "cancelled"
    await ann.says("/cancel")
    await ann.expect("nothing to cancel")
    await mgr.expect_nothing_new()


async def test_decline_with_reason(world: World) -> None:
    mgr = await manager(world, "mgr", "landlords")
    await bound(world, mgr, LANDLORDS_CHAT, "Landlords", "landlords")
    bob = world.person("bob", lang="en")
    await world.tg.join_request(bob.id, LANDLORDS_CHAT)
    await bob.expect("Your real full name")
    await bob.says("Li Si")
    await bob.expect("Share my phone number")
    await bob.sends(contact="13987654321")
    await bob.expect("workplace or business name")
    await bob.says("Li's Rooms")
    await bob.expect("address of your workplace")
    await bob.says("1 Station Street")
    await bob.expect("property you rent out")
    await bob.says("2 Station Street, flat 3")
    await bob.expect("has been submitted")

    card = await mgr.expect("Join request")
    decline = next(b for b in buttons(card) if b.endswith(":d"))
    await mgr.presses(card, decline)
    await mgr.expect("Reply with the reason")
    await mgr.says("x")
    await mgr.expect("The reason has 2-300 characters")
    await mgr.says("Not a resident of this area")
    await mgr.expect("Declined; the applicant has been told")
    await bob.expect("Reason: Not a resident of this area")
    await world.tg.wait_for_call("declineChatJoinRequest")
    assert not world.tg.calls_of("approveChatJoinRequest")
    doc = await app_doc(world, bob.id)
    assert (doc["state"], doc["decided_by"], doc["reason"]) == (
        "declined",
        mgr.id,
        "Not a resident of this area",
    )
    assert "Declined by Mgr" in world.tg.current(card)["text"]
    assert await world.db.members.count_documents({}) == 0


async def test_unanswered_request_is_declined_automatically(world: World) -> None:
    mgr = await manager(world, "mgr", "drivers")
    await bound(world, mgr, DRIVERS_CHAT, "Drivers", "drivers")
    ann = world.person("ann", lang="en")
    await fill_driver_form(world, ann, DRIVERS_CHAT)
    card = await mgr.expect("Join request")

    await world.advance(47 * 3600, SWEEP)
    assert (await app_doc(world, ann.id))["state"] == "submitted"
    await world.advance(2 * 3600, SWEEP)
    await ann.expect("not reviewed within 48 hours")
    await world.tg.wait_for_call("declineChatJoinRequest")
    doc = await app_doc(world, ann.id)
    assert (doc["state"], doc["reason"]) == ("expired", "timeout")
    assert "declined automatically" in world.tg.current(card)["text"]
    assert not buttons(world.tg.current(card))
    entry = await world.db.audit.find_one({"action": "application.expire"})
    assert entry is not None and entry["actor_id"] is None


async def test_first_decision_wins_between_two_managers(world: World) -> None:
    m1 = await manager(world, "mgr", "drivers")
    m2 = await manager(world, "chief")
    await bound(world, m1, DRIVERS_CHAT, "Drivers", "drivers")
    ann = world.person("ann", lang="en")
    await fill_driver_form(world, ann, DRIVERS_CHAT)
    card1 = await m1.expect("Join request")
    card2 = await m2.expect("Join request")

    stale = next(b for b in buttons(card2) if b.endswith(":d"))
    await m1.presses(card1, next(b for b in buttons(card1) if b.endswith(":a")))
    await ann.expect("was approved")
    qid = await world.tg.press(m2.id, card2, stale, strict=False)
    assert "already handled by Mgr" in await answer_of(world, qid)
    assert "Approved by Mgr" in world.tg.current(card2)["text"]
    assert len(world.tg.calls_of("approveChatJoinRequest")) == 1
    assert not world.tg.calls_of("declineChatJoinRequest")
    assert (await app_doc(world, ann.id))["decided_by"] == m1.id


async def test_known_member_joins_another_group_with_a_short_confirmation(world: World) -> None:
    boss = world.superadmin(lang="en")
    mgr = await manager(world, "mgr", "drivers")
    biz = await manager(world, "biz", "businesses")
    await bound(world, mgr, DRIVERS_CHAT, "Drivers", "drivers")
    await bound(world, boss, BUSINESS_CHAT, "Shops", "businesses")
    ann = world.person("ann", lang="en")
    await admit_driver(world, ann, mgr, DRIVERS_CHAT)

    await world.tg.join_request(ann.id, BUSINESS_CHAT)
    confirm = await ann.expect("You are already a member of the platform")
    assert "+86138****5678" in confirm["text"]
    ok = next(b for b in buttons(confirm) if b.endswith(":ok"))
    await ann.presses(confirm, ok)
    await wait_until(lambda: "has been submitted" in world.tg.current(confirm)["text"])
    card = await biz.expect("Join request")
    assert "already a registered member" in card["text"]
    await biz.presses(card, next(b for b in buttons(card) if b.endswith(":a")))
    await ann.expect("was approved")
    member = await world.db.members.find_one({"_id": ann.id})
    assert member is not None
    assert {g["chat_id"] for g in member["groups"]} == {DRIVERS_CHAT, BUSINESS_CHAT}
    assert member["sector"] == "drivers"  # first admission stays the home sector


# ---------------------------------------------------------------------- members
async def test_ban_spans_every_group_and_later_requests_are_declined(world: World) -> None:
    boss = world.superadmin(lang="en")
    mgr = await manager(world, "mgr")  # unrestricted: acts platform-wide
    await bound(world, mgr, DRIVERS_CHAT, "Drivers", "drivers")
    await bound(world, boss, LANDLORDS_CHAT, "Landlords", "landlords")
    await bound(world, boss, HOTELS_CHAT, "Hotels", "hospitality")
    ann = world.person("ann", lang="en")
    await admit_driver(world, ann, mgr, DRIVERS_CHAT)

    await mgr.says("/ban @ann")
    await mgr.expect("Usage: /ban")
    await mgr.says("/ban @ann Sold stolen phones")
    await mgr.expect("Banned Ann Zhang")
    banned_in = {int(c.params["chat_id"]) for c in world.tg.calls_of("banChatMember")}
    assert banned_in == {DRIVERS_CHAT, LANDLORDS_CHAT, HOTELS_CHAT}
    for chat in (DRIVERS_CHAT, LANDLORDS_CHAT, HOTELS_CHAT):
        assert world.tg.member_status(chat, ann.id) == "kicked"
    member = await world.db.members.find_one({"_id": ann.id})
    assert member is not None
    assert (member["status"], member["status_reason"]) == ("banned", "Sold stolen phones")
    assert await world.db.roles.count_documents({"user_id": ann.id, "role": "member"}) == 0
    entry = await world.db.audit.find_one({"action": "member.ban"})
    assert entry is not None and entry["actor_id"] == mgr.id

    await world.tg.join_request(ann.id, LANDLORDS_CHAT)
    await ann.expect("was not approved")
    await world.tg.wait_for_call("declineChatJoinRequest", chat_id=LANDLORDS_CHAT)
    assert await world.db.audit.count_documents({"action": "application.auto_decline"}) == 1
    await mgr.expect_nothing_new()

    await mgr.says("/ban @ann again")
    await mgr.expect("already banned")
    await mgr.says("/unban @ann")
    await mgr.expect("Lifted the ban")
    unbanned = {int(c.params["chat_id"]) for c in world.tg.calls_of("unbanChatMember")}
    assert unbanned == {DRIVERS_CHAT, LANDLORDS_CHAT, HOTELS_CHAT}
    member = await world.db.members.find_one({"_id": ann.id})
    assert member is not None and member["status"] == "left"


async def test_remove_by_reply_in_a_group_answers_privately(world: World) -> None:
    mgr = await manager(world, "mgr", "drivers")
    await bound(world, mgr, DRIVERS_CHAT, "Drivers", "drivers")
    ann = world.person("ann", lang="en")
    await admit_driver(world, ann, mgr, DRIVERS_CHAT)
    said = await ann.says("hello all", chat=DRIVERS_CHAT)
    before = len(world.tg.sent_to(DRIVERS_CHAT, include_deleted=True))

    command = await mgr.says("/member", chat=DRIVERS_CHAT, reply_to=said)
    profile = await mgr.expect("Ann Zhang (id")
    assert "+86138****5678" in profile["text"] and "浙A12345" in profile["text"]
    await wait_until(lambda: world.tg.is_deleted(command))

    command = await mgr.says("/remove spamming links", chat=DRIVERS_CHAT, reply_to=said)
    await mgr.expect("Removed Ann Zhang")
    await wait_until(lambda: world.tg.is_deleted(command))
    assert world.tg.member_status(DRIVERS_CHAT, ann.id) == "left"
    await world.idle()
    assert len(world.tg.sent_to(DRIVERS_CHAT, include_deleted=True)) == before
    member = await world.db.members.find_one({"_id": ann.id})
    assert member is not None and member["status"] == "removed"
    assert member["groups"][0]["status"] == "removed"

    # A refusal about a person is told privately too, never in the group.
    eve = world.person("eve", lang="en")
    eve_said = await eve.says("hi", chat=DRIVERS_CHAT)
    command = await mgr.says("/ban rude", chat=DRIVERS_CHAT, reply_to=eve_said)
    await mgr.expect("No member")
    await wait_until(lambda: world.tg.is_deleted(command))
    assert await world.db.audit.count_documents({"action": "member.remove"}) == 1


async def test_member_profile_scope_and_phone_masking(world: World) -> None:
    boss = world.superadmin(lang="en")
    mgr = await manager(world, "mgr", "drivers")
    other = await manager(world, "other", "landlords")
    eve = world.person("eve", lang="en")
    await bound(world, mgr, DRIVERS_CHAT, "Drivers", "drivers")
    ann = world.person("ann", lang="en")
    await admit_driver(world, ann, mgr, DRIVERS_CHAT)

    await boss.says(f"/member {ann.id}")
    full = await boss.expect("Ann Zhang (id")
    assert "+8613812345678" in full["text"]
    await other.says("/member @ann")
    await other.expect("No member @ann found")
    await eve.says("/member @ann")
    await eve.expect("not allowed")
    await mgr.says("/member @nobody_like_this")
    await mgr.expect("No member @nobody_like_this")
    await mgr.says("/member")
    await mgr.expect("Usage: /member")
    await other.says("/ban @ann bad")
    await other.expect("No member @ann found")
    member = await world.db.members.find_one({"_id": ann.id})
    assert member is not None and member["status"] == "active"


async def test_membership_follows_chat_member_updates(world: World) -> None:
    mgr = await manager(world, "mgr", "drivers")
    await bound(world, mgr, DRIVERS_CHAT, "Drivers", "drivers")
    ann = world.person("ann", lang="en")
    await admit_driver(world, ann, mgr, DRIVERS_CHAT)

    async def size() -> int:
        doc = await world.db.groups.find_one({"_id": DRIVERS_CHAT})
        return int(doc["member_count"])

    await world.tg.chat_member_update(DRIVERS_CHAT, ann.id, "member", "left")
    await wait_until(lambda: world.db.members.count_documents({"_id": ann.id, "status": "left"}))
    await world.idle()
    with_ann_gone = await size()
    await world.tg.chat_member_update(DRIVERS_CHAT, ann.id, "left", "member", by=mgr.id)
    await wait_until(lambda: world.db.members.count_documents({"_id": ann.id, "status": "active"}))
    await world.idle()
    assert await size() == with_ann_gone + 1  # the registry's size follows joins and leaves
    await world.tg.chat_member_update(DRIVERS_CHAT, ann.id, "member", "kicked", by=mgr.id)
    await wait_until(
        lambda: world.db.members.count_documents(
            {"_id": ann.id, "status": "left", "groups.status": "removed"}
        )
    )


async def test_roster_counts_and_csv_in_scope(world: World) -> None:
    boss = world.superadmin(lang="en")
    mgr = await manager(world, "mgr", "drivers")
    base = {"workplace": "w", "address": "a", "fields": {}, "area": None, "admitted_by": mgr.id}
    await world.db.members.insert_many(
        [
            base
            | {
                "_id": 501,
                "name": "Driver One",
                "phone": "+8613811112222",
                "status": "active",
                "sector": "drivers",
                "groups": [
                    {"chat_id": DRIVERS_CHAT, "sector": "drivers", "area": None, "status": "active"}
                ],
            },
            base
            | {
                "_id": 502,
                "name": "=HYPERLINK(1)",
                "phone": "+8613833334444",
                "status": "banned",
                "sector": "drivers",
                "groups": [
                    {
                        "chat_id": DRIVERS_CHAT,
                        "sector": "drivers",
                        "area": None,
                        "status": "removed",
                    }
                ],
            },
            base
            | {
                "_id": 503,
                "name": "Landlord",
                "phone": "+8613855556666",
                "status": "active",
                "sector": "landlords",
                "groups": [
                    {
                        "chat_id": LANDLORDS_CHAT,
                        "sector": "landlords",
                        "area": None,
                        "status": "active",
                    }
                ],
            },
        ]
    )
    await mgr.says("/roster")
    summary = await mgr.expect("Member roster (2 people)")
    assert "active 1" in summary["text"] and "banned 1" in summary["text"]
    doc_msg = await mgr.expect("Member roster (CSV")
    data = world.tg.files[doc_msg["document"]["file_id"]].data.decode("utf-8-sig")
    lines = data.strip().splitlines()
    assert lines[0].startswith("user_id,name,username,phone,status")
    assert len(lines) == 3 and "Landlord" not in data
    assert "+86138****2222" in data and "+8613811112222" not in data
    assert "'=HYPERLINK(1)" in data  # spreadsheet formulas are neutralised

    await mgr.says("/roster landlords")
    await mgr.expect("outside what you manage")
    await mgr.says("/roster nosuch")
    await mgr.expect("Unknown sector")

    await boss.says("/roster")
    await boss.expect("Member roster (3 people)")
    full = await boss.expect("Member roster (CSV")
    assert "+8613855556666" in world.tg.files[full["document"]["file_id"]].data.decode("utf-8-sig")


# ---------------------------------------------------------------------- catalogue and safety
async def test_sectors_and_areas_are_managed_by_superadmins(world: World) -> None:
    boss = world.superadmin(lang="en")
    mgr = await manager(world, "mgr", "drivers")

    await boss.says("/area_add Chengguan 30.2741,120.1551 5")
    added = await boss.expect("Area added")
    assert "chengguan" in added["text"] and "radius 5 km" in added["text"]
    await boss.says("/area_add 城关派出所 parent=Chengguan")
    await boss.expect("Area added")
    await boss.says("/area_add Chengguan")
    await boss.expect("already exists")
    await boss.says("/area_add Bad 95,10 5")
    await boss.expect("latitude -90..90")
    await boss.says("/area_add Bad 30,120")
    await boss.expect("give a radius")
    await boss.says("/area_edit chengguan parent=城关派出所")
    await boss.expect("cannot be the area itself or one of its sub-areas")
    await boss.says("/area_edit 城关派出所 radius=3")
    await boss.expect("has no centre yet")
    await boss.says("/area_edit chengguan name=Chengguan-Town radius=8")
    await boss.expect("Area updated")
    area = await world.db.areas.find_one({"_id": "chengguan"})
    assert area is not None and (area["name"], area["radius_km"]) == ("Chengguan-Town", 8.0)
    await mgr.says("/areas")
    listing = await mgr.expect("Areas (")
    assert "Chengguan-Town" in listing["text"] and "城关派出所" in listing["text"]
    await mgr.says("/area_add Elsewhere")
    await mgr.expect("not allowed")
    assert await world.db.areas.count_documents({}) == 2

    await boss.says("/sector_add taxis 出租车司机 | Taxi drivers")
    await boss.expect("Sector Taxi drivers added")
    await boss.says("/sector_add taxis dup | dup")
    await boss.expect("already exists")
    await boss.says("/sector_add Bad!code a | b")
    await boss.expect("starts with a lowercase letter")
    await boss.says("/sector_rename taxis 网约车司机 | Ride-hailing drivers")
    await boss.expect("renamed")
    await boss.says("/sector_retire taxis")
    await boss.expect("retired")
    await mgr.says("/sector_retire drivers")
    await mgr.expect("not allowed")
    await mgr.says("/sectors")
    listing = await mgr.expect("Sectors")
    assert "Ride-hailing" not in listing["text"] and "drivers" in listing["text"]
    await boss.says("/sectors")
    assert "Ride-hailing drivers — taxis (retired)" in (await boss.expect("Sectors"))["text"]
    actions = [d["action"] async for d in world.db.audit.find({}, sort=[("at", 1), ("_id", 1)])]
    assert actions == [
        "area.add",
        "area.add",
        "area.edit",
        "sector.add",
        "sector.rename",
        "sector.retire",
    ]

    # A manager limited to an area binds only groups of that area.
    local = await manager(world, "local", "drivers", "chengguan")
    world.tg.add_group(DRIVERS_CHAT, "Drivers", admins=[local.id])
    await local.says("/bind drivers", chat=DRIVERS_CHAT)
    await group_says(world, DRIVERS_CHAT, "inside your scope (drivers)")
    await local.says("/bind drivers Chengguan-Town", chat=DRIVERS_CHAT)
    await group_says(world, DRIVERS_CHAT, "is now bound")
    doc = await world.db.groups.find_one({"_id": DRIVERS_CHAT})
    assert doc is not None and doc["area"] == "chengguan"


async def test_forged_and_stale_buttons_do_nothing(world: World) -> None:
    mgr = await manager(world, "mgr", "drivers")
    other = await manager(world, "other", "landlords")
    eve = world.person("eve", lang="en")
    await bound(world, mgr, DRIVERS_CHAT, "Drivers", "drivers")
    ann = world.person("ann", lang="en")
    await fill_driver_form(world, ann, DRIVERS_CHAT)
    card = await mgr.expect("Join request")
    approve = next(b for b in buttons(card) if b.endswith(":a"))

    # A plain user presses a copy of the card's button: refused.
    qid = await world.tg.press(eve.id, card, approve, strict=False)
    assert "not allowed" in await answer_of(world, qid)
    # A manager of another sector: refused.
    qid = await world.tg.press(other.id, card, approve, strict=False)
    assert "not allowed" in await answer_of(world, qid)
    # Forged data.
    for data in ("ga:zzzz:a", "ga:" + "0" * 12 + ":a", "ga:broken", "gj:123:ok"):
        qid = await world.tg.press(mgr.id, card, data, strict=False)
        text = await answer_of(world, qid)
        assert "Invalid action" in text or "no longer valid" in text, (data, text)
    # Someone pressing the applicant's confirm button for another person's application.
    doc = await app_doc(world, ann.id)
    qid = await world.tg.press(eve.id, card, f"gj:{doc['_id']}:ok", strict=False)
    assert "no longer valid" in await answer_of(world, qid)

    assert (await app_doc(world, ann.id))["state"] == "submitted"
    assert not world.tg.calls_of("approveChatJoinRequest")
    assert not world.tg.calls_of("declineChatJoinRequest")


async def test_zh_cn_applicant_sees_chinese(world: World) -> None:
    mgr = await manager(world, "mgr", "drivers")
    await bound(world, mgr, DRIVERS_CHAT, "司机群", "drivers")
    li = world.person("li", lang="zh-hans")
    await world.tg.join_request(li.id, DRIVERS_CHAT)
    first = await li.expect("您申请加入「司机群」")
    assert "请输入您的真实姓名" in first["text"]


async def test_groups_listing_shows_each_manager_their_scope(world: World) -> None:
    drivers = await manager(world, "dmgr", "drivers")
    landlords = await manager(world, "lmgr", "landlords")
    await bound(world, drivers, DRIVERS_CHAT, "Drivers", "drivers")
    await bound(world, landlords, LANDLORDS_CHAT, "Landlords", "landlords")
    await drivers.says("/groups")
    text = (await drivers.expect("Groups ("))["text"]
    assert str(DRIVERS_CHAT) in text and str(LANDLORDS_CHAT) not in text
    await landlords.says("/groups")
    text = (await landlords.expect("Groups ("))["text"]
    assert str(LANDLORDS_CHAT) in text and str(DRIVERS_CHAT) not in text
    boss = world.superadmin(lang="en")
    await boss.says("/groups")
    text = (await boss.expect("Groups ("))["text"]
    assert str(LANDLORDS_CHAT) in text and str(DRIVERS_CHAT) in text
