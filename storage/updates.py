"""processed_updates: claims on Telegram update ids, so a redelivered update runs once.

A claim is ``processing`` while a handler runs and ``done`` after. A claim left in
``processing`` by a process that crashed can be taken over once it is ``stale_s`` old,
so Telegram's redelivery after a crash is not lost.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from pymongo import ASCENDING, IndexModel
from pymongo.errors import DuplicateKeyError

from storage.client import Database

RETENTION_S = 7 * 24 * 3600

INDEXES = {
    "processed_updates": [
        IndexModel([("at", ASCENDING)], expireAfterSeconds=RETENTION_S, name="ttl"),
    ]
}


class MongoUpdateLedger:
    def __init__(self, db: Database, *, stale_s: float = 120.0) -> None:
        self._c = db.processed_updates
        self._stale = timedelta(seconds=stale_s)

    async def claim(self, bot_id: int, update_id: int, at: datetime) -> bool:
        """True if this process may handle the update; False if it is (being) handled."""
        key = f"{bot_id}:{update_id}"
        try:
            await self._c.insert_one({"_id": key, "at": at, "state": "processing"})
        except DuplicateKeyError:
            taken = await self._c.find_one_and_update(
                {"_id": key, "state": "processing", "at": {"$lt": at - self._stale}},
                {"$set": {"at": at}},
            )
            return taken is not None
        return True

    async def done(self, bot_id: int, update_id: int) -> None:
        await self._c.update_one({"_id": f"{bot_id}:{update_id}"}, {"$set": {"state": "done"}})

    async def release(self, bot_id: int, update_id: int) -> None:
        """Forget a claim after a failed handling, so Telegram's retry is processed."""
        await self._c.delete_one({"_id": f"{bot_id}:{update_id}"})
