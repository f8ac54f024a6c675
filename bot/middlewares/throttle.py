"""A per-user sliding-window limit on incoming messages and button presses."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.types import TelegramObject, User

from bot.i18n import Translator
from bot.middlewares.context import refuse
from bot.replies import respond

Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]


class ThrottleMiddleware(BaseMiddleware):
    def __init__(self, limit: int, window_s: float, exempt: frozenset[int] = frozenset()) -> None:
        self._limit = limit
        self._window = window_s
        self._exempt = exempt
        self._hits: dict[int, deque[float]] = {}
        self._warned: dict[int, float] = {}

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        user: User | None = data.get("event_from_user")
        if user is None or user.id in self._exempt or self._limit <= 0:
            return await handler(event, data)
        now = time.monotonic()
        hits = self._hits.setdefault(user.id, deque())
        while hits and now - hits[0] > self._window:
            hits.popleft()
        if len(hits) >= self._limit:
            refuse(data, "throttled")
            # Say it once per window, not to every extra message.
            if now - self._warned.get(user.id, 0.0) > self._window:
                self._warned[user.id] = now
                t: Translator = data["t"]
                await respond(event, t("core.too_fast"))
            return None
        hits.append(now)
        if len(self._hits) > 50_000:  # forget idle users
            for uid in [u for u, h in self._hits.items() if not h or now - h[-1] > self._window]:
                del self._hits[uid]
        return await handler(event, data)
