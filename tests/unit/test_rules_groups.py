"""Rules for groups: who becomes owner, how deep they nest, moves, and what a deletion takes."""

import pytest
from pyramid.authorization import Allow

from membership.domain import Actor, acl
from membership.domain.errors import InvalidValue, NotFound, NotPermitted, Refused, Unprocessable
from membership.domain.groups import create_group, delete_group, group_by_id, move_group
from membership.domain.members import add_member
from membership.domain.users import create_user

from .conftest import as_user, script


def put_acl(ctx, node, *entries):
    new = acl.parse_entries(ctx.root, entries, "entries")
    acl.set_acl(ctx, node, new, lambda ace: "entries")


def users(ctx, *ids):
    for userid in ids:
        create_user(ctx, userid)


# create_group: who becomes owner


def test_top_level_creator_becomes_owner(root, system):
    users(system, "alice")
    eng = create_group(as_user(root, "alice"), root.groups, "eng")
    assert eng.members.get("alice").role == "owner"
    assert root.index.paths("alice") == ["/groups/eng"]


def test_admin_creator_does_not_become_owner_they_administer_anyway(root, admin):
    eng = create_group(admin, root.groups, "eng")
    assert len(eng.members) == 0


def test_script_creator_becomes_nobodys_owner(root, system):
    eng = create_group(system, root.groups, "eng")
    assert len(eng.members) == 0


def test_manager_of_parent_becomes_owner_of_subgroup(root, system):
    users(system, "mary")
    eng = create_group(system, root.groups, "eng")
    add_member(system, eng, "mary", "manager")
    sub = create_group(as_user(root, "mary"), eng.groups, "sub")
    assert sub.members.get("mary").role == "owner"


def test_owner_of_parent_is_not_made_owner_of_subgroup_again(root, system):
    users(system, "olive")
    eng = create_group(system, root.groups, "eng")
    add_member(system, eng, "olive", "owner")
    sub = create_group(as_user(root, "olive"), eng.groups, "sub")
    assert len(sub.members) == 0
    assert Actor.user(root, "olive").may("edit", sub)


def test_create_group_delegated_by_local_ace_does_not_make_creator_owner(root, system):
    users(system, "bob")
    eng = create_group(system, root.groups, "eng")
    put_acl(system, eng, (Allow, "user:bob", ["create-group"]))
    ctx = as_user(root, "bob")
    assert ctx.actor.may("create-group", eng.groups)
    team = create_group(ctx, eng.groups, "team")
    assert len(team.members) == 0
    assert root.index.paths("bob") == []
    assert not Actor.user(root, "bob").may("manage-members", team.members)


def test_create_group_refuses_reserved_name(root, system):
    with pytest.raises(InvalidValue) as exc:
        create_group(system, root.groups, "members")
    assert exc.value.subject == "name"


# max_depth


def chain(ctx, *names):
    container, group = ctx.root.groups, None
    for name in names:
        group = create_group(ctx, container, name)
        container = group.groups
    return group


def test_create_at_max_depth_is_allowed(root):
    deepest = chain(script(root, max_depth=3), "a", "b", "c")
    assert deepest.path == "/groups/a/groups/b/groups/c"


def test_create_beyond_max_depth_is_unprocessable(root):
    ctx = script(root, max_depth=3)
    c = chain(ctx, "a", "b", "c")
    with pytest.raises(Unprocessable) as exc:
        create_group(ctx, c.groups, "d")
    assert exc.value.subject == "name"
    assert "d" not in c.groups


def test_move_that_would_exceed_max_depth_is_unprocessable(root):
    ctx = script(root, max_depth=3)
    b = chain(ctx, "a", "b")
    x = chain(ctx, "x", "y").__parent__.__parent__
    with pytest.raises(Unprocessable) as exc:
        move_group(ctx, x, b.path)
    assert exc.value.subject == "to"
    assert x.path == "/groups/x"


def test_move_within_max_depth_is_allowed(root):
    ctx = script(root, max_depth=3)
    b = chain(ctx, "a", "b")
    y = chain(ctx, "x", "y")
    move_group(ctx, y, b.path)
    assert y.path == "/groups/a/groups/b/groups/y"


# move_group


