"""A per-user sliding-window limit on incoming messages, edits, button presses and join
requests. Memory follows the users active within the last window: everyone else, and every
warning older than a window, is forgotten by a sweep that runs at most once per window."""

from __future__ import annotations

import contextlib
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.exceptions import TelegramAPIError
from aiogram.types import CallbackQuery, ChatJoinRequest, TelegramObject, User

from bot.i18n import Translator
from bot.middlewares.context import refuse
from bot.replies import respond

Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]


class ThrottleMiddleware(BaseMiddleware):
    def __init__(
        self,
        limit: int,
        window_s: float,
        exempt: frozenset[int] = frozenset(),
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._limit = limit
        self._window = window_s
        self._exempt = exempt
        self._hits: dict[int, deque[float]] = {}
        self._warned: dict[int, float] = {}
        self.clock = clock  # seconds, monotonic (tests may set their own)
        self._next_sweep = float("-inf")

    def tracked(self) -> tuple[int, int]:
        """How many users the guard remembers: (with recent hits, warned)."""
        return len(self._hits), len(self._warned)

    def _sweep(self, now: float) -> None:
        if now < self._next_sweep:
            return
        self._next_sweep = now + self._window
        for uid in [u for u, h in self._hits.items() if not h or now - h[-1] > self._window]:
            del self._hits[uid]
        for uid in [u for u, at in self._warned.items() if now - at > self._window]:
            del self._warned[uid]

    @staticmethod
    async def _decline(event: ChatJoinRequest, t: Translator) -> None:
        """Left pending, nobody would ever decide the request: declined, with a word to
        the person (Telegram lets the bot write for a few minutes), who may ask again."""
        with contextlib.suppress(TelegramAPIError):
            await event.decline()
        if event.bot is not None:
            with contextlib.suppress(TelegramAPIError):
                await event.bot.send_message(event.user_chat_id, t("core.too_fast_join"))

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        user: User | None = data.get("event_from_user")
        if user is None or user.id in self._exempt or self._limit <= 0:
            return await handler(event, data)
        now = self.clock()
        self._sweep(now)
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
            elif isinstance(event, CallbackQuery):
                with contextlib.suppress(TelegramAPIError):
                    await event.answer()  # every press is answered: no spinning button
            if isinstance(event, ChatJoinRequest):
                await self._decline(event, data["t"])
            return None
        hits.append(now)
        return await handler(event, data)
