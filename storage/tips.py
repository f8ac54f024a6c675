"""MongoDB repositories for the tips feature.

Collections (all owned here; nothing else reads ``tip_identities``):
- ``tips``: the tip body. ``_id`` random, ``code`` unique (random), ``pseudonym`` a random
  label, ``point`` GeoJSON with a 2dsphere index. No Telegram identity, nothing computed
  from one.
- ``tip_identities``: ``_id`` = tip id, the tipster's user id and profile, the tip's
  notice and pseudonym (the link that gives the tipster's next tip on that notice the
  same label), the bot messages they may reply to, whether the receipt reached them.
  ``/forget`` deletes it (and the pseudonym link of the tipster's other tips on the notice).
- ``tip_intake``: the idempotency ledger: ``_id`` = HMAC under TIPS_ID_KEY of the Telegram
  message that carried a tip or thread message (``tips.anonymity.intake_key``) -> the
  random id it was stored under, so a redelivered update, a second press of Send or the
  next item of an album finds it. Kept two days (TTL); ``/forget`` deletes a tip's entries.
- ``tip_messages``: the two-way thread, one document per message (``_id`` random).
- ``tip_cards``: (chat id, message id) of every message showing a tip to an officer.
- ``tip_drafts``: tips being collected in a private chat (expire after a day).
- ``tip_group_hints``: "open a private chat" messages to delete from groups when due.

``tips_meta`` (a secret kept in the database, from which tip ids, thread message ids and
pseudonyms used to be derived) is deleted by the schema-2 migration ``migrate_v2``.

Read-only adapters over other features' collections (documented in docs/integration.md):
``MongoNoticeLookup`` (``notices``, ``deliveries``) and ``MongoMemberLookup`` (``members``).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo import ASCENDING, DESCENDING, IndexModel, ReturnDocument
from pymongo.errors import DuplicateKeyError

from groups.model import GeoPoint
from kernel.clock import Clock
from storage.client import Database, Document
from tips.model import (
    Direction,
    DraftMode,
    Expect,
    LocationSource,
    NearFilter,
    NearHit,
    NoticeInfo,
    Part,
    PartKind,
    ThreadMessage,
    Tip,
    TipCategory,
    TipDraft,
    TipLocation,
    TipStatus,
    TipsterIdentity,
    Visibility,
    best_location,
)
from tips.ports import CodeTaken

log = logging.getLogger(__name__)

DRAFT_TTL_S = 24 * 3600
CARD_TTL_S = 365 * 24 * 3600
THREAD_IDS_KEPT = 500
# Telegram redelivers an unconfirmed update for up to a day; a draft lives a day.
INTAKE_TTL_S = 2 * 24 * 3600
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
FAR_FUTURE = datetime(9999, 1, 1, tzinfo=UTC)

INDEXES: dict[str, list[IndexModel]] = {
    "tips": [
        IndexModel([("code", ASCENDING)], name="code_unique", unique=True),
        IndexModel([("notice_id", ASCENDING), ("pseudonym", ASCENDING)], name="notice_pseudonym"),
        IndexModel([("point", "2dsphere")], name="point_2dsphere"),
        IndexModel([("notice_id", ASCENDING), ("created_at", DESCENDING)], name="notice_time"),
        IndexModel(
            [("sector", ASCENDING), ("area", ASCENDING), ("created_at", DESCENDING)],
            name="scope_time",
        ),
        IndexModel([("locations.live_key", ASCENDING)], name="live_key", sparse=True),
        # The console's start page: tips not acknowledged yet, and tips received today,
        # in an officer's sectors/areas or everywhere.
        IndexModel(
            [
                ("status", ASCENDING),
                ("sector", ASCENDING),
                ("area", ASCENDING),
                ("created_at", DESCENDING),
            ],
            name="status_scope_time",
        ),
        IndexModel([("created_at", DESCENDING)], name="created_time"),
    ],
    "tip_identities": [
        IndexModel([("user_id", ASCENDING), ("created_at", DESCENDING)], name="user_time"),
        IndexModel(
            [("user_id", ASCENDING), ("thread_message_ids", ASCENDING)], name="user_thread_msgs"
        ),
        IndexModel([("user_id", ASCENDING), ("notice_id", ASCENDING)], name="user_notice"),
    ],
    "tip_intake": [
        IndexModel([("at", ASCENDING)], name="ttl", expireAfterSeconds=INTAKE_TTL_S),
        IndexModel([("tip_id", ASCENDING)], name="tip"),
    ],
    "tip_messages": [IndexModel([("tip_id", ASCENDING), ("at", ASCENDING)], name="tip_time")],
    "tip_cards": [IndexModel([("at", ASCENDING)], name="ttl", expireAfterSeconds=CARD_TTL_S)],
    "tip_group_hints": [
        IndexModel([("due", ASCENDING)], name="due"),
        IndexModel([("chat_id", ASCENDING), ("link", ASCENDING)], name="chat_link"),
    ],
    "tip_drafts": [
        IndexModel([("updated_at", ASCENDING)], name="ttl", expireAfterSeconds=DRAFT_TTL_S),
        IndexModel([("locations.live_key", ASCENDING)], name="live_key", sparse=True),
    ],
}


# ---- mapping -------------------------------------------------------------------------


def point_doc(p: GeoPoint) -> Document:
    return {"type": "Point", "coordinates": [p.lon, p.lat]}


def point_from(doc: Any) -> GeoPoint | None:
    if not doc:
        return None
    lon, lat = doc["coordinates"]
    return GeoPoint(float(lat), float(lon))


def part_doc(p: Part) -> Document:
    doc: Document = {"kind": p.kind.value}
    for name in ("text", "file_id", "file_unique_id", "size", "mime", "file_name", "duration"):
        value = getattr(p, name)
        if value not in (None, ""):
            doc[name] = value
    if p.album:
        doc["album"] = p.album
    return doc


def part_from(doc: Document) -> Part:
    return Part(
        kind=PartKind(doc["kind"]),
        text=doc.get("text", ""),
        file_id=doc.get("file_id"),
        file_unique_id=doc.get("file_unique_id"),
        size=doc.get("size"),
        mime=doc.get("mime"),
        file_name=doc.get("file_name"),
        duration=doc.get("duration"),
        album=doc.get("album"),
    )


def location_doc(loc: TipLocation) -> Document:
    doc: Document = {"source": loc.source.value}
    if loc.point is not None:
        doc["point"] = point_doc(loc.point)
    if loc.first_point is not None:
        doc["first_point"] = point_doc(loc.first_point)
    for name in ("accuracy_m", "address", "title", "live_key"):
        value = getattr(loc, name)
        if value is not None:
            doc[name] = value
    return doc


def location_from(doc: Document) -> TipLocation:
    return TipLocation(
        source=LocationSource(doc["source"]),
        point=point_from(doc.get("point")),
        accuracy_m=doc.get("accuracy_m"),
        address=doc.get("address"),
        title=doc.get("title"),
        live_key=doc.get("live_key"),
        first_point=point_from(doc.get("first_point")),
    )


def tip_doc(tip: Tip) -> Document:
    doc: Document = {
        "_id": tip.tip_id,
        "code": tip.code,
        "notice_id": tip.notice_id,
        "notice_ref": tip.notice_ref,
        "notice_title": tip.notice_title,
        "category": tip.category.value if tip.category else None,
        "parts": [part_doc(p) for p in tip.parts],
        "locations": [location_doc(loc) for loc in tip.locations],
        "sector": tip.sector,
        "area": tip.area,
        "pseudonym": tip.pseudonym,
        "status": tip.status.value,
        "created_at": tip.created_at,
        "updated_at": tip.updated_at,
        "channel": tip.channel,
        "forgotten": tip.forgotten,
    }
    best = tip.location
    if best is not None and best.point is not None:
        doc["point"] = point_doc(best.point)  # absent (not null) when unknown: 2dsphere
        doc["location_source"] = best.source.value
    return doc


def tip_from(doc: Document) -> Tip:
    return Tip(
        tip_id=doc["_id"],
        code=doc["code"],
        notice_id=doc.get("notice_id"),
        category=TipCategory(doc["category"]) if doc.get("category") else None,
        parts=tuple(part_from(p) for p in doc.get("parts", [])),
        locations=tuple(location_from(loc) for loc in doc.get("locations", [])),
        sector=doc.get("sector"),
        area=doc.get("area"),
        pseudonym=doc.get("pseudonym", ""),
        status=TipStatus(doc["status"]),
        created_at=doc["created_at"],
        updated_at=doc.get("updated_at") or doc["created_at"],
        channel=doc.get("channel", "private"),
        notice_ref=doc.get("notice_ref"),
        notice_title=doc.get("notice_title"),
        forgotten=bool(doc.get("forgotten", False)),
    )


def identity_doc(i: TipsterIdentity, tip: Tip) -> Document:
    return {
        "_id": i.tip_id,
        "user_id": i.user_id,
        "notice_id": tip.notice_id,
        "pseudonym": tip.pseudonym,
        "first_name": i.first_name,
        "last_name": i.last_name,
        "username": i.username,
        "language": i.language,
        "created_at": i.created_at,
        "receipt": "pending",
        "thread_message_ids": [],
    }


def identity_from(doc: Document) -> TipsterIdentity:
    return TipsterIdentity(
        tip_id=doc["_id"],
        user_id=int(doc["user_id"]),
        first_name=doc.get("first_name", ""),
        last_name=doc.get("last_name"),
        username=doc.get("username"),
        language=doc.get("language"),
        created_at=doc.get("created_at"),
    )


def draft_doc(d: TipDraft, now: datetime) -> Document:
    return {
        "_id": d.user_id,
        "mode": d.mode.value,
        "expect": d.expect.value,
        "started_at": d.started_at,
        "updated_at": now,
        "intake_key": d.intake_key,
        "notice_id": d.notice_id,
        "category": d.category.value if d.category else None,
        "tip_id": d.tip_id,
        "parts": [part_doc(p) for p in d.parts],
        "locations": [location_doc(loc) for loc in d.locations],
        "sector": d.sector,
        "area": d.area,
        "channel": d.channel,
        "panel_message_id": d.panel_message_id,
    }


def draft_from(doc: Document) -> TipDraft:
    parts = tuple(part_from(p) for p in doc.get("parts", []))
    locations = tuple(location_from(loc) for loc in doc.get("locations", []))
    albums = {p.album for p in parts if p.album}
    steps = sum(1 for p in parts if not p.album) + len(albums) + len(locations)
    return TipDraft(
        user_id=int(doc["_id"]),
        mode=DraftMode(doc["mode"]),
        expect=Expect(doc["expect"]),
        started_at=doc["started_at"],
        intake_key=doc["intake_key"],
        notice_id=doc.get("notice_id"),
        category=TipCategory(doc["category"]) if doc.get("category") else None,
        tip_id=doc.get("tip_id"),
        parts=parts,
        locations=locations,
        steps=steps,
        sector=doc.get("sector"),
        area=doc.get("area"),
        channel=doc.get("channel", "private"),
        panel_message_id=doc.get("panel_message_id"),
    )


def message_doc(m: ThreadMessage) -> Document:
    return {
        "_id": m.message_id,
        "tip_id": m.tip_id,
        "direction": m.direction.value,
        "parts": [part_doc(p) for p in m.parts],
        "at": m.at,
        "officer_id": m.officer_id,
    }


def message_from(doc: Document) -> ThreadMessage:
    return ThreadMessage(
        tip_id=doc["tip_id"],
        direction=Direction(doc["direction"]),
        parts=tuple(part_from(p) for p in doc.get("parts", [])),
        at=doc["at"],
        officer_id=doc.get("officer_id"),
        message_id=doc["_id"],
    )


def visibility_query(v: Visibility) -> Document | None:
    """A filter for what an officer may see; None when they may see nothing."""
    if v.everything:
        return {}
    clauses: list[Document] = []
    for sector, area in v.scopes:
        clause: Document = {}
        if sector is not None:
            clause["sector"] = sector
        if area is not None:
            clause["area"] = area
        if not clause:
            return {}
        clauses.append(clause)
    if not clauses:
        return None
    return {"$or": clauses}


def _covers(wide: Document, narrow: Document) -> bool:
    return all(narrow.get(k) == v for k, v in wide.items())


def _overlap(a: Document, b: Document) -> bool:
    return all(a[k] == b[k] for k in a.keys() & b.keys())


def disjoint_scopes(clauses: list[Document]) -> list[Document]:
    """Visibility clauses (``{"sector": s}``, ``{"area": a}``, both) rewritten as filters
    no tip matches twice, so counting each on its own index and adding up is exact (a
    query with ``$or`` is not served by an index on every server, SecantusDB's included).
    A clause inside another is dropped; from a sector-only clause the areas of earlier
    overlapping clauses are taken out, from an area-only clause their sectors."""
    unique: list[Document] = []
    for clause in clauses:
        if clause not in unique:
            unique.append(clause)
    kept = [c for c in unique if not any(o != c and _covers(o, c) for o in unique)]
    out: list[Document] = []
    for i, clause in enumerate(kept):
        earlier = [o for o in kept[:i] if _overlap(o, clause)]
        query = dict(clause)
        if earlier and "area" not in clause:
            query["area"] = {"$nin": [o["area"] for o in earlier]}
        elif earlier and "sector" not in clause:
            query["sector"] = {"$nin": [o["sector"] for o in earlier]}
        out.append(query)
    return out


# ---- repositories --------------------------------------------------------------------


class MongoTipRepository:
    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._tips = db.tips
        self._ids = db.tip_identities
        self._msgs = db.tip_messages
        self._cards = db.tip_cards
        self._intake = db.tip_intake
        self._clock = clock

    async def claim_intake(self, key: str, candidate: str, tip_id: str | None) -> str:
        entry = {"id": candidate, "tip_id": tip_id or candidate, "at": self._clock.now()}
        for _ in range(3):
            try:
                doc = await self._intake.find_one_and_update(
                    {"_id": key},
                    {"$setOnInsert": entry},
                    upsert=True,
                    return_document=ReturnDocument.AFTER,
                )
            except DuplicateKeyError:  # a concurrent upsert of the same key won
                doc = None
            if doc is None:  # (some servers answer a lost upsert race with nothing)
                doc = await self._intake.find_one({"_id": key})
            if doc is not None:
                return str(doc["id"])
        raise RuntimeError(f"intake key {key[:8]}… neither inserted nor found")

    async def create(self, tip: Tip, identity: TipsterIdentity) -> tuple[Tip, bool]:
        # Identity first, keyed by the tip id (bound to the intake message in the ledger):
        # if the tip insert fails the orphan identity is invisible, and the retry completes
        # the same tip.
        await self._ids.update_one(
            {"_id": tip.tip_id}, {"$setOnInsert": identity_doc(identity, tip)}, upsert=True
        )
        try:
            await self._tips.insert_one(tip_doc(tip))
        except DuplicateKeyError:
            existing = await self._tips.find_one({"_id": tip.tip_id})
            if existing is not None:
                return tip_from(existing), False
            raise CodeTaken(tip.code) from None
        return tip, True

    async def get(self, tip_id: str) -> Tip | None:
        doc = await self._tips.find_one({"_id": tip_id})
        return tip_from(doc) if doc else None

    async def append_parts(self, tip_id: str, parts: tuple[Part, ...], at: datetime) -> None:
        await self._tips.update_one(
            {"_id": tip_id},
            {
                "$addToSet": {"parts": {"$each": [part_doc(p) for p in parts]}},
                "$set": {"updated_at": at},
            },
        )

    async def by_code(self, code: str) -> Tip | None:
        doc = await self._tips.find_one({"code": code})
        return tip_from(doc) if doc else None

    async def identity(self, tip_id: str) -> TipsterIdentity | None:
        doc = await self._ids.find_one({"_id": tip_id})
        return identity_from(doc) if doc else None

    async def owner_of(self, tip_id: str) -> int | None:
        doc = await self._ids.find_one({"_id": tip_id}, {"user_id": 1})
        return int(doc["user_id"]) if doc else None

    async def tipster_history(
        self, user_id: int, notice_id: str | None, since: datetime | None
    ) -> tuple[list[datetime], str | None]:
        linked: Document = {"notice_id": notice_id, "pseudonym": {"$exists": True}}
        query: Document = {"user_id": user_id}
        if since is None:
            query.update(linked)
        else:
            query["$or"] = [{"created_at": {"$gte": since}}, linked]
        recent: list[datetime] = []
        label: str | None = None
        async for doc in self._ids.find(query, {"created_at": 1, "notice_id": 1, "pseudonym": 1}):
            if since is not None and doc.get("created_at") and doc["created_at"] >= since:
                recent.append(doc["created_at"])
            if label is None and doc.get("notice_id") == notice_id and doc.get("pseudonym"):
                label = str(doc["pseudonym"])
        return recent, label

    async def pseudonym_in_use(self, notice_id: str | None, label: str) -> bool:
        doc = await self._tips.find_one({"notice_id": notice_id, "pseudonym": label}, {"_id": 1})
        return doc is not None

    async def forget(self, tip_id: str, user_id: int) -> bool:
        """Everything that ties the tip to its tipster goes; the identity last, so an
        interrupted forget can be repeated. Nothing records when (no time is written: a
        time of the forget next to the user's last activity would re-link them)."""
        ident = await self._ids.find_one({"_id": tip_id, "user_id": user_id}, {"notice_id": 1})
        if ident is None:
            return False
        # Drafts adding to this tip, or one a crash left behind after the tip was stored
        # (it holds the tip's content under the user's id), and the intake keys.
        keys = [d["_id"] async for d in self._intake.find({"tip_id": tip_id}, {"_id": 1})]
        await self._db.tip_drafts.delete_many(
            {"$or": [{"tip_id": tip_id}, {"intake_key": {"$in": keys}}]}
        )
        await self._intake.delete_many({"tip_id": tip_id})
        # The pseudonym link: the tipster's next tip on this notice gets a new label.
        await self._ids.update_many(
            {"user_id": user_id, "notice_id": ident.get("notice_id")},
            {"$unset": {"pseudonym": ""}},
        )
        doc = await self._tips.find_one({"_id": tip_id}, {"locations": 1})
        update: Document = {"$set": {"forgotten": True}, "$unset": {"pseudonym": ""}}
        if doc is not None and any("live_key" in loc for loc in doc.get("locations", [])):
            update["$set"]["locations"] = [
                {k: v for k, v in loc.items() if k != "live_key"} for loc in doc["locations"]
            ]
        await self._tips.update_one({"_id": tip_id}, update)
        await self._ids.delete_one({"_id": tip_id, "user_id": user_id})
        return True

    async def tips_of(self, user_id: int, limit: int = 20) -> list[Tip]:
        cursor = (
            self._ids.find({"user_id": user_id}, {"_id": 1})
            .sort("created_at", DESCENDING)
            .limit(limit)
        )
        ids = [d["_id"] async for d in cursor]
        found = {d["_id"]: tip_from(d) async for d in self._tips.find({"_id": {"$in": ids}})}
        return [found[i] for i in ids if i in found]

    async def set_status(self, tip_id: str, status: TipStatus, at: datetime) -> Tip | None:
        doc = await self._tips.find_one_and_update(
            {"_id": tip_id},
            {"$set": {"status": status.value, "updated_at": at}},
            return_document=ReturnDocument.AFTER,
        )
        return tip_from(doc) if doc else None

    async def update_live(self, live_key: str, point: GeoPoint, at: datetime) -> bool:
        doc = await self._tips.find_one({"locations.live_key": live_key})
        if doc is None:
            return False
        tip = tip_from(doc)
        locations = tuple(
            TipLocation(
                loc.source,
                point,
                loc.accuracy_m,
                loc.address,
                loc.title,
                loc.live_key,
                loc.first_point or loc.point,
            )
            if loc.live_key == live_key
            else loc
            for loc in tip.locations
        )
        update: Document = {
            "locations": [location_doc(loc) for loc in locations],
            "updated_at": at,
        }
        best = best_location(locations)
        if best is not None and best.point is not None:
            update["point"] = point_doc(best.point)
            update["location_source"] = best.source.value
        await self._tips.update_one({"_id": tip.tip_id}, {"$set": update})
        return True

    async def by_notice(
        self, notice_id: str, visibility: Visibility, skip: int, limit: int
    ) -> tuple[list[Tip], int]:
        scope = visibility_query(visibility)
        if scope is None:
            return [], 0
        query = {"notice_id": notice_id, **scope}
        total = await self._tips.count_documents(query)
        cursor = (
            self._tips.find(query)
            .sort([("created_at", DESCENDING), ("_id", DESCENDING)])
            .skip(skip)
            .limit(limit)
        )
        return [tip_from(d) async for d in cursor], total

    async def count(
        self,
        visibility: Visibility,
        *,
        status: TipStatus | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> int:
        scope = visibility_query(visibility)
        if scope is None:
            return 0
        base: Document = {}
        if status is not None:
            base["status"] = status.value
        if since is not None or until is not None:
            # Both ends named: SecantusDB reads a one-sided range to the index's end.
            base["created_at"] = {"$gte": since or EPOCH, "$lt": until or FAR_FUTURE}
        total = 0
        for clause in disjoint_scopes(scope.get("$or", [scope])):
            if status is not None:
                index = "status_scope_time"
            elif isinstance(clause.get("sector"), str):
                index = "scope_time"
            else:
                index = "created_time"
            total += await self._tips.count_documents(base | clause, hint=index)
        return total

    async def near(
        self,
        center: GeoPoint,
        radius_m: float,
        flt: NearFilter,
        visibility: Visibility,
        limit: int,
    ) -> list[NearHit]:
        scope = visibility_query(visibility)
        if scope is None:
            return []
        query: Document = dict(scope)
        if flt.notice_id is not None:
            query["notice_id"] = flt.notice_id
        if flt.statuses:
            query["status"] = {"$in": [s.value for s in flt.statuses]}
        created: Document = {}
        if flt.since is not None:
            created["$gte"] = flt.since
        if flt.until is not None:
            created["$lt"] = flt.until
        if created:
            query["created_at"] = created
        pipeline: list[Document] = [
            {
                "$geoNear": {
                    "near": point_doc(center),
                    "distanceField": "distance_m",
                    "maxDistance": radius_m,
                    "spherical": True,
                    "key": "point",
                    "query": query,
                }
            },
            {"$limit": limit},
        ]
        cursor = await self._tips.aggregate(pipeline)
        return [NearHit(tip_from(d), float(d["distance_m"])) async for d in cursor]

    async def add_message(self, message: ThreadMessage) -> bool:
        try:
            await self._msgs.insert_one(message_doc(message))
        except DuplicateKeyError:
            return False
        return True

    async def thread(self, tip_id: str, limit: int = 50) -> list[ThreadMessage]:
        cursor = (
            self._msgs.find({"tip_id": tip_id}).sort([("at", ASCENDING), ("_id", ASCENDING)])
        ).limit(limit)
        return [message_from(d) async for d in cursor]

    async def officers_in_thread(self, tip_id: str) -> list[int]:
        ids = await self._msgs.distinct(
            "officer_id", {"tip_id": tip_id, "direction": Direction.OFFICER.value}
        )
        return sorted(int(i) for i in ids if i is not None)

    async def register_card(self, chat_id: int, message_id: int, tip_id: str) -> None:
        await self._cards.update_one(
            {"_id": f"{chat_id}:{message_id}"},
            {
                "$set": {
                    "chat_id": chat_id,
                    "message_id": message_id,
                    "tip_id": tip_id,
                    "at": self._clock.now(),
                }
            },
            upsert=True,
        )

    async def card(self, chat_id: int, message_id: int) -> str | None:
        doc = await self._cards.find_one({"_id": f"{chat_id}:{message_id}"})
        return str(doc["tip_id"]) if doc else None

    async def remember_tipster_message(self, tip_id: str, message_id: int) -> None:
        await self._ids.update_one(
            {"_id": tip_id},
            {"$push": {"thread_message_ids": {"$each": [message_id], "$slice": -THREAD_IDS_KEPT}}},
        )

    async def tip_for_tipster_reply(self, user_id: int, message_id: int) -> str | None:
        doc = await self._ids.find_one(
            {"user_id": user_id, "thread_message_ids": message_id}, {"_id": 1}
        )
        return str(doc["_id"]) if doc else None

    async def undelivered_receipts(self, user_id: int) -> list[Tip]:
        ids = [
            d["_id"]
            async for d in self._ids.find({"user_id": user_id, "receipt": "pending"}, {"_id": 1})
        ]
        if not ids:
            return []
        cursor = self._tips.find({"_id": {"$in": ids}}).sort("created_at", ASCENDING)
        return [tip_from(d) async for d in cursor]

    async def receipt_delivered(self, tip_id: str, message_id: int) -> None:
        await self._ids.update_one(
            {"_id": tip_id},
            {
                "$set": {"receipt": "delivered"},
                "$push": {
                    "thread_message_ids": {"$each": [message_id], "$slice": -THREAD_IDS_KEPT}
                },
            },
        )


async def migrate_v2(db: Database) -> None:
    """Schema 2: nothing stored about a tip can be derived from, or matched to, its tipster.

    Schema 1 derived tip ids and thread message ids (HMACs of the intake message, whose
    private chat id is the user id) and pseudonyms (of the user id) from a secret kept in
    ``tips_meta``, so anyone reading the database could test user ids against them, and a
    forgotten tip kept the label its tipster's later tips on the notice got again. Existing
    ids stay (duty, rewards and cards refer to them) but the secret is deleted, after which
    they are random-looking values nobody can recompute. Forgotten tips lose their label
    and live-location keys; the pseudonym link of the remaining identities is recorded
    (except where a forgotten tip on the notice shares the label: those tipsters get a new
    label on their next tip). Idempotent."""
    tips = db.tips
    labels: dict[str, tuple[str | None, str | None]] = {}
    forgotten: set[tuple[str | None, str]] = set()
    async for doc in tips.find(
        {}, {"notice_id": 1, "pseudonym": 1, "forgotten": 1, "locations": 1}
    ):
        notice_id, label = doc.get("notice_id"), doc.get("pseudonym")
        labels[doc["_id"]] = (notice_id, label)
        update: Document = {}
        if doc.get("forgotten") and label:
            forgotten.add((notice_id, label))
            update["$unset"] = {"pseudonym": ""}
        locations = doc.get("locations") or []
        if any("live_key" in loc for loc in locations):  # keyed by the dropped secret
            update["$set"] = {
                "locations": [
                    {k: v for k, v in loc.items() if k != "live_key"} for loc in locations
                ]
            }
        if update:
            await tips.update_one({"_id": doc["_id"]}, update)
    await tips.update_many({"intake_key": {"$exists": True}}, {"$unset": {"intake_key": ""}})
    async for ident in db.tip_identities.find({"notice_id": {"$exists": False}}, {"_id": 1}):
        notice_id, label = labels.get(ident["_id"], (None, None))
        fields: Document = {"notice_id": notice_id}
        if label and (notice_id, label) not in forgotten:
            fields["pseudonym"] = label
        await db.tip_identities.update_one({"_id": ident["_id"]}, {"$set": fields})
    names = {ix["name"] async for ix in await tips.list_indexes()}
    if "intake_unique" in names:
        await tips.drop_index("intake_unique")
    await db.drop_collection("tips_meta")
    log.info("tips: schema 2 migration done (%s tips)", len(labels))


class MongoGroupHints:
    """Short-lived "open a private chat" hints posted in groups, deleted when due. A hint
    names nobody; while one with the same link is up, no second one is posted."""

    def __init__(self, db: Database) -> None:
        self._c = db.tip_group_hints

    async def add(self, chat_id: int, message_id: int, due: datetime, link: str = "") -> None:
        await self._c.insert_one(
            {"chat_id": chat_id, "message_id": message_id, "due": due, "link": link}
        )

    async def showing(self, chat_id: int, link: str, now: datetime) -> bool:
        """Whether a hint with this link is still up in the group."""
        doc = await self._c.find_one(
            {"chat_id": chat_id, "link": link, "due": {"$gt": now}}, {"_id": 1}
        )
        return doc is not None

    async def claim_due(self, now: datetime) -> tuple[int, int] | None:
        """Take one due hint (atomically: two sweepers never delete the same one)."""
        doc = await self._c.find_one_and_delete({"due": {"$lte": now}})
        return (int(doc["chat_id"]), int(doc["message_id"])) if doc else None


class MongoTipDrafts:
    def __init__(self, db: Database, clock: Clock) -> None:
        self._c = db.tip_drafts
        self._clock = clock

    def _fresh(self) -> Document:
        # Expired drafts may linger until the TTL monitor runs: never read them.
        return {"$gte": self._clock.now() - timedelta(seconds=DRAFT_TTL_S)}

    async def get(self, user_id: int) -> TipDraft | None:
        doc = await self._c.find_one({"_id": user_id, "updated_at": self._fresh()})
        return draft_from(doc) if doc else None

    async def put(self, draft: TipDraft) -> TipDraft | None:
        before = await self._c.find_one_and_replace(
            {"_id": draft.user_id},
            draft_doc(draft, self._clock.now()),
            upsert=True,
            return_document=ReturnDocument.BEFORE,
        )
        return draft_from(before) if before else None

    async def push_part(self, user_id: int, part: Part) -> tuple[TipDraft | None, bool]:
        before = await self._c.find_one_and_update(
            {"_id": user_id, "updated_at": self._fresh()},
            {"$push": {"parts": part_doc(part)}, "$set": {"updated_at": self._clock.now()}},
            return_document=ReturnDocument.BEFORE,
        )
        if before is None:
            return None, False
        new_step = part.album is None or all(
            p.get("album") != part.album for p in before.get("parts", [])
        )
        before["parts"] = [*before.get("parts", []), part_doc(part)]
        return draft_from(before), new_step

    async def push_location(self, user_id: int, location: TipLocation) -> TipDraft | None:
        doc = await self._c.find_one_and_update(
            {"_id": user_id, "updated_at": self._fresh()},
            {
                "$push": {"locations": location_doc(location)},
                "$set": {"updated_at": self._clock.now()},
            },
            return_document=ReturnDocument.AFTER,
        )
        return draft_from(doc) if doc else None

    async def set_fields(
        self,
        user_id: int,
        *,
        expect: Expect | None = None,
        category: TipCategory | None = None,
        panel_message_id: int | None = None,
    ) -> TipDraft | None:
        fields: Document = {"updated_at": self._clock.now()}
        if expect is not None:
            fields["expect"] = expect.value
        if category is not None:
            fields["category"] = category.value
        if panel_message_id is not None:
            fields["panel_message_id"] = panel_message_id
        doc = await self._c.find_one_and_update(
            {"_id": user_id, "updated_at": self._fresh()},
            {"$set": fields},
            return_document=ReturnDocument.AFTER,
        )
        return draft_from(doc) if doc else None

    async def update_live(self, live_key: str, point: GeoPoint) -> bool:
        result = await self._c.update_one(
            {"locations.live_key": live_key},
            {"$set": {"locations.$.point": point_doc(point), "updated_at": self._clock.now()}},
        )
        return result.matched_count > 0

    async def delete(self, user_id: int) -> None:
        await self._c.delete_one({"_id": user_id})


class MongoNoticeLookup:
    """Reads ``notices`` and ``deliveries`` (owned by the notices feature) as documented."""

    def __init__(self, db: Database) -> None:
        self._notices = db.notices
        self._deliveries = db.deliveries

    @staticmethod
    def _from(doc: Document) -> NoticeInfo:
        return NoticeInfo(
            notice_id=str(doc["_id"]),
            ref=str(doc.get("ref", "")),
            title=str(doc.get("title", "")),
            status=str(doc.get("status", "")),
            created_by=doc.get("created_by"),
            investigators=tuple(int(i) for i in doc.get("investigators") or ()),
        )

    async def by_ref(self, ref: str) -> NoticeInfo | None:
        doc = await self._notices.find_one({"ref": ref})
        return self._from(doc) if doc else None

    async def by_id(self, notice_id: str) -> NoticeInfo | None:
        doc = await self._notices.find_one({"_id": notice_id})
        return self._from(doc) if doc else None

    async def by_message(self, chat_id: int, message_id: int) -> NoticeInfo | None:
        delivery = await self._deliveries.find_one(
            {"chat_id": chat_id, "message_ids": message_id}, {"notice_id": 1}
        )
        if delivery is None:
            return None
        return await self.by_id(str(delivery["notice_id"]))


class MongoMemberLookup:
    """Reads a member's sector and area from ``members`` (owned by the groups feature)."""

    def __init__(self, db: Database) -> None:
        self._c = db.members

    async def home(self, user_id: int) -> tuple[str | None, str | None]:
        doc = await self._c.find_one({"_id": user_id}, {"sector": 1, "area": 1})
        if doc is None:
            return None, None
        return doc.get("sector"), doc.get("area")
