"""Admission: a join request becomes an application, a short private form, and a decision.

States: ``form`` (answering questions) or ``confirm`` (a known member confirming their
stored profile) -> ``submitted`` (waiting for a manager) -> ``approved`` | ``declined``;
``cancelled`` by the applicant; ``expired`` when nobody decided in time. The first
decision wins (an atomic state change); everything after it is told who decided.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Protocol

from groups.members import (
    Member,
    MemberRepository,
    MemberRoleGrants,
    Membership,
)
from groups.model import Group, GroupStatus
from groups.roles import Permission, Principal, Scope
from kernel.audit import AuditEntry, AuditLog
from kernel.clock import Clock
from kernel.errors import InvalidInput, NotFound, PermissionDenied


class AppState(StrEnum):
    FORM = "form"
    CONFIRM = "confirm"
    SUBMITTED = "submitted"
    APPROVED = "approved"
    DECLINED = "declined"
    CANCELLED = "cancelled"
    EXPIRED = "expired"


OPEN_STATES = frozenset({AppState.FORM, AppState.CONFIRM, AppState.SUBMITTED})
FILLING_STATES = frozenset({AppState.FORM, AppState.CONFIRM})

# The questions, in order. Sector-specific ones follow the common ones.
BASE_STEPS = ("name", "phone", "workplace", "address")
SECTOR_STEPS: Mapping[str, tuple[str, ...]] = {
    "drivers": ("plate", "company"),
    "landlords": ("property_address",),
    "recyclers": ("licence",),
    "hospitality": ("licence",),
}
PROFILE_FIELDS = ("workplace", "address")  # stored as top-level member fields

PROVINCES = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼使领"
PLATE_RE = re.compile(
    rf"^[{PROVINCES}][A-HJ-NP-Z](?:[A-HJ-NP-Z0-9]{{4}}[A-HJ-NP-Z0-9挂学警港澳]|[DF][A-HJ-NP-Z0-9]{{5}}|[A-HJ-NP-Z0-9]{{5}}[DF])$"
)
# 18-character unified social credit code, or the older 15-digit registration number.
LICENCE_RE = re.compile(r"^(?:[0-9A-HJ-NPQRTUWXY]{2}\d{6}[0-9A-HJ-NPQRTUWXY]{10}|\d{15})$")
PHONE_RE = re.compile(r"^\+?\d{7,15}$")
CN_MOBILE_RE = re.compile(r"^(?:\+?86)?(1[3-9]\d{9})$")
NAME_RE = re.compile(r"^[^\d<>/\\@#$%^&*=+_|~`{}\[\]]+$")

LIMITS: Mapping[str, tuple[int, int]] = {
    "name": (2, 40),
    "workplace": (2, 100),
    "address": (4, 200),
    "company": (2, 100),
    "property_address": (4, 200),
}


def steps_for(sector: str) -> tuple[str, ...]:
    return BASE_STEPS + SECTOR_STEPS.get(sector, ())


def normalize_phone(raw: str) -> str:
    digits = re.sub(r"[\s()-]", "", raw)
    m = CN_MOBILE_RE.match(digits)
    if m:
        return "+86" + m.group(1)
    if not PHONE_RE.match(digits):
        raise InvalidInput("admission.bad_phone")
    return digits if digits.startswith("+") else "+" + digits


def validate_answer(step: str, text: str) -> str:
    """Normalise an answer or raise InvalidInput with the step's re-prompt."""
    value = " ".join(text.split())
    if step == "plate":
        plate = re.sub(r"[\s·.\-]", "", value).upper()
        if not PLATE_RE.match(plate):
            raise InvalidInput("admission.bad_plate")
        return plate
    if step == "licence":
        licence = re.sub(r"[\s-]", "", value).upper()
        if not LICENCE_RE.match(licence):
            raise InvalidInput("admission.bad_licence")
        return licence
    if step == "phone":
        raise InvalidInput("admission.phone_button")
    low, high = LIMITS[step]
    if not (low <= len(value) <= high):
        raise InvalidInput(f"admission.bad_{step}", min=low, max=high)
    if step == "name" and not NAME_RE.match(value):
        raise InvalidInput("admission.bad_name", min=low, max=high)
    return value


@dataclass(frozen=True, slots=True)
class Card:
    """An application card shown to one manager."""

    chat_id: int
    message_id: int


@dataclass(frozen=True, slots=True)
class Application:
    id: str
    user_id: int
    chat_id: int
    sector: str
    area: str | None
    state: AppState
    steps: tuple[str, ...]
    answers: dict[str, str] = field(default_factory=dict)
    created_at: datetime | None = None
    submitted_at: datetime | None = None
    decided_by: int | None = None
    decided_at: datetime | None = None
    reason: str | None = None
    reuse: bool = False  # a known member: profile reused, shorter confirmation
    cards: tuple[Card, ...] = ()
    group_title: str = ""
    first_name: str = ""
    username: str | None = None

    @property
    def next_step(self) -> str | None:
        return next((s for s in self.steps if s not in self.answers), None)

    @property
    def scope(self) -> Scope:
        return Scope(self.sector, self.area)


