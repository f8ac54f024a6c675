"""The notice lifecycle: compose-time validation, send/schedule, update, close, expire."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from decimal import Decimal

from broadcasts.model import (
    CLOSED,
    PHOTO_REQUIRED,
    Draft,
    Notice,
    NoticeKind,
    NoticeStatus,
    Recurrence,
)
from broadcasts.ports import DeliveryRepository, NoticeRepository, RecurrenceRepository, Target
from broadcasts.refs import normalize_ref
from broadcasts.text import (
    MAX_REWARD,
    check_body,
    check_expiry,
    check_photo_count,
    check_rendered,
    check_reward_max,
    check_title,
)
from groups.model import Audience, Group, GroupRepository
from groups.roles import UNRESTRICTED, Permission, Principal, Scope
from kernel.audit import AuditEntry, AuditLog
from kernel.clock import Clock
from kernel.errors import InvalidInput, NotFound, PermissionDenied

# Failed deliveries a retry leaves alone: groups skipped because the notice was closed, and
# a group's old id when its supergroup got the notice by a delivery of its own.
NOT_RETRIED = ("closed", "migrated_duplicate")

# Renders the main text a group sees (caption with photos, message without).
Renderer = Callable[[Notice], str]


def audience_empty(a: Audience) -> bool:
    return not a.sectors and not a.areas and a.center is None


def in_scopes(group: Group, scopes: Sequence[Scope]) -> bool:
    if not scopes:
        return True
    where = Scope(group.sector, group.area)
    return any(s.covers(where) for s in scopes)


class NoticeService:
    def __init__(
        self,
        notices: NoticeRepository,
        deliveries: DeliveryRepository,
        groups: GroupRepository,
        recurrences: RecurrenceRepository,
        audit: AuditLog,
        clock: Clock,
        render: Renderer,
        *,
        locale: str = "zh-CN",
        max_reward: Decimal = MAX_REWARD,
    ) -> None:
        self._notices = notices
        self._deliveries = deliveries
        self._groups = groups
        self._recurrences = recurrences
        self._audit = audit
        self._clock = clock
        self._render = render
        self._locale = locale
        self._max_reward = max_reward

    # -- who may do what ------------------------------------------------------------------
    @staticmethod
    def broadcast_scopes(principal: Principal) -> tuple[Scope, ...]:
        scopes = principal.scopes_for(Permission.BROADCAST)
        if not scopes:
            raise PermissionDenied()
        return () if UNRESTRICTED in scopes else tuple(scopes)

    async def targets(self, audience: Audience, scopes: Sequence[Scope]) -> list[Group]:
        if audience_empty(audience):
            return []
        return [g for g in await self._groups.targets(audience) if in_scopes(g, scopes)]

    async def plan_targets(self, notice: Notice) -> list[Target]:
        return [
            Target(g.chat_id, g.title) for g in await self.targets(notice.audience, notice.scopes)
        ]

    async def find(self, principal: Principal, ref_text: str) -> Notice:
        ref = normalize_ref(ref_text)
        notice = await self._notices.by_ref(ref) if ref else None
        if notice is None:
            raise NotFound("notices.err.not_found", ref=ref_text[:20])
        if not (principal.is_superadmin or notice.may_manage(principal.user_id)):
            raise PermissionDenied("notices.err.not_yours", ref=notice.ref)
        return notice

    # -- composing ---------------------------------------------------------------------------
    def draft_notice(self, draft: Draft, *, ref: str = "N-0000-00") -> Notice:
        """The notice a draft would become (for previews and the final check)."""
        now = self._clock.now()
        return Notice(
            notice_id="preview",
            ref=ref,
            kind=draft.kind or NoticeKind.PUBLICITY,
            title=draft.title,
            body=draft.body,
            created_by=draft.user_id,
            created_at=now,
            expires_at=draft.expires_at or now + timedelta(days=30),
            audience=draft.audience,
            photos=draft.photos,
            case_no=draft.case_no,
            reward=draft.reward,
            urgency=draft.urgency,
            pin=draft.pin,
            investigators=(draft.user_id,),
            locale=self._locale,
        )

    def validate(self, draft: Draft, *, send_at: datetime | None = None) -> None:
        """Everything that can be wrong with a draft, in dialog order (first error wins)."""
        if draft.kind is None:
            raise InvalidInput("notices.err.kind_missing")
        check_title(draft.title)
        check_body(draft.body)
        check_photo_count(len(draft.photos), required=draft.kind in PHOTO_REQUIRED)
        if draft.reward is not None:  # a draft saved before the maximum was lowered
            check_reward_max(draft.reward.amount, self._max_reward)
        if audience_empty(draft.audience):
            raise InvalidInput("notices.err.no_audience")
        if draft.expires_at is None:
            raise InvalidInput("notices.err.expiry_missing")
        now = self._clock.now()
        check_expiry(draft.expires_at, now)
        if send_at is not None:
            if send_at <= now:
                raise InvalidInput("notices.err.schedule_past")
            if send_at >= draft.expires_at:
                raise InvalidInput("notices.err.schedule_after_expiry")
        # The longest reference (N-YYMM-NNN...) leaves a few units of slack.
        check_rendered(
            self._render(self.draft_notice(draft, ref="N-0000-0000")), has_photo=bool(draft.photos)
        )

    async def submit(
        self, principal: Principal, draft: Draft, *, send_at: datetime | None = None
    ) -> Notice:
        """Turn a confirmed draft into a notice: sending now, or scheduled for ``send_at``."""
        scopes = self.broadcast_scopes(principal)
        self.validate(draft, send_at=send_at)
        if not await self.targets(draft.audience, scopes):
            raise InvalidInput("notices.err.no_groups")
        now = self._clock.now()
        notice = replace(
            self.draft_notice(draft, ref=await self._notices.next_ref(send_at or now)),
            notice_id=uuid.uuid4().hex,
            created_by=principal.user_id,
            investigators=(principal.user_id,),
            created_at=now,
            status=NoticeStatus.SCHEDULED if send_at else NoticeStatus.SENDING,
            send_at=send_at,
            scopes=scopes,
        )
        await self._notices.insert(notice)
        await self._audit.record(
            AuditEntry(
                principal.user_id,
                "notice.schedule" if send_at else "notice.send",
                "notice",
                notice.notice_id,
                now,
                {
                    "ref": notice.ref,
                    "kind": notice.kind.value,
                    "title": notice.title,
                    "urgency": notice.urgency.value,
                    "send_at": send_at.isoformat() if send_at else None,
                    "photos": len(notice.photos),
                },
            )
        )
        return notice

    # -- after sending ---------------------------------------------------------------------
    async def _prepare_update(
        self, principal: Principal, ref: str, title: str | None, body: str | None
    ) -> tuple[Notice, Notice, str | None, str | None]:
        notice = await self.find(principal, ref)
        if notice.status.is_closed:
            raise InvalidInput("notices.err.closed", ref=notice.ref)
        new_title = check_title(title) if title is not None else None
        new_body = check_body(body) if body is not None else None
        candidate = replace(notice, title=new_title or notice.title, body=new_body or notice.body)
        check_rendered(self._render(candidate), has_photo=bool(notice.photos))
        return notice, candidate, new_title, new_body

    async def check_update(
        self, principal: Principal, ref: str, *, title: str | None = None, body: str | None = None
    ) -> Notice:
        """The notice as ``update`` would make it, checked exactly as ``update`` checks it,
        changing nothing (for a confirmation step). Raises what ``update`` raises."""
        _, candidate, _, _ = await self._prepare_update(principal, ref, title, body)
        return candidate

    async def update(
        self, principal: Principal, ref: str, *, title: str | None = None, body: str | None = None
    ) -> Notice:
        notice, _, new_title, new_body = await self._prepare_update(principal, ref, title, body)
        updated = await self._notices.set_content(notice.notice_id, title=new_title, body=new_body)
        if updated is None:
            raise InvalidInput("notices.err.closed", ref=notice.ref)
        await self._audit.record(
            AuditEntry(
                principal.user_id,
                "notice.update",
                "notice",
                notice.notice_id,
                self._clock.now(),
                {
                    "ref": notice.ref,
                    "title": new_title,
                    "body": new_body,
                    "revision": updated.revision,
                },
            )
        )
        return updated

    async def retry(self, principal: Principal, ref: str) -> tuple[Notice, int]:
        """Send again to the groups a notice failed to reach (not those it skipped because
        it was closed, nor a group's old id after it became a supergroup that was reached
        by its own delivery): their deliveries go back to pending, and an active notice is
        sending again until they are done, so the delivery sweep takes it up. Audited
        ``notice.retry``. Returns the notice and how many groups are tried again."""
        notice = await self.find(principal, ref)
        if notice.status.is_closed:
            raise InvalidInput("notices.err.closed", ref=notice.ref)
        if not notice.status.is_open:
            raise InvalidInput("notices.retry.none", ref=notice.ref)
        now = self._clock.now()
        count = await self._deliveries.retry_failed(notice.notice_id, NOT_RETRIED, now)
        if count == 0:
            raise InvalidInput("notices.retry.none", ref=notice.ref)
        moved = await self._notices.transition(
            notice.notice_id, [NoticeStatus.ACTIVE], NoticeStatus.SENDING
        )
        current = moved or await self._notices.get(notice.notice_id) or notice
        if current.status.is_closed:
            # Closed meanwhile: groups not reached never get a closed notice.
            await self._deliveries.cancel_pending(notice.notice_id, "closed", now)
            raise InvalidInput("notices.err.closed", ref=notice.ref)
        await self._audit.record(
            AuditEntry(
                principal.user_id,
                "notice.retry",
                "notice",
                notice.notice_id,
                now,
                {"ref": notice.ref, "groups": count, "was": notice.status.value},
            )
        )
        return current, count

    async def close(self, principal: Principal, ref: str, status: NoticeStatus) -> Notice:
        if status not in (NoticeStatus.SOLVED, NoticeStatus.WITHDRAWN):
            raise InvalidInput("notices.err.close_status")
        notice = await self.find(principal, ref)
        if notice.status.is_closed:
            raise InvalidInput("notices.err.closed", ref=notice.ref)
        closed = await self._notices.transition(
            notice.notice_id,
            [NoticeStatus.SCHEDULED, NoticeStatus.SENDING, NoticeStatus.ACTIVE],
            status,
            at=self._clock.now(),
            bump=True,
        )
        if closed is None:
            raise InvalidInput("notices.err.closed", ref=notice.ref)
        # Groups not reached yet never get a closed notice.
        await self._deliveries.cancel_pending(notice.notice_id, "closed", self._clock.now())
        await self._audit.record(
            AuditEntry(
                principal.user_id,
                f"notice.{status.value}",
                "notice",
                notice.notice_id,
                self._clock.now(),
                {"ref": notice.ref, "was": notice.status.value},
            )
        )
        await self._recurrences.stop(notice.notice_id)
        return closed

    async def expire_due(self) -> list[Notice]:
        expired: list[Notice] = []
        now = self._clock.now()
        while (n := await self._notices.expire_due(now)) is not None:
            expired.append(n)
            await self._deliveries.cancel_pending(n.notice_id, "closed", now)
            await self._audit.record(
                AuditEntry(None, "notice.expire", "notice", n.notice_id, now, {"ref": n.ref})
            )
        return expired

    async def dispatch_due(self) -> list[Notice]:
        """Scheduled notices whose time has come (each claimed once: scheduled -> sending)."""
        started: list[Notice] = []
        now = self._clock.now()
        while (n := await self._notices.claim_due_scheduled(now)) is not None:
            started.append(n)
            await self._audit.record(
                AuditEntry(
                    None,
                    "notice.send",
                    "notice",
                    n.notice_id,
                    now,
                    {"ref": n.ref, "scheduled": True},
                )
            )
        return started

    # -- recurring publicity -------------------------------------------------------------
    async def repeat(
        self, principal: Principal, ref: str, every_days: int | None
    ) -> Recurrence | None:
        notice = await self.find(principal, ref)
        if every_days is None:
            if not await self._recurrences.stop(notice.notice_id):
                raise InvalidInput("notices.err.not_recurring", ref=notice.ref)
            await self._audit.record(
                AuditEntry(
                    principal.user_id,
                    "notice.recur_stop",
                    "notice",
                    notice.notice_id,
                    self._clock.now(),
                    {"ref": notice.ref},
                )
            )
            return None
        if notice.kind is not NoticeKind.PUBLICITY:
            raise InvalidInput("notices.err.recur_publicity_only")
        if notice.status.is_closed:
            raise InvalidInput("notices.err.closed", ref=notice.ref)
        if not 1 <= every_days <= 365:
            raise InvalidInput("notices.err.recur_days")
        base = notice.sent_at or notice.send_at or notice.created_at
        now = self._clock.now()
        next_at = base + timedelta(days=every_days)
        while next_at <= now:
            next_at += timedelta(days=every_days)
        rec = Recurrence(
            recurrence_id=notice.notice_id,
            source_id=notice.notice_id,
            every_days=every_days,
            next_at=next_at,
            created_by=principal.user_id,
        )
        await self._recurrences.save(rec)
        await self._audit.record(
            AuditEntry(
                principal.user_id,
                "notice.recur",
                "notice",
                notice.notice_id,
                now,
                {"ref": notice.ref, "every_days": every_days},
            )
        )
        return rec

    async def recur_due(self) -> list[Notice]:
        """Post every due recurrence again as a new notice (new reference, same content)."""
        created: list[Notice] = []
        now = self._clock.now()
        while (rec := await self._recurrences.claim_due(now)) is not None:
            source = await self._notices.get(rec.source_id)
            if source is None or source.status in CLOSED - {NoticeStatus.EXPIRED}:
                await self._recurrences.stop(rec.source_id)
                continue
            lifetime = source.expires_at - (source.sent_at or source.send_at or source.created_at)
            copy = replace(
                source,
                notice_id=uuid.uuid4().hex,
                ref=await self._notices.next_ref(now),
                created_at=now,
                expires_at=now + max(lifetime, timedelta(hours=1)),
                status=NoticeStatus.SENDING,
                send_at=None,
                sent_at=None,
                closed_at=None,
                revision=0,
                synced_revision=0,
                planned=False,
                groups=None,
                progress_chat_id=None,
                progress_message_id=None,
                recurrence_id=rec.recurrence_id,
            )
            await self._notices.insert(copy)
            await self._audit.record(
                AuditEntry(
                    None,
                    "notice.send",
                    "notice",
                    copy.notice_id,
                    now,
                    {"ref": copy.ref, "recurrence_of": source.ref},
                )
            )
            created.append(copy)
        return created
