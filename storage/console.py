"""The console's sign-in links, sessions and live-update positions.

- ``console_tokens``: ``_id`` = SHA-256 of a sign-in link's token (the token itself is never
  stored), ``user_id``, ``created_at``, ``expires_at``, ``used_at``.
- ``console_sessions``: ``_id`` = SHA-256 of the session id (the cookie's value is never
  stored), ``user_id``, ``created_at``, ``expires_at``, ``last_seen``, ``user_agent``,
  ``csrf``.
- ``console_live``: ``_id`` = a console process's name, ``token``: the resume token of its
  change stream, so a restarted process continues where it stopped.

Validity (60 s for a link, the session lifetime) is decided by the application's clock;
removal of old documents is housekeeping by TTL indexes on ``purge_at``, which the
database sets from its own time (``$$NOW``), so documents are never removed early when the
application's clock differs from the server's (as in tests).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from pymongo import ASCENDING, IndexModel, ReturnDocument
from pymongo.errors import DuplicateKeyError

from groups.signin import ConsoleSession, SignInLink
from storage.client import Database, Document

# A used or expired link is kept this long (so the page can say "used" or "expired").
LINK_KEEP = timedelta(hours=1)
# Extra time a session document is kept past its lifetime before the TTL index removes it.
SESSION_KEEP_EXTRA = timedelta(hours=1)
LIVE_KEEP = timedelta(days=7)

INDEXES: dict[str, list[IndexModel]] = {
    "console_tokens": [IndexModel([("purge_at", ASCENDING)], name="ttl", expireAfterSeconds=0)],
    "console_sessions": [
        IndexModel([("purge_at", ASCENDING)], name="ttl", expireAfterSeconds=0),
        IndexModel([("user_id", ASCENDING)], name="user"),
    ],
    "console_live": [IndexModel([("purge_at", ASCENDING)], name="ttl", expireAfterSeconds=0)],
}


def _purge_at(after: timedelta) -> Document:
    """``$$NOW`` + ``after``, in an update pipeline: the server's own time."""
    return {"$add": ["$$NOW", int(after.total_seconds() * 1000)]}


def to_link(doc: Document) -> SignInLink:
    return SignInLink(
        token_hash=doc["_id"],
        user_id=int(doc["user_id"]),
        created_at=doc["created_at"],
        expires_at=doc["expires_at"],
        used_at=doc.get("used_at"),
    )


def to_session(doc: Document) -> ConsoleSession:
    return ConsoleSession(
        session_hash=doc["_id"],
        user_id=int(doc["user_id"]),
        created_at=doc["created_at"],
        expires_at=doc["expires_at"],
        last_seen=doc["last_seen"],
        user_agent=doc.get("user_agent", ""),
        csrf_token=doc["csrf"],
    )


class MongoSignInLinks:
    def __init__(self, db: Database) -> None:
        self._c = db.console_tokens

    async def add(self, link: SignInLink) -> None:
        await self._c.update_one(
            {"_id": link.token_hash},
            [
                {
                    "$set": {
                        "user_id": link.user_id,
                        "created_at": link.created_at,
                        "expires_at": link.expires_at,
                        "used_at": None,
                        "purge_at": _purge_at(link.expires_at - link.created_at + LINK_KEEP),
                    }
                }
            ],
            upsert=True,
        )

    async def get(self, token_hash: str) -> SignInLink | None:
        doc = await self._c.find_one({"_id": token_hash})
        return to_link(doc) if doc else None

    async def consume(self, token_hash: str, now: datetime) -> SignInLink | None:
        doc = await self._c.find_one_and_update(
            {"_id": token_hash, "used_at": None, "expires_at": {"$gt": now}},
            {"$set": {"used_at": now}},
            return_document=ReturnDocument.AFTER,
        )
        return to_link(doc) if doc else None


class MongoConsoleSessions:
    def __init__(self, db: Database) -> None:
        self._c = db.console_sessions

    async def add(self, session: ConsoleSession) -> None:
        keep = session.expires_at - session.created_at + SESSION_KEEP_EXTRA
        await self._c.update_one(
            {"_id": session.session_hash},
            [
                {
                    "$set": {
                        "user_id": session.user_id,
                        "created_at": session.created_at,
                        "expires_at": session.expires_at,
                        "last_seen": session.last_seen,
                        "user_agent": session.user_agent,
                        "csrf": session.csrf_token,
                        "purge_at": _purge_at(keep),
                    }
                }
            ],
            upsert=True,
        )

    async def get(self, session_hash: str) -> ConsoleSession | None:
        doc = await self._c.find_one({"_id": session_hash})
        return to_session(doc) if doc else None

    async def touch(self, session_hash: str, now: datetime) -> None:
        await self._c.update_one({"_id": session_hash}, {"$set": {"last_seen": now}})

    async def delete(self, session_hash: str) -> bool:
        result = await self._c.delete_one({"_id": session_hash})
        return result.deleted_count > 0

    async def delete_user(self, user_id: int) -> int:
        result = await self._c.delete_many({"user_id": user_id})
        return result.deleted_count

    async def of_user(self, user_id: int) -> list[ConsoleSession]:
        return [to_session(d) async for d in self._c.find({"user_id": user_id}).limit(100)]


class MongoLivePositions:
    """Where each console process's change stream stopped (its resume token)."""

    def __init__(self, db: Database) -> None:
        self._c = db.console_live

    async def load(self, name: str) -> str | None:
        doc = await self._c.find_one({"_id": name})
        return str(doc["token"]) if doc and doc.get("token") else None

    async def save(self, name: str, token: str) -> None:
        try:
            await self._c.update_one(
                {"_id": name},
                [{"$set": {"token": token, "purge_at": _purge_at(LIVE_KEEP)}}],
                upsert=True,
            )
        except DuplicateKeyError:  # two first saves raced: the other one's upsert won
            await self._c.update_one({"_id": name}, {"$set": {"token": token}})
