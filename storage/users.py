"""users: one document per Telegram user the bot has seen."""

from __future__ import annotations

import re
from collections import OrderedDict
from typing import Any

from pymongo import ASCENDING, IndexModel

from groups.users import UserProfile
from storage.client import Database, Document, upsert_after

INDEXES = {"users": [IndexModel([("username_lc", ASCENDING)], name="username_lc", sparse=True)]}


def to_profile(doc: Document) -> UserProfile:
    return UserProfile(
        user_id=int(doc["_id"]),
        first_name=doc.get("first_name", ""),
        last_name=doc.get("last_name"),
        username=doc.get("username"),
        language_code=doc.get("language_code"),
        locale=doc.get("locale"),
        started=bool(doc.get("started", False)),
        last_seen=doc.get("last_seen"),
    )


class MongoUserRepository:
    def __init__(self, db: Database, *, cache_size: int = 10_000) -> None:
        self._c = db.users
        # Skip rewriting an unchanged profile on every update (the hot path): the last
        # stored version of recently seen users is kept here.
        self._recent: OrderedDict[int, tuple[tuple[Any, ...], UserProfile]] = OrderedDict()
        self._cache_size = cache_size

    async def seen(self, profile: UserProfile) -> UserProfile:
        key = (profile.first_name, profile.last_name, profile.username, profile.language_code)
        cached = self._recent.get(profile.user_id)
        if cached is not None and cached[0] == key:
            self._recent.move_to_end(profile.user_id)
            return cached[1]
        doc = await upsert_after(
            self._c,
            {"_id": profile.user_id},
            {
                "$set": {
                    "first_name": profile.first_name,
                    "last_name": profile.last_name,
                    "username": profile.username,
                    "username_lc": profile.username.lower() if profile.username else None,
                    "language_code": profile.language_code,
                    "last_seen": profile.last_seen,
                },
                "$setOnInsert": {"started": False},
            },
        )
        stored = to_profile(doc)
        self._recent[profile.user_id] = (key, stored)
        if len(self._recent) > self._cache_size:
            self._recent.popitem(last=False)
        return stored

    def _forget(self, user_id: int) -> None:
        self._recent.pop(user_id, None)

    async def mark_started(self, user_id: int) -> None:
        self._forget(user_id)
        await self._c.update_one({"_id": user_id}, {"$set": {"started": True}}, upsert=True)

    async def get(self, user_id: int) -> UserProfile | None:
        doc = await self._c.find_one({"_id": user_id})
        return to_profile(doc) if doc else None

    async def by_username(self, username: str) -> UserProfile | None:
        name = username.lstrip("@").lower()
        if not re.fullmatch(r"[a-z0-9_]{3,32}", name):
            return None
        doc = await self._c.find_one({"username_lc": name})
        return to_profile(doc) if doc else None

    async def set_locale(self, user_id: int, locale: str) -> None:
        self._forget(user_id)
        await self._c.update_one({"_id": user_id}, {"$set": {"locale": locale}}, upsert=True)
