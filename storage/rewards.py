"""MongoDB repositories for the rewards feature.

Collections owned here:
- ``rewards``: one immutable eligibility record per reward (unique per tip), never updated.
- ``reward_events``: the append-only history; ``_id`` is ``<reward id>#<seq>`` and
  ``(reward_id, seq)`` is unique, so two writers can never both append event ``n``.
  Amounts are decimal strings, never floats.
- ``tip_outcomes``: a tip's current outcome with every earlier one in ``history``.
- ``reward_reminders``: one document per reminder sent (claimed once, across processes).
- ``reward_outbox``: messages to tipsters, stored before they are sent, retried until sent.

Read-only adapters over other features' documented collections (``tips``, ``notices``)
implement the domain's TipDirectory and NoticeDirectory ports; they read only the
documented fields and never the tipster's identity.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, ClassVar

from pymongo import ASCENDING, IndexModel, ReturnDocument
from pymongo.errors import DuplicateKeyError

from kernel.clock import Clock
from rewards.model import (
    CURRENCY_RE,
    Basis,
    EventKind,
    NoticeInfo,
    Offer,
    Outcome,
    OutcomeRecord,
    PayMethod,
    RewardEvent,
    RewardRecord,
    TipInfo,
    decimal_from_store,
)
from rewards.ports import DuplicateReward, VersionConflict
from storage.client import Database, Document

log = logging.getLogger(__name__)

INDEXES: dict[str, list[IndexModel]] = {
    "rewards": [
        IndexModel([("tip_id", ASCENDING)], name="reward_one_per_tip", unique=True),
        IndexModel([("notice_id", ASCENDING)], name="reward_notice"),
        IndexModel([("created_at", ASCENDING)], name="reward_created"),
    ],
    "reward_events": [
        IndexModel(
            [("reward_id", ASCENDING), ("seq", ASCENDING)], name="reward_event_seq", unique=True
        ),
        IndexModel([("at", ASCENDING)], name="reward_event_at"),
    ],
    "tip_outcomes": [IndexModel([("notice_id", ASCENDING)], name="outcome_notice")],
    "reward_outbox": [
        IndexModel([("state", ASCENDING), ("due", ASCENDING)], name="reward_outbox_due")
    ],
}


# --- reward records and events ---------------------------------------------------------


def record_doc(r: RewardRecord) -> Document:
    return {
        "_id": r.reward_id,
        "tip_id": r.tip_id,
        "tip_code": r.tip_code,
        "notice_id": r.notice_id,
        "notice_ref": r.notice_ref,
        "sector": r.sector,
        "area": r.area,
        "basis": r.basis.value,
        "currency": r.currency,
        "created_at": r.created_at,
    }


def to_record(d: Document) -> RewardRecord:
    return RewardRecord(
        reward_id=d["_id"],
        tip_id=d["tip_id"],
        tip_code=d["tip_code"],
        notice_id=d.get("notice_id"),
        notice_ref=d.get("notice_ref"),
        sector=d.get("sector"),
        area=d.get("area"),
        basis=Basis(d["basis"]),
        currency=d["currency"],
        created_at=d["created_at"],
    )


def event_doc(e: RewardEvent) -> Document:
    return {
        "_id": f"{e.reward_id}#{e.seq}",
        "reward_id": e.reward_id,
        "seq": e.seq,
        "kind": e.kind.value,
        "actor_id": e.actor_id,
        "at": e.at,
        "reason": e.reason,
        "amount": str(e.amount) if e.amount is not None else None,
        "method": e.method.value if e.method else None,
        "reference": e.reference,
        "paid_on": e.paid_on.isoformat() if e.paid_on else None,
    }


def to_event(d: Document) -> RewardEvent:
    return RewardEvent(
        reward_id=d["reward_id"],
        seq=d["seq"],
        kind=EventKind(d["kind"]),
        actor_id=d.get("actor_id"),
        at=d["at"],
        reason=d.get("reason") or "",
        amount=decimal_from_store(d["amount"]) if d.get("amount") is not None else None,
        method=PayMethod(d["method"]) if d.get("method") else None,
        reference=d.get("reference"),
        paid_on=date.fromisoformat(d["paid_on"]) if d.get("paid_on") else None,
    )


class MongoRewardStore:
    def __init__(self, db: Database) -> None:
        self._records = db.rewards
        self._events = db.reward_events

    async def create(self, record: RewardRecord, first: RewardEvent) -> None:
        # The first event goes in before the record: a record is never visible without
        # its history. An event whose record then loses the one-per-tip race stays
        # unreferenced (append-only; its random reward id is never used again).
        try:
            await self._events.insert_one(event_doc(first))
        except DuplicateKeyError as exc:  # that random reward id exists already
            raise DuplicateReward(record.reward_id) from exc
        try:
            await self._records.insert_one(record_doc(record))
        except DuplicateKeyError as exc:
            raise DuplicateReward(record.tip_id) from exc

    async def append(self, event: RewardEvent) -> None:
        if event.seq < 2:
            raise ValueError("append continues a history; create() starts it")
        try:
            await self._events.insert_one(event_doc(event))
        except DuplicateKeyError as exc:
            raise VersionConflict(f"{event.reward_id}#{event.seq}") from exc

    async def record(self, reward_id: str) -> RewardRecord | None:
        d = await self._records.find_one({"_id": reward_id})
        return to_record(d) if d else None

    async def by_tip(self, tip_id: str) -> RewardRecord | None:
        d = await self._records.find_one({"tip_id": tip_id})
        return to_record(d) if d else None

    async def events(self, reward_id: str) -> list[RewardEvent]:
        cursor = self._events.find({"reward_id": reward_id}).sort("seq", ASCENDING)
        return [to_event(d) async for d in cursor]

    async def on_notice(self, notice_id: str) -> list[RewardRecord]:
        cursor = self._records.find({"notice_id": notice_id}).sort("created_at", ASCENDING)
        return [to_record(d) async for d in cursor]

    async def histories(
        self, reward_ids: Sequence[str] | None = None
    ) -> list[tuple[RewardRecord, list[RewardEvent]]]:
        query: Document = {} if reward_ids is None else {"_id": {"$in": list(reward_ids)}}
        records = [to_record(d) async for d in self._records.find(query).sort("created_at", 1)]
        by_id: dict[str, list[RewardEvent]] = {r.reward_id: [] for r in records}
        events: Document = {} if reward_ids is None else {"reward_id": {"$in": list(by_id)}}
        async for d in self._events.find(events).sort([("reward_id", 1), ("seq", 1)]):
            if d["reward_id"] in by_id:
                by_id[d["reward_id"]].append(to_event(d))
        return [(r, by_id[r.reward_id]) for r in records]

    async def undecided(self) -> list[str]:
        """Ids of rewards with no decision yet (no approval, rejection, payment, cancellation)."""
        decided = set(
            await self._events.distinct(
                "reward_id", {"kind": {"$in": ["approved", "rejected", "paid", "cancelled"]}}
            )
        )
        return [
            d["_id"] async for d in self._records.find({}, {"_id": 1}) if d["_id"] not in decided
        ]

    async def touched_since(self, since: datetime) -> list[str]:
        """Ids of rewards with an event at or after ``since``."""
        return list(await self._events.distinct("reward_id", {"at": {"$gte": since}}))


# --- outcomes ----------------------------------------------------------------------------


def to_outcome(d: Document) -> OutcomeRecord:
    return OutcomeRecord(
        tip_id=d["_id"],
        code=d["code"],
        notice_id=d.get("notice_id"),
        outcome=Outcome(d["outcome"]),
        note=d.get("note") or "",
        by=d["by"],
        at=d["at"],
    )


class MongoOutcomeStore:
    def __init__(self, db: Database) -> None:
        self._c = db.tip_outcomes

    async def get(self, tip_id: str) -> OutcomeRecord | None:
        d = await self._c.find_one({"_id": tip_id})
        return to_outcome(d) if d else None

    async def get_many(self, tip_ids: Sequence[str]) -> dict[str, OutcomeRecord]:
        if not tip_ids:
            return {}
        cursor = self._c.find({"_id": {"$in": list(tip_ids)}})
        return {d["_id"]: to_outcome(d) async for d in cursor}

    async def record(self, outcome: OutcomeRecord) -> None:
        entry = {
            "outcome": outcome.outcome.value,
            "note": outcome.note,
            "by": outcome.by,
            "at": outcome.at,
        }
        await self._c.update_one(
            {"_id": outcome.tip_id},
            {
                "$set": {"code": outcome.code, "notice_id": outcome.notice_id, **entry},
                "$push": {"history": entry},
            },
            upsert=True,
        )


# --- reminders and the tipster outbox ---------------------------------------------------


class MongoReminderClaims:
    def __init__(self, db: Database) -> None:
        self._c = db.reward_reminders

    async def claim(self, key: str, at: datetime) -> bool:
        try:
            await self._c.insert_one({"_id": key, "at": at})
        except DuplicateKeyError:
            return False
        return True


@dataclass(frozen=True, slots=True)
class OutboxItem:
    key: str
    tip_id: str
    template: str
    params: dict[str, str]
    attempts: int


class MongoOutbox:
    """Due work for messages to tipsters: enqueued with the decision, sent by a sweep."""

    MAX_ATTEMPTS = 8
    STUCK_AFTER = timedelta(minutes=5)

    def __init__(self, db: Database, clock: Clock) -> None:
        self._c = db.reward_outbox
        self._clock = clock

    async def enqueue(self, key: str, tip_id: str, template: str, params: dict[str, Any]) -> None:
        now = self._clock.now()
        try:
            await self._c.insert_one(
                {
                    "_id": key,
                    "tip_id": tip_id,
                    "template": template,
                    "params": {k: str(v) for k, v in params.items()},
                    "state": "pending",
                    "attempts": 0,
                    "due": now,
                    "created_at": now,
                }
            )
        except DuplicateKeyError:
            return

    async def claim(self, key: str | None = None) -> OutboxItem | None:
        """Take one due item (or the named one) for sending; None when nothing is due."""
        now = self._clock.now()
        query: Document = {
            "$or": [
                {"state": "pending", "due": {"$lte": now}},
                {"state": "sending", "claimed_at": {"$lt": now - self.STUCK_AFTER}},
            ]
        }
        if key is not None:
            query["_id"] = key
        d = await self._c.find_one_and_update(
            query,
            {"$set": {"state": "sending", "claimed_at": now}, "$inc": {"attempts": 1}},
            sort=[("due", ASCENDING)],
            return_document=ReturnDocument.AFTER,
        )
        if d is None:
            return None
        return OutboxItem(d["_id"], d["tip_id"], d["template"], dict(d["params"]), d["attempts"])

    async def sent(self, key: str) -> None:
        await self._c.update_one(
            {"_id": key}, {"$set": {"state": "sent", "sent_at": self._clock.now()}}
        )

    async def failed(self, item: OutboxItem, error: str) -> None:
        now = self._clock.now()
        if item.attempts >= self.MAX_ATTEMPTS:
            update: Document = {"state": "failed", "error": error[:300], "failed_at": now}
        else:
            backoff = timedelta(minutes=min(2 ** (item.attempts - 1), 240))
            update = {"state": "pending", "due": now + backoff, "error": error[:300]}
        await self._c.update_one({"_id": item.key}, {"$set": update})

    async def state(self, key: str) -> str | None:
        d = await self._c.find_one({"_id": key})
        return d["state"] if d else None


# --- other features' collections, read through the domain's ports -----------------------


def _tip(d: Document) -> TipInfo:
    return TipInfo(
        tip_id=str(d["_id"]),
        code=d["code"],
        notice_id=d.get("notice_id"),
        sector=d.get("sector"),
        area=d.get("area"),
        status=d.get("status") or "new",
    )


class MongoTipDirectory:
    """The documented ``tips`` fields (integration.md); the identity collection is never read."""

    PROJECTION: ClassVar[Document] = {
        "code": 1,
        "notice_id": 1,
        "sector": 1,
        "area": 1,
        "status": 1,
    }

    def __init__(self, db: Database) -> None:
        self._c = db.tips

    async def by_code(self, code: str) -> TipInfo | None:
        d = await self._c.find_one({"code": code}, self.PROJECTION)
        return _tip(d) if d else None

    async def get(self, tip_id: str) -> TipInfo | None:
        d = await self._c.find_one({"_id": tip_id}, self.PROJECTION)
        return _tip(d) if d else None

    async def set_status(self, tip_id: str, status: str, actor_id: int) -> None:
        del actor_id  # the outcome record and the audit log keep who did it
        await self._c.update_one({"_id": tip_id}, {"$set": {"status": status}})


def parse_offer(raw: object) -> Offer | None:
    """``notices.reward`` -> Offer; None when absent or unusable (logged)."""
    if not isinstance(raw, dict) or raw.get("amount") in (None, ""):
        return None
    try:
        amount = decimal_from_store(str(raw["amount"]))
    except ValueError:
        log.warning("notice reward offer with a malformed amount: %r", raw.get("amount"))
        return None
    currency = str(raw.get("currency") or "CNY").upper()
    if amount <= 0 or not CURRENCY_RE.match(currency):
        log.warning("notice reward offer unusable: %r", raw)
        return None
    return Offer(amount.quantize(Decimal("0.01")), currency, str(raw.get("terms") or ""))


class MongoNoticeDirectory:
    def __init__(self, db: Database) -> None:
        self._c = db.notices

    async def get(self, notice_id: str) -> NoticeInfo | None:
        d = await self._c.find_one({"_id": notice_id}, {"ref": 1, "title": 1, "reward": 1})
        if d is None:
            return None
        return NoticeInfo(
            notice_id=str(d["_id"]),
            ref=d.get("ref") or str(d["_id"]),
            title=d.get("title") or "",
            offer=parse_offer(d.get("reward")),
        )


class MongoRewardsInProgress:
    """The tips feature's ``RewardsInProgress`` port: whether a tip's reward is still
    proposed or approved-but-unpaid (its last state event, on the (reward, seq) index)."""

    _FINAL = (EventKind.REJECTED.value, EventKind.PAID.value, EventKind.CANCELLED.value)
    _STATES = (EventKind.APPROVED.value, *_FINAL)

    def __init__(self, db: Database) -> None:
        self._rewards = db.rewards
        self._events = db.reward_events

    async def open_for(self, tip_id: str) -> bool:
        reward = await self._rewards.find_one({"tip_id": tip_id}, {"_id": 1})
        if reward is None:
            return False
        last = await self._events.find_one(
            {"reward_id": reward["_id"], "kind": {"$in": list(self._STATES)}},
            {"kind": 1},
            sort=[("seq", -1)],
        )
        return last is None or last["kind"] not in self._FINAL
