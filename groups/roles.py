"""Roles, permissions and the principal (who is asking, with which grants)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from types import MappingProxyType


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


# REVEAL_TIPSTER here is the default (superadmins only); ``PermissionTable`` moves it to the
# configured roles. Use ``Principal.can`` / ``PermissionTable.of``, not this table, to check.
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

# Who may see a tipster's Telegram identity unless configured otherwise (REVEAL_TIPSTER_ROLES).
DEFAULT_REVEAL_ROLES = frozenset({Role.SUPERADMIN})


@dataclass(frozen=True, slots=True)
class PermissionTable:
    """The permissions each role carries: ``ROLE_PERMISSIONS``, except that "reveal tipster"
    goes to exactly the roles in ``reveal_tipster`` (configuration; superadmins by default).

    Members can never hold it, and at least one role must."""

    reveal_tipster: frozenset[Role] = DEFAULT_REVEAL_ROLES
    _table: Mapping[Role, frozenset[Permission]] = field(
        init=False, repr=False, compare=False, hash=False
    )

    def __post_init__(self) -> None:
        roles = frozenset(Role(r) for r in self.reveal_tipster)
        if not roles:
            raise ValueError("at least one role must be allowed to reveal tipsters")
        if Role.MEMBER in roles:
            raise ValueError("members can never reveal tipsters")
        reveal = frozenset({Permission.REVEAL_TIPSTER})
        table = {
            role: (perms - reveal) | (reveal if role in roles else frozenset())
            for role, perms in ROLE_PERMISSIONS.items()
        }
        object.__setattr__(self, "reveal_tipster", roles)
        object.__setattr__(self, "_table", MappingProxyType(table))

    @classmethod
    def with_reveal(cls, roles: Iterable[Role | str]) -> PermissionTable:
        return cls(frozenset(Role(r) for r in roles))

    def of(self, role: Role) -> frozenset[Permission]:
        return self._table[role]


DEFAULT_PERMISSIONS = PermissionTable()

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
    # What each role allows in this deployment (who may reveal tipsters is configured).
    table: PermissionTable = field(default=DEFAULT_PERMISSIONS, repr=False)

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
            perms |= self.table.of(role)
        return frozenset(perms)

    def can(self, permission: Permission, scope: Scope | None = None) -> bool:
        """Whether the principal holds ``permission``, within ``scope`` if one is given."""
        if self.is_superadmin and permission in self.table.of(Role.SUPERADMIN):
            return True
        for role in self.roles:
            if permission not in self.table.of(role):
                continue
            if scope is None:
                return True
            if any(g.role == role and g.scope.covers(scope) for g in self.grants):
                return True
        return False

    def scopes_for(self, permission: Permission) -> list[Scope]:
        """Every scope in which the principal holds ``permission`` (superadmin: unrestricted)."""
        if self.is_superadmin and permission in self.table.of(Role.SUPERADMIN):
            return [UNRESTRICTED]
        return [g.scope for g in self.grants if permission in self.table.of(g.role)]

    def in_scope(self, permission: Permission, scope: Scope) -> bool:
        return self.can(permission, scope)
