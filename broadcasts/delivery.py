"""Delivery planning and the engine that fans a notice out to every targeted group.

Each (notice, group) delivery is a persisted record: ``pending`` -> ``sending`` ->
``sent`` | ``failed``. A delivery is a short plan of steps (album, button message, pin);
before each step the intent is written, after it the message ids it produced, so a
restart resumes each group exactly at the step that was not acknowledged.

The one unavoidable uncertainty: a process that dies after Telegram accepted a message
but before the database recorded it. Telegram offers no idempotency key and a bot
cannot read a group's history, so on resume that single step is sent again: a group
may, in that window of milliseconds, get one message twice, but no group is ever
skipped. For a police notice a missed group is the worse failure.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from typing import Protocol

from broadcasts.model import Delivery, DeliveryCounts, DeliveryState, Notice, NoticeStatus
from broadcasts.ports import DeliveryRepository, NoticeRepository, Target
from groups.clock import Clock
from groups.model import GroupRepository, GroupStatus

log = logging.getLogger(__name__)


class Step(StrEnum):
    TEXT = "text"  # text message with the buttons (no photos)
    PHOTO = "photo"  # one photo, caption and buttons
    ALBUM = "album"  # 2-10 photos, caption on the first
    BUTTONS = "buttons"  # short message carrying the buttons after an album
    PIN = "pin"  # pin the main message (urgent notices that asked for it)


def plan_steps(notice: Notice) -> tuple[Step, ...]:
    n = len(notice.photos)
    steps: tuple[Step, ...]
    if n == 0:
        steps = (Step.TEXT,)
    elif n == 1:
        steps = (Step.PHOTO,)
    else:
        steps = (Step.ALBUM, Step.BUTTONS)
    if notice.urgent and notice.pin:
        steps += (Step.PIN,)
    return steps


def messages_per_group(notice: Notice) -> int:
    """Messages one group receives (album items count one each; a pin counts one)."""
    n = len(notice.photos)
    return max(1, n) + (1 if n > 1 else 0) + (1 if notice.urgent and notice.pin else 0)


# -- outcomes of one step, as the sender adapter reports them ---------------------------
@dataclass(frozen=True, slots=True)
class Sent:
    message_ids: tuple[int, ...]
    file_ids: tuple[str, ...] = ()  # photos' file ids as Telegram returned them


@dataclass(frozen=True, slots=True)
class Migrated:
    new_chat_id: int


@dataclass(frozen=True, slots=True)
class ChatGone:
    """The bot can no longer post there (removed, chat deleted): stop sending to it."""

    reason: str


@dataclass(frozen=True, slots=True)
class Rejected:
    """Telegram refused this request for good (no rights, bad request)."""

    reason: str


@dataclass(frozen=True, slots=True)
class Transient:
    """Network trouble or server error: worth trying again later."""

    reason: str


Outcome = Sent | Migrated | ChatGone | Rejected | Transient


class NoticeMessenger(Protocol):
    async def send_step(
        self, notice: Notice, chat_id: int, step: Step, shown: tuple[int, ...]
    ) -> Outcome:
        """Send one step to a chat (``shown``: message ids the group already has)."""
        ...

    async def sync_copy(self, notice: Notice, delivery: Delivery) -> Outcome:
        """Edit a group's copy to match the notice (closed: mark it, drop buttons, unpin)."""
        ...


CountsFn = Callable[[], Awaitable[DeliveryCounts]]


class ProgressReporter(Protocol):
    async def progress(self, notice: Notice, counts: CountsFn) -> None:
        """Called after every finished delivery; the adapter decides how often to show it
        (and only then asks for the counts, which cost a query)."""
        ...

    async def finished(
        self, notice: Notice, counts: DeliveryCounts, failures: list[Delivery]
    ) -> None: ...


Sleep = Callable[[float], Awaitable[None]]
Planner = Callable[[Notice], Awaitable[list[Target]]]


