"""Ports the notices domain needs; storage/notices.py and bot/ implement them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from broadcasts.model import (
    Delivery,
    DeliveryCounts,
    DeliveryState,
    Draft,
    Notice,
    NoticeStatus,
    Photo,
    Recurrence,
)
from groups.model import Group


@dataclass(frozen=True, slots=True)
class Target:
    chat_id: int
    title: str


class NoticeRepository(Protocol):
    async def next_ref(self, when: datetime) -> str: ...

    async def insert(self, notice: Notice) -> None: ...

    async def get(self, notice_id: str) -> Notice | None: ...

    async def by_ref(self, ref: str) -> Notice | None: ...

    async def transition(
        self,
        notice_id: str,
        from_: Sequence[NoticeStatus],
        to: NoticeStatus,
        *,
        at: datetime | None = None,
        bump: bool = False,
    ) -> Notice | None:
        """Atomically move a notice between states; None when it was not in ``from_``.

        ``bump`` increments ``revision`` (group copies must be edited to match).
        """
        ...

    async def set_content(
        self, notice_id: str, *, title: str | None, body: str | None
    ) -> Notice | None:
        """Change title/body of an open notice and bump its revision."""
        ...

    async def set_photo_file_ids(self, notice_id: str, file_ids: Sequence[str]) -> Notice | None:
        """Record uploaded photos' file ids (only where none is stored yet)."""
        ...

    async def set_progress(self, notice_id: str, chat_id: int, message_id: int) -> None: ...

    async def claim_due_scheduled(self, now: datetime) -> Notice | None:
        """Take one scheduled notice whose time has come (scheduled -> sending)."""
        ...

    async def expire_due(self, now: datetime) -> Notice | None:
        """Close one open notice whose expiry has passed (-> expired, revision bumped)."""
        ...

    async def with_work(self) -> list[str]:
        """Ids of notices that are sending or whose group copies lag their revision."""
        ...

    async def mark_synced(self, notice_id: str, revision: int) -> None: ...

    async def mark_delivered(self, notice_id: str, at: datetime) -> bool:
        """Record when delivery of a notice closed while sending ended; True only the
        first time (the investigator's final report goes out once)."""
        ...

    async def mark_planned(self, notice_id: str, groups: int | None = None) -> None:
        """Deliveries are created (``groups`` of them, numbered 0..groups-1)."""
        ...

    async def list_for(self, user_id: int | None, limit: int = 20) -> list[Notice]:
        """Notices created by or shared with ``user_id`` (None: everyone's), newest first."""
        ...


class DeliveryRepository(Protocol):
    async def plan(self, notice: Notice, targets: Sequence[Target]) -> int:
        """Create one pending delivery per target (idempotent); returns how many are new."""
        ...

    async def claim(
        self, notice_id: str, worker: str, now: datetime, stale_before: datetime
    ) -> Delivery | None:
        """Take the next pending delivery, or one left ``sending`` whose claim is older than
        ``stale_before`` (whoever held it, this worker included): pending|sending -> sending.

        A claim is a lease: the returned delivery carries a fresh ``lease`` token that the
        holder's writes below must name, and the holder keeps it fresh (``step_started``)."""
        ...

    async def step_started(
        self, notice_id: str, chat_id: int, lease: str, step: int, now: datetime
    ) -> bool:
        """Record the intent to send ``step`` and refresh the claim. False when the claim
        is no longer ``lease`` (taken over after it went stale)."""
        ...

    async def step_done(
        self,
        notice_id: str,
        chat_id: int,
        lease: str,
        step: int,
        message_ids: Sequence[int],
        now: datetime,
        *,
        pinned_id: int | None = None,
    ) -> bool:
        """Record that ``step`` is done (the next step is ``step + 1``) and every message
        the group now has (``message_ids``: all of them, so writing it twice is harmless).
        False when the claim is no longer ``lease``."""
        ...

    async def finish(
        self,
        notice_id: str,
        chat_id: int,
        state: DeliveryState,
        now: datetime,
        *,
        lease: str | None = None,
        reason: str | None = None,
        revision: int = 0,
        pinned_id: int | None = None,
        message_ids: Sequence[int] | None = None,
        steps: int | None = None,
    ) -> bool:
        """Mark a delivery sent or failed (only while it is still held by ``lease``, when
        given). ``message_ids``/``steps``: the last step's record written in the same
        write. Idempotent: writing it twice is harmless."""
        ...

    async def release(self, notice_id: str, chat_id: int, reason: str) -> None:
        """Give a claimed delivery back (transient failure): sending -> pending."""
        ...

    async def rechat(
        self,
        notice_id: str,
        old_chat_id: int,
        new_chat_id: int,
        worker: str,
        lease: str,
        now: datetime,
    ) -> Delivery | None:
        """The group became a supergroup: move the delivery held by ``lease`` to the new
        chat id, ready for a fresh copy there (step 0, no message ids: the old ones mean
        nothing in the new chat), still claimed by ``worker`` with ``lease``.

        None when the new chat has its own delivery already (the old one is then failed as
        ``migrated_duplicate``) or the claim is no longer ``lease``."""
        ...

    async def counts(self, notice_id: str) -> DeliveryCounts: ...

    async def total(self, notice_id: str) -> int:
        """How many deliveries the notice has."""
        ...

    async def retry_failed(self, notice_id: str, keep: Sequence[str], now: datetime) -> int:
        """Failed deliveries, but those failed for a reason in ``keep``, back to pending
        (each from the step it had reached); returns how many."""
        ...

    async def failures(self, notice_id: str) -> list[Delivery]: ...

    async def cancel_pending(self, notice_id: str, reason: str, now: datetime) -> int: ...

    async def claim_sync(
        self, notice_id: str, revision: int, worker: str, now: datetime, stale_before: datetime
    ) -> Delivery | None:
        """Take a sent delivery whose copy shows an older revision than ``revision`` (not
        claimed, or claimed before ``stale_before``); it carries a fresh ``lease`` token."""
        ...

    async def synced(self, notice_id: str, chat_id: int, revision: int) -> None: ...

    async def unsynced(self, notice_id: str, revision: int) -> int:
        """Copies not up to date with ``revision``: sent ones showing an older revision,
        and deliveries still pending or sending (a fresh copy being posted included)."""
        ...


