"""Waiting on a condition with a deadline (tests never sleep for fixed times)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

DEADLINE_S = 10.0


async def wait_until(
    predicate: Callable[[], Any], timeout: float = DEADLINE_S, interval: float = 0.02
) -> Any:
    """Poll an (async or sync) predicate until truthy, or fail after ``timeout``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        value = predicate()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        if loop.time() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        await asyncio.sleep(interval)
