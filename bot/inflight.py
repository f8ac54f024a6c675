"""Updates being handled right now (waited for at shutdown)."""

from __future__ import annotations

import asyncio


class InFlight:
    """Updates being handled right now. aiogram runs each update as a task and does not
    wait for them when polling stops (nor does the webhook handler): shutdown waits here,
    so that no handler writes to a closed database or reopens a closed HTTP session."""

    def __init__(self) -> None:
        self.count = 0
        self._idle = asyncio.Event()
        self._idle.set()

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
