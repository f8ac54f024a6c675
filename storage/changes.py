"""MongoDB change streams over chosen collections, as plain ``Change`` records.

The console's live updates (``console/live.py``) read one stream per process from here.
A change's ``token`` is the stream's resume token: opening a stream with it continues
right after that change (``ResumeLost`` when the database no longer has it, or it is not
a token). Collections holding secrets or identities can never be watched.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bson import ObjectId
from bson.decimal128 import Decimal128
from pymongo.asynchronous.change_stream import AsyncChangeStream
from pymongo.errors import OperationFailure

from storage.client import Database, Document

# Tipsters' identities, the pseudonym secret, sign-in secrets, dialog states and drafts:
# no stream ever reads them.
NEVER_WATCHED = frozenset(
    {
        "tip_identities",
        "tips_meta",
        "console_tokens",
        "console_sessions",
        "console_live",
        "fsm_states",
        "tip_drafts",
    }
)
OPERATIONS = ("insert", "update", "replace", "delete")
TOKEN_RE = re.compile(r"^[0-9A-Fa-f]{2,1024}$")
# Server answers meaning "this resume token cannot be used" (history lost, bad token...).
RESUME_ERRORS = frozenset({9, 260, 280, 286})


class ResumeLost(Exception):
    """The resume token is unknown to the database (too old, or not a token)."""


@dataclass(frozen=True, slots=True)
class Change:
    token: str  # resume token (``_data``); also the id of the live event
    collection: str
    op: str  # insert | update | replace | delete
    doc_id: str  # the document's _id, as a string
    document: Mapping[str, Any] | None  # after the change (None for delete), without _id
    at: datetime | None  # when the database applied it


def plain(value: Any) -> Any:
    """BSON values a page can use: ObjectId as str, Decimal128 as Decimal."""
    if isinstance(value, ObjectId):
        return str(value)
    if isinstance(value, Decimal128):
        return value.to_decimal()
    if isinstance(value, Mapping):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def valid_token(token: str | None) -> bool:
    return bool(token) and TOKEN_RE.fullmatch(token or "") is not None


def to_change(raw: Document) -> Change:
    full = raw.get("fullDocument")
    document = None
    if full is not None:
        document = {k: plain(v) for k, v in full.items() if k != "_id"}
    return Change(
        token=str(raw["_id"]["_data"]),
        collection=raw["ns"]["coll"],
        op=raw["operationType"],
        doc_id=str(plain(raw["documentKey"]["_id"])),
        document=document,
        at=raw.get("wallTime"),
    )


class ChangeCursor:
    """An open stream; ``next()`` waits up to the feed's ``max_await_ms`` for a change."""

    def __init__(self, stream: AsyncChangeStream[Document]) -> None:
        self._stream = stream

    async def next(self) -> Change | None:
        try:
            raw = await self._stream.try_next()
        except OperationFailure as exc:
            if exc.code in RESUME_ERRORS:
                raise ResumeLost(str(exc)) from exc
            raise
        return to_change(raw) if raw is not None else None

    @property
    def token(self) -> str | None:
        """Resume token after the last change read (or the stream's current position)."""
        token = self._stream.resume_token
        return str(token["_data"]) if token else None

    async def close(self) -> None:
        await self._stream.close()


class MongoChangeFeed:
    def __init__(self, db: Database, collections: Iterable[str], *, max_await_ms: int = 1000):
        self.collections = tuple(dict.fromkeys(collections))
        forbidden = NEVER_WATCHED.intersection(self.collections)
        if forbidden:
            raise ValueError(f"these collections may never be watched: {sorted(forbidden)}")
        if not self.collections:
            raise ValueError("name at least one collection to watch")
        self._db = db
        self._max_await_ms = max_await_ms

    async def open(
        self, resume_after: str | None = None, *, max_await_ms: int | None = None
    ) -> ChangeCursor:
        """Open the stream now (changes after this call are seen), or continue after a token."""
        if resume_after is not None and not valid_token(resume_after):
            raise ResumeLost("malformed resume token")
        pipeline = [
            {
                "$match": {
                    "ns.coll": {"$in": list(self.collections)},
                    "operationType": {"$in": list(OPERATIONS)},
                }
            }
        ]
        try:
            stream = await self._db.watch(
                pipeline,
                full_document="updateLookup",
                resume_after={"_data": resume_after} if resume_after else None,
                max_await_time_ms=max_await_ms or self._max_await_ms,
            )
        except OperationFailure as exc:
            if exc.code in RESUME_ERRORS:
                raise ResumeLost(str(exc)) from exc
            raise
        return ChangeCursor(stream)
