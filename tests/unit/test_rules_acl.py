"""Rules for local ACLs: canonical principals, the guard rails, and what they tell whom."""

import pytest
from pyramid.authorization import Allow, Deny

from membership.domain import Actor, acl
from membership.domain.errors import InvalidValue, NotPermitted, Refused
from membership.domain.groups import create_group
from membership.domain.members import add_member
from membership.domain.users import create_user
from membership.permissions import Permission

from .conftest import as_user

EVERY_PERMISSION = [str(p) for p in Permission]


def put_acl(ctx, node, *entries):
    """What ``PUT …/acl`` does: parse, then set with the web view's field names."""
    new = acl.parse_entries(ctx.root, entries, "entries")
    positions = {acl.same_ace_key(ace): i for i, ace in enumerate(new)}

    def field_of(ace):
        position = positions.get(acl.same_ace_key(ace))
        return "entries" if position is None else f"entries.{position}.permissions"

    return acl.set_acl(ctx, node, new, field_of)


@pytest.fixture
def eng(root, system):
    """/groups/eng owned by alice, with /groups/eng/groups/small; bob is a member of eng."""
    for userid in ("alice", "bob"):
        create_user(system, userid)
    group = create_group(system, root.groups, "eng")
    create_group(system, group.groups, "small")
    add_member(system, group, "alice", "owner")
    add_member(system, group, "bob")
    return group


def small_of(eng):
    return eng.groups["small"]


# parse_entries


@pytest.mark.parametrize(
    "principal",
    [
        "group:/groups/x/",
        "group:groups/x",
        "group://groups/x",
        "group:/groups/x/members",
        "group:/groups/x#admin",
        "group:/groups/x#",
        "Group:/groups/x",
        "user:Bob",
        "user:bob ",
        "user:",
        "bob",
        "system.everyone",
    ],
)
def test_parse_entries_refuses_non_canonical_principal(root, system, principal):
    create_group(system, root.groups, "x")
    create_user(system, "bob")
    with pytest.raises(InvalidValue) as exc:
        acl.parse_entries(
            root, [(Allow, "user:bob", ["view"]), (Allow, principal, ["view"])], "entries"
        )
    assert exc.value.subject == "entries.1.principal"


@pytest.mark.parametrize(
    "principal", ["user:ghost", "group:/groups/nowhere", "group:/groups/x/groups/y#owner"]
)
def test_parse_entries_refuses_principal_naming_nothing(root, system, principal):
    create_group(system, root.groups, "x")
    with pytest.raises(InvalidValue) as exc:
        acl.parse_entries(root, [(Deny, principal, ["view"])], "add")
    assert exc.value.subject == "add.0.principal"


@pytest.mark.parametrize(
    "principal",
    [
        "system.Everyone",
        "system.Authenticated",
        "user:bob",
        "group:/groups/x",
        "group:/groups/x#manager",
    ],
)
def test_parse_entries_accepts_canonical_principal_naming_something(root, system, principal):
    create_group(system, root.groups, "x")
    create_user(system, "bob")
    assert acl.parse_entries(root, [(Allow, principal, ["view", "view"])], "entries") == [
        (Allow, principal, ("view",))
    ]


def test_parse_entries_refuses_unknown_permission(root):
    with pytest.raises(InvalidValue) as exc:
        acl.parse_entries(root, [(Allow, "system.Everyone", ["view", "sudo"])], "entries")
    assert exc.value.subject == "entries.0.permissions"


# set_acl: granting


def test_owner_cannot_grant_permission_they_do_not_hold(root, eng):
    with pytest.raises(NotPermitted) as exc:
        put_acl(as_user(root, "alice"), eng, (Allow, "user:bob", ["view", "create-user"]))
    assert exc.value.facts["permission"] == "create-user"
    assert exc.value.subject == "entries.0.permissions"
    assert eng.local_acl == ()


def test_owner_can_grant_permission_they_hold(root, eng):
    put_acl(as_user(root, "alice"), eng, (Allow, "user:bob", ["view", "manage-members"]))
    assert Actor.user(root, "bob").may("manage-members", eng.members)


def test_owner_cannot_lift_deny_of_permission_they_do_not_hold(root, admin, eng):
    put_acl(admin, eng, (Deny, "user:bob", ["create-user"]))
    with pytest.raises(NotPermitted) as exc:
        put_acl(as_user(root, "alice"), eng)
    assert exc.value.facts["permission"] == "create-user"
    assert eng.local_acl == ((Deny, "user:bob", ("create-user",)),)


def test_owner_can_lift_deny_of_permission_they_hold(root, admin, eng):
    put_acl(admin, small_of(eng), (Deny, "user:bob", ["view"]))
    assert not Actor.user(root, "bob").may("view", small_of(eng))
    put_acl(as_user(root, "alice"), small_of(eng))
    assert Actor.user(root, "bob").may("view", small_of(eng))


