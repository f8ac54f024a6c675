"""leases: one holder at a time for cluster-wide duties (the scheduler).

Use one ``MongoLeases`` per bot process for every lease it takes: it remembers which
leases this process holds (``held``), which is what the instance's status (``/status``,
the webhook server's ``GET /status``) lists as its roles, so a new lease shows there by
being taken through it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pymongo import IndexModel
from pymongo.errors import DuplicateKeyError, PyMongoError

from storage.client import Database

INDEXES: dict[str, list[IndexModel]] = {}


@dataclass(frozen=True, slots=True)
class Lease:
    name: str
    holder: str
    until: datetime
    renewed_at: datetime | None = None

    def valid_at(self, now: datetime) -> bool:
        return self.until > now


def _lease(doc: dict[str, Any]) -> Lease:
    return Lease(str(doc["_id"]), str(doc["holder"]), doc["until"], doc.get("renewed_at"))


class MongoLeases:
    def __init__(self, db: Database) -> None:
        self._c = db.leases
        self._held: dict[str, Lease] = {}

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
            self._held.pop(name, None)
            return False  # exists, held by someone else and not expired
        except PyMongoError:
            self._held.pop(name, None)  # unknown: do not claim it
            raise
        del doc
        self._held[name] = Lease(name, holder, until, now)
        return True

    async def release(self, name: str, holder: str) -> None:
        lease = self._held.get(name)
        if lease is not None and lease.holder == holder:
            del self._held[name]
        await self._c.delete_one({"_id": name, "holder": holder})

    async def holder(self, name: str) -> str | None:
        doc = await self._c.find_one({"_id": name})
        return doc["holder"] if doc else None

    def held(self, now: datetime) -> list[Lease]:
        """The leases this process took through this object and holds at ``now`` (no
        database round trip: what the process believes, as its sweeps do)."""
        return sorted((x for x in self._held.values() if x.valid_at(now)), key=lambda x: x.name)

    async def all(self) -> list[Lease]:
        """Every lease record in the database, expired ones too (their holder stopped
        renewing and nobody has taken them over yet)."""
        return [_lease(doc) async for doc in self._c.find({}).sort("_id", 1)]
