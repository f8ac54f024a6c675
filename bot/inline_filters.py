"""Run the routers' synchronous filters on the event loop instead of in worker threads.

aiogram calls any callback that is not a coroutine function through
``asyncio.to_thread``: every magic filter (``F.chat.type == "private"``,
``F.data.startswith("dack:")``) and every plain-function filter of every handler an
update is checked against becomes a round trip through the default thread pool (a
queue hand-off, a thread wake-up, a self-pipe write to wake the loop) and a fight for
the GIL. Ours are pure predicates over the update object, microseconds of work, so
they run inline. Handlers themselves are coroutines and unaffected.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiogram import Router
from aiogram.dispatcher.event.handler import FilterObject


def _inline(callback: Callable[..., Any]) -> Callable[..., Any]:
    async def run(*args: Any, **kwargs: Any) -> Any:
        return callback(*args, **kwargs)

    return run


def _filters_of(router: Router) -> list[FilterObject]:
    found: list[FilterObject] = []
    for observer in router.observers.values():
        found.extend(observer._handler.filters or [])  # the router-level observer.filter(...)
        for handler in observer.handlers:
            found.extend(handler.filters or [])
    return found


def inline_sync_filters(root: Router) -> int:
    """Make every synchronous filter under ``root`` (itself and all sub-routers) run on
    the event loop; returns how many were changed. Call once the routers are built."""
    changed = 0
    for router in root.chain_tail:
        for flt in _filters_of(router):
            if not flt.awaitable:
                flt.callback = _inline(flt.callback)
                flt.awaitable = True
                changed += 1
    return changed
