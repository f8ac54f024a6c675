"""Delivery planning and the engine that fans a notice out to every targeted group.

Each (notice, group) delivery is a persisted record: ``pending`` -> ``sending`` ->
``sent`` | ``failed``. A delivery is a short plan of steps (album, button message, pin);
before each step the intent is written, after it the message ids it produced, so a
restart resumes each group exactly at the step that was not acknowledged.

A claim on a delivery is a lease. Each claim carries a fresh token that every write of
its holder names, and the holder refreshes it while a step waits (pacing, 429s). A claim
not refreshed for the stale period (``stale_s``) lapsed: anyone may take it over, the
process that held it included, and the old holder's writes are refused from then on, so
it stops. A database error in one delivery does not end the run: the write is tried
again in place (a step Telegram accepted is not sent again for it), then the delivery is
left claimed and the worker backs off and goes on with the others. A run that ends with
work left (a claim still to lapse, copies not edited) asks to be run again once the stale
period has passed (``retry``), and the periodic sweep runs it as well.

The one unavoidable uncertainty: a process that dies (or a database that stays away)
after Telegram accepted a message but before the database recorded it. Telegram offers
no idempotency key and a bot cannot read a group's history, so on resume that single step
is sent again: a group may, in that window, get one message twice, but no group is ever
skipped. For a police notice a missed group is the worse failure.

Groups upgraded to a supergroup: Telegram answers a send or an edit in the old chat with
the new chat id. The registry records the migration and the delivery moves to the new id.
The old message ids mean nothing in the new chat, so the group gets a fresh copy there,
of the notice as it is now (updated text; closed: the closed version, without the tip
button and the pin), recorded like a first delivery; later edits go to that copy. A
migration the bot learnt from a service message is found the same way, by the first edit.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from typing import Protocol, TypeVar

from broadcasts.model import Delivery, DeliveryCounts, DeliveryState, Notice, NoticeStatus
from broadcasts.ports import DeliveryRepository, NoticeRepository, Target
from groups.model import GroupRepository, GroupStatus
from kernel.clock import Clock

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
    if notice.urgent and notice.pin and not notice.status.is_closed:
        steps += (Step.PIN,)  # a closed notice's fresh copy (a migrated group) is not pinned
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
# Ask for ``run(notice_id)`` again in that many seconds (the bot wires it to its scheduler).
Retry = Callable[[str, float], None]
T = TypeVar("T")


class ChatMigrations(Protocol):
    """Records that a group became a supergroup (the group registry)."""

    async def migrate(self, old_chat_id: int, new_chat_id: int) -> object: ...


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
        migrations: ChatMigrations | None = None,
        retry: Retry | None = None,
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
        # A step still waiting after this long refreshes its claim (well before it lapses).
        self._renew_s = stale_s / 3
        self._max_transient = max_transient
        self._backoff = backoff_s
        self._sleep = sleep
        self._migrations: ChatMigrations = migrations or _RepositoryMigrations(groups)
        self._retry = retry

    async def _claim(self, notice_id: str) -> Delivery | None:
        now = self._clock.now()
        return await self._deliveries.claim(notice_id, self.worker_id, now, now - self._stale)

    async def _persist(
        self, what: str, op: Callable[..., Awaitable[T]], *args: object, **kwargs: object
    ) -> T:
        """A database write, tried again with backoff: the database may be away a moment.
        Every write the engine makes this way is idempotent."""
        for attempt in range(self._max_transient + 1):
            try:
                return await op(*args, **kwargs)
            except Exception:
                if attempt == self._max_transient:
                    raise
                log.warning(
                    "%s failed (attempt %s), trying again", what, attempt + 1, exc_info=True
                )
                await self._sleep(self._backoff * 2**attempt)
        raise AssertionError("unreachable")

    async def _guarded(self, what: str, work: Callable[[], Awaitable[bool]]) -> bool:
        """Run ``work`` until it says there is no more (then True). A failure (the database
        away) is logged and backed off from, and the next piece of work is taken; after
        ``max_transient`` failures in a row this worker leaves the rest to a later run
        (False). What the failed piece held stays claimed until its claim lapses."""
        errors = 0
        while True:
            try:
                if not await work():
                    return True
                errors = 0
            except Exception:
                errors += 1
                log.exception("%s failed (%s in a row)", what, errors)
                if errors > self._max_transient:
                    log.error("%s: giving up for this run; a later run resumes", what)
                    return False
                await self._sleep(self._backoff * 2 ** (errors - 1))

    # -- sending ------------------------------------------------------------------------
    async def run(self, notice_id: str) -> None:
        """Deliver whatever remains of a notice, then bring group copies up to date. When
        work is left (claims that must lapse first, the database away), ask to be run
        again after the stale period."""
        finished = False
        try:
            finished = await self._run(notice_id)
        finally:
            if not finished and self._retry is not None:
                self._retry(notice_id, self._stale.total_seconds() + 1)

    async def _run(self, notice_id: str) -> bool:
        notice = await self._notices.get(notice_id)
        if notice is None:
            return True
        delivered = True
        if notice.status is NoticeStatus.SENDING:
            if not notice.planned:
                # Idempotent: a crash between planning and marking plans again, adding
                # nobody twice (one delivery per notice and group).
                await self._deliveries.plan(notice, await self._planner(notice))
                # The planned total: the monitor counts only unsent deliveries.
                await self._notices.mark_planned(notice_id, await self._deliveries.total(notice_id))
            priming: list[asyncio.Future[None]] = []
            primed = await self._prime(notice, priming)
            delivered = False
            if primed is not None:
                await self._fan_out(primed)
                await self._settle(priming)
                delivered = await self._complete(notice_id)
        return await self.sync(notice_id) and delivered

    async def _fan_out(self, notice: Notice) -> int:
        """Deliver with ``concurrency`` workers; returns how many deliveries they took."""
        taken = await asyncio.gather(*(self._worker(notice) for _ in range(self._concurrency)))
        return sum(taken)

    async def _prime(self, notice: Notice, priming: list[asyncio.Future[None]]) -> Notice | None:
        """Upload photos once: deliver to groups one by one until every photo has a
        file id, so the fan-out that follows sends by id only. The fan-out starts as soon
        as the ids are known (the first group's remaining steps go on alongside it, left
        in ``priming``). None: not now (the notice is gone, or the database keeps
        failing)."""
        current: Notice | None = notice

        async def one() -> bool:
            nonlocal current
            assert current is not None
            if all(p.file_id is not None for p in current.photos):
                return False
            d = await self._claim(notice.notice_id)
            if d is None:
                return False
            primed = asyncio.Event()
            task = asyncio.ensure_future(self._deliver(current, d, primed=primed))
            ready = asyncio.ensure_future(primed.wait())
            try:
                await asyncio.wait({task, ready}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                ready.cancel()
            if task.done():
                task.result()  # a failure is the guard's to handle
            else:
                priming.append(task)
            current = await self._notices.get(notice.notice_id)
            return current is not None

        if not await self._guarded(f"delivery of notice {notice.notice_id}", one):
            await self._settle(priming)
            return None  # the uploads did not get through: a later run tries again
        return current

    @staticmethod
    async def _settle(tasks: list[asyncio.Future[None]]) -> None:
        for result in await asyncio.gather(*tasks, return_exceptions=True):
            if isinstance(result, BaseException):
                log.error("first delivery failed", exc_info=result)

    async def _worker(self, notice: Notice) -> int:
        taken = 0

        async def one() -> bool:
            nonlocal taken
            d = await self._claim(notice.notice_id)
            if d is None:
                return False
            taken += 1
            await self._deliver(notice, d)
            return True

        await self._guarded(f"delivery of notice {notice.notice_id}", one)
        return taken

    async def _send(
        self, notice: Notice, chat: int, lease: str, step: int, kind: Step, shown: list[int]
    ) -> Outcome:
        """One step; while it waits (pacing, 429s) the claim is kept fresh."""
        call = asyncio.ensure_future(self._messenger.send_step(notice, chat, kind, tuple(shown)))
        try:
            while True:
                done, _ = await asyncio.wait({call}, timeout=self._renew_s)
                if done:
                    return call.result()
                try:
                    await self._deliveries.step_started(
                        notice.notice_id, chat, lease, step, self._clock.now()
                    )
                except Exception:
                    log.warning("could not refresh the claim on %s", chat, exc_info=True)
        except Exception as exc:  # an adapter bug must not leave the record claimed
            log.exception("send_step failed for notice %s chat %s", notice.notice_id, chat)
            return Transient(f"error: {type(exc).__name__}")
        finally:
            if not call.done():
                call.cancel()

    async def _deliver(
        self, notice: Notice, d: Delivery, *, primed: asyncio.Event | None = None
    ) -> None:
        """Send a delivery's remaining steps; ``primed`` is set once every photo of the
        notice has a Telegram file id."""
        steps = plan_steps(notice)
        chat = d.chat_id
        step = d.step
        lease = d.lease or ""
        shown = list(d.message_ids)
        migrations = transient = 0
        pinned = d.pinned_id
        nid = notice.notice_id
        # Resumed after its first step, the copy may show an older revision in what was
        # sent before: it is recorded as showing none, so the next sync edits it.
        whole = step == 0
        while step < len(steps):
            # A retry refreshes the claim (the claim and the previous step's record already
            # say which step is about to go out).
            if (transient or migrations) and not await self._persist(
                "step_started",
                self._deliveries.step_started,
                nid,
                chat,
                lease,
                step,
                self._clock.now(),
            ):
                self._lost(nid, chat)
                return
            outcome = await self._send(notice, chat, lease, step, steps[step], shown)
            if isinstance(outcome, Sent):
                if steps[step] is Step.PIN:
                    pinned = shown[0] if shown else None
                else:
                    shown.extend(outcome.message_ids)
                # The last step is recorded by ``finish`` (one write less per group).
                if step < len(steps) - 1 and not await self._persist(
                    "step_done",
                    self._deliveries.step_done,
                    nid,
                    chat,
                    lease,
                    step,
                    tuple(shown),
                    self._clock.now(),
                    pinned_id=pinned if steps[step] is Step.PIN else None,
                ):
                    self._lost(nid, chat)
                    return
                if outcome.file_ids and any(p.file_id is None for p in notice.photos):
                    fresh = await self._persist(
                        "set_photo_file_ids",
                        self._notices.set_photo_file_ids,
                        nid,
                        outcome.file_ids,
                    )
                    notice = fresh or notice
                if primed is not None and all(p.file_id is not None for p in notice.photos):
                    primed.set()
                step += 1
            elif isinstance(outcome, Migrated) and migrations < 3:
                migrations += 1
                moved = await self._move(nid, chat, outcome.new_chat_id, lease)
                if moved is None:
                    # The supergroup has its own delivery (it was targeted too): that one
                    # carries the notice there; this record was failed as a duplicate.
                    await self._report(notice)
                    return
                # Whatever the old chat got stays there: the supergroup gets it all.
                chat, step, shown, pinned = moved.chat_id, moved.step, list(moved.message_ids), None
                whole = step == 0
            elif steps[step] is Step.PIN and not isinstance(outcome, Transient | Migrated):
                step += 1  # a pin the group does not allow never fails the delivery
            elif isinstance(outcome, ChatGone):
                await self._persist(
                    "set_status", self._groups.set_status, chat, GroupStatus.BOT_REMOVED
                )
                await self._fail(notice, chat, lease, outcome.reason)
                return
            elif isinstance(outcome, Transient) and transient < self._max_transient:
                transient += 1
                await self._sleep(self._backoff * 2 ** (transient - 1))
            else:
                reason = getattr(outcome, "reason", None) or "migrated too often"
                await self._fail(notice, chat, lease, reason)
                return
        if not await self._persist(
            "finish",
            self._deliveries.finish,
            nid,
            chat,
            DeliveryState.SENT,
            self._clock.now(),
            lease=lease,
            revision=notice.revision if whole else 0,
            pinned_id=pinned,
            message_ids=tuple(shown),
            steps=len(steps),
        ):
            self._lost(nid, chat)
            return
        await self._report(notice)

    async def _move(self, nid: str, old: int, new: int, lease: str) -> Delivery | None:
        """The group became a supergroup: record it, and move the delivery to the new id."""
        await self._persist("migrate", self._migrations.migrate, old, new)
        moved = await self._persist(
            "rechat",
            self._deliveries.rechat,
            nid,
            old,
            new,
            self.worker_id,
            lease,
            self._clock.now(),
        )
        log.info("group %s migrated to %s (notice %s)", old, new, nid)
        return moved

    @staticmethod
    def _lost(nid: str, chat: int) -> None:
        log.warning("notice %s chat %s: the claim lapsed and was taken over; leaving it", nid, chat)

    async def _report(self, notice: Notice) -> None:
        nid = notice.notice_id
        try:
            await self._progress.progress(notice, lambda: self._deliveries.counts(nid))
        except Exception:  # a progress message is not worth failing a delivery for
            log.exception("progress report for notice %s failed", nid)

    async def _fail(self, notice: Notice, chat: int, lease: str, reason: str) -> None:
        if await self._persist(
            "finish",
            self._deliveries.finish,
            notice.notice_id,
            chat,
            DeliveryState.FAILED,
            self._clock.now(),
            lease=lease,
            reason=reason,
        ):
            await self._report(notice)
        else:
            self._lost(notice.notice_id, chat)

    async def _complete(self, notice_id: str) -> bool:
        """After the fan-out: the notice is active once every group is done. False when
        deliveries remain."""
        counts = await self._deliveries.counts(notice_id)
        if not counts.done:
            return False  # another worker still holds some (or a claim must lapse first)
        moved = await self._notices.transition(
            notice_id, [NoticeStatus.SENDING], NoticeStatus.ACTIVE, at=self._clock.now()
        )
        notice = moved or await self._notices.get(notice_id)
        if notice is None:
            return True
        if moved is None:
            # Closed (solved, withdrawn, expired) while sending: the groups not reached
            # were cancelled; the investigator still gets one final report.
            if not notice.status.is_closed:
                return True
            if not await self._notices.mark_delivered(notice_id, self._clock.now()):
                return True
        failures = [f for f in await self._deliveries.failures(notice_id) if f.reason != "closed"]
        await self._progress.finished(notice, counts, failures)
        return True

    # -- keeping group copies in step with the notice ---------------------------------
    async def sync(self, notice_id: str) -> bool:
        """Edit group copies to match the notice; True when every copy is up to date."""
        notice = await self._notices.get(notice_id)
        if notice is None or notice.revision == 0:
            return True
        # Deliveries left claimed after the notice stopped sending (a fresh copy for a group
        # that moved to a supergroup, or a group in the middle of its delivery when the
        # notice was closed) are finished first, from the recorded step. Groups not reached
        # yet never get a closed notice.
        if notice.status is not NoticeStatus.SENDING:
            if notice.status.is_closed:
                await self._deliveries.cancel_pending(notice_id, "closed", self._clock.now())
            if await self._fan_out(notice):
                await self._complete(notice_id)
        await asyncio.gather(*(self._sync_worker(notice) for _ in range(self._concurrency)))
        if await self._deliveries.unsynced(notice_id, notice.revision) == 0:
            await self._notices.mark_synced(notice_id, notice.revision)
            return True
        return False

    async def _sync_worker(self, notice: Notice) -> None:
        nid = notice.notice_id

        async def one() -> bool:
            now = self._clock.now()
            d = await self._deliveries.claim_sync(
                nid, notice.revision, self.worker_id, now, now - self._stale
            )
            if d is None:
                return False
            await self._sync_copy(notice, d)
            return True

        await self._guarded(f"sync of notice {nid}", one)

    async def _sync_copy(self, notice: Notice, d: Delivery) -> None:
        nid = notice.notice_id
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
        if isinstance(outcome, Migrated):
            # The copy is in a chat that is no more: the supergroup gets a fresh one, of
            # the notice as it is now, recorded like a first delivery.
            moved = await self._move(nid, d.chat_id, outcome.new_chat_id, d.lease or "")
            if moved is not None:
                await self._deliver(notice, moved)
            return
        if isinstance(outcome, ChatGone):
            await self._persist(
                "set_status", self._groups.set_status, d.chat_id, GroupStatus.BOT_REMOVED
            )
        # Edited, gone, or refused for good: nothing more can be done for this copy.
        await self._persist("synced", self._deliveries.synced, nid, d.chat_id, notice.revision)


class _RepositoryMigrations:
    """Migrations straight on the group repository (when no registry service is given):
    idempotent, like the registry's own."""

    def __init__(self, groups: GroupRepository) -> None:
        self._groups = groups

    async def migrate(self, old_chat_id: int, new_chat_id: int) -> object:
        old = await self._groups.get(old_chat_id)
        if (
            old is not None
            and old.status is GroupStatus.MIGRATED
            and old.migrated_to == new_chat_id
        ):
            return None
        return await self._groups.migrate(old_chat_id, new_chat_id)
