"""Domain events: services publish facts; other features subscribe (e.g. duty to new tips)."""

from __future__ import annotations

from typing import Protocol


class EventPublisher(Protocol):
    async def publish(self, event: object) -> None:
        """Deliver ``event`` to every subscriber of its type, in subscription order."""
        ...
