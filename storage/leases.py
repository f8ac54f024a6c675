"""leases: one holder at a time for cluster-wide duties (the scheduler)."""

from __future__ import annotations

from datetime import datetime, timedelta

from pymongo import IndexModel
from pymongo.errors import DuplicateKeyError

from storage.client import Database

INDEXES: dict[str, list[IndexModel]] = {}


class MongoLeases:
    def __init__(self, db: Database) -> None:
        self._c = db.leases

    async def acquire(self, name: str, holder: str, now: datetime, ttl_s: float) -> bool:
        """Take or renew the lease; False while another holder's lease is unexpired."""
        until = now + timedelta(seconds=ttl_s)
        try:
            doc = await self._c.find_one_and_update(
                {"_id": name, "$or": [{"holder": holder}, {"until": {"$lt": now}}]},
                {"$set": {"holder": holder, "until": until, "renewed_at": now}},
                upsert=True,
            )
        except DuplicateKeyError:
            return False  # exists, held by someone else and not expired
        del doc
        return True

    async def release(self, name: str, holder: str) -> None:
        await self._c.delete_one({"_id": name, "holder": holder})

    async def holder(self, name: str) -> str | None:
        doc = await self._c.find_one({"_id": name})
        return doc["holder"] if doc else None
