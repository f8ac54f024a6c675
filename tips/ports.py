"""What the tips domain needs from the outside world (implemented in ``storage/tips.py``)."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from groups.model import GeoPoint
from tips.model import (
    Expect,
    NearFilter,
    NearHit,
    NoticeInfo,
    Part,
    ThreadMessage,
    Tip,
    TipCategory,
    TipDraft,
    TipLocation,
    TipStatus,
    TipsterIdentity,
    Visibility,
)


class NoticeLookup(Protocol):
    """Read-only view of notices (owned by the notices feature)."""

    async def by_ref(self, ref: str) -> NoticeInfo | None: ...

    async def by_id(self, notice_id: str) -> NoticeInfo | None: ...

    async def by_message(self, chat_id: int, message_id: int) -> NoticeInfo | None:
        """The notice a group message belongs to (any message a delivery sent)."""
        ...


class MemberLookup(Protocol):
    async def home(self, user_id: int) -> tuple[str | None, str | None]:
        """The member's sector and area (None, None for non-members)."""
        ...


class Geocoder(Protocol):
    async def geocode(self, address: str) -> tuple[GeoPoint, str] | None:
        """Coordinates and the resolved address, or None (off, not found, failed)."""
        ...


class TipDrafts(Protocol):
    async def get(self, user_id: int) -> TipDraft | None: ...

    async def put(self, draft: TipDraft) -> TipDraft | None:
        """Replace the user's draft; returns the one it replaced."""
        ...

    async def push_part(self, user_id: int, part: Part) -> tuple[TipDraft | None, bool]:
        """Append atomically; True when this started a new step (first item of an album)."""
        ...

    async def push_location(self, user_id: int, location: TipLocation) -> TipDraft | None: ...

    async def set_fields(
        self,
        user_id: int,
        *,
        expect: Expect | None = None,
        category: TipCategory | None = None,
        panel_message_id: int | None = None,
    ) -> TipDraft | None: ...

    async def update_live(self, live_key: str, point: GeoPoint) -> bool: ...

    async def delete(self, user_id: int) -> None: ...


class TipRepository(Protocol):
    async def claim_intake(self, key: str, candidate: str, tip_id: str | None) -> str:
        """The id bound to an intake key (``tips.anonymity.intake_key``): ``candidate``
        when the key is new (bound now), otherwise the id bound before. ``tip_id``: the tip
        a thread message belongs to (None: the id is a tip's own). Entries are short-lived
        and ``forget`` deletes a tip's."""
        ...

    async def create(self, tip: Tip, identity: TipsterIdentity) -> tuple[Tip, bool]:
        """Store a tip and its tipster (with the tip's notice and pseudonym: the link that
        keeps the tipster's label on that notice); idempotent on ``tip.tip_id``.

        Returns the stored tip and True, or the tip stored before and False. Raises
        ``CodeTaken`` when only the code collides, so the caller can pick another.
        """
        ...

    async def tipster_history(
        self, user_id: int, notice_id: str | None, since: datetime | None
    ) -> tuple[list[datetime], str | None]:
        """In one query: when this tipster's linked tips since ``since`` were sent (none
        when ``since`` is None; for the flood limit), and the label their linked tips on
        this notice carry (None: none yet; the pseudonym link)."""
        ...

    async def pseudonym_in_use(self, notice_id: str | None, label: str) -> bool:
        """Whether a tip on this notice already carries this label."""
        ...

    async def get(self, tip_id: str) -> Tip | None: ...

    async def append_parts(self, tip_id: str, parts: tuple[Part, ...], at: datetime) -> None:
        """Add items to a stored tip (more items of the same album); duplicates ignored."""
        ...

    async def by_code(self, code: str) -> Tip | None: ...

    async def identity(self, tip_id: str) -> TipsterIdentity | None: ...

    async def owner_of(self, tip_id: str) -> int | None: ...

    async def forget(self, tip_id: str, user_id: int) -> bool:
        """Destroy every link between a tip and its tipster (identity, pseudonym link,
        intake keys, drafts about it, live-location keys), writing no time; False when the
        tip is not theirs."""
        ...

    async def tips_of(self, user_id: int, limit: int = 20) -> list[Tip]: ...

    async def set_status(self, tip_id: str, status: TipStatus, at: datetime) -> Tip | None: ...

    async def update_live(self, live_key: str, point: GeoPoint, at: datetime) -> bool: ...

    async def by_notice(
        self, notice_id: str, visibility: Visibility, skip: int, limit: int
    ) -> tuple[list[Tip], int]: ...

    async def count(
        self,
        visibility: Visibility,
        *,
        status: TipStatus | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> int:
        """Tips an officer may see, in a status and/or received in [since, until)."""
        ...

    async def near(
        self,
        center: GeoPoint,
        radius_m: float,
        flt: NearFilter,
        visibility: Visibility,
        limit: int,
    ) -> list[NearHit]: ...

    async def add_message(self, message: ThreadMessage) -> bool:
        """Append to a thread; False when this message id was stored before."""
        ...

    async def thread(self, tip_id: str, limit: int = 50) -> list[ThreadMessage]: ...

    async def officers_in_thread(self, tip_id: str) -> list[int]: ...

    async def register_card(self, chat_id: int, message_id: int, tip_id: str) -> None: ...

    async def card(self, chat_id: int, message_id: int) -> str | None: ...

    async def remember_tipster_message(self, tip_id: str, message_id: int) -> None:
        """A message the bot sent the tipster about a tip (replying to it adds to the thread)."""
        ...

    async def tip_for_tipster_reply(self, user_id: int, message_id: int) -> str | None: ...

    async def undelivered_receipts(self, user_id: int) -> list[Tip]: ...

    async def receipt_delivered(self, tip_id: str, message_id: int) -> None:
        """The receipt reached the tipster as ``message_id`` (replying to it adds to the thread)."""
        ...


class RewardsInProgress(Protocol):
    """Whether a tip has a reward still being decided or paid (owned by the rewards
    feature). ``/forget`` waits for it: once unlinked, the two-person rule could no longer
    tell the tipster apart from an approver deciding on their own reward."""

    async def open_for(self, tip_id: str) -> bool: ...


class CodeTaken(Exception):
    """A freshly drawn tip code is already in use."""