class DraftRepository(Protocol):
    async def get(self, user_id: int) -> Draft | None: ...

    async def save(self, draft: Draft) -> None: ...

    async def add_photo(self, user_id: int, photo: Photo, order: int, limit: int) -> int | None:
        """Append a photo atomically (albums arrive as concurrent updates); returns the
        new count, or None when the draft already holds ``limit`` photos."""
        ...

    async def first_of_album(self, user_id: int, media_group_id: str) -> bool:
        """True exactly once per album (to acknowledge it with one reply)."""
        ...

    async def delete(self, user_id: int) -> None: ...

    async def claim_step(self, user_id: int, from_: Sequence[str], to: str) -> bool: ...


class RecurrenceRepository(Protocol):
    async def save(self, rec: Recurrence) -> None: ...

    async def for_source(self, source_id: str) -> Recurrence | None: ...

    async def stop(self, source_id: str) -> bool: ...

    async def claim_due(self, now: datetime) -> Recurrence | None:
        """Take one due recurrence and move its ``next_at`` forward (atomically)."""
        ...


class NoticeBrowser(Protocol):
    """The notices as the officer console lists them (``broadcasts.monitor``)."""

    async def page_for(self, user_id: int | None, skip: int, limit: int) -> list[Notice]:
        """Notices created by or shared with ``user_id`` (None: everyone's), newest first."""
        ...

    async def sending_for(self, user_id: int | None, limit: int) -> list[Notice]:
        """Notices being delivered now, of ``user_id`` (None: everyone's)."""
        ...


class DeliveryBrowser(Protocol):
    """Reads of the delivery monitor; each one query on an index (SecantusDB reads every
    document of an index range, so ranges are closed and counts skip the sent ones)."""

    async def unsent_counts(self, notice_ids: Sequence[str]) -> dict[str, dict[str, int]]:
        """Per notice: pending, sending and failed deliveries ("sent" are the rest)."""
        ...

    async def state_counts(self, notice_ids: Sequence[str]) -> dict[str, dict[str, int]]:
        """Per notice: deliveries by state, all of them."""
        ...

    async def migrated_count(self, notice_id: str) -> int: ...

    async def retryable_count(self, notice_id: str, keep: Sequence[str]) -> int: ...

    async def rows(
        self,
        notice_id: str,
        view: str,
        *,
        by_seq: bool,
        after: int | None = None,
        before: int | None = None,
        limit: int = 50,
    ) -> list[Delivery]:
        """At most ``limit + 1`` deliveries of a page, in plan order."""
        ...


class GroupDirectory(Protocol):
    async def many(self, chat_ids: Sequence[int]) -> dict[int, Group]:
        """The registry's groups by chat id (those it knows)."""
        ...
