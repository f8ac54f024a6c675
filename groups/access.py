"""Granting and revoking roles, and resolving who a caller is."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from groups.roles import (
    DEFAULT_PERMISSIONS,
    GRANTABLE_BY,
    SCOPED_ROLES,
    UNRESTRICTED,
    PermissionTable,
    Principal,
    Role,
    RoleGrant,
    Scope,
)
from kernel.audit import AuditEntry, AuditLog
from kernel.clock import Clock
from kernel.errors import InvalidInput, PermissionDenied


class RoleRepository(Protocol):
    async def grants_of(self, user_id: int) -> list[RoleGrant]: ...

    async def add(self, grant: RoleGrant) -> bool:
        """Store a grant; False when the same (user, role, scope) already exists."""
        ...

    async def remove(self, user_id: int, role: Role, scope: Scope | None) -> int:
        """Remove matching grants (any scope when ``scope`` is None); returns how many."""
        ...

    async def holders(self, role: Role | None = None) -> list[RoleGrant]: ...


class ScopeCatalog(Protocol):
    async def sector_exists(self, code: str) -> bool: ...

    async def area_exists(self, code: str) -> bool: ...


class RoleService:
    def __init__(
        self,
        repo: RoleRepository,
        catalog: ScopeCatalog,
        audit: AuditLog,
        clock: Clock,
        superadmin_ids: Iterable[int],
        permissions: PermissionTable = DEFAULT_PERMISSIONS,
    ) -> None:
        self._repo = repo
        self._catalog = catalog
        self._audit = audit
        self._clock = clock
        self._superadmins = frozenset(superadmin_ids)
        self._permissions = permissions

    @property
    def superadmin_ids(self) -> frozenset[int]:
        return self._superadmins

    @property
    def permissions(self) -> PermissionTable:
        """What each role allows here (who may reveal tipsters is configured)."""
        return self._permissions

    async def principal(self, user_id: int) -> Principal:
        grants = await self._repo.grants_of(user_id)
        return Principal(user_id, tuple(grants), user_id in self._superadmins, self._permissions)

    def _check_grantable(self, actor: Principal, role: Role, scope: Scope) -> None:
        allowed: set[Role] = set()
        for held in actor.roles:
            allowed |= GRANTABLE_BY.get(held, frozenset())
        if role not in allowed:
            raise PermissionDenied("roles.cannot_grant", role=role.value)
        if actor.is_superadmin:
            return
        # A manager hands out roles only inside a scope they manage themselves.
        if not any(g.role is Role.MANAGER and g.scope.covers(scope) for g in actor.grants):
            raise PermissionDenied("roles.outside_scope", scope=scope.label())

    async def _validate_scope(self, role: Role, scope: Scope) -> None:
        if scope != UNRESTRICTED and role not in SCOPED_ROLES:
            raise InvalidInput("roles.not_scoped", role=role.value)
        if scope.sector is not None and not await self._catalog.sector_exists(scope.sector):
            raise InvalidInput("roles.unknown_sector", sector=scope.sector)
        if scope.area is not None and not await self._catalog.area_exists(scope.area):
            raise InvalidInput("roles.unknown_area", area=scope.area)

    def _narrow_to_actor(self, actor: Principal, role: Role, scope: Scope) -> Scope:
        """A manager limited to a sector/area who names no scope grants within their own."""
        if actor.is_superadmin or scope != UNRESTRICTED or role not in SCOPED_ROLES:
            return scope
        managed = [g.scope for g in actor.grants if g.role is Role.MANAGER]
        if len(managed) == 1:
            return managed[0]
        return scope

    async def grant(self, actor: Principal, target_id: int, role: Role, scope: Scope) -> RoleGrant:
        if role is Role.SUPERADMIN:
            raise PermissionDenied("roles.superadmin_from_config")
        scope = self._narrow_to_actor(actor, role, scope)
        self._check_grantable(actor, role, scope)
        await self._validate_scope(role, scope)
        grant = RoleGrant(target_id, role, scope, actor.user_id, self._clock.now())
        if not await self._repo.add(grant):
            raise InvalidInput("roles.already_has", role=role.value, scope=scope.label())
        await self._audit.record(
            AuditEntry(
                actor.user_id,
                "role.grant",
                "user",
                str(target_id),
                grant.granted_at or self._clock.now(),
                {"role": role.value, "sector": scope.sector, "area": scope.area},
            )
        )
        return grant

    async def revoke(
        self, actor: Principal, target_id: int, role: Role, scope: Scope | None
    ) -> int:
        if role is Role.SUPERADMIN:
            raise PermissionDenied("roles.superadmin_from_config")
        current = [g for g in await self._repo.grants_of(target_id) if g.role is role]
        if scope is not None:
            current = [g for g in current if g.scope == scope]
        if not current:
            raise InvalidInput("roles.not_held", role=role.value)
        for g in current:
            self._check_grantable(actor, role, g.scope)
        removed = await self._repo.remove(target_id, role, scope)
        await self._audit.record(
            AuditEntry(
                actor.user_id,
                "role.revoke",
                "user",
                str(target_id),
                self._clock.now(),
                {
                    "role": role.value,
                    "sector": scope.sector if scope else None,
                    "area": scope.area if scope else None,
                    "removed": removed,
                },
            )
        )
        return removed

    async def holders(self, role: Role | None = None) -> list[RoleGrant]:
        grants = await self._repo.holders(role)
        if role in (None, Role.SUPERADMIN):
            grants = [RoleGrant(uid, Role.SUPERADMIN) for uid in sorted(self._superadmins)] + [
                g for g in grants if g.role is not Role.SUPERADMIN
            ]
        return grants
