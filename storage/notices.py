"""notices, deliveries, notice drafts, recurrences and reference counters.

``notices`` and ``deliveries`` are read by other features (tips, rewards); their
documented fields (docs/integration.md) are kept stable.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from pymongo import ASCENDING, DESCENDING, IndexModel, ReturnDocument
from pymongo.errors import BulkWriteError, DuplicateKeyError

from broadcasts.model import (
    Delivery,
    DeliveryCounts,
    DeliveryState,
    Draft,
    Notice,
    NoticeKind,
    NoticeStatus,
    Photo,
    Recurrence,
    Reward,
    Urgency,
)
from broadcasts.ports import Target
from broadcasts.refs import format_ref, ref_period
from groups.model import Audience, GeoPoint
from groups.roles import Scope
from storage.client import Database, Document, upsert_after

INDEXES: dict[str, list[IndexModel]] = {
    "notices": [
        IndexModel([("ref", ASCENDING)], unique=True, name="ref_unique"),
        IndexModel([("status", ASCENDING), ("send_at", ASCENDING)], name="status_send_at"),
        IndexModel([("status", ASCENDING), ("expires_at", ASCENDING)], name="status_expires"),
        IndexModel([("created_by", ASCENDING), ("created_at", DESCENDING)], name="by_creator"),
        IndexModel([("investigators", ASCENDING)], name="investigators"),
        IndexModel([("dirty", ASCENDING)], name="dirty", sparse=True),
        # The console's notice list: an officer's notices, everyone's, newest first.
        IndexModel(
            [("investigators", ASCENDING), ("created_at", DESCENDING), ("_id", DESCENDING)],
            name="investigators_time",
        ),
        IndexModel([("created_at", DESCENDING), ("_id", DESCENDING)], name="time"),
    ],
    "deliveries": [
        IndexModel(
            [("notice_id", ASCENDING), ("chat_id", ASCENDING)], unique=True, name="notice_chat"
        ),
        IndexModel([("notice_id", ASCENDING), ("state", ASCENDING)], name="notice_state"),
        # tips: which notice does a reply in a group refer to?
        IndexModel([("chat_id", ASCENDING), ("message_ids", ASCENDING)], name="chat_messages"),
        # The console's delivery monitor: pages of the plan in order, and the groups that
        # moved to a supergroup.
        IndexModel([("notice_id", ASCENDING), ("seq", ASCENDING)], name="notice_seq"),
        IndexModel(
            [("notice_id", ASCENDING), ("migrated_from", ASCENDING)], name="notice_migrated"
        ),
    ],
    "notice_recurrences": [
        IndexModel([("active", ASCENDING), ("next_at", ASCENDING)], name="active_next"),
    ],
}

OPEN = [NoticeStatus.SCHEDULED.value, NoticeStatus.SENDING.value, NoticeStatus.ACTIVE.value]
# Range queries name both ends: SecantusDB reads a one-sided range from the index's start or
# end (missing fields included), so "any number" is written as this closed range.
LOWEST = -(2**62)
HIGHEST = 2**62
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
FAR_FUTURE = datetime(9999, 1, 1, tzinfo=UTC)
# Delivery states that are not "sent": counted by an indexed query; "sent" is the rest.
UNSENT = [DeliveryState.PENDING.value, DeliveryState.SENDING.value, DeliveryState.FAILED.value]


# -- mapping --------------------------------------------------------------------------------
def audience_doc(a: Audience) -> Document:
    return {
        "sectors": list(a.sectors),
        "areas": list(a.areas),
        "center": {"lat": a.center.lat, "lon": a.center.lon} if a.center else None,
        "radius_km": a.radius_km,
    }


def audience_from(doc: Any) -> Audience:
    doc = doc or {}
    c = doc.get("center")
    return Audience(
        sectors=tuple(doc.get("sectors") or ()),
        areas=tuple(doc.get("areas") or ()),
        center=GeoPoint(float(c["lat"]), float(c["lon"])) if c else None,
        radius_km=doc.get("radius_km"),
    )


def photo_doc(p: Photo) -> Document:
    return {"file_id": p.file_id, "source": p.source, "unique_id": p.unique_id}


def photo_from(doc: Document) -> Photo:
    return Photo(doc.get("file_id"), doc.get("source"), doc.get("unique_id"))


def reward_doc(r: Reward | None) -> Document | None:
    if r is None:
        return None
    return {"amount": str(r.amount), "currency": r.currency, "terms": r.terms}


def reward_from(doc: Any) -> Reward | None:
    if not doc:
        return None
    return Reward(Decimal(doc["amount"]), doc.get("terms", ""), doc.get("currency", "CNY"))


def notice_to_doc(n: Notice) -> Document:
    return {
        "_id": n.notice_id,
        "ref": n.ref,
        "kind": n.kind.value,
        "title": n.title,
        "body": n.body,
        "status": n.status.value,
        "created_by": n.created_by,
        "created_at": n.created_at,
        "investigators": sorted({n.created_by, *n.investigators}),
        "reward": reward_doc(n.reward),
        "expires_at": n.expires_at,
        "audience": audience_doc(n.audience),
        "photos": [photo_doc(p) for p in n.photos],
        "case_no": n.case_no,
        "urgency": n.urgency.value,
        "pin": n.pin,
        "send_at": n.send_at,
        "sent_at": n.sent_at,
        "closed_at": n.closed_at,
        "revision": n.revision,
        "synced_revision": n.synced_revision,
        "dirty": n.revision > n.synced_revision,
        "locale": n.locale,
        "progress": {"chat_id": n.progress_chat_id, "message_id": n.progress_message_id},
        "recurrence_id": n.recurrence_id,
        "planned": n.planned,
        "groups": n.groups,
        "scopes": [{"sector": s.sector, "area": s.area} for s in n.scopes],
    }


def notice_from(doc: Document) -> Notice:
    progress = doc.get("progress") or {}
    return Notice(
        notice_id=doc["_id"],
        ref=doc["ref"],
        kind=NoticeKind(doc["kind"]),
        title=doc.get("title", ""),
        body=doc.get("body", ""),
        created_by=int(doc["created_by"]),
        created_at=doc["created_at"],
        expires_at=doc["expires_at"],
        audience=audience_from(doc.get("audience")),
        photos=tuple(photo_from(p) for p in doc.get("photos", [])),
        case_no=doc.get("case_no", ""),
        reward=reward_from(doc.get("reward")),
        urgency=Urgency(doc.get("urgency", "normal")),
        pin=bool(doc.get("pin", False)),
        status=NoticeStatus(doc["status"]),
        investigators=tuple(doc.get("investigators", ())),
        send_at=doc.get("send_at"),
        sent_at=doc.get("sent_at"),
        closed_at=doc.get("closed_at"),
        revision=int(doc.get("revision", 0)),
        locale=doc.get("locale", "zh-CN"),
        progress_chat_id=progress.get("chat_id"),
        progress_message_id=progress.get("message_id"),
        recurrence_id=doc.get("recurrence_id"),
        planned=bool(doc.get("planned", False)),
        scopes=tuple(Scope(s.get("sector"), s.get("area")) for s in doc.get("scopes", [])),
        synced_revision=int(doc.get("synced_revision", 0)),
        groups=doc.get("groups"),
    )


def delivery_from(doc: Document) -> Delivery:
    return Delivery(
        notice_id=doc["notice_id"],
        chat_id=int(doc["chat_id"]),
        state=DeliveryState(doc["state"]),
        step=int(doc.get("step", 0)),
        message_ids=tuple(doc.get("message_ids", ())),
        reason=doc.get("reason"),
        attempts=int(doc.get("attempts", 0)),
        urgent=bool(doc.get("urgent", False)),
        title=doc.get("title", ""),
        shown_revision=int(doc.get("shown_revision", 0)),
        pinned_id=doc.get("pinned_id"),
        sent_at=doc.get("sent_at"),
        lease=doc.get("lease"),
        migrated_from=doc.get("migrated_from"),
        seq=doc.get("seq"),
        finished_at=doc.get("finished_at"),
    )


class MongoNoticeRepository:
    def __init__(self, db: Database) -> None:
        self._c = db.notices
        self._counters = db.counters

    async def next_ref(self, when: datetime) -> str:
        period = ref_period(when)
        doc = await upsert_after(
            self._counters, {"_id": f"notice_ref:{period}"}, {"$inc": {"seq": 1}}
        )
        return format_ref(period, int(doc["seq"]))

    async def insert(self, notice: Notice) -> None:
        await self._c.insert_one(notice_to_doc(notice))

    async def get(self, notice_id: str) -> Notice | None:
        doc = await self._c.find_one({"_id": notice_id})
        return notice_from(doc) if doc else None

    async def by_ref(self, ref: str) -> Notice | None:
        doc = await self._c.find_one({"ref": ref})
        return notice_from(doc) if doc else None

    async def transition(
        self,
        notice_id: str,
        from_: Sequence[NoticeStatus],
        to: NoticeStatus,
        *,
        at: datetime | None = None,
        bump: bool = False,
    ) -> Notice | None:
        update: Document = {"$set": {"status": to.value}}
        if to is NoticeStatus.ACTIVE:
            update["$set"]["sent_at"] = at
        elif to.is_closed:
            update["$set"]["closed_at"] = at
        if bump:
            update["$inc"] = {"revision": 1}
            update["$set"]["dirty"] = True
        doc = await self._c.find_one_and_update(
            {"_id": notice_id, "status": {"$in": [s.value for s in from_]}},
            update,
            return_document=ReturnDocument.AFTER,
        )
        return notice_from(doc) if doc else None

    async def mark_delivered(self, notice_id: str, at: datetime) -> bool:
        result = await self._c.update_one(
            {"_id": notice_id, "sent_at": None}, {"$set": {"sent_at": at}}
        )
        return result.modified_count == 1

    async def set_content(
        self, notice_id: str, *, title: str | None, body: str | None
    ) -> Notice | None:
        changes: Document = {"dirty": True}
        if title is not None:
            changes["title"] = title
        if body is not None:
            changes["body"] = body
        doc = await self._c.find_one_and_update(
            {"_id": notice_id, "status": {"$in": OPEN}},
            {"$set": changes, "$inc": {"revision": 1}},
            return_document=ReturnDocument.AFTER,
        )
        return notice_from(doc) if doc else None

    async def set_photo_file_ids(self, notice_id: str, file_ids: Sequence[str]) -> Notice | None:
        doc = await self._c.find_one({"_id": notice_id})
        if doc is None:
            return None
        changes: Document = {}
        for i, fid in enumerate(file_ids):
            if i < len(doc.get("photos", [])) and not doc["photos"][i].get("file_id"):
                changes[f"photos.{i}.file_id"] = fid
        if changes:
            await self._c.update_one({"_id": notice_id}, {"$set": changes})
        return await self.get(notice_id)

    async def set_progress(self, notice_id: str, chat_id: int, message_id: int) -> None:
        await self._c.update_one(
            {"_id": notice_id},
            {"$set": {"progress": {"chat_id": chat_id, "message_id": message_id}}},
        )

    async def claim_due_scheduled(self, now: datetime) -> Notice | None:
        doc = await self._c.find_one_and_update(
            {"status": NoticeStatus.SCHEDULED.value, "send_at": {"$lte": now}},
            {"$set": {"status": NoticeStatus.SENDING.value}},
            sort=[("send_at", ASCENDING)],
            return_document=ReturnDocument.AFTER,
        )
        return notice_from(doc) if doc else None

    async def expire_due(self, now: datetime) -> Notice | None:
        doc = await self._c.find_one_and_update(
            {"status": {"$in": OPEN}, "expires_at": {"$lte": now}},
            {
                "$set": {"status": NoticeStatus.EXPIRED.value, "closed_at": now, "dirty": True},
                "$inc": {"revision": 1},
            },
            return_document=ReturnDocument.AFTER,
        )
        return notice_from(doc) if doc else None

    async def with_work(self) -> list[str]:
        cursor = self._c.find(
            {"$or": [{"status": NoticeStatus.SENDING.value}, {"dirty": True}]}, {"_id": 1}
        )
        return [d["_id"] async for d in cursor]

    async def mark_synced(self, notice_id: str, revision: int) -> None:
        await self._c.update_one(
            {"_id": notice_id, "revision": revision},
            {"$set": {"dirty": False, "synced_revision": revision}},
        )

    async def mark_planned(self, notice_id: str, groups: int | None = None) -> None:
        changes: Document = {"planned": True}
        if groups is not None:
            changes["groups"] = groups
        await self._c.update_one({"_id": notice_id}, {"$set": changes})

    async def list_for(self, user_id: int | None, limit: int = 20) -> list[Notice]:
        query: Document = {} if user_id is None else {"investigators": user_id}
        cursor = self._c.find(query).sort([("created_at", DESCENDING), ("_id", DESCENDING)])
        return [notice_from(d) async for d in cursor.limit(limit)]

    async def page_for(self, user_id: int | None, skip: int, limit: int) -> list[Notice]:
        """Notices created by or shared with ``user_id`` (None: everyone's), newest first:
        ``limit`` of them after the first ``skip``."""
        query: Document = {"created_at": {"$gte": EPOCH, "$lte": FAR_FUTURE}}
        index = "time"
        if user_id is not None:
            query["investigators"] = user_id
            index = "investigators_time"
        cursor = (
            self._c.find(query)
            .sort([("created_at", DESCENDING), ("_id", DESCENDING)])
            .hint(index)
            .skip(max(0, skip))
            .limit(limit)
        )
        return [notice_from(d) async for d in cursor]

    async def sending_for(self, user_id: int | None, limit: int) -> list[Notice]:
        """Notices being delivered now, of ``user_id`` (None: everyone's), oldest first."""
        query: Document = {"status": NoticeStatus.SENDING.value}
        if user_id is not None:
            query["investigators"] = user_id
        cursor = self._c.find(query).hint("status_send_at").limit(limit)
        found = [notice_from(d) async for d in cursor]
        return sorted(found, key=lambda n: (n.created_at, n.notice_id))


def delivery_key(notice_id: str, chat_id: int) -> str:
    """Deliveries are always addressed by ``_id`` (the fastest path on every server)."""
    return f"{notice_id}:{chat_id}"


def new_lease() -> str:
    return uuid.uuid4().hex


# What the console's monitor shows of a delivery.
ROW_FIELDS: Document = {
    f: 1
    for f in (
        "notice_id",
        "chat_id",
        "state",
        "step",
        "reason",
        "attempts",
        "title",
        "sent_at",
        "finished_at",
        "migrated_from",
        "seq",
    )
}

# Fields of a delivery that do not follow it to a supergroup's new chat id.
MOVE_DROPS = frozenset({"sending_step", "sync_worker", "reason", "finished_at"})


class MongoDeliveryRepository:
    """Deliveries. Workers claim records from a small in-process buffer of candidates
    (refilled with one query), each claim an atomic conditional update by ``_id``, so a
    fan-out to thousands of groups costs a handful of queries plus one write per step."""

    BATCH = 500

    def __init__(self, db: Database) -> None:
        self._c = db.deliveries
        self._buffers: dict[str, list[Document]] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    PLAN_CHUNK = 1000

    async def plan(self, notice: Notice, targets: Sequence[Target]) -> int:
        """One pending delivery per target (written in chunks: 10,000 groups do not need
        10,000 documents in memory at once). Idempotent: existing deliveries are kept."""
        inserted = 0
        for start in range(0, len(targets), self.PLAN_CHUNK):
            docs = [
                {
                    "_id": delivery_key(notice.notice_id, t.chat_id),
                    "notice_id": notice.notice_id,
                    "chat_id": t.chat_id,
                    "title": t.title,
                    "state": DeliveryState.PENDING.value,
                    "step": 0,
                    "message_ids": [],
                    "urgent": notice.urgent,
                    "attempts": 0,
                    "shown_revision": 0,
                    "created_at": notice.created_at,
                    "seq": seq,
                }
                for seq, t in enumerate(targets[start : start + self.PLAN_CHUNK], start)
            ]
            try:
                result = await self._c.insert_many(docs, ordered=False)
                inserted += len(result.inserted_ids)
            except BulkWriteError as exc:  # already planned (a resumed plan): keep what exists
                inserted += int(exc.details.get("nInserted", 0))
        return inserted

    async def _take(
        self, key: str, queries: Sequence[Document], cond: Sequence[str], update: Document
    ) -> Document | None:
        """Claim the next candidate matching one of ``queries`` (tried in order): the
        conditional update on ``_id`` plus the fields in ``cond`` must still match."""
        lock = self._locks.setdefault(key, asyncio.Lock())
        while True:
            buf = self._buffers.get(key)
            if not buf:
                async with lock:
                    buf = self._buffers.get(key)
                    if not buf:
                        buf = []
                        for q in queries:
                            cursor = self._c.find(q).sort("_id", ASCENDING).limit(self.BATCH)
                            buf = [d async for d in cursor]
                            if buf:
                                break
                        self._buffers[key] = buf
                if not buf:
                    self._buffers.pop(key, None)
                    self._locks.pop(key, None)
                    return None
            doc = buf.pop(0)
            match = {"_id": doc["_id"]} | {f: doc.get(f) for f in cond}
            result = await self._c.update_one(match, update)
            if result.modified_count == 1:
                for k, v in update.get("$set", {}).items():
                    doc[k] = v
                for k, v in update.get("$inc", {}).items():
                    doc[k] = doc.get(k, 0) + v
                return doc

    async def claim(
        self, notice_id: str, worker: str, now: datetime, stale_before: datetime
    ) -> Delivery | None:
        update = {
            "$set": {
                "state": DeliveryState.SENDING.value,
                "worker": worker,
                "claimed_at": now,
                "lease": new_lease(),
            },
            "$inc": {"attempts": 1},
        }
        doc = await self._take(
            f"claim:{notice_id}:{worker}",
            [
                {"notice_id": notice_id, "state": DeliveryState.PENDING.value},
                # A stale claim is a lapsed lease, whoever held it: another process that
                # died, or this one after a database error left the record behind.
                {
                    "notice_id": notice_id,
                    "state": DeliveryState.SENDING.value,
                    "claimed_at": {"$lt": stale_before},
                },
            ],
            ("state", "step", "claimed_at"),
            update,
        )
        return delivery_from(doc) if doc else None

    async def step_started(
        self, notice_id: str, chat_id: int, lease: str, step: int, now: datetime
    ) -> bool:
        result = await self._c.update_one(
            {"_id": delivery_key(notice_id, chat_id), "lease": lease},
            {"$set": {"sending_step": step, "claimed_at": now}},
        )
        return result.matched_count == 1

    async def step_done(
        self,
        notice_id: str,
        chat_id: int,
        lease: str,
        step: int,
        message_ids: Sequence[int],
        now: datetime,
        *,
        pinned_id: int | None = None,
    ) -> bool:
        changes: Document = {"step": step + 1, "message_ids": list(message_ids), "claimed_at": now}
        if pinned_id is not None:
            changes["pinned_id"] = pinned_id
        result = await self._c.update_one(
            {"_id": delivery_key(notice_id, chat_id), "lease": lease},
            {"$set": changes, "$unset": {"sending_step": ""}},
        )
        return result.matched_count == 1

    async def finish(
        self,
        notice_id: str,
        chat_id: int,
        state: DeliveryState,
        now: datetime,
        *,
        lease: str | None = None,
        reason: str | None = None,
        revision: int = 0,
        pinned_id: int | None = None,
        message_ids: Sequence[int] | None = None,
        steps: int | None = None,
    ) -> bool:
        changes: Document = {"state": state.value, "reason": reason, "finished_at": now}
        if state is DeliveryState.SENT:
            changes |= {"sent_at": now, "shown_revision": revision}
            if pinned_id is not None:
                changes["pinned_id"] = pinned_id
        if message_ids is not None:
            changes["message_ids"] = list(message_ids)
        if steps is not None:
            changes["step"] = steps
        match: Document = {"_id": delivery_key(notice_id, chat_id)}
        if lease is not None:
            match["lease"] = lease
        result = await self._c.update_one(
            match, {"$set": changes, "$unset": {"worker": "", "sending_step": ""}}
        )
        return result.matched_count == 1

    async def release(self, notice_id: str, chat_id: int, reason: str) -> None:
        await self._c.update_one(
            {"_id": delivery_key(notice_id, chat_id), "state": DeliveryState.SENDING.value},
            {
                "$set": {"state": DeliveryState.PENDING.value, "reason": reason},
                "$unset": {"worker": ""},
            },
        )

    async def rechat(
        self,
        notice_id: str,
        old_chat_id: int,
        new_chat_id: int,
        worker: str,
        lease: str,
        now: datetime,
    ) -> Delivery | None:
        """The group became a supergroup: the record moves to the new id (a new ``_id``),
        reset for a fresh copy there and still held by ``lease``."""
        old_key, new_key = (
            delivery_key(notice_id, old_chat_id),
            delivery_key(notice_id, new_chat_id),
        )
        old = await self._c.find_one({"_id": old_key, "lease": lease})
        if old is None:
            return None
        new = {k: v for k, v in old.items() if k not in MOVE_DROPS} | {
            "_id": new_key,
            "chat_id": new_chat_id,
            "migrated_from": old_chat_id,
            "migrated_message_ids": list(old.get("message_ids", ())),
            "state": DeliveryState.SENDING.value,
            "step": 0,
            "message_ids": [],
            "pinned_id": None,
            "worker": worker,
            "claimed_at": now,
            "lease": lease,
            "sync_claimed_at": None,
        }
        try:
            await self._c.insert_one(new)
        except DuplicateKeyError:
            existing = await self._c.find_one({"_id": new_key})
            if existing is not None and existing.get("migrated_from") == old_chat_id:
                # Moved already by an attempt interrupted before the old record was removed;
                # whoever holds the moved record carries on with it.
                await self._c.delete_one({"_id": old_key})
                return delivery_from(existing) if existing.get("lease") == lease else None
            # The new supergroup was targeted as well: one delivery is enough.
            await self._c.update_one(
                {"_id": old_key, "lease": lease},
                {
                    "$set": {"state": DeliveryState.FAILED.value, "reason": "migrated_duplicate"},
                    "$unset": {"worker": "", "sending_step": ""},
                },
            )
            return None
        await self._c.delete_one({"_id": old_key})
        return delivery_from(new)

    async def counts(self, notice_id: str) -> DeliveryCounts:
        found: dict[str, int] = {}
        async for row in await self._c.aggregate(
            [{"$match": {"notice_id": notice_id}}, {"$group": {"_id": "$state", "n": {"$sum": 1}}}]
        ):
            found[row["_id"]] = int(row["n"])
        return DeliveryCounts(
            pending=found.get("pending", 0),
            sending=found.get("sending", 0),
            sent=found.get("sent", 0),
            failed=found.get("failed", 0),
        )

    async def total(self, notice_id: str) -> int:
        """How many deliveries a notice has (once, when it has been planned)."""
        return await self._c.count_documents({"notice_id": notice_id}, hint="notice_chat")

    # -- the console's delivery monitor (every query on an index: tests check the plans) --
    async def _state_counts(
        self, notice_ids: Sequence[str], states: Sequence[str] | None
    ) -> dict[str, dict[str, int]]:
        if not notice_ids:
            return {}
        match: Document = {"notice_id": {"$in": list(notice_ids)}}
        if states is not None:
            match["state"] = {"$in": list(states)}
        found: dict[str, dict[str, int]] = {nid: {} for nid in notice_ids}
        pipeline: list[Document] = [
            {"$match": match},
            {"$group": {"_id": {"n": "$notice_id", "s": "$state"}, "c": {"$sum": 1}}},
        ]
        hint = "notice_state" if states is not None else "notice_chat"
        async for row in await self._c.aggregate(pipeline, hint=hint):
            found[row["_id"]["n"]][row["_id"]["s"]] = int(row["c"])
        return found

    async def unsent_counts(self, notice_ids: Sequence[str]) -> dict[str, dict[str, int]]:
        """Per notice, how many deliveries are pending, sending and failed (an indexed
        aggregation over those states only; "sent" is the rest of the planned total)."""
        return await self._state_counts(notice_ids, UNSENT)

    async def state_counts(self, notice_ids: Sequence[str]) -> dict[str, dict[str, int]]:
        """Per notice, deliveries by state, all of them (for notices without a planned
        total, planned by an older release)."""
        return await self._state_counts(notice_ids, None)

    async def migrated_count(self, notice_id: str) -> int:
        """Deliveries that moved to a supergroup's new chat id."""
        return await self._c.count_documents(
            {"notice_id": notice_id, "migrated_from": {"$gte": LOWEST, "$lte": HIGHEST}},
            hint="notice_migrated",
        )

    async def retryable_count(self, notice_id: str, keep: Sequence[str]) -> int:
        """Failed deliveries whose reason is not in ``keep``."""
        return await self._c.count_documents(
            {
                "notice_id": notice_id,
                "state": DeliveryState.FAILED.value,
                "reason": {"$nin": list(keep)},
            },
            hint="notice_state",
        )

    async def retry_failed(self, notice_id: str, keep: Sequence[str], now: datetime) -> int:
        """Failed deliveries (but those failed for a reason in ``keep``) back to pending,
        from the step they had reached; returns how many."""
        result = await self._c.update_many(
            {
                "notice_id": notice_id,
                "state": DeliveryState.FAILED.value,
                "reason": {"$nin": list(keep)},
            },
            {
                "$set": {"state": DeliveryState.PENDING.value, "retried_at": now},
                "$unset": {"reason": "", "finished_at": "", "worker": "", "sending_step": ""},
            },
        )
        return result.modified_count

    async def rows(
        self,
        notice_id: str,
        view: str,
        *,
        by_seq: bool,
        after: int | None = None,
        before: int | None = None,
        limit: int = 50,
    ) -> list[Delivery]:
        """One page of a notice's deliveries, in plan order (``seq``; by chat id for
        notices planned by an older release), ``limit + 1`` at most (the extra one says
        there is more). ``view``: ``all``, a state, or ``migrated``. ``after``/``before``:
        the position of the last row of the previous page / first of the next one.

        ``all`` by ``seq`` is a closed window of positions: a page costs the same at the
        10,000th group as at the first."""
        key = "seq" if by_seq else "chat_id"
        query: Document = {"notice_id": notice_id}
        if view == "migrated":
            query["migrated_from"] = {"$gte": LOWEST, "$lte": HIGHEST}
            index = "notice_migrated"
        elif view == "all":
            index = "notice_seq" if by_seq else "notice_chat"
        else:
            query["state"] = DeliveryState(view).value
            index = "notice_state"
        backwards = before is not None
        if view == "all" and by_seq:
            if before is not None:
                window = {"$gte": max(0, before - limit - 1), "$lt": before}
            else:
                start = 0 if after is None else after + 1
                window = {"$gte": start, "$lt": start + limit + 1}
        elif before is not None:
            window = {"$gte": LOWEST, "$lt": before}
        else:
            window = {"$gt": LOWEST - 1 if after is None else after, "$lte": HIGHEST}
        query[key] = window
        cursor = (
            self._c.find(query, ROW_FIELDS)
            .sort(key, DESCENDING if backwards else ASCENDING)
            .hint(index)
            .limit(limit + 1)
        )
        found = [delivery_from(d) async for d in cursor]
        return found[::-1] if backwards else found

    async def failures(self, notice_id: str) -> list[Delivery]:
        cursor = self._c.find({"notice_id": notice_id, "state": DeliveryState.FAILED.value})
        return [delivery_from(d) async for d in cursor.sort("_id", ASCENDING)]

    async def list(self, notice_id: str) -> list[Delivery]:
        cursor = self._c.find({"notice_id": notice_id}).sort("_id", ASCENDING)
        return [delivery_from(d) async for d in cursor]

    async def cancel_pending(self, notice_id: str, reason: str, now: datetime) -> int:
        result = await self._c.update_many(
            {"notice_id": notice_id, "state": DeliveryState.PENDING.value},
            {"$set": {"state": DeliveryState.FAILED.value, "reason": reason, "finished_at": now}},
        )
        return result.modified_count

    async def claim_sync(
        self, notice_id: str, revision: int, worker: str, now: datetime, stale_before: datetime
    ) -> Delivery | None:
        base = {
            "notice_id": notice_id,
            "state": DeliveryState.SENT.value,
            "shown_revision": {"$lt": revision},
        }
        doc = await self._take(
            f"sync:{notice_id}:{revision}:{worker}",
            [
                base | {"sync_claimed_at": None},
                base | {"sync_claimed_at": {"$lt": stale_before}},
            ],
            ("state", "shown_revision", "sync_claimed_at"),
            {"$set": {"sync_worker": worker, "sync_claimed_at": now, "lease": new_lease()}},
        )
        return delivery_from(doc) if doc else None

    async def synced(self, notice_id: str, chat_id: int, revision: int) -> None:
        await self._c.update_one(
            {"_id": delivery_key(notice_id, chat_id)},
            {
                "$max": {"shown_revision": revision},
                "$set": {"sync_claimed_at": None},
                "$unset": {"sync_worker": ""},
            },
        )

    async def unsynced(self, notice_id: str, revision: int) -> int:
        return await self._c.count_documents(
            {
                "notice_id": notice_id,
                "$or": [
                    {"state": DeliveryState.SENT.value, "shown_revision": {"$lt": revision}},
                    {"state": {"$in": [DeliveryState.PENDING.value, DeliveryState.SENDING.value]}},
                ],
            }
        )

    async def notice_for_message(self, chat_id: int, message_id: int) -> str | None:
        doc = await self._c.find_one({"chat_id": chat_id, "message_ids": message_id})
        return doc["notice_id"] if doc else None


class MongoDraftRepository:
    def __init__(self, db: Database) -> None:
        self._c = db.notice_drafts

    @staticmethod
    def _to_doc(d: Draft) -> Document:
        return {
            "_id": d.user_id,
            "kind": d.kind.value if d.kind else None,
            "title": d.title,
            "body": d.body,
            "photos": [photo_doc(p) | {"order": i} for i, p in enumerate(d.photos)],
            "case_no": d.case_no,
            "reward": reward_doc(d.reward),
            "audience": audience_doc(d.audience),
            "urgency": d.urgency.value,
            "pin": d.pin,
            "expires_at": d.expires_at,
            "step": d.step,
            "editing": d.editing,
        }

    @staticmethod
    def _from_doc(doc: Document) -> Draft:
        photos = sorted(doc.get("photos", []), key=lambda p: p.get("order", 0))
        return Draft(
            user_id=int(doc["_id"]),
            kind=NoticeKind(doc["kind"]) if doc.get("kind") else None,
            title=doc.get("title", ""),
            body=doc.get("body", ""),
            photos=tuple(photo_from(p) for p in photos),
            case_no=doc.get("case_no", ""),
            reward=reward_from(doc.get("reward")),
            audience=audience_from(doc.get("audience")),
            urgency=Urgency(doc.get("urgency", "normal")),
            pin=bool(doc.get("pin", True)),
            expires_at=doc.get("expires_at"),
            step=doc.get("step", "kind"),
            editing=bool(doc.get("editing", False)),
        )

    async def get(self, user_id: int) -> Draft | None:
        doc = await self._c.find_one({"_id": user_id})
        return self._from_doc(doc) if doc else None

    async def save(self, draft: Draft) -> None:
        doc = self._to_doc(draft)
        # Photos are written only by add_photo/clear (concurrent album items).
        photos = doc.pop("photos")
        await self._c.update_one(
            {"_id": draft.user_id}, {"$set": doc, "$setOnInsert": {"albums": []}}, upsert=True
        )
        if not photos:
            await self._c.update_one({"_id": draft.user_id}, {"$set": {"photos": []}})

    async def add_photo(self, user_id: int, photo: Photo, order: int, limit: int) -> int | None:
        doc = await self._c.find_one_and_update(
            {"_id": user_id, f"photos.{limit - 1}": {"$exists": False}},
            {"$push": {"photos": photo_doc(photo) | {"order": order}}},
            return_document=ReturnDocument.AFTER,
        )
        return len(doc["photos"]) if doc else None

    async def first_of_album(self, user_id: int, media_group_id: str) -> bool:
        result = await self._c.update_one(
            {"_id": user_id, "albums": {"$ne": media_group_id}},
            {"$push": {"albums": media_group_id}},
        )
        return result.modified_count == 1

    async def delete(self, user_id: int) -> None:
        await self._c.delete_one({"_id": user_id})

    async def claim_step(self, user_id: int, from_: Sequence[str], to: str) -> bool:
        """Move the draft from one of ``from_`` steps to ``to``; False if someone was first."""
        result = await self._c.update_one(
            {"_id": user_id, "step": {"$in": list(from_)}}, {"$set": {"step": to}}
        )
        return result.modified_count == 1


class MongoRecurrenceRepository:
    def __init__(self, db: Database) -> None:
        self._c = db.notice_recurrences

    async def save(self, rec: Recurrence) -> None:
        await self._c.replace_one(
            {"_id": rec.source_id},
            {
                "_id": rec.source_id,
                "every_days": rec.every_days,
                "next_at": rec.next_at,
                "created_by": rec.created_by,
                "active": rec.active,
            },
            upsert=True,
        )

    @staticmethod
    def _from(doc: Document) -> Recurrence:
        return Recurrence(
            recurrence_id=doc["_id"],
            source_id=doc["_id"],
            every_days=int(doc["every_days"]),
            next_at=doc["next_at"],
            created_by=int(doc["created_by"]),
            active=bool(doc["active"]),
        )

    async def for_source(self, source_id: str) -> Recurrence | None:
        doc = await self._c.find_one({"_id": source_id, "active": True})
        return self._from(doc) if doc else None

    async def stop(self, source_id: str) -> bool:
        result = await self._c.update_one(
            {"_id": source_id, "active": True}, {"$set": {"active": False}}
        )
        return result.modified_count == 1

    async def claim_due(self, now: datetime) -> Recurrence | None:
        async for doc in self._c.find({"active": True, "next_at": {"$lte": now}}).sort(
            "next_at", ASCENDING
        ):
            rec = self._from(doc)
            nxt = rec.next_at
            while nxt <= now:  # missed periods (downtime) are posted once, not repeatedly
                nxt += timedelta(days=rec.every_days)
            result = await self._c.update_one(
                {"_id": rec.source_id, "next_at": rec.next_at}, {"$set": {"next_at": nxt}}
            )
            if result.modified_count == 1:
                return rec
        return None