@pytest.mark.parametrize("to", ["/groups/x", "/groups/x/groups/y", "/groups/x/groups/y/groups/z"])
def test_move_under_itself_is_invalid(root, system, to):
    chain(system, "x", "y", "z")
    x = root.groups["x"]
    with pytest.raises(InvalidValue) as exc:
        move_group(system, x, to)
    assert exc.value.subject == "to"
    assert x.path == "/groups/x"


@pytest.mark.parametrize("to", ["/groups/nowhere", "/groups/x/groups/nowhere", "/groups/x/"])
def test_move_to_unknown_path_is_not_found(root, system, to):
    x = chain(system, "x")
    y = chain(system, "y")
    with pytest.raises(NotFound) as exc:
        move_group(system, y, to)
    assert exc.value.subject == "to"
    assert y.path == "/groups/y"
    assert x.path == "/groups/x"


@pytest.fixture
def src_dst(root, system):
    """bob owns /groups/src and may create groups in /groups/dst through a local ACE."""
    users(system, "bob")
    src = create_group(as_user(root, "bob"), root.groups, "src")
    dst = create_group(system, root.groups, "dst")
    put_acl(system, dst, (Allow, "user:bob", ["create-group"]))
    return src, dst


def test_move_without_manage_members_on_destination_is_not_permitted(root, src_dst):
    src, dst = src_dst
    with pytest.raises(NotPermitted) as exc:
        move_group(as_user(root, "bob"), src, dst.path)
    assert exc.value.facts["permission"] == "manage-members"
    assert exc.value.subject == "to"
    assert src.path == "/groups/src"


def test_move_with_manage_members_on_destination_is_allowed(root, system, src_dst):
    src, dst = src_dst
    add_member(system, dst, "bob", "manager")
    move_group(as_user(root, "bob"), src, dst.path)
    assert src.path == "/groups/dst/groups/src"
    assert root.index.paths("bob") == ["/groups/dst", "/groups/dst/groups/src"]


def test_move_without_create_group_on_destination_is_not_permitted(root, system, src_dst):
    src, _ = src_dst
    other = create_group(system, root.groups, "other")
    add_member(system, other, "bob")
    with pytest.raises(NotPermitted) as exc:
        move_group(as_user(root, "bob"), src, other.path)
    assert exc.value.facts["permission"] == "create-group"
    assert src.path == "/groups/src"


def test_move_to_top_level_needs_create_group_there(root, system):
    users(system, "bob")
    eng = create_group(system, root.groups, "eng")
    sub = create_group(system, eng.groups, "sub")
    add_member(system, sub, "bob", "owner")
    with pytest.raises(NotPermitted):
        move_group(as_user(root, "bob"), sub, "/groups")
    move_group(system, sub, "/groups")
    assert sub.path == "/groups/sub"


def test_admins_group_cannot_be_deleted(root, system):
    with pytest.raises(Refused):
        delete_group(system, root.groups["admins"])
    assert "admins" in root.groups


def test_admins_group_cannot_be_moved(root, system):
    eng = create_group(system, root.groups, "eng")
    with pytest.raises(Refused):
        move_group(system, root.groups["admins"], eng.path)
    assert root.groups["admins"].path == "/groups/admins"


# delete_group


@pytest.fixture
def eng_tree(root, system):
    """/groups/eng/groups/sub/groups/deep, a sibling /groups/eng-old and /groups/ops.

    u1 in eng, u2 in sub, u3 in deep and ops, u4 in eng-old.
    """
    users(system, "u1", "u2", "u3", "u4")
    deep = chain(system, "eng", "sub", "deep")
    ops = create_group(system, root.groups, "ops")
    old = create_group(system, root.groups, "eng-old")
    sub = deep.__parent__.__parent__
    eng = sub.__parent__.__parent__
    add_member(system, eng, "u1")
    add_member(system, sub, "u2", "manager")
    add_member(system, deep, "u3")
    add_member(system, ops, "u3")
    add_member(system, old, "u4")
    return eng, sub, deep, ops, old


def test_delete_removes_index_entries_of_the_subtree_only(root, system, eng_tree):
    eng, *_ = eng_tree
    delete_group(system, eng)
    assert root.index.paths("u1") == []
    assert root.index.paths("u2") == []
    assert root.index.paths("u3") == ["/groups/ops"]
    assert root.index.paths("u4") == ["/groups/eng-old"]


