"""An in-process event bus implementing the domain's EventPublisher port.

Subscribers run in order and in the publisher's task; one failing subscriber is logged
and does not stop the others, nor undo what the publisher already stored. Anything
that must survive a crash is stored by the subscriber as due work in MongoDB and picked
up by a periodic job, never kept only in memory.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable
from typing import Any

log = logging.getLogger(__name__)

Subscriber = Callable[[Any], Awaitable[None]]


class EventBus:
    def __init__(self) -> None:
        self._subs: defaultdict[type, list[Subscriber]] = defaultdict(list)

    def subscribe(self, event_type: type, handler: Subscriber) -> None:
        self._subs[event_type].append(handler)

    async def publish(self, event: object) -> None:
        for handler in self._subs.get(type(event), []):
            try:
                await handler(event)
            except Exception:
                log.exception("subscriber %r failed on %r", handler, event)
