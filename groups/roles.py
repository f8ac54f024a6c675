"""Roles, permissions and the principal (who is asking, with which grants)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


class Role(StrEnum):
    SUPERADMIN = "superadmin"
    MANAGER = "manager"  # sector manager, optionally limited to a sector and/or area
    INVESTIGATOR = "investigator"
    OPERATOR = "operator"  # duty operator
    APPROVER = "approver"  # rewards approver
    MEMBER = "member"


class Permission(StrEnum):
    MANAGE_ROLES = "manage_roles"  # grant/revoke (scoped: see RoleService.can_grant)
    MANAGE_PLATFORM = "manage_platform"  # sectors, areas
    MANAGE_GROUPS = "manage_groups"  # bind, invite, admission, remove/ban, roster
    BROADCAST = "broadcast"  # compose and send notices
    VIEW_TIPS = "view_tips"  # search tips, see tip content (pseudonymous)
    REVEAL_TIPSTER = "reveal_tipster"
    HANDLE_TIPS = "handle_tips"  # acknowledge tips, reply, record outcomes
    MANAGE_DUTY = "manage_duty"
    APPROVE_REWARDS = "approve_rewards"
    PROPOSE_REWARDS = "propose_rewards"
    VIEW_REWARDS = "view_rewards"
    SEND_TIPS = "send_tips"


ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.SUPERADMIN: frozenset(Permission),
    Role.MANAGER: frozenset(
        {
            Permission.MANAGE_ROLES,
            Permission.MANAGE_GROUPS,
            Permission.BROADCAST,
            Permission.VIEW_TIPS,
            Permission.HANDLE_TIPS,
            Permission.MANAGE_DUTY,
            Permission.PROPOSE_REWARDS,
            Permission.VIEW_REWARDS,
            Permission.SEND_TIPS,
        }
    ),
    Role.INVESTIGATOR: frozenset(
        {
            Permission.BROADCAST,
            Permission.VIEW_TIPS,
            Permission.HANDLE_TIPS,
            Permission.PROPOSE_REWARDS,
            Permission.SEND_TIPS,
        }
    ),
    Role.OPERATOR: frozenset({Permission.VIEW_TIPS, Permission.HANDLE_TIPS, Permission.SEND_TIPS}),
    Role.APPROVER: frozenset(
        {Permission.APPROVE_REWARDS, Permission.VIEW_REWARDS, Permission.SEND_TIPS}
    ),
    Role.MEMBER: frozenset({Permission.SEND_TIPS}),
}

# Which roles a holder of a role may hand out (superadmins: every role but superadmin,
# which only comes from configuration).
GRANTABLE_BY: dict[Role, frozenset[Role]] = {
    Role.SUPERADMIN: frozenset(set(Role) - {Role.SUPERADMIN}),
    Role.MANAGER: frozenset({Role.INVESTIGATOR, Role.OPERATOR, Role.MEMBER}),
}

SCOPED_ROLES = frozenset({Role.MANAGER, Role.INVESTIGATOR, Role.OPERATOR})


@dataclass(frozen=True, slots=True)
class Scope:
    """A sector and/or area a grant is limited to; ``None`` means unrestricted."""

    sector: str | None = None
    area: str | None = None

    def covers(self, other: Scope) -> bool:
        """True when everything in ``other`` lies inside this scope."""
        if self.sector is not None and self.sector != other.sector:
            return False
        return self.area is None or self.area == other.area

    def label(self) -> str:
        return "/".join(p for p in (self.sector, self.area) if p) or "*"


UNRESTRICTED = Scope()


@dataclass(frozen=True, slots=True)
class RoleGrant:
    user_id: int
    role: Role
    scope: Scope = UNRESTRICTED
    granted_by: int | None = None
    granted_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Principal:
    """The person behind an update, with every grant they hold."""

    user_id: int
    grants: tuple[RoleGrant, ...] = field(default=())
    is_superadmin: bool = False

    @property
    def roles(self) -> frozenset[Role]:
        roles = {g.role for g in self.grants}
        if self.is_superadmin:
            roles.add(Role.SUPERADMIN)
        return frozenset(roles)

    def has_role(self, role: Role) -> bool:
        return role in self.roles

    def permissions(self) -> frozenset[Permission]:
        perms: set[Permission] = set()
        for role in self.roles:
            perms |= ROLE_PERMISSIONS[role]
        return frozenset(perms)

    def can(self, permission: Permission, scope: Scope | None = None) -> bool:
        """Whether the principal holds ``permission``, within ``scope`` if one is given."""
        if self.is_superadmin:
            return True
        for role in self.roles:
            if permission not in ROLE_PERMISSIONS[role]:
                continue
            if scope is None:
                return True
            if any(g.role == role and g.scope.covers(scope) for g in self.grants):
                return True
        return False

    def scopes_for(self, permission: Permission) -> list[Scope]:
        """Every scope in which the principal holds ``permission`` (superadmin: unrestricted)."""
        if self.is_superadmin:
            return [UNRESTRICTED]
        return [g.scope for g in self.grants if permission in ROLE_PERMISSIONS[g.role]]

    def in_scope(self, permission: Permission, scope: Scope) -> bool:
        return self.can(permission, scope)
