"""Binding Telegram groups to a sector and area, and keeping the registry current."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Protocol

from groups.catalog import Catalog
from groups.model import Group, GroupRepository, GroupStatus
from groups.roles import Permission, Principal, Role, RoleGrant, Scope
from kernel.audit import AuditEntry, AuditLog
from kernel.clock import Clock
from kernel.errors import InvalidInput, PermissionDenied

# The admin rights the bot needs in a bound group, in the order they are reported.
REQUIRED_RIGHTS = (
    "can_invite_users",
    "can_delete_messages",
    "can_pin_messages",
    "can_restrict_members",
)


def missing_rights(rights: Iterable[str] | None) -> list[str]:
    """Rights the bot lacks; ``None`` means it is not an administrator at all."""
    have = set(rights or ())
    return [r for r in REQUIRED_RIGHTS if r not in have]


class MigrationStore(Protocol):
    """Other records that follow a group to its new supergroup id."""

    async def migrate_chat(self, old_chat_id: int, new_chat_id: int) -> None: ...


class RoleHolders(Protocol):
    async def holders(self, role: Role | None = None) -> list[RoleGrant]: ...

    @property
    def superadmin_ids(self) -> frozenset[int]: ...


@dataclass(frozen=True, slots=True)
class BindResult:
    group: Group
    rebound: bool  # the chat was bound before (archived or bot removed) and is active again


class GroupService:
    def __init__(
        self,
        repo: GroupRepository,
        catalog: Catalog,
        roles: RoleHolders,
        followers: Iterable[MigrationStore],
        audit: AuditLog,
        clock: Clock,
    ) -> None:
        self._repo = repo
        self._catalog = catalog
        self._roles = roles
        self._followers = tuple(followers)
        self._audit = audit
        self._clock = clock

    async def get(self, chat_id: int) -> Group | None:
        return await self._repo.get(chat_id)

    async def member_count_changed(self, chat_id: int, count: int) -> None:
        """Someone joined or left: the registry's size follows Telegram's count."""
        await self._repo.set_member_count(chat_id, max(0, count))

    async def active(self, chat_id: int) -> Group | None:
        group = await self._repo.get(chat_id)
        return group if group is not None and group.status is GroupStatus.ACTIVE else None

    async def require_manager(self, principal: Principal, chat_id: int) -> Group:
        group = await self.active(chat_id)
        if group is None:
            raise InvalidInput("groups.not_bound")
        if not principal.can(Permission.MANAGE_GROUPS, Scope(group.sector, group.area)):
            raise PermissionDenied(
                "groups.outside_scope", scope=Scope(group.sector, group.area).label()
            )
        return group

    async def bind(
        self,
        principal: Principal,
        chat_id: int,
        title: str,
        args: list[str],
        bot_rights: Iterable[str] | None,
        member_count: int,
    ) -> BindResult:
        if not args or len(args) > 2:
            raise InvalidInput("groups.bind_usage")
        sector = await self._catalog.sector(args[0])
        area = await self._catalog.area(args[1]) if len(args) > 1 else None
        scope = Scope(sector.code, area.code if area else None)
        if not principal.can(Permission.MANAGE_GROUPS, scope):
            raise PermissionDenied("groups.outside_scope", scope=scope.label())
        missing = missing_rights(bot_rights)
        if bot_rights is None:
            raise InvalidInput("groups.bot_not_admin", rights=", ".join(missing))
        if missing:
            raise InvalidInput("groups.missing_rights", rights=", ".join(missing))
        existing = await self._repo.get(chat_id)
        if existing is not None and existing.status is GroupStatus.ACTIVE:
            raise InvalidInput(
                "groups.already_bound", sector=existing.sector, area=existing.area or "*"
            )
        if existing is not None and existing.status is GroupStatus.MIGRATED:
            raise InvalidInput("groups.migrated", new_chat_id=existing.migrated_to or 0)
        now = self._clock.now()
        group = Group(
            chat_id=chat_id,
            title=title,
            sector=sector.code,
            area=scope.area,
            status=GroupStatus.ACTIVE,
            member_count=member_count,
            bound_by=principal.user_id,
            bound_at=now,
        )
        if existing is not None:
            # Keep what the record already knows (delete_tip_replies...), refresh the rest.
            group = replace(
                existing,
                title=group.title,
                sector=group.sector,
                area=group.area,
                status=group.status,
                member_count=group.member_count,
                bound_by=group.bound_by,
                bound_at=group.bound_at,
            )
        await self._repo.save(group)
        await self._record(
            principal.user_id,
            "group.bind",
            chat_id,
            {"sector": sector.code, "area": scope.area, "title": title},
        )
        return BindResult(group, rebound=existing is not None)

    async def unbind(self, principal: Principal, chat_id: int) -> Group:
        group = await self.require_manager(principal, chat_id)
        await self._repo.set_status(chat_id, GroupStatus.ARCHIVED)
        await self._record(principal.user_id, "group.unbind", chat_id, {})
        return replace(group, status=GroupStatus.ARCHIVED)

    async def set_tip_replies(self, principal: Principal, chat_id: int, delete: bool) -> Group:
        """Whether members' replies to notices in this group are deleted once taken as
        private tips (the default, for the tipster's safety) or left public."""
        group = await self.require_manager(principal, chat_id)
        await self._repo.set_delete_tip_replies(chat_id, delete)
        await self._record(principal.user_id, "group.tip_replies", chat_id, {"delete": delete})
        return replace(group, delete_tip_replies=delete)

    async def migrate(self, old_chat_id: int, new_chat_id: int) -> Group | None:
        """Idempotent: both service messages of an upgrade may arrive, in either order."""
        old = await self._repo.get(old_chat_id)
        if old is None:
            return None
        if old.status is GroupStatus.MIGRATED and old.migrated_to == new_chat_id:
            return await self._repo.get(new_chat_id)
        new = await self._repo.migrate(old_chat_id, new_chat_id)
        if new is not None and old.status is not GroupStatus.ACTIVE:
            await self._repo.set_status(new_chat_id, old.status)
            new = replace(new, status=old.status)
        for follower in self._followers:
            await follower.migrate_chat(old_chat_id, new_chat_id)
        await self._record(None, "group.migrate", old_chat_id, {"to": new_chat_id})
        return new

    async def bot_removed(self, chat_id: int, by: int | None) -> Group | None:
        """The bot was removed; returns the group when this changed its status."""
        group = await self._repo.get(chat_id)
        if group is None or group.status is not GroupStatus.ACTIVE:
            return None
        await self._repo.set_status(chat_id, GroupStatus.BOT_REMOVED)
        await self._record(by, "group.bot_removed", chat_id, {})
        return replace(group, status=GroupStatus.BOT_REMOVED)

    async def retitle(self, chat_id: int, title: str) -> None:
        group = await self._repo.get(chat_id)
        if group is not None and group.title != title:
            await self._repo.save(replace(group, title=title))

    async def visible_to(self, principal: Principal) -> list[Group]:
        groups = await self._repo.list()
        return [
            g
            for g in groups
            if g.status is not GroupStatus.MIGRATED
            and principal.can(Permission.MANAGE_GROUPS, Scope(g.sector, g.area))
        ]

    async def managers_for(self, sector: str, area: str | None) -> list[int]:
        """Managers whose scope covers a group or application; superadmins when none does."""
        scope = Scope(sector, area)
        ids = sorted(
            {g.user_id for g in await self._roles.holders(Role.MANAGER) if g.scope.covers(scope)}
        )
        return ids or sorted(self._roles.superadmin_ids)

    async def _record(
        self, actor: int | None, action: str, chat_id: int, details: dict[str, object]
    ) -> None:
        await self._audit.record(
            AuditEntry(actor, action, "group", str(chat_id), self._clock.now(), details)
        )
