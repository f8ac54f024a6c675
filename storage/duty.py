"""MongoDB repositories for the duty feature.

Collections (all owned by duty):
- ``duty_teams``: ``_id`` team code; configuration (patterns as ``"HH:MM-HH:MM"`` strings).
- ``duty_adjustments``: manager assignments and confirmed swaps, one per shift change.
- ``duty_unavailability``: absences (``user_id``, ``start``, ``end``).
- ``duty_swaps``: swap requests awaiting the partner's answer.
- ``duty_alerts``: one per routed tip or thread message; the escalation state machine
  (``state``, ``next_level``, ``due``), steps taken, cards sent, acknowledgement.
- ``duty_shifts``: each shift as it actually started (``_id`` shift key), written once
  by the handover; the SLA counts coverage gaps from it.
- ``duty_runs``: once-only markers (a day's coverage warning).

Read-only, through documented contracts: ``tips`` (status, scope, code) and ``notices``
(``investigators``).
"""

from __future__ import annotations

from datetime import date, datetime

from pymongo import ASCENDING, IndexModel, ReturnDocument
from pymongo.errors import DuplicateKeyError

from duty.alerts import Alert, AlertKind, AlertState, Card, Level, Step, due_for
from duty.model import (
    AdjustKind,
    Adjustment,
    EscalationPolicy,
    Team,
    Unavailability,
    parse_patterns,
)
from duty.ports import OpenTip, ShiftRecord, SwapRequest, SwapState
from storage.client import Database, Document

INDEXES: dict[str, list[IndexModel]] = {
    "duty_adjustments": [
        IndexModel([("team", ASCENDING), ("shift_key", ASCENDING)], name="team_shift"),
    ],
    "duty_unavailability": [
        IndexModel([("end", ASCENDING), ("start", ASCENDING)], name="end_start"),
        IndexModel([("user_id", ASCENDING), ("end", ASCENDING)], name="user_end"),
    ],
    "duty_alerts": [
        IndexModel([("state", ASCENDING), ("due", ASCENDING)], name="state_due"),
        IndexModel([("tip_id", ASCENDING)], name="tip"),
        IndexModel([("created_at", ASCENDING)], name="created"),
        IndexModel([("team", ASCENDING), ("steps.at", ASCENDING)], name="team_steps"),
    ],
    "duty_shifts": [IndexModel([("start", ASCENDING)], name="start")],
    "duty_swaps": [IndexModel([("partner", ASCENDING), ("state", ASCENDING)], name="partner")],
}

CLOSED_TIP_STATUSES = ("verified", "not_useful", "closed")


def team_doc(t: Team) -> Document:
    return {
        "_id": t.code,
        "name": t.name,
        "tz": t.tz,
        "patterns": [p.label() for p in t.patterns],
        "per_shift": t.per_shift,
        "start_date": t.start_date.isoformat(),
        "operators": list(t.operators),
        "managers": list(t.managers),
        "sector": t.sector,
        "area": t.area,
        "policy": {"first_min": t.policy.first_min, "second_min": t.policy.second_min},
        "duty_chat_id": t.duty_chat_id,
        "created_by": t.created_by,
        "created_at": t.created_at,
    }


def to_team(d: Document) -> Team:
    pol = d.get("policy") or {}
    return Team(
        code=d["_id"],
        name=str(d.get("name") or d["_id"]),
        tz=d["tz"],
        patterns=parse_patterns(",".join(d["patterns"])),
        per_shift=int(d["per_shift"]),
        start_date=date.fromisoformat(d["start_date"]),
        operators=tuple(int(u) for u in d.get("operators", [])),
        managers=tuple(int(u) for u in d.get("managers", [])),
        sector=d.get("sector"),
        area=d.get("area"),
        policy=EscalationPolicy(int(pol.get("first_min", 5)), int(pol.get("second_min", 15))),
        duty_chat_id=d.get("duty_chat_id"),
        created_by=d.get("created_by"),
        created_at=d.get("created_at"),
    )


def to_adjustment(d: Document) -> Adjustment:
    return Adjustment(
        team=d["team"],
        shift_key=d["shift_key"],
        user_in=int(d["user_in"]),
        user_out=d.get("user_out"),
        kind=AdjustKind(d["kind"]),
        by=int(d["by"]),
        at=d["at"],
    )