def new_application_id() -> str:
    return secrets.token_hex(6)


class ApplicationRepository(Protocol):
    async def create(self, app: Application) -> bool:
        """Insert; False when this person already has an open application to this group."""
        ...

    async def get(self, app_id: str) -> Application | None: ...

    async def open_for(self, user_id: int, chat_id: int) -> Application | None: ...

    async def filling(self, user_id: int) -> Application | None:
        """The newest application this person is still answering (form or confirm)."""
        ...

    async def answer(self, app_id: str, step: str, value: str) -> Application | None:
        """Store one answer while the application is in ``form``."""
        ...

    async def transition(
        self,
        app_id: str,
        from_states: frozenset[AppState],
        to: AppState,
        **fields: object,
    ) -> Application | None:
        """Atomically move from one of ``from_states``; None when it was not in any."""
        ...

    async def add_card(self, app_id: str, card: Card) -> None: ...

    async def due(self, before: datetime, limit: int = 100) -> list[Application]:
        """Open applications created before ``before``."""
        ...

    async def migrate_chat(self, old_chat_id: int, new_chat_id: int) -> None: ...


class JoinGateway(Protocol):
    async def approve_join(self, chat_id: int, user_id: int) -> bool: ...

    async def decline_join(self, chat_id: int, user_id: int) -> bool: ...


class StartKind(StrEnum):
    FORM = "form"
    CONFIRM = "confirm"
    DUPLICATE = "duplicate"
    BANNED = "banned"


@dataclass(frozen=True, slots=True)
class Started:
    kind: StartKind
    app: Application | None
    member: Member | None = None


@dataclass(frozen=True, slots=True)
class Decision:
    app: Application
    won: bool  # False: someone else decided first (``app`` shows who)
    telegram_ok: bool = True


