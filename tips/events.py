"""Facts the tips feature publishes (duty routes them to operators). No identities here."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class TipSubmitted:
    tip_id: str
    code: str
    notice_id: str | None
    sector: str | None
    area: str | None
    category: str | None
    at: datetime


@dataclass(frozen=True, slots=True)
class TipMessageAdded:
    """A message was added to a tip's thread (``direction``: ``tipster`` or ``officer``)."""

    tip_id: str
    code: str
    notice_id: str | None
    direction: str
    message_id: str
    at: datetime
