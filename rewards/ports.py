"""What the rewards feature needs from the outside world, as ports.

Tips and notices are read through :class:`TipDirectory` and :class:`NoticeDirectory`:
rewards learns a tip's id, code, notice, sector, area and status, never who sent it.
Talking to the tipster goes through the tips feature's messenger, which resolves the
tipster itself (see ``bot/routers/rewards.py``); whether the person acting is the tipster
is asked through :class:`TipsterCheck`, answered by the tips feature.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol

from rewards.model import NoticeInfo, OutcomeRecord, RewardEvent, RewardRecord, TipInfo


class TipDirectory(Protocol):
    async def by_code(self, code: str) -> TipInfo | None: ...

    async def get(self, tip_id: str) -> TipInfo | None: ...

    async def set_status(self, tip_id: str, status: str, actor_id: int) -> None:
        """Move the tip to ``status`` (``verified`` or ``not_useful`` after an outcome)."""
        ...


class TipsterCheck(Protocol):
    """One question the tips feature answers for the two-person rule: did this user send
    the tip with this code? Rewards asks it only about the person acting (whose identity it
    has anyway) and learns a yes or no, never who the tipster is."""

    async def is_tipster(self, code: str, user_id: int) -> bool:
        """True when ``user_id`` sent the tip (and has not unlinked it with /forget);
        an implementation that cannot tell must answer True (refuse rather than allow)."""
        ...


class NoticeDirectory(Protocol):
    async def get(self, notice_id: str) -> NoticeInfo | None: ...


class OutcomeStore(Protocol):
    async def get(self, tip_id: str) -> OutcomeRecord | None: ...

    async def get_many(self, tip_ids: Sequence[str]) -> dict[str, OutcomeRecord]: ...

    async def record(self, outcome: OutcomeRecord) -> None:
        """Set the tip's current outcome, keeping every earlier one in its history."""
        ...


class DuplicateReward(Exception):
    """The tip already has an eligibility record (or the id is taken)."""


class VersionConflict(Exception):
    """Someone else appended event ``seq`` first: reload and decide again."""


class RewardStore(Protocol):
    async def create(self, record: RewardRecord, first: RewardEvent) -> None:
        """Store a new record with its first event; DuplicateReward when the tip has one."""
        ...

    async def append(self, event: RewardEvent) -> None:
        """Append an event; VersionConflict when ``event.seq`` is already taken."""
        ...

    async def record(self, reward_id: str) -> RewardRecord | None: ...

    async def by_tip(self, tip_id: str) -> RewardRecord | None: ...

    async def events(self, reward_id: str) -> list[RewardEvent]: ...

    async def on_notice(self, notice_id: str) -> list[RewardRecord]: ...

    async def histories(
        self, reward_ids: Sequence[str] | None = None
    ) -> list[tuple[RewardRecord, list[RewardEvent]]]:
        """Records with their events: all of them (ledger), or the ones named."""
        ...

    async def undecided(self) -> list[str]:
        """Ids of rewards nobody approved, rejected, paid or cancelled yet."""
        ...

    async def touched_since(self, since: datetime) -> list[str]:
        """Ids of rewards with an event at or after ``since``."""
        ...


class ReminderClaims(Protocol):
    async def claim(self, key: str, at: datetime) -> bool:
        """True exactly once per key, whichever process asks first."""
        ...


class Outbox(Protocol):
    """Messages to tipsters that must survive a crash: stored first, then delivered."""

    async def enqueue(self, key: str, tip_id: str, template: str, params: dict[str, Any]) -> None:
        """Idempotent per ``key``."""
        ...