class AdmissionService:
    def __init__(
        self,
        apps: ApplicationRepository,
        members: MemberRepository,
        gateway: JoinGateway,
        roles: MemberRoleGrants,
        audit: AuditLog,
        clock: Clock,
        timeout: timedelta,
    ) -> None:
        self._apps = apps
        self._members = members
        self._gateway = gateway
        self._roles = roles
        self._audit = audit
        self._clock = clock
        self.timeout = timeout

    async def _record(
        self, actor: int | None, action: str, app: Application, **details: object
    ) -> None:
        details = {"user_id": app.user_id, "chat_id": app.chat_id, **details}
        await self._audit.record(
            AuditEntry(actor, action, "application", app.id, self._clock.now(), details)
        )

    # ------------------------------------------------------------------ start
    async def start(
        self, group: Group, user_id: int, first_name: str, username: str | None
    ) -> Started:
        if group.status is not GroupStatus.ACTIVE:
            raise NotFound("groups.not_bound")
        member = await self._members.get(user_id)
        now = self._clock.now()
        base = Application(
            id=new_application_id(),
            user_id=user_id,
            chat_id=group.chat_id,
            sector=group.sector,
            area=group.area,
            state=AppState.FORM,
            steps=steps_for(group.sector),
            created_at=now,
            group_title=group.title,
            first_name=first_name,
            username=username,
        )
        # Banned platform-wide, or by a manager of this group's sector/area.
        if member is not None and member.banned_in(Scope(group.sector, group.area)):
            closed = replace(base, state=AppState.DECLINED, decided_at=now, reason="banned")
            await self._apps.create(closed)
            await self._gateway.decline_join(group.chat_id, user_id)
            await self._record(None, "application.auto_decline", closed, reason="banned")
            return Started(StartKind.BANNED, closed, member)
        if member is not None and member.good_standing and member.groups:
            answers = profile_answers(member)
            app = replace(base, answers=answers, reuse=True)
            if app.next_step is None:
                app = replace(app, state=AppState.CONFIRM)
        else:
            app = base
        if not await self._apps.create(app):
            return Started(StartKind.DUPLICATE, await self._apps.open_for(user_id, group.chat_id))
        await self._record(None, "application.start", app, reuse=app.reuse)
        kind = StartKind.CONFIRM if app.state is AppState.CONFIRM else StartKind.FORM
        return Started(kind, app, member)

    # ------------------------------------------------------------------ form
    async def filling(self, user_id: int) -> Application | None:
        return await self._apps.filling(user_id)

    async def answer_text(self, app: Application, text: str) -> Application:
        step = app.next_step
        if app.state is not AppState.FORM or step is None:
            raise InvalidInput("admission.not_expected")
        value = validate_answer(step, text)
        return await self._store(app, step, value)

    async def answer_contact(
        self, app: Application, sender_id: int, contact_user_id: int | None, phone: str
    ) -> Application:
        if app.state is not AppState.FORM or app.next_step != "phone":
            raise InvalidInput("admission.not_expected")
        if contact_user_id != sender_id:
            raise InvalidInput("admission.own_contact_only")
        return await self._store(app, "phone", normalize_phone(phone))

    async def _store(self, app: Application, step: str, value: str) -> Application:
        updated = await self._apps.answer(app.id, step, value)
        if updated is None:
            raise InvalidInput("admission.not_expected")
        if updated.next_step is None:
            return await self.submit(updated)
        return updated

    async def submit(self, app: Application) -> Application:
        submitted = await self._apps.transition(
            app.id, FILLING_STATES, AppState.SUBMITTED, submitted_at=self._clock.now()
        )
        if submitted is None:
            raise InvalidInput("admission.not_expected")
        await self._record(None, "application.submit", submitted)
        return submitted

    async def confirm(self, app_id: str, user_id: int) -> Application:
        app = await self._apps.get(app_id)
        if app is None or app.user_id != user_id or app.state is not AppState.CONFIRM:
            raise InvalidInput("core.stale_button")
        return await self.submit(app)

    async def cancel(self, app: Application, user_id: int) -> Application:
        if app.user_id != user_id:
            raise InvalidInput("core.stale_button")
        done = await self._apps.transition(
            app.id, FILLING_STATES, AppState.CANCELLED, decided_at=self._clock.now()
        )
        if done is None:
            raise InvalidInput("admission.nothing_to_cancel")
        await self._gateway.decline_join(app.chat_id, app.user_id)
        await self._record(app.user_id, "application.cancel", done)
        return done

    # ------------------------------------------------------------------ decisions
    async def get(self, app_id: str) -> Application | None:
        return await self._apps.get(app_id)

    async def add_card(self, app_id: str, card: Card) -> None:
        await self._apps.add_card(app_id, card)

    def check_decider(self, principal: Principal, app: Application) -> None:
        if not principal.can(Permission.MANAGE_GROUPS, app.scope):
            raise PermissionDenied()

    async def decide(
        self, principal: Principal, app_id: str, approve: bool, reason: str | None = None
    ) -> Decision:
        app = await self._apps.get(app_id)
        if app is None:
            raise InvalidInput("core.stale_button")
        self.check_decider(principal, app)
        if not approve:
            reason = " ".join((reason or "").split())
            if not (2 <= len(reason) <= 300):
                raise InvalidInput("admission.bad_reason", min=2, max=300)
        now = self._clock.now()
        to = AppState.APPROVED if approve else AppState.DECLINED
        won = await self._apps.transition(
            app.id,
            frozenset({AppState.SUBMITTED}),
            to,
            decided_by=principal.user_id,
            decided_at=now,
            reason=reason,
        )
        if won is None:
            latest = await self._apps.get(app.id)
            return Decision(latest or app, won=False)
        if approve:
            ok = await self._gateway.approve_join(won.chat_id, won.user_id)
            if ok:  # a request withdrawn meanwhile admits nobody
                await self._admit(won, principal.user_id)
            await self._record(principal.user_id, "application.approve", won, telegram_ok=ok)
        else:
            ok = await self._gateway.decline_join(won.chat_id, won.user_id)
            await self._record(
                principal.user_id, "application.decline", won, reason=reason, telegram_ok=ok
            )
        return Decision(won, won=True, telegram_ok=ok)

    async def _admit(self, app: Application, by: int) -> None:
        now = self._clock.now()
        a = app.answers
        sector_fields = {k: v for k, v in a.items() if k not in BASE_STEPS}
        member = Member(
            user_id=app.user_id,
            name=a.get("name", app.first_name),
            phone=a.get("phone", ""),
            workplace=a.get("workplace", ""),
            address=a.get("address", ""),
            fields=sector_fields,
            sector=app.sector,
            area=app.area,
            admitted_by=by,
            admitted_at=now,
            username=app.username,
        )
        await self._members.admit(
            member, Membership(app.chat_id, app.sector, app.area, joined_at=now)
        )
        await self._roles.grant_member(app.user_id, by, now)

    # ------------------------------------------------------------------ timeouts
    async def expire_due(self) -> list[Application]:
        now = self._clock.now()
        expired: list[Application] = []
        for app in await self._apps.due(now - self.timeout):
            done = await self._apps.transition(
                app.id, OPEN_STATES, AppState.EXPIRED, decided_at=now, reason="timeout"
            )
            if done is None:
                continue  # decided meanwhile
            await self._gateway.decline_join(done.chat_id, done.user_id)
            await self._record(None, "application.expire", done)
            expired.append(done)
        return expired


def profile_answers(member: Member) -> dict[str, str]:
    answers = {"name": member.name, "phone": member.phone}
    for key in PROFILE_FIELDS:
        value = getattr(member, key)
        if value:
            answers[key] = value
    answers.update({k: v for k, v in member.fields.items() if v})
    return answers