def test_delete_removes_group_ids_of_the_subtree(root, system, eng_tree):
    eng, sub, deep, ops, _ = eng_tree
    ids = [eng.id, sub.id, deep.id]
    delete_group(system, eng)
    assert all(group_id not in root.group_ids for group_id in ids)
    assert group_by_id(root, sub.id) is None
    assert group_by_id(root, ops.id) is ops


def test_delete_removes_aces_naming_groups_in_the_subtree(root, system, eng_tree):
    eng, sub, _, ops, _ = eng_tree
    put_acl(
        system,
        ops,
        (Allow, "group:/groups/eng/groups/sub", ["view"]),
        (Allow, "group:/groups/eng#owner", ["edit"]),
        (Allow, "group:/groups/eng-old", ["view"]),
    )
    put_acl(system, root, (Allow, "group:/groups/eng/groups/sub/groups/deep#member", ["view"]))
    put_acl(system, sub, (Allow, "group:/groups/ops", ["view"]))
    delete_group(system, eng)
    assert ops.local_acl == ((Allow, "group:/groups/eng-old", ("view",)),)
    assert root.local_acl == ()
    assert dict(root.acl_nodes) == {"/groups/ops": ("group:/groups/eng-old",)}


def test_group_recreated_under_same_name_inherits_no_grants(root, system, eng_tree):
    eng, _, _, ops, _ = eng_tree
    put_acl(system, ops, (Allow, "group:/groups/eng", ["edit"]))
    delete_group(system, eng)
    eng = create_group(system, root.groups, "eng")
    add_member(system, eng, "u1")
    assert not Actor.user(root, "u1").may("edit", ops)


# move_group: what follows the group


def test_move_rewrites_index_paths_of_the_subtree(root, system, eng_tree):
    eng, _, _, ops, _ = eng_tree
    move_group(system, eng, ops.path)
    assert root.index.paths("u1") == ["/groups/ops/groups/eng"]
    assert root.index.paths("u2") == ["/groups/ops/groups/eng/groups/sub"]
    assert root.index.paths("u3") == [
        "/groups/ops",
        "/groups/ops/groups/eng/groups/sub/groups/deep",
    ]
    assert root.index.paths("u4") == ["/groups/eng-old"]


def test_move_rewrites_ace_principals_and_registry(root, system, eng_tree):
    eng, sub, _, ops, _ = eng_tree
    put_acl(
        system,
        root,
        (Allow, "group:/groups/eng/groups/sub#manager", ["view"]),
        (Allow, "group:/groups/eng-old", ["view"]),
    )
    put_acl(system, sub, (Allow, "group:/groups/eng", ["edit"]))
    move_group(system, eng, ops.path)
    assert root.local_acl == (
        (Allow, "group:/groups/ops/groups/eng/groups/sub#manager", ("view",)),
        (Allow, "group:/groups/eng-old", ("view",)),
    )
    assert sub.local_acl == ((Allow, "group:/groups/ops/groups/eng", ("edit",)),)
    assert dict(root.acl_nodes) == {
        "/": ("group:/groups/eng-old", "group:/groups/ops/groups/eng/groups/sub#manager"),
        "/groups/ops/groups/eng/groups/sub": ("group:/groups/ops/groups/eng",),
    }


def test_moved_members_keep_their_grants(root, system, eng_tree):
    eng, _, _, ops, _ = eng_tree
    put_acl(system, root, (Allow, "group:/groups/eng/groups/sub#manager", ["create-user"]))
    move_group(system, eng, ops.path)
    assert Actor.user(root, "u2").may("create-user", root)


def test_move_keeps_group_id_and_group_by_id_finds_it(root, system, eng_tree):
    eng, sub, _, ops, _ = eng_tree
    eng_id, sub_id = eng.id, sub.id
    move_group(system, eng, ops.path)
    assert eng.id == eng_id and sub.id == sub_id
    assert group_by_id(root, eng_id) is eng
    assert group_by_id(root, sub_id).path == "/groups/ops/groups/eng/groups/sub"
