"""audit: append-only. This module only ever inserts and reads."""

from __future__ import annotations

from pymongo import ASCENDING, DESCENDING, IndexModel

from kernel.audit import AuditEntry
from storage.client import Database, Document

INDEXES = {
    "audit": [
        IndexModel([("object_type", ASCENDING), ("object_id", ASCENDING), ("at", DESCENDING)]),
        IndexModel([("action", ASCENDING), ("at", DESCENDING)]),
        IndexModel([("actor_id", ASCENDING), ("at", DESCENDING)]),
    ]
}


def to_entry(doc: Document) -> AuditEntry:
    return AuditEntry(
        actor_id=doc.get("actor_id"),
        action=doc["action"],
        object_type=doc["object_type"],
        object_id=doc["object_id"],
        at=doc["at"],
        details=doc.get("details", {}),
    )


class MongoAuditLog:
    def __init__(self, db: Database) -> None:
        self._c = db.audit

    async def record(self, entry: AuditEntry) -> None:
        await self._c.insert_one(
            {
                "actor_id": entry.actor_id,
                "action": entry.action,
                "object_type": entry.object_type,
                "object_id": entry.object_id,
                "at": entry.at,
                "details": entry.details,
            }
        )

    async def list(
        self,
        *,
        action: str | None = None,
        object_type: str | None = None,
        object_id: str | None = None,
        limit: int = 100,
    ) -> list[AuditEntry]:
        query: Document = {}
        if action is not None:
            query["action"] = action
        if object_type is not None:
            query["object_type"] = object_type
        if object_id is not None:
            query["object_id"] = object_id
        cursor = self._c.find(query).sort([("at", DESCENDING), ("_id", DESCENDING)]).limit(limit)
        return [to_entry(d) async for d in cursor]
