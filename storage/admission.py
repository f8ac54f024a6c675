"""applications (join request -> form -> decision) and invite_links (per group and manager)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo import ASCENDING, DESCENDING, IndexModel, ReturnDocument
from pymongo.errors import DuplicateKeyError

from groups.admission import OPEN_STATES, Application, AppState, Card
from storage.client import Database, Document

INDEXES = {
    "applications": [
        # One open application per (person, group): set while open, removed when closed.
        IndexModel([("open_key", ASCENDING)], name="open_key", unique=True, sparse=True),
        IndexModel(
            [("user_id", ASCENDING), ("state", ASCENDING), ("created_at", DESCENDING)],
            name="user_state",
        ),
        IndexModel([("state", ASCENDING), ("created_at", ASCENDING)], name="state_created"),
    ],
    "invite_links": [
        IndexModel([("chat_id", ASCENDING), ("created_by", ASCENDING)], name="chat_creator")
    ],
}


def _open_key(user_id: int, chat_id: int) -> str:
    return f"{user_id}:{chat_id}"


def app_to_doc(a: Application) -> Document:
    doc: Document = {
        "_id": a.id,
        "user_id": a.user_id,
        "chat_id": a.chat_id,
        "sector": a.sector,
        "area": a.area,
        "state": a.state.value,
        "steps": list(a.steps),
        "answers": dict(a.answers),
        "created_at": a.created_at,
        "submitted_at": a.submitted_at,
        "decided_by": a.decided_by,
        "decided_at": a.decided_at,
        "reason": a.reason,
        "reuse": a.reuse,
        "cards": [{"chat_id": c.chat_id, "message_id": c.message_id} for c in a.cards],
        "group_title": a.group_title,
        "first_name": a.first_name,
        "username": a.username,
    }
    if a.state in OPEN_STATES:
        doc["open_key"] = _open_key(a.user_id, a.chat_id)
    return doc


def app_from(doc: Document) -> Application:
    return Application(
        id=doc["_id"],
        user_id=int(doc["user_id"]),
        chat_id=int(doc["chat_id"]),
        sector=doc["sector"],
        area=doc.get("area"),
        state=AppState(doc["state"]),
        steps=tuple(doc.get("steps", [])),
        answers=dict(doc.get("answers") or {}),
        created_at=doc.get("created_at"),
        submitted_at=doc.get("submitted_at"),
        decided_by=doc.get("decided_by"),
        decided_at=doc.get("decided_at"),
        reason=doc.get("reason"),
        reuse=bool(doc.get("reuse", False)),
        cards=tuple(Card(int(c["chat_id"]), int(c["message_id"])) for c in doc.get("cards", [])),
        group_title=doc.get("group_title", ""),
        first_name=doc.get("first_name", ""),
        username=doc.get("username"),
    )


class MongoApplicationRepository:
    def __init__(self, db: Database) -> None:
        self._c = db.applications

    async def create(self, app: Application) -> bool:
        try:
            await self._c.insert_one(app_to_doc(app))
        except DuplicateKeyError:
            return False
        return True

    async def get(self, app_id: str) -> Application | None:
        doc = await self._c.find_one({"_id": app_id})
        return app_from(doc) if doc else None

    async def open_for(self, user_id: int, chat_id: int) -> Application | None:
        doc = await self._c.find_one({"open_key": _open_key(user_id, chat_id)})
        return app_from(doc) if doc else None

    async def filling(self, user_id: int) -> Application | None:
        doc = await self._c.find_one(
            {"user_id": user_id, "state": {"$in": [AppState.FORM.value, AppState.CONFIRM.value]}},
            sort=[("created_at", DESCENDING)],
        )
        return app_from(doc) if doc else None

    async def answer(self, app_id: str, step: str, value: str) -> Application | None:
        doc = await self._c.find_one_and_update(
            # Only the step still unanswered: a duplicate or out-of-order message is refused.
            {"_id": app_id, "state": AppState.FORM.value, f"answers.{step}": {"$exists": False}},
            {"$set": {f"answers.{step}": value}},
            return_document=ReturnDocument.AFTER,
        )
        return app_from(doc) if doc else None

    async def transition(
        self,
        app_id: str,
        from_states: frozenset[AppState],
        to: AppState,
        **fields: object,
    ) -> Application | None:
        update: dict[str, Any] = {"$set": {"state": to.value, **fields}}
        if to not in OPEN_STATES:
            update["$unset"] = {"open_key": ""}
        doc = await self._c.find_one_and_update(
            {"_id": app_id, "state": {"$in": [s.value for s in from_states]}},
            update,
            return_document=ReturnDocument.AFTER,
        )
        return app_from(doc) if doc else None

    async def add_card(self, app_id: str, card: Card) -> None:
        await self._c.update_one(
            {"_id": app_id},
            {"$push": {"cards": {"chat_id": card.chat_id, "message_id": card.message_id}}},
        )

    async def due(self, before: datetime, limit: int = 100) -> list[Application]:
        cursor = (
            self._c.find(
                {"state": {"$in": [s.value for s in OPEN_STATES]}, "created_at": {"$lte": before}}
            )
            .sort("created_at", ASCENDING)
            .limit(limit)
        )
        return [app_from(d) async for d in cursor]

    async def migrate_chat(self, old_chat_id: int, new_chat_id: int) -> None:
        async for doc in self._c.find({"chat_id": old_chat_id}):
            update: Document = {"chat_id": new_chat_id}
            if "open_key" in doc:
                update["open_key"] = _open_key(int(doc["user_id"]), new_chat_id)
            await self._c.update_one({"_id": doc["_id"]}, {"$set": update})


class MongoInviteLinks:
    def __init__(self, db: Database) -> None:
        self._c = db.invite_links

    async def record(
        self, link: str, chat_id: int, created_by: int, at: datetime, name: str
    ) -> None:
        await self._c.update_one(
            {"_id": link},
            {
                "$set": {"chat_id": chat_id, "created_by": created_by, "name": name},
                "$setOnInsert": {"created_at": at},
            },
            upsert=True,
        )

    async def creator(self, link: str) -> int | None:
        doc = await self._c.find_one({"_id": link})
        return int(doc["created_by"]) if doc else None

    async def count_for(self, chat_id: int) -> int:
        return await self._c.count_documents({"chat_id": chat_id})

    async def migrate_chat(self, old_chat_id: int, new_chat_id: int) -> None:
        await self._c.update_many({"chat_id": old_chat_id}, {"$set": {"chat_id": new_chat_id}})
