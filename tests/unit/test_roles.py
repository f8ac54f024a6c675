from __future__ import annotations

import pytest

from groups.roles import (
    DEFAULT_PERMISSIONS,
    ROLE_PERMISSIONS,
    UNRESTRICTED,
    Permission,
    PermissionTable,
    Principal,
    Role,
    RoleGrant,
    Scope,
)


def principal(*grants: tuple[Role, Scope], superadmin: bool = False) -> Principal:
    return Principal(7, tuple(RoleGrant(7, r, s) for r, s in grants), superadmin)


def test_scope_covers() -> None:
    assert UNRESTRICTED.covers(Scope("drivers", "north"))
    assert Scope("drivers").covers(Scope("drivers", "north"))
    assert not Scope("drivers").covers(Scope("landlords"))
    assert Scope("drivers", "north").covers(Scope("drivers", "north"))
    assert not Scope("drivers", "north").covers(Scope("drivers", "south"))
    assert not Scope("drivers", "north").covers(Scope("drivers"))


def test_member_has_only_tip_permission() -> None:
    p = principal()
    assert p.permissions() == frozenset()
    m = principal((Role.MEMBER, UNRESTRICTED))
    assert m.can(Permission.SEND_TIPS)
    assert not m.can(Permission.BROADCAST)


def test_scoped_manager() -> None:
    p = principal((Role.MANAGER, Scope("drivers")))
    assert p.can(Permission.MANAGE_GROUPS)
    assert p.can(Permission.MANAGE_GROUPS, Scope("drivers", "east"))
    assert not p.can(Permission.MANAGE_GROUPS, Scope("landlords"))
    assert not p.can(Permission.REVEAL_TIPSTER)
    assert p.scopes_for(Permission.MANAGE_GROUPS) == [Scope("drivers")]


def test_superadmin_can_everything() -> None:
    p = principal(superadmin=True)
    assert all(p.can(perm, Scope("x", "y")) for perm in Permission)
    assert Role.SUPERADMIN in p.roles


def test_reveal_is_superadmin_only_by_default() -> None:
    for role in Role:
        if role is Role.SUPERADMIN:
            continue
        assert not principal((role, UNRESTRICTED)).can(Permission.REVEAL_TIPSTER), role


def test_reveal_roles_are_configurable_and_move_only_that_permission() -> None:
    table = PermissionTable.with_reveal(["investigator", Role.SUPERADMIN])
    inv = Principal(7, (RoleGrant(7, Role.INVESTIGATOR, Scope("drivers")),), table=table)
    manager = Principal(8, (RoleGrant(8, Role.MANAGER, UNRESTRICTED),), table=table)
    assert inv.can(Permission.REVEAL_TIPSTER)
    assert inv.can(Permission.REVEAL_TIPSTER, Scope("drivers", "north"))
    assert not inv.can(Permission.REVEAL_TIPSTER, Scope("landlords"))
    assert inv.scopes_for(Permission.REVEAL_TIPSTER) == [Scope("drivers")]
    assert Permission.REVEAL_TIPSTER in inv.permissions()
    assert not manager.can(Permission.REVEAL_TIPSTER)
    assert Principal(1, is_superadmin=True, table=table).can(Permission.REVEAL_TIPSTER)
    for role in Role:  # nothing but "reveal tipster" changes hands
        reveal = {Permission.REVEAL_TIPSTER}
        assert table.of(role) - reveal == ROLE_PERMISSIONS[role] - reveal, role
        assert (Permission.REVEAL_TIPSTER in table.of(role)) == (
            role in (Role.INVESTIGATOR, Role.SUPERADMIN)
        )


def test_superadmins_lose_reveal_only_when_configured_without_them() -> None:
    table = PermissionTable.with_reveal([Role.OPERATOR])
    boss = Principal(1, is_superadmin=True, table=table)
    assert not boss.can(Permission.REVEAL_TIPSTER)
    assert boss.scopes_for(Permission.REVEAL_TIPSTER) == []
    assert all(boss.can(p, Scope("x", "y")) for p in Permission if p != Permission.REVEAL_TIPSTER)
    op = Principal(5, (RoleGrant(5, Role.OPERATOR, UNRESTRICTED),), table=table)
    assert op.can(Permission.REVEAL_TIPSTER)
    # The default table is the documented default: superadmins only.
    assert DEFAULT_PERMISSIONS.reveal_tipster == frozenset({Role.SUPERADMIN})
    assert principal(superadmin=True).can(Permission.REVEAL_TIPSTER)


@pytest.mark.parametrize("roles", [[], [Role.MEMBER], [Role.SUPERADMIN, "member"], ["chief"]])
def test_reveal_roles_refuse_members_nobody_and_unknown_names(roles: list[Role | str]) -> None:
    with pytest.raises(ValueError):
        PermissionTable.with_reveal(roles)
