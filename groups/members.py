"""The member registry: one profile per admitted person, and platform-wide removal.

A member's ``groups`` lists every bound group they were admitted to, with the status of
that membership; the member's own ``status`` is the platform-wide one:
``active`` (in at least one group), ``left`` (in none, by their own choice or a human
admin), ``removed`` (removed by a manager from every group) or ``banned``.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from groups.audit import AuditEntry, AuditLog
from groups.clock import Clock
from groups.errors import InvalidInput, NotFound, PermissionDenied
from groups.model import Group, GroupStatus
from groups.roles import Permission, Principal, Scope

MAX_REASON = 300


class MemberStatus(StrEnum):
    ACTIVE = "active"
    LEFT = "left"
    REMOVED = "removed"
    BANNED = "banned"


@dataclass(frozen=True, slots=True)
class Membership:
    chat_id: int
    sector: str
    area: str | None
    status: MemberStatus = MemberStatus.ACTIVE
    joined_at: datetime | None = None
    left_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Member:
    user_id: int
    name: str
    phone: str
    workplace: str = ""
    address: str = ""
    fields: dict[str, str] = field(default_factory=dict)  # sector-specific answers
    sector: str = ""  # of the group first admitted to
    area: str | None = None
    status: MemberStatus = MemberStatus.ACTIVE
    groups: tuple[Membership, ...] = ()
    admitted_by: int | None = None
    admitted_at: datetime | None = None
    username: str | None = None
    status_reason: str | None = None
    status_by: int | None = None
    status_at: datetime | None = None

    @property
    def good_standing(self) -> bool:
        return self.status in (MemberStatus.ACTIVE, MemberStatus.LEFT)

    def active_groups(self) -> list[Membership]:
        return [g for g in self.groups if g.status is MemberStatus.ACTIVE]

    def scopes(self) -> list[Scope]:
        scopes = [Scope(g.sector, g.area) for g in self.groups]
        return scopes or [Scope(self.sector, self.area)]


def mask_phone(phone: str) -> str:
    """``+8613812345678`` -> ``+86138****5678``; short numbers keep only the last 2 digits."""
    digits = re.sub(r"\D", "", phone)
    prefix = "+" if phone.startswith("+") else ""
    if len(digits) >= 11:
        return f"{prefix}{digits[:-8]}****{digits[-4:]}"
    if len(digits) > 4:
        return f"{prefix}{'*' * (len(digits) - 2)}{digits[-2:]}"
    return "****"


def overall_status(current: MemberStatus, groups: Iterable[Membership]) -> MemberStatus:
    """The platform-wide status after a group membership changed."""
    if current in (MemberStatus.BANNED, MemberStatus.REMOVED) and not any(
        g.status is MemberStatus.ACTIVE for g in groups
    ):
        return current
    if any(g.status is MemberStatus.ACTIVE for g in groups):
        return MemberStatus.ACTIVE
    return MemberStatus.LEFT


def in_scope(principal: Principal, member: Member) -> bool:
    return any(principal.can(Permission.MANAGE_GROUPS, s) for s in member.scopes())


@dataclass(frozen=True, slots=True)
class MemberFilter:
    """Members in any of ``scopes`` (empty: everyone), narrowed to a sector and/or area."""

    scopes: tuple[Scope, ...] = ()
    sector: str | None = None
    area: str | None = None


class MemberRepository(Protocol):
    async def get(self, user_id: int) -> Member | None: ...

    async def by_username(self, username: str) -> Member | None: ...

    async def admit(self, member: Member, membership: Membership) -> Member:
        """Create or refresh the profile and add (or reactivate) one group membership."""
        ...

    async def set_membership(
        self, user_id: int, chat_id: int, status: MemberStatus, at: datetime
    ) -> Member | None:
        """Change one group membership; the overall status follows. None: not a member there."""
        ...

    async def set_status(
        self,
        user_id: int,
        status: MemberStatus,
        *,
        group_status: MemberStatus | None,
        by: int | None,
        reason: str | None,
        at: datetime,
    ) -> Member | None:
        """Set the platform-wide status (and every group membership's, when given)."""
        ...

    async def find(self, flt: MemberFilter) -> list[Member]: ...

    async def active_counts(self) -> dict[int, int]:
        """Active members per group chat id."""
        ...

    async def migrate_chat(self, old_chat_id: int, new_chat_id: int) -> None: ...


class ChatGateway(Protocol):
    """What the member service asks Telegram to do (implemented in the bot layer)."""

    async def ban(self, chat_id: int, user_id: int) -> bool: ...

    async def unban(self, chat_id: int, user_id: int) -> bool: ...

    async def kick(self, chat_id: int, user_id: int) -> bool:
        """Remove from the group without a lasting ban."""
        ...


class GroupLister(Protocol):
    async def list(self, *, status: GroupStatus | None = None) -> list[Group]: ...


class MemberRoleGrants(Protocol):
    """The ``member`` role follows admission (system grants, audited by the caller)."""

    async def grant_member(self, user_id: int, by: int | None, at: datetime) -> None: ...

    async def revoke_member(self, user_id: int) -> None: ...


@dataclass(frozen=True, slots=True)
class Sweep:
    """Result of a platform-wide removal, ban or unban."""

    member: Member
    done: tuple[int, ...]  # chat ids where Telegram accepted the action
    failed: tuple[int, ...]


class MemberService:
    def __init__(
        self,
        repo: MemberRepository,
        groups: GroupLister,
        gateway: ChatGateway,
        roles: MemberRoleGrants,
        audit: AuditLog,
        clock: Clock,
    ) -> None:
        self._repo = repo
        self._groups = groups
        self._gateway = gateway
        self._roles = roles
        self._audit = audit
        self._clock = clock

    async def get(self, user_id: int) -> Member | None:
        return await self._repo.get(user_id)

    async def view(self, principal: Principal, user_id: int, asked: str) -> Member:
        member = await self._repo.get(user_id)
        # Someone outside the caller's scope looks exactly like someone unknown.
        if member is None or not in_scope(principal, member):
            raise NotFound("members.unknown", who=asked)
        return member

    @staticmethod
    def _reason(reason: str, usage_key: str) -> str:
        reason = " ".join(reason.split())
        if not reason:
            raise InvalidInput(usage_key)
        if len(reason) > MAX_REASON:
            raise InvalidInput("members.reason_too_long", max=MAX_REASON)
        return reason

    async def remove(self, principal: Principal, user_id: int, asked: str, reason: str) -> Sweep:
        reason = self._reason(reason, "members.remove_usage")
        member = await self.view(principal, user_id, asked)
        if member.status in (MemberStatus.REMOVED, MemberStatus.BANNED):
            raise InvalidInput(f"members.already_{member.status.value}", who=asked)
        targets = [g.chat_id for g in member.active_groups()]
        done, failed = await self._each(targets, self._gateway.kick, user_id)
        return await self._finish(
            principal, member, MemberStatus.REMOVED, "member.remove", reason, done, failed
        )

    async def ban(self, principal: Principal, user_id: int, asked: str, reason: str) -> Sweep:
        reason = self._reason(reason, "members.ban_usage")
        member = await self.view(principal, user_id, asked)
        if member.status is MemberStatus.BANNED:
            raise InvalidInput("members.already_banned", who=asked)
        # Every group the bot runs, not only the member's: a ban keeps them out everywhere.
        targets = [g.chat_id for g in await self._groups.list(status=GroupStatus.ACTIVE)]
        done, failed = await self._each(targets, self._gateway.ban, user_id)
        return await self._finish(
            principal, member, MemberStatus.BANNED, "member.ban", reason, done, failed
        )

    async def unban(self, principal: Principal, user_id: int, asked: str) -> Sweep:
        member = await self.view(principal, user_id, asked)
        if member.status is not MemberStatus.BANNED:
            raise InvalidInput("members.not_banned", who=asked)
        targets = [g.chat_id for g in await self._groups.list(status=GroupStatus.ACTIVE)]
        done, failed = await self._each(targets, self._gateway.unban, user_id)
        now = self._clock.now()
        updated = await self._repo.set_status(
            user_id, MemberStatus.LEFT, group_status=None, by=principal.user_id, reason=None, at=now
        )
        await self._audit.record(
            AuditEntry(
                principal.user_id,
                "member.unban",
                "member",
                str(user_id),
                now,
                {"groups": list(done), "failed": list(failed)},
            )
        )
        return Sweep(updated or member, tuple(done), tuple(failed))

    async def _each(
        self, chat_ids: Sequence[int], action: _Action, user_id: int
    ) -> tuple[list[int], list[int]]:
        done: list[int] = []
        failed: list[int] = []
        for chat_id in chat_ids:
            (done if await action(chat_id, user_id) else failed).append(chat_id)
        return done, failed

    async def _finish(
        self,
        principal: Principal,
        member: Member,
        status: MemberStatus,
        action: str,
        reason: str,
        done: list[int],
        failed: list[int],
    ) -> Sweep:
        now = self._clock.now()
        updated = await self._repo.set_status(
            member.user_id,
            status,
            group_status=MemberStatus.REMOVED,
            by=principal.user_id,
            reason=reason,
            at=now,
        )
        await self._roles.revoke_member(member.user_id)
        await self._audit.record(
            AuditEntry(
                principal.user_id,
                action,
                "member",
                str(member.user_id),
                now,
                {"reason": reason, "groups": done, "failed": failed},
            )
        )
        return Sweep(updated or replace(member, status=status), tuple(done), tuple(failed))

    async def roster(
        self, principal: Principal, sector: str | None, area: str | None
    ) -> list[Member]:
        if not principal.is_superadmin:
            wanted = Scope(sector, area)
            scopes = principal.scopes_for(Permission.MANAGE_GROUPS)
            if not any(_overlaps(s, wanted) for s in scopes):
                raise PermissionDenied("members.roster_outside_scope", scope=wanted.label())
            flt = MemberFilter(tuple(scopes), sector, area)
        else:
            flt = MemberFilter((), sector, area)
        return await self._repo.find(flt)


def _overlaps(a: Scope, b: Scope) -> bool:
    sector_ok = a.sector is None or b.sector is None or a.sector == b.sector
    area_ok = a.area is None or b.area is None or a.area == b.area
    return sector_ok and area_ok


class _Action(Protocol):
    async def __call__(self, chat_id: int, user_id: int) -> bool: ...


CSV_FIELDS = (
    "user_id",
    "name",
    "username",
    "phone",
    "status",
    "sector",
    "area",
    "workplace",
    "address",
    "plate",
    "company",
    "property_address",
    "licence",
    "groups",
    "admitted_by",
    "admitted_at",
)


def roster_csv(members: Sequence[Member], *, show_phone: bool) -> bytes:
    """UTF-8 with a byte-order mark, so spreadsheet programs read Chinese correctly."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(CSV_FIELDS)
    for m in members:
        writer.writerow(
            [
                m.user_id,
                _cell(m.name),
                _cell(m.username or ""),
                m.phone if show_phone else mask_phone(m.phone),
                m.status.value,
                m.sector,
                m.area or "",
                _cell(m.workplace),
                _cell(m.address),
                _cell(m.fields.get("plate", "")),
                _cell(m.fields.get("company", "")),
                _cell(m.fields.get("property_address", "")),
                _cell(m.fields.get("licence", "")),
                " ".join(f"{g.chat_id}:{g.status.value}" for g in m.groups),
                m.admitted_by or "",
                m.admitted_at.isoformat() if m.admitted_at else "",
            ]
        )
    return buf.getvalue().encode("utf-8-sig")


def _cell(value: str) -> str:
    """Neutralise spreadsheet formulas in free text (CSV injection)."""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def roster_counts(members: Sequence[Member]) -> dict[tuple[str, str | None], dict[str, int]]:
    counts: dict[tuple[str, str | None], dict[str, int]] = {}
    for m in members:
        bucket = counts.setdefault((m.sector, m.area), {s.value: 0 for s in MemberStatus})
        bucket[m.status.value] += 1
    return counts
