"""What duty needs from the outside world (implemented in storage/ and the bot layer)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from duty.alerts import Alert, Card, Level, Step
from duty.model import Adjustment, Team, Unavailability


@dataclass(frozen=True, slots=True)
class OpenTip:
    """A tip not yet closed, as shown in a handover (no tipster identity)."""

    tip_id: str
    code: str
    status: str
    created_at: datetime
    notice_id: str | None = None


class TipSource(Protocol):
    """The tips feature, as duty sees it."""

    async def mark_acknowledged(self, tip_id: str, actor_id: int) -> None:
        """Record that ``actor_id`` took the tip (status ``acknowledged``)."""
        ...

    async def is_handled(self, tip_id: str) -> bool:
        """True once the tip has left ``new`` (taken or closed by anyone)."""
        ...

    async def open_tips(self, sector: str | None, area: str | None) -> list[OpenTip]:
        """Tips in a scope that are not closed yet, oldest first."""
        ...


class NoticeDirectory(Protocol):
    async def investigators(self, notice_id: str) -> list[int]:
        """Every investigator on a notice (empty when unknown)."""
        ...


class SwapState(StrEnum):
    PENDING = "pending"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    CANCELLED = "cancelled"


@dataclass(frozen=True, slots=True)
class SwapRequest:
    id: str
    team: str
    requester: int
    partner: int
    give_key: str  # the requester's shift the partner takes
    take_key: str | None  # the partner's shift the requester takes in exchange (optional)
    created_at: datetime
    state: SwapState = SwapState.PENDING
    answered_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class ShiftRecord:
    """A shift as it actually started (written once, at the handover)."""

    key: str
    team: str
    start: datetime
    end: datetime
    operators: tuple[int, ...]
    required: int

    @property
    def gap(self) -> int:
        return max(0, self.required - len(self.operators))


class DutyRepository(Protocol):
    # Teams
    async def add_team(self, team: Team) -> bool:
        """False when the code is taken."""
        ...

    async def save_team(self, team: Team) -> None: ...

    async def get_team(self, code: str) -> Team | None: ...

    async def list_teams(self) -> list[Team]: ...

    async def delete_team(self, code: str) -> bool: ...

    # Schedule changes
    async def add_adjustment(self, adj: Adjustment) -> None: ...

    async def adjustments(self, team: str, keys: list[str] | None = None) -> list[Adjustment]: ...

    async def add_unavailability(self, u: Unavailability) -> None: ...

    async def unavailability(self, start: datetime, end: datetime) -> list[Unavailability]: ...

    async def clear_unavailability(self, user_id: int, start: datetime) -> int:
        """Remove a person's absences that end after ``start``; returns how many."""
        ...

    async def add_swap(self, swap: SwapRequest) -> None: ...

    async def get_swap(self, swap_id: str) -> SwapRequest | None: ...

    async def settle_swap(self, swap_id: str, state: SwapState, at: datetime) -> SwapRequest | None:
        """Atomically move a pending swap to ``state``; None when it was not pending."""
        ...

    # Alerts
    async def add_alert(self, alert: Alert) -> bool:
        """False when an alert with that id exists already."""
        ...

    async def get_alert(self, alert_id: str) -> Alert | None: ...

    async def add_step(self, alert_id: str, step: Step) -> None: ...

    async def add_card(self, alert_id: str, card: Card) -> None: ...

    async def acknowledge(self, alert_id: str, user_id: int, at: datetime) -> Alert | None:
        """First acknowledgement wins: the updated alert, or None if it was not open."""
        ...

    async def claim_step(self, now: datetime) -> tuple[Alert, Level] | None:
        """Atomically take one open alert whose next step is due; move it to the step after."""
        ...

    async def cancel_alert(self, alert_id: str) -> None: ...

    async def expedite(self, alert_id: str, now: datetime) -> None:
        """Make an open alert's next step due at ``now`` (nobody could be reached)."""
        ...

    async def next_due(self) -> datetime | None: ...

    async def alerts_between(self, start: datetime, end: datetime) -> list[Alert]: ...

    async def alerts_for_tip(self, tip_id: str) -> list[Alert]: ...

    async def escalated_between(self, team: str, start: datetime, end: datetime) -> list[Alert]: ...

    # Shift log and once-only runs
    async def claim_shift(self, record: ShiftRecord, at: datetime) -> bool:
        """Record a shift's start once; False when already recorded (by anyone)."""
        ...

    async def shift_records(self, start: datetime, end: datetime) -> list[ShiftRecord]: ...

    async def claim_run(self, run_id: str, at: datetime) -> bool:
        """Once-only marker (e.g. a day's coverage warning); False when already taken."""
        ...
