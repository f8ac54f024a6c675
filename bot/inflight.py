"""Updates being handled, and background work they started (waited for at shutdown)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

log = logging.getLogger(__name__)


class InFlight:
    """Updates being handled right now. aiogram runs each update as a task and does not
    wait for them when polling stops (nor does the webhook handler): shutdown waits here,
    so that no handler writes to a closed database or reopens a closed HTTP session."""

    def __init__(self) -> None:
        self.count = 0
        self._tasks: set[asyncio.Task[None]] = set()  # strong references while running
        self._idle = asyncio.Event()
        self._idle.set()

    def spawn(self, work: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
        """Run ``work`` in the background, counted in flight until it ends (shutdown waits
        for it). Its failure is logged, never lost silently."""
        self.enter()
        task = asyncio.create_task(work, name=name)
        self._tasks.add(task)

        def done(t: asyncio.Task[None]) -> None:
            self._tasks.discard(t)
            self.leave()
            if not t.cancelled() and t.exception() is not None:
                log.error("background task %s failed", name, exc_info=t.exception())

        task.add_done_callback(done)
        return task

    def enter(self) -> None:
        self.count += 1
        self._idle.clear()

    def leave(self) -> None:
        self.count -= 1
        if self.count <= 0:
            self.count = 0
            self._idle.set()

    async def drained(self, grace_s: float) -> bool:
        """True when nothing is in flight (waiting up to ``grace_s`` seconds)."""
        if self._idle.is_set():
            return True
        try:
            await asyncio.wait_for(self._idle.wait(), grace_s)
        except TimeoutError:
            return False
        return True
