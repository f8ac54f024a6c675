"""Outgoing-traffic limits as pure code: sliding windows, an injected monotonic clock.

Telegram's documented limits: about 30 messages per second overall, 20 messages per
minute in one group, about one message per second in one chat. The limiter keeps every
window strict ("at most N in any W seconds"), so a server enforcing the same rule with
any window alignment never answers 429 because of us. An album counts one message per
item. After a 429 the chat waits ``retry_after``; only a cluster of 429s (several within
one window: the bot as a whole is too fast) lowers the global rate, for a while, and it
recovers step by step. A lone 429 is network jitter or one chat's own limit: slowing every
chat down for it would cost a broadcast far more than the retry does.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace


@dataclass(frozen=True, slots=True)
class Limits:
    global_per_s: float = 25.0
    group_per_min: float = 20.0
    chat_per_s: float = 1.0
    # A private chat may get a short burst (a reply and the next question) at the same
    # average rate; Telegram allows short bursts there. Groups keep the strict rate.
    private_burst: int = 4
    # Per-chat spacing is stretched by this factor: requests reach Telegram with network
    # jitter, and a message exactly one window after the previous may arrive inside it.
    # (The global rate is what bounds a broadcast; 10 % here costs nothing there.)
    chat_margin: float = 1.1
    # The global rate is also spread over this many slices of its window, so that a
    # second's allowance does not leave in one burst (jitter would let bursts overlap
    # inside Telegram's window). 1: no smoothing.
    global_slices: int = 4
    # The global window is this much longer (seconds, not scaled): requests reach Telegram
    # a few milliseconds apart from when they were let go, and a message let go exactly one
    # window after another may arrive just inside it.
    jitter_s: float = 0.01
    # How the 429 back-off behaves.
    slowdown: float = 0.8  # global rate multiplied by this after a cluster of 429s
    min_factor: float = 0.2
    cluster: int = 3  # this many 429s ...
    cluster_s: float = 2.0  # ... within this many seconds are a cluster
    recover_after_s: float = 5.0  # each quiet period restores one step
    time_scale: float = 1.0  # windows shrink by this factor (benchmarks, scaled servers)

    def scaled(self, factor: float) -> Limits:
        """The same limits ``factor`` times faster: same burst sizes, windows ``factor``
        times shorter (as the fake Bot API scales Telegram's)."""
        return replace(self, time_scale=self.time_scale * factor)


class Window:
    """At most ``limit`` units in any ``span`` seconds; a request bigger than the limit
    is admitted alone into an empty window (an album of 10 into a 1/s chat)."""

    __slots__ = ("_events", "_used", "limit", "span")

    def __init__(self, limit: float, span: float) -> None:
        self.limit = limit
        self.span = span
        # A short list, not a deque: a broadcast keeps two windows per group alive and an
        # empty deque weighs 600 bytes; these hold a handful of events each.
        self._events: list[tuple[float, int]] = []
        self._used = 0

    def _expire(self, now: float) -> None:
        events = self._events
        n = 0
        while n < len(events) and events[n][0] <= now - self.span:
            self._used -= events[n][1]
            n += 1
        if n:
            del events[:n]

    def ready_at(self, cost: int, now: float) -> float:
        """The earliest time >= now at which ``cost`` units fit."""
        self._expire(now)
        if not self._events or self._used + cost <= self.limit:
            return now
        # Walk the oldest events out until the request fits (or the window is empty).
        used = self._used
        for t, c in self._events:
            used -= c
            if used == 0 or used + cost <= self.limit:
                return t + self.span
        return now  # unreachable: the loop ends with used == 0

    def take(self, cost: int, now: float) -> None:
        self._expire(now)
        self._events.append((now, cost))
        self._used += cost

    def give_back(self, cost: int, at: float) -> None:
        """Forget the units taken at ``at`` (a request the server refused: it did not count
        against the server's window either)."""
        for i, (t, c) in enumerate(self._events):
            if t == at and c == cost:
                del self._events[i]
                self._used -= c
                return

    @property
    def idle(self) -> bool:
        return not self._events


def is_group_chat(chat_id: int) -> bool:
    return chat_id < 0


class RateLimiter:
    """Decides when a request to a chat may go; knows nothing about asyncio or Telegram."""

    def __init__(self, limits: Limits, clock: Callable[[], float]) -> None:
        self.limits = limits
        self.clock = clock
        self._factor = 1.0
        self._last_429 = float("-inf")
        self._span = 1.0 / limits.time_scale
        self._global = Window(1, self._span)
        self._slices = max(1, limits.global_slices)
        self._smooth = Window(1, self._span / self._slices)
        self._set_global_limit()
        self._groups: dict[int, Window] = {}
        self._chats: dict[int, Window] = {}
        self._blocked: dict[int | None, float] = {}  # chat (None: everything) -> until
        self._recent_429: deque[float] = deque()
        self.retries_after_429 = 0
        # Windows of quiet chats are dropped once per longest window (a group's minute):
        # otherwise every chat the bot ever wrote to would keep two windows for good.
        self._sweep_every = 60.0 * self._span
        self._next_sweep = float("-inf")

    # -- pure questions ---------------------------------------------------------------
    def _chat_windows(self, chat_id: int) -> list[Window]:
        out = []
        w = self._chats.get(chat_id)
        if w is None:
            # Whole messages per window: a fractional rate (0.95/s) lengthens the window
            # (1 per 1.05 s) instead of rounding to nothing.
            rate = self.limits.chat_per_s
            n = max(1, int(rate)) if is_group_chat(chat_id) else max(1, self.limits.private_burst)
            w = Window(n, n / rate * self._span * self.limits.chat_margin)
            self._chats[chat_id] = w
        out.append(w)
        if is_group_chat(chat_id):
            g = self._groups.get(chat_id)
            if g is None:
                g = self._groups[chat_id] = Window(self.limits.group_per_min, 60.0 * self._span)
            out.append(g)
        return out

    def _recover(self, now: float) -> None:
        recover = self.limits.recover_after_s * self._span
        if self._factor < 1.0 and now - self._last_429 >= recover:
            steps = int((now - self._last_429) // recover)
            self._factor = min(1.0, self._factor / (self.limits.slowdown**steps))
            self._last_429 = now if self._factor < 1.0 else self._last_429
            self._set_global_limit()

    def chat_ready_at(self, chat_id: int | None, cost: int, now: float) -> float:
        t = max(now, self._blocked.get(None, now))
        if chat_id is None:
            return t
        t = max(t, self._blocked.get(chat_id, now))
        for w in self._chat_windows(chat_id):
            t = max(t, w.ready_at(cost, now))
        return t

    def _slice_limit(self) -> float:
        if self._slices == 1:
            return float("inf")
        return float(math.ceil(self._global.limit / self._slices) + 1)

    def _set_global_limit(self) -> None:
        # Whole messages per window (28.5/s: 28 in any second; a window shortened to fit the
        # fraction would let more than 28 into some second of Telegram's), plus the margin
        # for jitter. Slowed down, never below one per second (or the setting, if lower);
        # below one per second, the window grows instead.
        rate = max(min(1.0, self.limits.global_per_s), self.limits.global_per_s * self._factor)
        whole = max(1, math.floor(rate))
        self._global.limit = whole
        self._global.span = max(1.0, whole / rate) * self._span + self.limits.jitter_s
        self._smooth.limit = self._slice_limit()

    def global_ready_at(self, cost: int, now: float) -> float:
        self._recover(now)
        return max(
            self._global.ready_at(cost, now),
            self._smooth.ready_at(cost, now),
            self._blocked.get(None, now),
        )

    def ready_at(self, chat_id: int | None, cost: int, now: float) -> float:
        return max(self.chat_ready_at(chat_id, cost, now), self.global_ready_at(cost, now))

    # -- state changes ------------------------------------------------------------------
    def take(self, chat_id: int | None, cost: int, now: float) -> None:
        if now >= self._next_sweep:
            self.forget_idle(now)
            self._next_sweep = now + self._sweep_every
        self._global.take(cost, now)
        self._smooth.take(cost, now)
        if chat_id is not None:
            for w in self._chat_windows(chat_id):
                w.take(cost, now)

    def give_back(self, chat_id: int | None, cost: int, taken_at: float) -> None:
        """Telegram refused a request let go at ``taken_at``: its units are not used up.
        (Otherwise every refused album would be charged against its group's minute, and a
        few refusals in a row would hold the group for most of a minute.)"""
        self._global.give_back(cost, taken_at)
        self._smooth.give_back(cost, taken_at)
        if chat_id is not None:
            for table in (self._chats, self._groups):
                w = table.get(chat_id)
                if w is not None:
                    w.give_back(cost, taken_at)

    def retry_after(self, chat_id: int | None, seconds: float, now: float) -> None:
        """Telegram answered 429: hold the chat (or everything); slow down globally only
        for a cluster (a 429 does not say which limit was hit: a lone one is most likely
        one chat's or jitter; several within ``cluster_s`` mean the bot is too fast)."""
        until = now + max(0.0, seconds)
        self._blocked[chat_id] = max(self._blocked.get(chat_id, now), until)
        recent = self._recent_429
        recent.append(now)
        while recent and recent[0] < now - self.limits.cluster_s * self._span:
            recent.popleft()
        if len(recent) >= self.limits.cluster or chat_id is None:
            self._factor = max(self.limits.min_factor, self._factor * self.limits.slowdown)
            recent.clear()  # the next step down needs a new cluster at the new rate
            self._last_429 = now
        elif self._factor < 1.0:
            self._last_429 = now  # still too fast for the lowered rate: no recovery yet
        self._set_global_limit()
        self.retries_after_429 += 1

    @property
    def factor(self) -> float:
        return self._factor

    @property
    def tracked_chats(self) -> int:
        """Chats with a window in memory (for tests and monitoring)."""
        return len(self._chats.keys() | self._groups.keys())

    def forget_idle(self, now: float) -> None:
        """Drop windows of chats that have been quiet for longer than any window."""
        for table in (self._chats, self._groups):
            for chat_id in [c for c, w in table.items() if w.ready_at(0, now) == now]:
                w = table[chat_id]
                w._expire(now)
                if w.idle:
                    del table[chat_id]
        for key in [k for k, until in self._blocked.items() if until <= now]:
            del self._blocked[key]