def to_unavailability(d: Document) -> Unavailability:
    return Unavailability(
        user_id=int(d["user_id"]),
        start=d["start"],
        end=d["end"],
        id=d["_id"],
        reason=d.get("reason", ""),
    )


def to_swap(d: Document) -> SwapRequest:
    return SwapRequest(
        id=d["_id"],
        team=d["team"],
        requester=int(d["requester"]),
        partner=int(d["partner"]),
        give_key=d["give_key"],
        take_key=d.get("take_key"),
        created_at=d["created_at"],
        state=SwapState(d["state"]),
        answered_at=d.get("answered_at"),
    )


def alert_doc(a: Alert) -> Document:
    return {
        "_id": a.id,
        "tip_id": a.tip_id,
        "code": a.code,
        "kind": a.kind.value,
        "team": a.team,
        "notice_id": a.notice_id,
        "sector": a.sector,
        "area": a.area,
        "created_at": a.created_at,
        "policy": {"first_min": a.policy.first_min, "second_min": a.policy.second_min},
        "state": a.state.value,
        "next_level": int(a.next_level),
        "due": a.due,
        "steps": [step_doc(s) for s in a.steps],
        "cards": [{"chat_id": c.chat_id, "message_id": c.message_id} for c in a.cards],
        "acked_by": a.acked_by,
        "acked_at": a.acked_at,
        "message_id": a.message_id,
    }


def step_doc(s: Step) -> Document:
    return {"level": int(s.level), "at": s.at, "recipients": list(s.recipients)}


def to_alert(d: Document) -> Alert:
    pol = d.get("policy") or {}
    return Alert(
        id=d["_id"],
        tip_id=d["tip_id"],
        code=d.get("code", ""),
        kind=AlertKind(d["kind"]),
        team=d.get("team"),
        notice_id=d.get("notice_id"),
        sector=d.get("sector"),
        area=d.get("area"),
        created_at=d["created_at"],
        policy=EscalationPolicy(int(pol.get("first_min", 5)), int(pol.get("second_min", 15))),
        state=AlertState(d["state"]),
        next_level=Level(int(d["next_level"])),
        due=d.get("due"),
        steps=tuple(
            Step(Level(int(s["level"])), s["at"], tuple(int(u) for u in s["recipients"]))
            for s in d.get("steps", [])
        ),
        cards=tuple(Card(int(c["chat_id"]), int(c["message_id"])) for c in d.get("cards", [])),
        acked_by=d.get("acked_by"),
        acked_at=d.get("acked_at"),
        message_id=d.get("message_id"),
    )


