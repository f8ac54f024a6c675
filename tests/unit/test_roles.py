from __future__ import annotations

from groups.roles import UNRESTRICTED, Permission, Principal, Role, RoleGrant, Scope


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
