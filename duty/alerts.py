"""Alerts: a tip (or a new message in a tip's thread) waiting for someone on duty.

State machine::

    open(level 0: on duty notified) --N min--> open(level 1: backup notified)
         --M min--> open(level 2: investigators notified) --> stays open, no more steps
    open --first acknowledgement--> acknowledged      (any level; later presses lose)
    open --tip handled elsewhere--> cancelled         (no further steps)

``next_level``/``due`` hold the next step; a sweep claims a step by moving
``next_level`` on atomically, so each step fires exactly once however many processes
sweep and however often they restart.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import IntEnum, StrEnum

from duty.model import EscalationPolicy


class AlertKind(StrEnum):
    TIP = "tip"
    MESSAGE = "message"


class AlertState(StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    CANCELLED = "cancelled"


class Level(IntEnum):
    DUTY = 0
    BACKUP = 1  # the team's managers
    INVESTIGATORS = 2  # every investigator on the tip's notice
    DONE = 3


@dataclass(frozen=True, slots=True)
class Step:
    level: Level
    at: datetime
    recipients: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Card:
    chat_id: int
    message_id: int


@dataclass(frozen=True, slots=True)
class TipRef:
    """What duty needs to know about a tip event (from ``tips.events``)."""

    tip_id: str
    code: str
    notice_id: str | None
    sector: str | None
    area: str | None
    at: datetime
    kind: AlertKind = AlertKind.TIP
    message_id: str | None = None  # the thread message, for AlertKind.MESSAGE


@dataclass(frozen=True, slots=True)
class Alert:
    id: str
    tip_id: str
    code: str
    kind: AlertKind
    team: str | None
    notice_id: str | None
    sector: str | None
    area: str | None
    created_at: datetime
    policy: EscalationPolicy
    state: AlertState = AlertState.OPEN
    next_level: Level = Level.BACKUP
    due: datetime | None = None
    steps: tuple[Step, ...] = ()
    cards: tuple[Card, ...] = ()
    acked_by: int | None = None
    acked_at: datetime | None = None
    message_id: str | None = None

    @property
    def notified(self) -> frozenset[int]:
        return frozenset(uid for step in self.steps for uid in step.recipients)

    @property
    def escalated(self) -> bool:
        return any(step.level >= Level.BACKUP for step in self.steps)

    @property
    def time_to_ack(self) -> timedelta | None:
        return self.acked_at - self.created_at if self.acked_at else None


def due_for(created_at: datetime, policy: EscalationPolicy, level: Level) -> datetime | None:
    """When step ``level`` is due for an alert created at ``created_at``."""
    if level is Level.BACKUP:
        return created_at + timedelta(minutes=policy.first_min)
    if level is Level.INVESTIGATORS:
        return created_at + timedelta(minutes=policy.first_min + policy.second_min)
    return None


def after(level: Level) -> Level:
    return Level(min(int(level) + 1, int(Level.DONE)))
