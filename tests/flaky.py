"""The real delivery repository with calls that fail on demand: the database away a moment.

Not a mock: every call that is not told to fail goes to the real database.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from pymongo.errors import AutoReconnect

from broadcasts.model import Delivery
from storage.client import Database
from storage.notices import MongoDeliveryRepository


class FlakyDeliveries(MongoDeliveryRepository):
    """The real repository, whose calls fail while told to: the database away a moment
    (the failure is raised before the call reaches the database)."""

    def __init__(self, db: Database) -> None:
        super().__init__(db)
        self.failing: Counter[tuple[str, int | None]] = Counter()
        self.failed: Counter[tuple[str, int | None]] = Counter()

    def fail(self, op: str, chat_id: int | None = None, times: int = 1) -> None:
        self.failing[(op, chat_id)] += times

    def _trip(self, op: str, chat_id: int | None = None) -> None:
        for key in ((op, chat_id), (op, None)):
            if self.failing[key] > 0:
                self.failing[key] -= 1
                self.failed[key] += 1
                raise AutoReconnect("connection refused: the database is briefly away")

    # Each wraps the real call: same arguments, passed through (the repository's own
    # signatures stay the only ones).
    async def claim(self, notice_id: str, *args: Any, **kwargs: Any) -> Delivery | None:
        self._trip("claim")
        return await super().claim(notice_id, *args, **kwargs)

    async def step_done(self, notice_id: str, chat_id: int, *args: Any, **kwargs: Any) -> bool:
        self._trip("step_done", chat_id)
        return await super().step_done(notice_id, chat_id, *args, **kwargs)

    async def finish(self, notice_id: str, chat_id: int, *args: Any, **kwargs: Any) -> bool:
        self._trip("finish", chat_id)
        return await super().finish(notice_id, chat_id, *args, **kwargs)
