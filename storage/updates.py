"""processed_updates: claims on Telegram update ids, so a redelivered update runs once.

A claim is ``processing`` while a handler runs and ``done`` after. A claim left in
``processing`` by a process that crashed can be taken over once it is ``stale_s`` old,
so Telegram's redelivery after a crash is not lost.

``done`` marks are written in batches (one ``update_many`` per ``flush_s`` or ``batch``
updates instead of a write per update: the ledger is on every update's path); until the
batch is written this process knows them itself. A crash loses at most the marks of the
last ``flush_s``: those updates look ``processing`` and are only taken over if Telegram
delivers them again after ``stale_s``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime, timedelta

from pymongo import ASCENDING, IndexModel
from pymongo.errors import DuplicateKeyError

from storage.client import Database

log = logging.getLogger(__name__)

RETENTION_S = 7 * 24 * 3600

INDEXES = {
    "processed_updates": [
        IndexModel([("at", ASCENDING)], expireAfterSeconds=RETENTION_S, name="ttl"),
    ]
}


class MongoUpdateLedger:
    def __init__(
        self, db: Database, *, stale_s: float = 120.0, flush_s: float = 0.5, batch: int = 200
    ) -> None:
        self._c = db.processed_updates
        self._stale = timedelta(seconds=stale_s)
        self._flush_s = flush_s
        self._batch = batch
        self._done: set[str] = set()  # handled here, not yet marked in the database
        self._flusher: asyncio.Task[None] | None = None

    async def claim(self, bot_id: int, update_id: int, at: datetime) -> bool:
        """True if this process may handle the update; False if it is (being) handled."""
        key = f"{bot_id}:{update_id}"
        if key in self._done:
            return False
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
        self._done.add(f"{bot_id}:{update_id}")
        if len(self._done) >= self._batch:
            await self.flush()
        elif self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush_soon(), name="ledger-flush")

    async def _flush_soon(self) -> None:
        await asyncio.sleep(self._flush_s)
        try:
            await self.flush()
        except Exception:  # kept in memory: the next flush tries again
            log.exception("could not mark %s update(s) done", len(self._done))

    async def flush(self) -> None:
        """Write the pending ``done`` marks (also called at shutdown)."""
        if not self._done:
            return
        keys = list(self._done)
        await self._c.update_many({"_id": {"$in": keys}}, {"$set": {"state": "done"}})
        self._done.difference_update(keys)

    async def close(self) -> None:
        if self._flusher is not None and not self._flusher.done():
            self._flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._flusher
        await self.flush()

    async def release(self, bot_id: int, update_id: int) -> None:
        """Forget a claim after a failed handling, so Telegram's retry is processed."""
        key = f"{bot_id}:{update_id}"
        self._done.discard(key)
        await self._c.delete_one({"_id": key})
