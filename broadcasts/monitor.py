"""What an officer sees of notices and their delivery (the console's notices pages).

The same rules as the bot's commands: the list is ``/notices`` (an officer's own notices;
a superadmin may see everyone's), a notice is opened with ``NoticeService.find`` (its
author, its investigators, superadmins). Every read is one query on an index, and none
reads a notice's deliveries whole: a 10,000-group notice is shown a page at a time, and
its counts come from an indexed aggregation over the deliveries that are not sent yet
(the planned total minus those is "sent"), so the monitor of a delivered notice costs
little however many groups it reached.

Benchmarks time ``NoticeMonitor.overview``, ``NoticeMonitor.rows`` and
``NoticeMonitor.notices`` (the monitor's and the list's queries).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from broadcasts.model import Delivery, DeliveryCounts, DeliveryState, Notice
from broadcasts.ports import DeliveryBrowser, GroupDirectory, NoticeBrowser
from broadcasts.service import NOT_RETRIED, NoticeService
from groups.model import Group
from groups.roles import Permission, Principal

PAGE_SIZE = 50  # deliveries on one page of the monitor
LIST_SIZE = 25  # notices on one page of the list
# What the monitor can show: every group, the groups in one state, or those that moved to
# a supergroup.
VIEWS: tuple[str, ...] = ("all", *(s.value for s in DeliveryState), "migrated")


@dataclass(frozen=True, slots=True)
class Progress:
    """A notice's delivery: counts by state, groups that moved to a supergroup, and how
    many failed groups a retry would send to."""

    counts: DeliveryCounts
    migrated: int = 0
    retryable: int = 0

    @property
    def percent(self) -> int:
        """How much of the delivery is done (sent or failed), 0-100."""
        total = self.counts.total
        if total == 0:
            return 0
        return math.floor(100 * (self.counts.sent + self.counts.failed) / total)


@dataclass(frozen=True, slots=True)
class Row:
    delivery: Delivery
    group: Group | None  # the registry's record (sector, area), None when unknown


@dataclass(frozen=True, slots=True)
class RowsPage:
    view: str
    rows: tuple[Row, ...]
    # Cursors: ``before`` for the previous page, ``after`` for the next (None: none).
    prev_before: int | None
    next_after: int | None
    # Page number (0-based) and count, when the view is every group in plan order.
    page: int | None = None
    pages: int | None = None


@dataclass(frozen=True, slots=True)
class NoticeList:
    items: tuple[tuple[Notice, Progress], ...]
    page: int
    has_next: bool
    everyone: bool


def counts_of(notice: Notice, found: dict[str, int]) -> DeliveryCounts:
    pending = found.get(DeliveryState.PENDING.value, 0)
    sending = found.get(DeliveryState.SENDING.value, 0)
    failed = found.get(DeliveryState.FAILED.value, 0)
    if notice.groups is not None:
        sent = max(0, notice.groups - pending - sending - failed)
    else:
        sent = found.get(DeliveryState.SENT.value, 0)
    return DeliveryCounts(pending=pending, sending=sending, sent=sent, failed=failed)


class NoticeMonitor:
    def __init__(
        self,
        service: NoticeService,
        notices: NoticeBrowser,
        deliveries: DeliveryBrowser,
        groups: GroupDirectory,
        *,
        page_size: int = PAGE_SIZE,
    ) -> None:
        self._service = service
        self._notices = notices
        self._deliveries = deliveries
        self._groups = groups
        self.page_size = page_size

    # -- which notices ---------------------------------------------------------------------
    async def notices(
        self, principal: Principal, *, everyone: bool = False, page: int = 0, size: int = LIST_SIZE
    ) -> NoticeList:
        """The officer's notices (a superadmin asking for ``everyone``: all), newest first,
        with their delivery counts. ``PermissionDenied`` without the broadcast right."""
        self._service.broadcast_scopes(principal)
        everyone = everyone and principal.is_superadmin
        page = max(0, page)
        found = await self._notices.page_for(
            None if everyone else principal.user_id, page * size, size + 1
        )
        items = found[:size]
        counts = await self.counts(items)
        return NoticeList(
            tuple((n, Progress(counts[n.notice_id])) for n in items),
            page,
            len(found) > size,
            everyone,
        )

    async def notice(self, principal: Principal, ref: str) -> Notice:
        """A notice the officer may manage (as the bot's ``/notice_update``)."""
        return await self._service.find(principal, ref)

    async def sending(self, principal: Principal, limit: int = 10) -> list[tuple[Notice, Progress]]:
        """Notices being delivered now: the officer's own (a superadmin's: all)."""
        if not principal.can(Permission.BROADCAST):
            return []
        found = await self._notices.sending_for(
            None if principal.is_superadmin else principal.user_id, limit
        )
        counts = await self.counts(found)
        return [(n, Progress(counts[n.notice_id])) for n in found]

    # -- how far each got ------------------------------------------------------------------
    async def counts(self, notices: Sequence[Notice]) -> dict[str, DeliveryCounts]:
        """Delivery counts of several notices: at most two indexed aggregations."""
        by_total = [n.notice_id for n in notices if n.groups is not None]
        older = [n.notice_id for n in notices if n.groups is None and n.planned]
        found = await self._deliveries.unsent_counts(by_total)
        if older:
            found |= await self._deliveries.state_counts(older)
        return {n.notice_id: counts_of(n, found.get(n.notice_id, {})) for n in notices}

    async def overview(self, notice: Notice) -> Progress:
        """The monitor's summary of one notice."""
        counts = (await self.counts([notice]))[notice.notice_id]
        migrated = await self._deliveries.migrated_count(notice.notice_id)
        retryable = 0
        if counts.failed and notice.status.is_open:
            retryable = await self._deliveries.retryable_count(notice.notice_id, NOT_RETRIED)
        return Progress(counts, migrated, retryable)

    # -- the groups, a page at a time ----------------------------------------------------------
    async def rows(
        self,
        notice: Notice,
        view: str = "all",
        *,
        after: int | None = None,
        before: int | None = None,
        page: int | None = None,
    ) -> RowsPage:
        """One page of the notice's groups in plan order: after the position ``after``,
        before ``before``, or (every group) page number ``page``."""
        if view not in VIEWS:
            raise ValueError(f"unknown view {view!r}; views: {VIEWS}")
        size = self.page_size
        by_seq = notice.groups is not None
        if page is not None and by_seq and view == "all" and before is None:
            after = page * size - 1 if page > 0 else None
        found = await self._deliveries.rows(
            notice.notice_id, view, by_seq=by_seq, after=after, before=before, limit=size
        )

        def key(d: Delivery) -> int:
            return (d.seq if d.seq is not None else d.chat_id) if by_seq else d.chat_id

        if before is not None:
            rows = found[-size:]
            prev_before = key(rows[0]) if len(found) > size and rows else None
            next_after = key(rows[-1]) if rows else None
        else:
            rows = found[:size]
            next_after = key(rows[-1]) if len(found) > size else None
            prev_before = key(rows[0]) if after is not None and rows else None
        ids = [d.chat_id for d in rows] + [d.migrated_from for d in rows if d.migrated_from]
        groups = await self._groups.many(ids)
        number = pages = None
        if by_seq and view == "all" and notice.groups is not None:
            pages = max(1, math.ceil(notice.groups / size))
            first = rows[0].seq if rows and rows[0].seq is not None else 0
            number = min(first // size, pages - 1)
        return RowsPage(
            view,
            tuple(Row(d, groups.get(d.chat_id)) for d in rows),
            prev_before,
            next_after,
            number,
            pages,
        )