class MongoDutyRepository:
    def __init__(self, db: Database) -> None:
        self._teams = db.duty_teams
        self._adj = db.duty_adjustments
        self._unav = db.duty_unavailability
        self._swaps = db.duty_swaps
        self._alerts = db.duty_alerts
        self._shifts = db.duty_shifts
        self._runs = db.duty_runs

    # Teams
    async def add_team(self, team: Team) -> bool:
        try:
            await self._teams.insert_one(team_doc(team))
        except DuplicateKeyError:
            return False
        return True

    async def save_team(self, team: Team) -> None:
        doc = team_doc(team)
        await self._teams.replace_one({"_id": team.code}, doc, upsert=True)

    async def get_team(self, code: str) -> Team | None:
        doc = await self._teams.find_one({"_id": code})
        return to_team(doc) if doc else None

    async def list_teams(self) -> list[Team]:
        return [to_team(d) async for d in self._teams.find({}).sort("_id", ASCENDING)]

    async def delete_team(self, code: str) -> bool:
        result = await self._teams.delete_one({"_id": code})
        return result.deleted_count == 1

    # Schedule changes
    async def add_adjustment(self, adj: Adjustment) -> None:
        await self._adj.insert_one(
            {
                "team": adj.team,
                "shift_key": adj.shift_key,
                "user_in": adj.user_in,
                "user_out": adj.user_out,
                "kind": adj.kind.value,
                "by": adj.by,
                "at": adj.at,
            }
        )

    async def adjustments(self, team: str, keys: list[str] | None = None) -> list[Adjustment]:
        query: Document = {"team": team}
        if keys is not None:
            query["shift_key"] = {"$in": keys}
        cursor = self._adj.find(query).sort([("at", ASCENDING), ("_id", ASCENDING)])
        return [to_adjustment(d) async for d in cursor]

    async def add_unavailability(self, u: Unavailability) -> None:
        await self._unav.insert_one(
            {"_id": u.id, "user_id": u.user_id, "start": u.start, "end": u.end, "reason": u.reason}
        )

    async def unavailability(self, start: datetime, end: datetime) -> list[Unavailability]:
        cursor = self._unav.find({"end": {"$gt": start}, "start": {"$lt": end}}).sort(
            [("start", ASCENDING), ("_id", ASCENDING)]
        )
        return [to_unavailability(d) async for d in cursor]

    async def clear_unavailability(self, user_id: int, start: datetime) -> int:
        result = await self._unav.delete_many({"user_id": user_id, "end": {"$gt": start}})
        return result.deleted_count

    async def add_swap(self, swap: SwapRequest) -> None:
        await self._swaps.insert_one(
            {
                "_id": swap.id,
                "team": swap.team,
                "requester": swap.requester,
                "partner": swap.partner,
                "give_key": swap.give_key,
                "take_key": swap.take_key,
                "created_at": swap.created_at,
                "state": swap.state.value,
                "answered_at": None,
            }
        )

    async def get_swap(self, swap_id: str) -> SwapRequest | None:
        doc = await self._swaps.find_one({"_id": swap_id})
        return to_swap(doc) if doc else None

    async def settle_swap(self, swap_id: str, state: SwapState, at: datetime) -> SwapRequest | None:
        doc = await self._swaps.find_one_and_update(
            {"_id": swap_id, "state": SwapState.PENDING.value},
            {"$set": {"state": state.value, "answered_at": at}},
            return_document=ReturnDocument.AFTER,
        )
        return to_swap(doc) if doc else None

    # Alerts
    async def add_alert(self, alert: Alert) -> bool:
        try:
            await self._alerts.insert_one(alert_doc(alert))
        except DuplicateKeyError:
            return False
        return True

    async def get_alert(self, alert_id: str) -> Alert | None:
        doc = await self._alerts.find_one({"_id": alert_id})
        return to_alert(doc) if doc else None

    async def add_step(self, alert_id: str, step: Step) -> None:
        await self._alerts.update_one({"_id": alert_id}, {"$push": {"steps": step_doc(step)}})

    async def add_card(self, alert_id: str, card: Card) -> None:
        await self._alerts.update_one(
            {"_id": alert_id},
            {"$push": {"cards": {"chat_id": card.chat_id, "message_id": card.message_id}}},
        )

    async def acknowledge(self, alert_id: str, user_id: int, at: datetime) -> Alert | None:
        doc = await self._alerts.find_one_and_update(
            {"_id": alert_id, "state": AlertState.OPEN.value},
            {
                "$set": {
                    "state": AlertState.ACKNOWLEDGED.value,
                    "acked_by": user_id,
                    "acked_at": at,
                    "due": None,
                }
            },
            return_document=ReturnDocument.AFTER,
        )
        return to_alert(doc) if doc else None

    async def claim_step(self, now: datetime) -> tuple[Alert, Level] | None:
        while True:
            doc = await self._alerts.find_one(
                {"state": AlertState.OPEN.value, "due": {"$ne": None, "$lte": now}},
                sort=[("due", ASCENDING), ("_id", ASCENDING)],
            )
            if doc is None:
                return None
            alert = to_alert(doc)
            level = alert.next_level
            if level >= Level.DONE:  # defensive: nothing left to do
                await self._alerts.update_one({"_id": alert.id}, {"$set": {"due": None}})
                continue
            following = Level(int(level) + 1)
            next_due = due_for(alert.created_at, alert.policy, following)
            # Compare-and-set on the level: exactly one sweeper wins each step.
            won = await self._alerts.find_one_and_update(
                {"_id": alert.id, "state": AlertState.OPEN.value, "next_level": int(level)},
                {"$set": {"next_level": int(following), "due": next_due}},
                return_document=ReturnDocument.AFTER,
            )
            if won is not None:
                return to_alert(won), level

    async def cancel_alert(self, alert_id: str) -> None:
        await self._alerts.update_one(
            {"_id": alert_id, "state": AlertState.OPEN.value},
            {"$set": {"state": AlertState.CANCELLED.value, "due": None}},
        )

    async def expedite(self, alert_id: str, now: datetime) -> None:
        await self._alerts.update_one(
            {"_id": alert_id, "state": AlertState.OPEN.value, "due": {"$gt": now}},
            {"$set": {"due": now}},
        )

    async def next_due(self) -> datetime | None:
        doc = await self._alerts.find_one(
            {"state": AlertState.OPEN.value, "due": {"$ne": None}}, sort=[("due", ASCENDING)]
        )
        return doc["due"] if doc else None

    async def alerts_between(self, start: datetime, end: datetime) -> list[Alert]:
        cursor = self._alerts.find({"created_at": {"$gte": start, "$lt": end}}).sort(
            "created_at", ASCENDING
        )
        return [to_alert(d) async for d in cursor]

    async def alerts_for_tip(self, tip_id: str) -> list[Alert]:
        cursor = self._alerts.find({"tip_id": tip_id}).sort("created_at", ASCENDING)
        return [to_alert(d) async for d in cursor]

    async def escalated_between(self, team: str, start: datetime, end: datetime) -> list[Alert]:
        cursor = self._alerts.find(
            {
                "team": team,
                "steps": {"$elemMatch": {"level": {"$gte": 1}, "at": {"$gte": start, "$lt": end}}},
            }
        ).sort("created_at", ASCENDING)
        return [to_alert(d) async for d in cursor]

    # Shift log and once-only runs
    async def claim_shift(self, record: ShiftRecord, at: datetime) -> bool:
        try:
            await self._shifts.insert_one(
                {
                    "_id": record.key,
                    "team": record.team,
                    "start": record.start,
                    "end": record.end,
                    "operators": list(record.operators),
                    "required": record.required,
                    "recorded_at": at,
                }
            )
        except DuplicateKeyError:
            return False
        return True

    async def shift_records(self, start: datetime, end: datetime) -> list[ShiftRecord]:
        cursor = self._shifts.find({"start": {"$gte": start, "$lt": end}}).sort("start", ASCENDING)
        return [
            ShiftRecord(
                d["_id"],
                d["team"],
                d["start"],
                d["end"],
                tuple(int(u) for u in d["operators"]),
                int(d["required"]),
            )
            async for d in cursor
        ]

    async def claim_run(self, run_id: str, at: datetime) -> bool:
        try:
            await self._runs.insert_one({"_id": run_id, "at": at})
        except DuplicateKeyError:
            return False
        return True


