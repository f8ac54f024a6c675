"""Shutdown waits for updates being handled (aiogram does not wait for its handler tasks)."""

from __future__ import annotations

import asyncio

from bot.inflight import InFlight


async def test_drained_waits_for_the_last_update_in_flight() -> None:
    inflight = InFlight()
    assert await inflight.drained(0)  # nothing in flight: at once
    inflight.enter()
    inflight.enter()
    assert not await inflight.drained(0.01)  # still busy: gives up after the grace period
    release = asyncio.Event()

    async def handler() -> None:
        await release.wait()
        inflight.leave()

    task = asyncio.create_task(handler())
    inflight.leave()
    assert not await inflight.drained(0.01)  # one update is still being handled
    waiter = asyncio.create_task(inflight.drained(5))
    release.set()
    assert await waiter
    await task
    assert inflight.count == 0
