"""Who is looking at a page: the signed-in officer, read from the database per request."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from bot.i18n import Translator
from groups.roles import Permission, Principal, Role, Scope
from groups.signin import ConsoleSession, is_officer
from groups.users import UserProfile

# A route's permission: one permission, any of several, or None (any officer).
Requirement = Permission | frozenset[Permission] | None


def allows(principal: Principal, required: Requirement) -> bool:
    """Whether ``principal`` meets a route's requirement (the bot's ``Principal.can``)."""
    if required is None:
        return is_officer(principal)
    if isinstance(required, Permission):
        return principal.can(required)
    return any(principal.can(p) for p in required)


def describe(required: Requirement) -> str:
    if required is None:
        return "officer"
    if isinstance(required, Permission):
        return required.value
    return "|".join(sorted(p.value for p in required))


@dataclass(frozen=True, slots=True)
class Viewer:
    """The officer behind a request. ``principal`` was read from the database for this
    request, so a revoked role is already gone; check rules with ``can`` (as the bot's
    handlers do with ``principal.can``) and scopes in the domain services."""

    principal: Principal
    profile: UserProfile | None
    session: ConsoleSession
    locale: str
    t: Translator

    @property
    def user_id(self) -> int:
        return self.principal.user_id

    @property
    def name(self) -> str:
        return self.profile.display_name if self.profile else str(self.user_id)

    @property
    def csrf_token(self) -> str:
        return self.session.csrf_token

    def can(self, permission: Permission, scope: Scope | None = None) -> bool:
        return self.principal.can(permission, scope)

    def allows(self, required: Requirement) -> bool:
        return allows(self.principal, required)

    def scopes_for(self, permission: Permission) -> list[Scope]:
        return self.principal.scopes_for(permission)

    def role_labels(self) -> list[str]:
        """The officer's roles in their language, each with its scope."""
        t = self.t
        labels: list[str] = []
        if self.principal.is_superadmin:
            labels.append(t("roles.names.superadmin"))
        for g in self.principal.grants:
            if g.role is Role.MEMBER:
                continue
            scope = g.scope.label() if g.scope != Scope() else t("roles.scope_all")
            labels.append(f"{t(f'roles.names.{g.role.value}')} ({scope})")
        return labels


def any_of(*permissions: Permission | Iterable[Permission]) -> frozenset[Permission]:
    """``perm=any_of(Permission.VIEW_REWARDS, Permission.APPROVE_REWARDS)``"""
    out: set[Permission] = set()
    for p in permissions:
        if isinstance(p, Permission):
            out.add(p)
        else:
            out.update(p)
    return frozenset(out)
