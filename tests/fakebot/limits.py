"""Sliding-window flood limits modelled on Telegram's documented bot limits.

Telegram: ~30 messages/second per bot overall, 20 messages/minute per group, ~1 message/second
per chat.  ``scale`` multiplies every *rate* by shrinking the windows (scale=10 gives
30 per 0.1 s = 300/s overall, 20 per 6 s = 200/min per group, 1 per 0.1 s = 10/s per chat),
so the burst sizes stay realistic while benchmarks stay short.

``retry_after`` is what Telegram reports: whole seconds, ``max(1, ceil(wait))`` where ``wait``
is the (already scaled) time until enough slots free up.  Telegram (and aiogram, whose
``ResponseParameters.retry_after`` is an ``int`` and which only raises ``TelegramRetryAfter``
when it is truthy) never sees fractions or zero, so with a large ``scale`` the reported value is
an over-estimate (1 s) of the real wait.  ``LimitHit.exact_wait`` keeps the precise float.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class LimitHit:
    scope: str  # "bot" | "group" | "chat"
    exact_wait: float

    @property
    def retry_after(self) -> int:
        return max(1, math.ceil(self.exact_wait - 1e-9))


class _Window:
    def __init__(self, capacity: int, window: float) -> None:
        self.capacity = capacity
        self.window = window
        self.events: deque[float] = deque()

    def _expire(self, now: float) -> None:
        while self.events and self.events[0] <= now - self.window:
            self.events.popleft()

    def wait_needed(self, now: float, weight: int) -> float:
        self._expire(now)
        if len(self.events) + weight <= self.capacity or not self.events:
            return 0.0
        if weight > self.capacity:
            # An album bigger than the window: allowed only into an empty window.
            return self.events[-1] + self.window - now
        drop = len(self.events) + weight - self.capacity
        return self.events[drop - 1] + self.window - now

    def add(self, now: float, weight: int) -> None:
        for _ in range(weight):
            self.events.append(now)


class FloodLimits:
    """Sliding windows over a monotonic clock (``clock``), checked and consumed atomically."""

    def __init__(
        self,
        clock: Callable[[], float],
        per_bot_per_second: int = 30,
        per_group_per_minute: int = 20,
        per_chat_per_second: int = 1,
        scale: float = 1.0,
    ) -> None:
        if scale <= 0:
            raise ValueError("scale must be positive")
        self.clock = clock
        self.scale = scale
        self.per_bot_per_second = per_bot_per_second
        self.per_group_per_minute = per_group_per_minute
        self.per_chat_per_second = per_chat_per_second
        self._bot = _Window(per_bot_per_second, 1.0 / scale)
        self._groups: dict[int, _Window] = {}
        self._chats: dict[int, _Window] = {}

    def _group(self, chat_id: int) -> _Window:
        if chat_id not in self._groups:
            self._groups[chat_id] = _Window(self.per_group_per_minute, 60.0 / self.scale)
        return self._groups[chat_id]

    def _chat(self, chat_id: int) -> _Window:
        if chat_id not in self._chats:
            self._chats[chat_id] = _Window(self.per_chat_per_second, 1.0 / self.scale)
        return self._chats[chat_id]

    def _windows(self, chat_id: int | None, is_group: bool) -> list[tuple[str, _Window]]:
        windows: list[tuple[str, _Window]] = [("bot", self._bot)]
        if chat_id is not None:
            windows.append(("chat", self._chat(chat_id)))
            if is_group:
                windows.append(("group", self._group(chat_id)))
        return windows

    def check(self, chat_id: int | None, is_group: bool, weight: int = 1) -> LimitHit | None:
        """The limit ``weight`` more messages would exceed right now (None = allowed)."""
        now = self.clock()
        worst: LimitHit | None = None
        for scope, window in self._windows(chat_id, is_group):
            wait = window.wait_needed(now, weight)
            if wait > 0 and (worst is None or wait > worst.exact_wait):
                worst = LimitHit(scope, wait)
        return worst

    def commit(self, chat_id: int | None, is_group: bool, weight: int = 1) -> None:
        """Consume ``weight`` slots (call after the message was actually sent)."""
        now = self.clock()
        for _, window in self._windows(chat_id, is_group):
            window.add(now, weight)
