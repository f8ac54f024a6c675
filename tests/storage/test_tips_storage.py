"""The tips repositories and service against the real database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from groups.model import GeoPoint
from groups.roles import PermissionTable, Principal, Role, RoleGrant, Scope
from kernel.clock import ManualClock
from kernel.errors import InvalidInput, NotFound, PermissionDenied
from storage.audit import MongoAuditLog
from storage.client import Database
from storage.tips import (
    MongoMemberLookup,
    MongoNoticeLookup,
    MongoTipDrafts,
    MongoTipRepository,
)
from tips.events import TipMessageAdded, TipSubmitted
from tips.flood import FloodLimit
from tips.model import (
    Direction,
    LocationSource,
    NearFilter,
    Part,
    PartKind,
    TipCategory,
    TipLocation,
    TipStatus,
    TipsterIdentity,
)
from tips.service import TextOutcome, TipLimits, TipService

SUPER = Principal(1, is_superadmin=True)
ID_KEY = b"storage-test-id-key-" + b"s" * 16
NOTICE = {
    "_id": "n1",
    "ref": "N-2611-07",
    "kind": "wanted",
    "title": "Stolen van",
    "status": "active",
    "created_by": 50,
    "investigators": [51],
    "reward": None,
    "expires_at": None,
}


class Recorder:
    def __init__(self) -> None:
        self.events: list[Any] = []

    async def publish(self, event: object) -> None:
        self.events.append(event)


class FakeGeocoder:
    def __init__(self, result: tuple[GeoPoint, str] | None = None, fail: bool = False) -> None:
        self.result, self.fail, self.calls = result, fail, 0

    async def geocode(self, address: str) -> tuple[GeoPoint, str] | None:
        self.calls += 1
        if self.fail:
            raise OSError("network is closed")
        return self.result


async def make(
    db: Database, *, limits: TipLimits | None = None, geocoder: Any = None
) -> tuple[TipService, Recorder, ManualClock, MongoAuditLog]:
    clock = ManualClock(datetime(2026, 11, 23, 2, 0, tzinfo=UTC))
    events = Recorder()
    audit = MongoAuditLog(db)
    await db.notices.insert_one(dict(NOTICE))
    await db.notices.insert_one(
        dict(NOTICE, _id="n2", ref="N-2611-08", title="Closed one", status="solved")
    )
    await db.deliveries.insert_one(
        {"notice_id": "n1", "chat_id": -100, "state": "sent", "message_ids": [10, 11, 12]}
    )
    await db.members.insert_one({"_id": 7, "status": "active", "sector": "drivers", "area": "a1"})
    svc = TipService(
        MongoTipRepository(db, clock),
        MongoTipDrafts(db, clock),
        MongoNoticeLookup(db),
        MongoMemberLookup(db),
        events,
        audit,
        clock,
        id_key=ID_KEY,
        limits=limits,
        geocoder=geocoder,
    )
    return svc, events, clock, audit


def who(user_id: int = 7) -> TipsterIdentity:
    return TipsterIdentity("", user_id, "Zhang", "San", "zs", "zh-CN")


async def test_notice_lookup_by_ref_id_and_group_message(db: Database) -> None:
    svc, *_ = await make(db)
    lookup = svc.notices
    by_msg = await lookup.by_message(-100, 11)
    assert by_msg is not None and by_msg.ref == "N-2611-07" and by_msg.accepts_tips
    assert await lookup.by_message(-100, 99) is None
    closed = await lookup.by_ref("N-2611-08")
    assert closed is not None and not closed.accepts_tips
    with pytest.raises(InvalidInput):
        await svc.notice_for_tips("n-2611-08")
    with pytest.raises(NotFound):
        await svc.notice_for_tips("N-0000-00")


async def test_dialog_collects_parts_albums_locations_and_submits_once(db: Database) -> None:
    svc, events, _clock, _ = await make(db)
    notice = await svc.notice_for_tips("N-2611-07")
    draft, discarded = await svc.start(7, 7, 100, notice)
    assert not discarded and draft.sector == "drivers" and draft.area == "a1"
    _, outcome = await svc.add_text(7, "A white van, plate 浙A12345")
    assert outcome is TextOutcome.TEXT
    photo = Part(PartKind.PHOTO, text="front", file_id="f1", file_unique_id="u1", album="g1")
    _, first = await svc.add_part(7, photo)
    _, second = await svc.add_part(7, Part(PartKind.PHOTO, file_id="f2", album="g1"))
    assert first and not second  # an album is one step
    _, outcome = await svc.add_text(7, "30°15'30\"N 120°10'12\"E")
    assert outcome is TextOutcome.COORDINATES
    await svc.add_location(
        7, TipLocation(LocationSource.TELEGRAM, GeoPoint(30.1, 120.1), accuracy_m=12)
    )
    with pytest.raises(InvalidInput) as bad:
        await svc.add_text(7, "95.5, 120.1")
    assert bad.value.key == "tips.coords_out_of_range"
    draft = await svc.draft(7)
    assert draft is not None and draft.steps == 4 and len(draft.locations) == 2

    tip, created = await svc.submit(who())
    assert created and tip.code.startswith("T-") and tip.notice_ref == "N-2611-07"
    assert tip.location is not None and tip.location.source is LocationSource.TELEGRAM
    assert [type(e) for e in events.events] == [TipSubmitted]
    assert await svc.draft(7) is None
    doc = await db.tips.find_one({"_id": tip.tip_id})
    assert doc is not None
    assert doc["point"] == {"type": "Point", "coordinates": [120.1, 30.1]}
    assert 7 not in doc.values() and "Zhang" not in str(doc)  # no identity in the body
    ident = await db.tip_identities.find_one({"_id": tip.tip_id})
    assert ident is not None and ident["user_id"] == 7

    # Send again (a second press): nothing to send, no second tip, no second event.
    with pytest.raises(NotFound):
        await svc.submit(who())
    assert await db.tips.count_documents({}) == 1 and len(events.events) == 1


async def test_same_intake_message_never_stores_twice(db: Database) -> None:
    svc, events, *_ = await make(db)
    notice = await svc.notice_for_tips("N-2611-07")
    args = (who(), notice, -100, 555, (Part(PartKind.TEXT, text="seen him"),), (), "drivers", None)
    tip1, c1 = await svc.submit_group_reply(*args)
    tip2, c2 = await svc.submit_group_reply(*args)
    assert c1 and not c2 and tip1.tip_id == tip2.tip_id and tip1.code == tip2.code
    assert await db.tips.count_documents({}) == 1 and len(events.events) == 1
    # Tip and intake ledger: the id is random, the ledger's key an HMAC under the key.
    assert tip1.tip_id != await svc.key("intake", -100, 555)
    entry = await db.tip_intake.find_one({"tip_id": tip1.tip_id})
    assert entry is not None and entry["_id"] == await svc.key("intake", -100, 555)
    # Half-written earlier (intake claimed, identity stored, tip insert failed): the retry
    # completes the same tip.
    await svc.start(7, 7, 900, notice)
    await svc.add_text(7, "more")
    draft = await svc.draft(7)
    assert draft is not None
    assert await svc.repo.claim_intake(draft.intake_key, "half-written", None) == "half-written"
    await db.tip_identities.insert_one({"_id": "half-written", "user_id": 7})
    tip3, c3 = await svc.submit(who())
    assert c3 and tip3.tip_id == "half-written"


async def test_general_tip_needs_category_and_content(db: Database) -> None:
    svc, *_ = await make(db)
    await svc.start(7, 7, 1, None)
    with pytest.raises(InvalidInput) as exc:
        await svc.add_text(7, "hello")
    assert exc.value.key == "tips.pick_category_first"
    await svc.choose_category(7, TipCategory.VEHICLE)
    with pytest.raises(InvalidInput) as exc:
        await svc.submit(who())
    assert exc.value.key == "tips.empty"
    await svc.add_text(7, "hello")
    tip, _ = await svc.submit(who())
    assert tip.category is TipCategory.VEHICLE and tip.notice_id is None
    assert tip.sector == "drivers"


async def test_limits_refuse_without_changing_the_draft(db: Database) -> None:
    svc, *_ = await make(db, limits=TipLimits(max_text_chars=10, max_file_bytes=100))
    await svc.start(7, 7, 1, await svc.notice_for_tips("N-2611-07"))
    await svc.add_text(7, "12345")
    with pytest.raises(InvalidInput) as exc:
        await svc.add_text(7, "123456")
    assert exc.value.key == "tips.text_too_long"
    with pytest.raises(InvalidInput) as exc:
        await svc.add_part(7, Part(PartKind.DOCUMENT, file_id="x", size=101))
    assert exc.value.key == "tips.file_too_big"
    draft = await svc.draft(7)
    assert draft is not None and [p.text for p in draft.parts] == ["12345"]


async def test_flood_limit(db: Database) -> None:
    svc, _, clock, _ = await make(db, limits=TipLimits(flood=FloodLimit(2, 600)))
    notice = await svc.notice_for_tips("N-2611-07")
    for i in range(2):
        await svc.start(7, 7, i, notice)
        await svc.add_text(7, f"tip {i}")
        await svc.submit(who())
        clock.advance(60)
    await svc.start(7, 7, 3, notice)
    await svc.add_text(7, "third")
    with pytest.raises(InvalidInput) as exc:
        await svc.submit(who())
    assert exc.value.key == "tips.flood" and exc.value.params["minutes"] == 8
    assert await svc.draft(7) is not None  # kept for later
    clock.advance(timedelta(minutes=9))
    _, created = await svc.submit(who())
    assert created


async def test_address_geocoding_off_failing_and_on(db: Database) -> None:
    for geocoder, outcome, source in (
        (None, TextOutcome.ADDRESS_ONLY, LocationSource.ADDRESS),
        (FakeGeocoder(fail=True), TextOutcome.ADDRESS_ONLY, LocationSource.ADDRESS),
        (
            FakeGeocoder((GeoPoint(30.27, 120.15), "West Lake")),
            TextOutcome.GEOCODED,
            LocationSource.GEOCODED,
        ),
    ):
        await db.notices.delete_many({})
        await db.deliveries.delete_many({})
        await db.members.delete_many({})
        svc, *_ = await make(db, geocoder=geocoder)
        await svc.start(7, 7, 1, await svc.notice_for_tips("N-2611-07"))
        await svc.expect_address(7)
        draft, got = await svc.add_text(7, "西湖区文三路 100 号")
        assert got is outcome
        assert draft.locations[-1].source is source
        assert draft.locations[-1].address == "西湖区文三路 100 号"
        assert draft.locations[-1].title == ("West Lake" if geocoder and geocoder.result else None)
        assert draft.expect.value == "content"


async def test_anonymity_forget_reveal_and_pseudonyms(db: Database) -> None:
    svc, _, clock, audit = await make(db)
    notice = await svc.notice_for_tips("N-2611-07")
    tips = []
    for i, uid in enumerate((7, 7, 8)):
        await svc.start(uid, uid, i, notice)
        await svc.add_text(uid, "x")
        tips.append((await svc.submit(who(uid)))[0])
        clock.advance(60)
    assert tips[0].pseudonym == tips[1].pseudonym != tips[2].pseudonym
    label = tips[0].pseudonym
    await svc.start(7, 7, 99, None)
    await svc.choose_category(7, TipCategory.OTHER)
    await svc.add_text(7, "general")
    general, _ = await svc.submit(who(7))
    links = {d["_id"]: d.get("pseudonym") async for d in db.tip_identities.find({"user_id": 7})}
    assert links[general.tip_id] == general.pseudonym  # its own link (general tips)

    officer = Principal(60, (RoleGrant(60, Role.INVESTIGATOR, Scope("drivers")),))
    with pytest.raises(PermissionDenied):
        await svc.reveal(officer, tips[0].code, "need to call them")
    with pytest.raises(InvalidInput):
        await svc.reveal(SUPER, tips[0].code, "")
    _, ident = await svc.reveal(SUPER, tips[0].code, "witness interview")
    assert ident is not None and ident.user_id == 7
    (entry,) = await audit.list(action="tip.reveal")
    assert entry.details["reason"] == "witness interview" and entry.actor_id == 1

    with pytest.raises(NotFound):
        await svc.forget(tips[0].code, 8)  # not theirs
    await svc.start_add(7, tips[0].code, 7, 500)  # an unsent addition links them too
    await svc.forget(tips[0].code, 7)
    assert await svc.draft(7) is None
    assert await svc.repo.identity(tips[0].tip_id) is None
    kept = await svc.repo.get(tips[0].tip_id)
    assert kept is not None and kept.forgotten and kept.text == "x" and kept.pseudonym == ""
    assert await db.tip_intake.count_documents({"tip_id": tips[0].tip_id}) == 0
    # The link goes: the tipster's next tip on the notice gets a new label (not the one
    # the forgotten tip had, which their other tip on the notice still shows).
    remaining = [d async for d in db.tip_identities.find({"user_id": 7, "notice_id": "n1"})]
    assert [d["_id"] for d in remaining] == [tips[1].tip_id] and "pseudonym" not in remaining[0]
    clock.advance(60)
    await svc.start(7, 7, 600, notice)
    await svc.add_text(7, "again")
    after, _ = await svc.submit(who(7))
    assert after.pseudonym != label and after.pseudonym != tips[2].pseudonym
    assert (await audit.list(action="tip.forget")) == []  # no record of when
    _, ident = await svc.reveal(SUPER, tips[0].code, "after forget")
    assert ident is None
    assert [t.code for t in await svc.mine(7)] == [after.code, general.code, tips[1].code]


async def test_reveal_granted_to_a_role_follows_its_scopes(db: Database) -> None:
    svc, _, _, audit = await make(db)
    notice = await svc.notice_for_tips("N-2611-07")
    await svc.start(7, 7, 1, notice)
    await svc.add_text(7, "drivers tip")
    tip, _ = await svc.submit(who(7))  # sector "drivers"
    table = PermissionTable.with_reveal([Role.SUPERADMIN, Role.INVESTIGATOR])

    def person(uid: int, *grants: tuple[Role, Scope]) -> Principal:
        return Principal(uid, tuple(RoleGrant(uid, r, s) for r, s in grants), table=table)

    drivers = person(60, (Role.INVESTIGATOR, Scope("drivers")))
    landlords = person(61, (Role.INVESTIGATOR, Scope("landlords")))
    # Sees drivers' tips as a manager, but may reveal only in landlords (as investigator).
    mixed = person(62, (Role.MANAGER, Scope("drivers")), (Role.INVESTIGATOR, Scope("landlords")))
    on_notice = person(51, (Role.INVESTIGATOR, Scope("landlords")))
    manager = person(63, (Role.MANAGER, Scope("drivers")))
    with pytest.raises(PermissionDenied) as denied:
        await svc.reveal(manager, tip.code, "need to call them")
    assert denied.value.key == "tips.reveal_not_allowed"
    with pytest.raises(NotFound):  # does not even learn that the tip exists
        await svc.reveal(landlords, tip.code, "need to call them")
    with pytest.raises(PermissionDenied) as denied:
        await svc.reveal(mixed, tip.code, "need to call them")
    assert denied.value.key == "tips.reveal_out_of_scope"
    assert await audit.list(action="tip.reveal") == []  # refusals reveal and record nothing
    for actor in (drivers, on_notice):
        _, ident = await svc.reveal(actor, tip.code, "witness interview")
        assert ident is not None and ident.user_id == 7
    entries = await audit.list(action="tip.reveal")
    assert sorted(e.actor_id for e in entries) == [51, 60]


async def test_visibility_by_scope_and_notice_role(db: Database) -> None:
    svc, *_ = await make(db)
    notice = await svc.notice_for_tips("N-2611-07")
    await svc.start(7, 7, 1, notice)
    await svc.add_text(7, "drivers tip")
    await svc.submit(who(7))
    drivers = Principal(60, (RoleGrant(60, Role.INVESTIGATOR, Scope("drivers")),))
    landlords = Principal(61, (RoleGrant(61, Role.INVESTIGATOR, Scope("landlords")),))
    on_notice = Principal(51, (RoleGrant(51, Role.INVESTIGATOR, Scope("landlords")),))
    for actor, n in ((drivers, 1), (landlords, 0), (on_notice, 1), (SUPER, 1)):
        _, page = await svc.list_for_notice(actor, "N-2611-07", 0)
        assert page.total == n, actor


async def test_near_sorts_by_distance_with_filters(db: Database) -> None:
    svc, _, clock, _ = await make(db)
    notice = await svc.notice_for_tips("N-2611-07")
    center = GeoPoint(30.0, 120.0)
    # ~5.5 km, ~1.1 km, ~3.3 km north of the centre, inserted out of order.
    for i, dlat in enumerate((0.05, 0.01, 0.03)):
        await svc.start(7, 7, i, notice)
        await svc.add_location(
            7, TipLocation(LocationSource.TELEGRAM, GeoPoint(30.0 + dlat, 120.0))
        )
        await svc.submit(who(7))
        clock.advance(3600)
    await svc.start(7, 7, 50, notice)
    await svc.add_text(7, "no location")
    await svc.submit(who(7))
    hits = await svc.near(SUPER, center, 10, NearFilter())
    assert [round(h.distance_m / 1000, 1) for h in hits] == [1.1, 3.3, 5.6]
    hits = await svc.near(SUPER, center, 4, NearFilter(notice_id="n1"))
    assert len(hits) == 2
    since = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)
    hits = await svc.near(SUPER, center, 10, NearFilter(since=since))
    assert [round(h.distance_m / 1000, 1) for h in hits] == [1.1, 3.3]
    await svc.set_status(hits[0].tip.tip_id, TipStatus.VERIFIED, 1)
    hits = await svc.near(SUPER, center, 10, NearFilter(statuses=(TipStatus.VERIFIED,)))
    assert len(hits) == 1
    with pytest.raises(InvalidInput):
        await svc.near(SUPER, center, 0, NearFilter())


async def test_threads_cards_and_live_updates(db: Database) -> None:
    svc, events, clock, _ = await make(db)
    notice = await svc.notice_for_tips("N-2611-07")
    await svc.start(7, 7, 1, notice)
    await svc.add_location(
        7, TipLocation(LocationSource.LIVE, GeoPoint(30.0, 120.0), live_key="k1")
    )
    assert await svc.update_live("k1", GeoPoint(30.001, 120.0))
    tip, _ = await svc.submit(who(7))
    assert tip.point == GeoPoint(30.001, 120.0)
    assert await svc.update_live("k1", GeoPoint(30.002, 120.0))
    moved = await svc.repo.get(tip.tip_id)
    assert moved is not None and moved.point == GeoPoint(30.002, 120.0)
    assert moved.locations[0].first_point == GeoPoint(30.001, 120.0)
    assert not await svc.update_live("nope", GeoPoint(0, 0))

    repo = svc.repo
    await repo.register_card(60, 500, tip.tip_id)
    assert await repo.card(60, 500) == tip.tip_id and await repo.card(60, 501) is None
    msg = await svc.add_thread(
        tip,
        Direction.OFFICER,
        (Part(PartKind.TEXT, text="Which way?"),),
        message_id="m1",
        officer_id=60,
    )
    assert msg is not None
    again = await svc.add_thread(
        tip, Direction.OFFICER, (Part(PartKind.TEXT, text="Which way?"),), message_id="m1"
    )
    assert again is None  # idempotent
    await repo.remember_tipster_message(tip.tip_id, 900)
    assert await repo.tip_for_tipster_reply(7, 900) == tip.tip_id
    assert await repo.tip_for_tipster_reply(8, 900) is None
    assert await repo.officers_in_thread(tip.tip_id) == [60]
    assert [e.direction for e in events.events if isinstance(e, TipMessageAdded)] == ["officer"]
    # Adding information by code goes to the thread.
    clock.advance(60)
    await svc.start_add(7, tip.code.lower(), 7, 77)
    await svc.add_text(7, "North")
    await svc.submit(who(7))
    thread = await repo.thread(tip.tip_id)
    assert [m.direction for m in thread] == [Direction.OFFICER, Direction.TIPSTER]
    assert [r.code for r in await repo.undelivered_receipts(7)] == [tip.code]
    await repo.receipt_delivered(tip.tip_id, 901)
    assert await repo.undelivered_receipts(7) == []
    assert await repo.tip_for_tipster_reply(7, 901) == tip.tip_id
    with pytest.raises(NotFound):
        await svc.start_add(8, tip.code, 8, 1)
    await svc.set_status(tip.tip_id, TipStatus.CLOSED, 1)
    with pytest.raises(InvalidInput):
        await svc.start_add(7, tip.code, 7, 2)


async def test_group_album_reply_is_one_tip(db: Database) -> None:
    svc, events, *_ = await make(db)
    notice = await svc.notice_for_tips("N-2611-07")
    results = []
    for i in range(3):
        part = Part(PartKind.PHOTO, text="caption" if i == 0 else "", file_id=f"f{i}", album="77")
        results.append(
            await svc.submit_group_reply(
                who(), notice, -100, 600 + i, (part,), (), "drivers", None, album="77"
            )
        )
    assert [created for _, created in results] == [True, False, False]
    (tip,) = [d async for d in db.tips.find()]
    assert [p["file_id"] for p in tip["parts"]] == ["f0", "f1", "f2"]
    assert len(events.events) == 1


async def test_listing_pages_newest_first_and_api(db: Database) -> None:
    from tips.api import TipsApi

    svc, _, clock, audit = await make(db, limits=TipLimits(page_size=2))
    notice = await svc.notice_for_tips("N-2611-07")
    codes = []
    for i in range(5):
        await svc.start(7, 7, i, notice)
        await svc.add_text(7, f"tip {i}")
        codes.append((await svc.submit(who(7)))[0].code)
        clock.advance(60)
    pages = []
    for page in range(3):
        _, pg = await svc.list_for_notice(SUPER, "N-2611-07", page)
        assert pg.total == 5 and pg.pages == 3
        pages.append([t.code for t in pg.tips])
    assert pages == [codes[4:2:-1], codes[2:0:-1], codes[:1]]

    api = TipsApi(svc)
    found = await api.by_code(codes[0].lower())
    assert found is not None and found.text == "tip 0" and found.notice_ref == "N-2611-07"
    assert await api.by_code("nonsense") is None
    changed = await api.set_status(found.tip_id, "acknowledged", 60)
    assert changed.status is TipStatus.ACKNOWLEDGED
    (entry,) = await audit.list(action="tip.status")
    assert entry.actor_id == 60 and entry.details["to"] == "acknowledged"
    with pytest.raises(ValueError):
        await api.set_status(found.tip_id, "bogus", 60)
    with pytest.raises(NotFound):
        await api.set_status("missing", TipStatus.CLOSED, 60)
    full = await api.tip(found.tip_id)
    assert full is not None and full.parts[0].text == "tip 0"
    await api.register_card(60, 1, found.tip_id)
    assert await svc.repo.card(60, 1) == found.tip_id


async def test_schema_2_migration_drops_what_made_schema_1_ids_derivable(db: Database) -> None:
    from storage.schema import SCHEMA_VERSION, ensure_schema, schema_version

    # A schema-1 database: the secret, ids derived from it, the intake index.
    await db.tips_meta.insert_one({"_id": "secret", "key": "ab" * 32})
    await db.tips.create_index("intake_key", name="intake_unique", unique=True, sparse=True)
    await db.meta.update_one({"_id": "schema"}, {"$set": {"version": 1}})
    at = datetime(2026, 11, 1, tzinfo=UTC)
    live = {"source": "live", "point": {"type": "Point", "coordinates": [120.0, 30.0]}}
    rows = (
        ("t1", "n1", "A100", False, []),  # user 7, still linked
        ("t2", "n1", "A100", True, [dict(live, live_key="k2")]),  # user 7, forgotten
        ("t3", "n1", "C200", False, [dict(live, live_key="k3")]),  # user 8
        ("t4", None, "D300", False, []),  # user 8, a general tip
    )
    for tip_id, notice_id, label, forgotten, locations in rows:
        await db.tips.insert_one(
            {
                "_id": tip_id,
                "intake_key": tip_id,
                "code": f"T-{tip_id.upper()}AA",
                "notice_id": notice_id,
                "pseudonym": label,
                "forgotten": forgotten,
                "locations": locations,
                "parts": [],
                "status": "new",
                "created_at": at,
            }
        )
    for tip_id, uid in (("t1", 7), ("t3", 8), ("t4", 8)):
        await db.tip_identities.insert_one({"_id": tip_id, "user_id": uid, "created_at": at})

    await ensure_schema(db)
    await ensure_schema(db)  # idempotent, and a no-op once done
    assert await schema_version(db) == SCHEMA_VERSION == 2
    assert "tips_meta" not in await db.list_collection_names()
    assert "intake_unique" not in {ix["name"] async for ix in await db.tips.list_indexes()}
    assert await db.tips.count_documents({"intake_key": {"$exists": True}}) == 0
    t2 = await db.tips.find_one({"_id": "t2"})
    assert t2 is not None and "pseudonym" not in t2 and "live_key" not in t2["locations"][0]
    t3 = await db.tips.find_one({"_id": "t3"})
    assert t3 is not None and t3["pseudonym"] == "C200" and "live_key" not in t3["locations"][0]
    links = {d["_id"]: d async for d in db.tip_identities.find()}
    assert links["t1"]["notice_id"] == "n1" and "pseudonym" not in links["t1"]  # shared it
    assert links["t3"]["pseudonym"] == "C200" and links["t4"]["notice_id"] is None
    assert links["t4"]["pseudonym"] == "D300"

    # User 8 keeps their label on the notice; user 7, whose label a forgotten tip had,
    # gets a new one.
    svc, *_ = await make(db)
    notice = await svc.notice_for_tips("N-2611-07")
    labels = {}
    for uid in (7, 8):
        await svc.start(uid, uid, 1, notice)
        await svc.add_text(uid, "after the upgrade")
        labels[uid] = (await svc.submit(who(uid)))[0].pseudonym
    assert labels[8] == "C200" and labels[7] not in ("A100", "C200")