# set_acl: the admins


@pytest.mark.parametrize(
    "principal",
    ["group:/groups/admins", "group:/groups/admins#owner", "group:/groups/admins#member"],
)
def test_deny_naming_admins_is_refused(root, admin, eng, principal):
    with pytest.raises(Refused) as exc:
        put_acl(admin, eng, (Allow, "user:bob", ["view"]), (Deny, principal, ["view"]))
    assert exc.value.subject == "entries.1"
    assert eng.local_acl == ()


def test_allow_naming_admins_is_accepted(root, admin, eng):
    put_acl(admin, eng, (Allow, "group:/groups/admins", ["view"]))
    assert eng.local_acl == ((Allow, "group:/groups/admins", ("view",)),)


@pytest.mark.parametrize("principal", ["user:admin", "system.Authenticated", "system.Everyone"])
def test_subgroup_owner_cannot_take_anything_from_an_admin(root, admin, eng, principal):
    small = small_of(eng)
    add_member(admin, small, "alice", "owner")
    put_acl(as_user(root, "alice"), small, (Deny, principal, EVERY_PERMISSION))
    assert small.local_acl  # the Deny is in place
    admin_actor = Actor.user(root, "admin")
    for node in (small, small.members, small.groups):
        for permission in Permission:
            assert admin_actor.may(permission, node), (permission, node)


@pytest.mark.parametrize("principal", ["system.Authenticated", "system.Everyone"])
def test_subgroup_deny_shuts_out_a_non_admin_member(root, admin, eng, principal):
    small = small_of(eng)
    add_member(admin, small, "alice", "owner")
    assert Actor.user(root, "bob").may("view", small)  # through eng, by inheritance
    put_acl(as_user(root, "alice"), small, (Deny, principal, EVERY_PERMISSION))
    bob = Actor.user(root, "bob")
    assert not any(bob.may(permission, small) for permission in Permission)
    assert Actor.user(root, "alice").may("manage-acl", small)  # her role is built in


# set_acl: manage-acl on yourself


def test_taking_manage_acl_from_yourself_is_refused(root, eng):
    with pytest.raises(Refused) as exc:
        put_acl(as_user(root, "alice"), small_of(eng), (Deny, "user:alice", ["manage-acl"]))
    assert exc.value.subject == "entries"
    assert small_of(eng).local_acl == ()


def test_denying_yourself_another_permission_is_accepted(root, eng):
    put_acl(as_user(root, "alice"), small_of(eng), (Deny, "user:alice", ["view-history"]))
    alice = Actor.user(root, "alice")
    assert not alice.may("view-history", small_of(eng))
    assert alice.may("manage-acl", small_of(eng))


def test_removing_the_ace_that_gives_you_manage_acl_is_refused(root, admin, eng):
    create_user(admin, "carol")
    put_acl(admin, eng, (Allow, "user:carol", ["view", "manage-acl"]))
    with pytest.raises(Refused):
        put_acl(as_user(root, "carol"), eng, (Allow, "user:carol", ["view"]))
    assert Actor.user(root, "carol").may("manage-acl", eng)


# principals_of


@pytest.fixture
def secret(root, system, eng):
    """carol is only in /groups/secret; dave exists and is in no group."""
    create_user(system, "carol")
    create_user(system, "dave")
    group = create_group(system, root.groups, "secret")
    add_member(system, group, "carol", "manager")
    return group


def test_principals_of_hides_groups_no_ace_on_the_lineage_names(root, secret, eng):
    principals = acl.principals_of(root, "user:carol", small_of(eng))
    assert principals == ["system.Everyone", "system.Authenticated", "user:carol"]
    assert not any("secret" in principal for principal in principals)


def test_principals_of_tells_groups_an_ace_on_the_lineage_names(root, system, secret, eng):
    put_acl(system, eng, (Deny, "group:/groups/secret", ["view"]))
    principals = acl.principals_of(root, "user:carol", small_of(eng))
    assert "group:/groups/secret" in principals
    assert "group:/groups/secret#manager" not in principals


def test_principals_of_tells_memberships_on_the_lineage(root, eng):
    principals = acl.principals_of(root, "user:bob", small_of(eng))
    assert "group:/groups/eng" in principals


def test_principals_of_unknown_user_is_answered_like_a_user_without_groups(root, secret, eng):
    for node in (small_of(eng), eng, root):
        ghost = acl.principals_of(root, "user:ghost", node)
        dave = acl.principals_of(root, "user:dave", node)
        assert [p.replace("ghost", "dave") for p in ghost] == dave


def test_principals_of_refuses_non_canonical_principal(root, eng):
    with pytest.raises(InvalidValue) as exc:
        acl.principals_of(root, "group:/groups/eng/", eng)
    assert exc.value.subject == "principal"
