"""The member registry: one profile per admitted person, removal and bans.

A member's ``groups`` lists every bound group they were admitted to, with the status of
that membership; the member's own ``status`` is the platform-wide one:
``active`` (in at least one group), ``left`` (in none, by their own choice or a human
admin), ``removed`` (removed by a manager from every group) or ``banned``.

Managers act only inside their scope. An unrestricted manager (or a superadmin) removes and
bans platform-wide; a manager limited to a sector and/or area removes the person from that
scope's groups only, and a ban of theirs is a ``ScopedBan``: it keeps the person out of
that scope's groups (join requests there are declined) and nowhere else. Whatever lies
outside the scope is left as it was, and the answer (``Sweep.untouched``) says where.
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

from groups.model import Group, GroupStatus
from groups.roles import UNRESTRICTED, Permission, Principal, Scope
from kernel.audit import AuditEntry, AuditLog
from kernel.clock import Clock
from kernel.errors import InvalidInput, NotFound, PermissionDenied

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
class ScopedBan:
    """A ban by a manager limited to a sector and/or area: it keeps the person out of that
    scope's groups only (a platform-wide ban is the member's ``banned`` status)."""

    sector: str | None
    area: str | None
    by: int | None = None
    at: datetime | None = None
    reason: str = ""

    @property
    def scope(self) -> Scope:
        return Scope(self.sector, self.area)


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
    bans: tuple[ScopedBan, ...] = ()

    @property
    def good_standing(self) -> bool:
        return self.status in (MemberStatus.ACTIVE, MemberStatus.LEFT)

    def active_groups(self) -> list[Membership]:
        return [g for g in self.groups if g.status is MemberStatus.ACTIVE]

    def scopes(self) -> list[Scope]:
        scopes = [Scope(g.sector, g.area) for g in self.groups]
        return scopes or [Scope(self.sector, self.area)]

    def banned_in(self, scope: Scope) -> bool:
        """Whether a ban keeps the person out of a group of ``scope``."""
        return self.status is MemberStatus.BANNED or any(b.scope.covers(scope) for b in self.bans)


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


def platform_wide(principal: Principal) -> bool:
    """An unrestricted manager or a superadmin: removes and bans across the platform."""
    return principal.can(Permission.MANAGE_GROUPS, UNRESTRICTED)


def manages(principal: Principal, sector: str | None, area: str | None) -> bool:
    return principal.can(Permission.MANAGE_GROUPS, Scope(sector, area))


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

    async def set_bans(
        self, user_id: int, bans: Sequence[ScopedBan], at: datetime
    ) -> Member | None:
        """Replace the member's scoped bans."""
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
    # Chat ids outside the caller's scope, left as they were (the person's own groups for
    # a removal; every group of the platform outside the scope for a ban or an unban).
    untouched: tuple[int, ...] = ()
    scoped: bool = False  # acted inside a limited scope, not platform-wide


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
        """Out of every group of the caller's scope (every group, for an unrestricted
        manager); the person's groups outside the scope are left untouched."""
        reason = self._reason(reason, "members.remove_usage")
        member = await self.view(principal, user_id, asked)
        if member.status in (MemberStatus.REMOVED, MemberStatus.BANNED):
            raise InvalidInput(f"members.already_{member.status.value}", who=asked)
        active = member.active_groups()
        mine = [g.chat_id for g in active if manages(principal, g.sector, g.area)]
        others = tuple(g.chat_id for g in active if g.chat_id not in mine)
        if others and not mine:
            raise InvalidInput("members.none_in_scope", who=asked, n=len(others))
        done, failed = await self._each(mine, self._gateway.kick, user_id)
        if not others:  # nothing left anywhere: removed from the platform
            return await self._finish(
                principal, member, MemberStatus.REMOVED, "member.remove", reason, done, failed
            )
        now = self._clock.now()
        updated: Member | None = member
        for chat_id in mine:
            updated = await self._repo.set_membership(user_id, chat_id, MemberStatus.REMOVED, now)
        await self._audit.record(
            AuditEntry(
                principal.user_id,
                "member.remove",
                "member",
                str(user_id),
                now,
                {"reason": reason, "groups": done, "failed": failed, "untouched": list(others)},
            )
        )
        return Sweep(updated or member, tuple(done), tuple(failed), others, scoped=True)

    async def ban(self, principal: Principal, user_id: int, asked: str, reason: str) -> Sweep:
        """Banned in every group the bot runs in the caller's scope (every group, for an
        unrestricted manager), not only the member's: a ban keeps them out of the scope;
        later join requests there are declined. Groups outside the scope are untouched."""
        reason = self._reason(reason, "members.ban_usage")
        member = await self.view(principal, user_id, asked)
        if member.status is MemberStatus.BANNED:
            raise InvalidInput("members.already_banned", who=asked)
        groups = await self._groups.list(status=GroupStatus.ACTIVE)
        if platform_wide(principal):
            targets = [g.chat_id for g in groups]
            done, failed = await self._each(targets, self._gateway.ban, user_id)
            return await self._finish(
                principal, member, MemberStatus.BANNED, "member.ban", reason, done, failed
            )
        scopes = principal.scopes_for(Permission.MANAGE_GROUPS)
        new = [s for s in scopes if not member.banned_in(s)]
        if not new:
            raise InvalidInput("members.already_banned", who=asked)
        targets = [g.chat_id for g in groups if manages(principal, g.sector, g.area)]
        untouched = tuple(g.chat_id for g in groups if g.chat_id not in targets)
        done, failed = await self._each(targets, self._gateway.ban, user_id)
        now = self._clock.now()
        bans = (
            *member.bans,
            *(ScopedBan(s.sector, s.area, principal.user_id, now, reason) for s in new),
        )
        updated = await self._repo.set_bans(user_id, bans, now) or member
        for g in updated.active_groups():
            if manages(principal, g.sector, g.area):
                updated = (
                    await self._repo.set_membership(user_id, g.chat_id, MemberStatus.REMOVED, now)
                    or updated
                )
        if not updated.active_groups():  # out of every group now: no longer a member
            updated = await self._repo.set_status(
                user_id,
                MemberStatus.REMOVED,
                group_status=None,
                by=principal.user_id,
                reason=reason,
                at=now,
            ) or replace(updated, status=MemberStatus.REMOVED)
            await self._roles.revoke_member(user_id)
        await self._audit.record(
            AuditEntry(
                principal.user_id,
                "member.ban",
                "member",
                str(user_id),
                now,
                {
                    "reason": reason,
                    "scopes": [s.label() for s in new],
                    "groups": done,
                    "failed": failed,
                    "untouched": len(untouched),
                },
            )
        )
        return Sweep(updated, tuple(done), tuple(failed), untouched, scoped=True)

    async def unban(self, principal: Principal, user_id: int, asked: str) -> Sweep:
        """Lifts the bans the caller may lift: an unrestricted manager every ban (the
        platform-wide one too), a scoped manager the bans of their scope, in that scope's
        groups; a platform-wide ban needs an unrestricted manager or a superadmin."""
        member = await self.view(principal, user_id, asked)
        wide = platform_wide(principal)
        if member.status is MemberStatus.BANNED and not wide:
            raise PermissionDenied("members.platform_ban", who=asked)
        lifted = [b for b in member.bans if manages(principal, b.sector, b.area)]
        kept = tuple(b for b in member.bans if b not in lifted)
        if member.status is not MemberStatus.BANNED and not lifted:
            raise InvalidInput("members.not_banned", who=asked)
        groups = await self._groups.list(status=GroupStatus.ACTIVE)
        if member.status is MemberStatus.BANNED:
            targets = [g.chat_id for g in groups]
        else:
            targets = [
                g.chat_id
                for g in groups
                if any(b.scope.covers(Scope(g.sector, g.area)) for b in lifted)
                and not any(b.scope.covers(Scope(g.sector, g.area)) for b in kept)
            ]
        untouched = tuple(
            g.chat_id for g in groups if any(b.scope.covers(Scope(g.sector, g.area)) for b in kept)
        )
        done, failed = await self._each(targets, self._gateway.unban, user_id)
        now = self._clock.now()
        updated = await self._repo.set_bans(user_id, kept, now) or member
        if member.status is MemberStatus.BANNED:
            updated = (
                await self._repo.set_status(
                    user_id,
                    MemberStatus.LEFT,
                    group_status=None,
                    by=principal.user_id,
                    reason=None,
                    at=now,
                )
                or updated
            )
        await self._audit.record(
            AuditEntry(
                principal.user_id,
                "member.unban",
                "member",
                str(user_id),
                now,
                {
                    "groups": list(done),
                    "failed": list(failed),
                    "scopes": [b.scope.label() for b in lifted],
                    "untouched": len(untouched),
                },
            )
        )
        return Sweep(updated, tuple(done), tuple(failed), untouched, scoped=not wide)

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