class DeliveryEngine:
    def __init__(
        self,
        notices: NoticeRepository,
        deliveries: DeliveryRepository,
        groups: GroupRepository,
        messenger: NoticeMessenger,
        progress: ProgressReporter,
        clock: Clock,
        worker_id: str,
        planner: Planner,
        *,
        concurrency: int = 64,
        stale_s: float = 60.0,
        max_transient: int = 5,
        backoff_s: float = 2.0,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self._notices = notices
        self._deliveries = deliveries
        self._groups = groups
        self._messenger = messenger
        self._progress = progress
        self._clock = clock
        self.worker_id = worker_id
        self._planner = planner
        self._concurrency = max(1, concurrency)
        self._stale = timedelta(seconds=stale_s)
        self._max_transient = max_transient
        self._backoff = backoff_s
        self._sleep = sleep

    async def _claim(self, notice_id: str) -> Delivery | None:
        now = self._clock.now()
        return await self._deliveries.claim(notice_id, self.worker_id, now, now - self._stale)

    # -- sending ------------------------------------------------------------------------
    async def run(self, notice_id: str) -> None:
        """Deliver whatever remains of a notice, then bring group copies up to date."""
        notice = await self._notices.get(notice_id)
        if notice is None:
            return
        if notice.status is NoticeStatus.SENDING:
            if not notice.planned:
                # Idempotent: a crash between planning and marking plans again, adding
                # nobody twice (one delivery per notice and group).
                await self._deliveries.plan(notice, await self._planner(notice))
                await self._notices.mark_planned(notice_id)
            notice = await self._prime(notice)
            if notice is not None:
                await asyncio.gather(*(self._worker(notice) for _ in range(self._concurrency)))
                await self._complete(notice_id)
        await self.sync(notice_id)

    async def _prime(self, notice: Notice) -> Notice | None:
        """Upload photos once: deliver to groups one by one until every photo has a
        file id, so the fan-out that follows sends by id only."""
        while any(p.file_id is None for p in notice.photos):
            d = await self._claim(notice.notice_id)
            if d is None:
                return notice
            await self._deliver(notice, d)
            fresh = await self._notices.get(notice.notice_id)
            if fresh is None:
                return None
            notice = fresh
        return notice

    async def _worker(self, notice: Notice) -> None:
        while True:
            d = await self._claim(notice.notice_id)
            if d is None:
                return
            await self._deliver(notice, d)

    async def _deliver(self, notice: Notice, d: Delivery) -> None:
        steps = plan_steps(notice)
        chat = d.chat_id
        step = d.step
        shown = list(d.message_ids)
        migrations = transient = 0
        pinned: int | None = None
        nid = notice.notice_id
        while step < len(steps):
            if transient or migrations:
                # A retry: refresh the claim (the claim and the previous step's record
                # already say which step is about to go out).
                await self._deliveries.step_started(nid, chat, step, self._clock.now())
            try:
                outcome = await self._messenger.send_step(notice, chat, steps[step], tuple(shown))
            except Exception as exc:  # an adapter bug must not leave the record claimed
                log.exception("send_step failed for notice %s chat %s", nid, chat)
                outcome = Transient(f"error: {type(exc).__name__}")
            if isinstance(outcome, Sent):
                if steps[step] is Step.PIN:
                    pinned = shown[0] if shown else None
                else:
                    shown.extend(outcome.message_ids)
                await self._deliveries.step_done(
                    nid,
                    chat,
                    step,
                    outcome.message_ids if steps[step] is not Step.PIN else (),
                    self._clock.now(),
                )
                if outcome.file_ids and any(p.file_id is None for p in notice.photos):
                    fresh = await self._notices.set_photo_file_ids(nid, outcome.file_ids)
                    notice = fresh or notice
                step += 1
            elif isinstance(outcome, Migrated) and migrations < 3:
                migrations += 1
                await self._groups.migrate(chat, outcome.new_chat_id)
                moved = await self._deliveries.rechat(nid, chat, outcome.new_chat_id)
                log.info("group %s migrated to %s (notice %s)", chat, outcome.new_chat_id, nid)
                if not moved:
                    # The supergroup has its own delivery (it was targeted too): that one
                    # carries the notice there; this record was failed as a duplicate.
                    await self._progress.progress(notice, lambda: self._deliveries.counts(nid))
                    return
                chat = outcome.new_chat_id
            elif steps[step] is Step.PIN and not isinstance(outcome, Transient | Migrated):
                step += 1  # a pin the group does not allow never fails the delivery
            elif isinstance(outcome, ChatGone):
                await self._groups.set_status(chat, GroupStatus.BOT_REMOVED)
                await self._fail(notice, chat, outcome.reason)
                return
            elif isinstance(outcome, Transient) and transient < self._max_transient:
                transient += 1
                await self._sleep(self._backoff * 2 ** (transient - 1))
            else:
                reason = getattr(outcome, "reason", None) or "migrated too often"
                await self._fail(notice, chat, reason)
                return
        await self._deliveries.finish(
            nid,
            chat,
            DeliveryState.SENT,
            self._clock.now(),
            revision=notice.revision,
            pinned_id=pinned,
        )
        await self._progress.progress(notice, lambda: self._deliveries.counts(nid))

    async def _fail(self, notice: Notice, chat: int, reason: str) -> None:
        await self._deliveries.finish(
            notice.notice_id, chat, DeliveryState.FAILED, self._clock.now(), reason=reason
        )
        await self._progress.progress(notice, lambda: self._deliveries.counts(notice.notice_id))

    async def _complete(self, notice_id: str) -> None:
        counts = await self._deliveries.counts(notice_id)
        if not counts.done:
            return  # another worker still holds some (or a stale claim awaits reclaim)
        moved = await self._notices.transition(
            notice_id, [NoticeStatus.SENDING], NoticeStatus.ACTIVE, at=self._clock.now()
        )
        notice = moved or await self._notices.get(notice_id)
        if notice is None:
            return
        if moved is None:
            # Closed (solved, withdrawn, expired) while sending: the groups not reached
            # were cancelled; the investigator still gets one final report.
            if not notice.status.is_closed:
                return
            if not await self._notices.mark_delivered(notice_id, self._clock.now()):
                return
        failures = [f for f in await self._deliveries.failures(notice_id) if f.reason != "closed"]
        await self._progress.finished(notice, counts, failures)

    # -- keeping group copies in step with the notice ---------------------------------
    async def sync(self, notice_id: str) -> None:
        notice = await self._notices.get(notice_id)
        if notice is None or notice.revision == 0:
            return
        await asyncio.gather(*(self._sync_worker(notice) for _ in range(self._concurrency)))
        if await self._deliveries.unsynced(notice_id, notice.revision) == 0:
            await self._notices.mark_synced(notice_id, notice.revision)

    async def _sync_worker(self, notice: Notice) -> None:
        nid = notice.notice_id
        while True:
            now = self._clock.now()
            d = await self._deliveries.claim_sync(
                nid, notice.revision, self.worker_id, now, now - self._stale
            )
            if d is None:
                return
            outcome: Outcome = Transient("")
            for attempt in range(self._max_transient):
                try:
                    outcome = await self._messenger.sync_copy(notice, d)
                except Exception as exc:
                    log.exception("sync_copy failed for notice %s chat %s", nid, d.chat_id)
                    outcome = Transient(f"error: {type(exc).__name__}")
                if not isinstance(outcome, Transient):
                    break
                await self._sleep(self._backoff * 2**attempt)
            if isinstance(outcome, ChatGone):
                await self._groups.set_status(d.chat_id, GroupStatus.BOT_REMOVED)
            # Edited, gone, or refused for good: nothing more can be done for this copy.
            await self._deliveries.synced(nid, d.chat_id, notice.revision)