class MongoTipDirectory:
    """Read-only view of the ``tips`` collection's documented fields (no tipster data)."""

    def __init__(self, db: Database) -> None:
        self._tips = db.tips

    async def status(self, tip_id: str) -> str | None:
        doc = await self._tips.find_one({"_id": tip_id}, {"status": 1})
        return doc.get("status") if doc else None

    async def open_tips(self, sector: str | None, area: str | None) -> list[OpenTip]:
        query: Document = {"status": {"$nin": list(CLOSED_TIP_STATUSES)}}
        if sector is not None:
            query["sector"] = sector
        if area is not None:
            query["area"] = area
        projection = {"code": 1, "status": 1, "created_at": 1, "notice_id": 1}
        cursor = self._tips.find(query, projection).sort("created_at", ASCENDING).limit(50)
        return [
            OpenTip(
                tip_id=str(d["_id"]),
                code=d.get("code", ""),
                status=d.get("status", ""),
                created_at=d["created_at"],
                notice_id=d.get("notice_id"),
            )
            async for d in cursor
        ]


class MongoNoticeDirectory:
    """Read-only: the investigators on a notice (``notices.investigators``)."""

    def __init__(self, db: Database) -> None:
        self._notices = db.notices

    async def investigators(self, notice_id: str) -> list[int]:
        doc = await self._notices.find_one({"_id": notice_id}, {"investigators": 1})
        if not doc:
            return []
        return [int(u) for u in doc.get("investigators") or []]
