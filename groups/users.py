"""Everyone the bot has seen: the minimal profile Telegram gives us."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True, slots=True)
class UserProfile:
    user_id: int
    first_name: str
    last_name: str | None = None
    username: str | None = None
    language_code: str | None = None
    locale: str | None = None  # explicit choice made with /lang; wins over language_code
    started: bool = False  # has opened a private chat with the bot
    last_seen: datetime | None = None

    @property
    def display_name(self) -> str:
        name = " ".join(p for p in (self.first_name, self.last_name) if p)
        return name or str(self.user_id)


class UserRepository(Protocol):
    async def seen(self, profile: UserProfile) -> UserProfile:
        """Insert or refresh a profile (not touching ``locale``); return what is stored."""
        ...

    async def mark_started(self, user_id: int) -> None: ...

    async def get(self, user_id: int) -> UserProfile | None: ...

    async def by_username(self, username: str) -> UserProfile | None: ...

    async def set_locale(self, user_id: int, locale: str) -> None: ...
