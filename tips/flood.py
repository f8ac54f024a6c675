"""The per-tipster flood limit: at most ``limit`` tips per ``window``."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from kernel.errors import InvalidInput


@dataclass(frozen=True, slots=True)
class FloodLimit:
    limit: int = 10
    window_s: float = 600.0

    def since(self, now: datetime) -> datetime:
        return now - timedelta(seconds=self.window_s)

    def check(self, recent: list[datetime], now: datetime) -> None:
        """Raise ``tips.flood`` when the tips sent inside the window reach the limit.

        ``recent``: creation times of the tipster's tips since ``since(now)``.
        """
        if self.limit <= 0 or len(recent) < self.limit:
            return
        oldest = sorted(recent)[len(recent) - self.limit]
        wait_s = (oldest + timedelta(seconds=self.window_s) - now).total_seconds()
        raise InvalidInput(
            "tips.flood",
            limit=self.limit,
            window=max(1, round(self.window_s / 60)),
            minutes=max(1, math.ceil(wait_s / 60)),
        )
