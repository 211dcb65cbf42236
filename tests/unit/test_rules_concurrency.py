"""Concurrency declarations: of two overlapping changes, whichever commits second conflicts.

Two connections to one FileStorage, each with its own transaction manager,
both begun before either commits (so each decides on the same snapshot).
The first commit wins; the second raises ``ConflictError`` (a read conflict
is one too), and what is left is consistent: tree, index, ACLs and registries
agree.

Each connection starts with an empty cache (as after a restart, or after
another process's commit invalidated what it held): a declaration must not
depend on what happens to be loaded. The audit log is switched off
(``root.history = None``): its striped trees collide at random when two
appends create the same stripe, which would hide whether the declarations
alone make the second commit conflict.
"""

import pytest
import transaction
from pyramid.authorization import Allow
from ZODB import DB
from ZODB.FileStorage import FileStorage
from ZODB.POSException import ConflictError

from membership.domain import Actor, Context, acl
from membership.domain.groups import create_group, delete_group, move_group
from membership.domain.members import Operation, add_member, apply_batch, import_members
from membership.domain.setup import ROOT_KEY, ensure_tree
from membership.domain.tokens import create_token
from membership.domain.users import create_user, delete_user
from membership.model import group_at, node_at
from membership.paths import parse_principal


def context(root) -> Context:
    return Context(root, Actor.script("test"))


@pytest.fixture
def db(tmp_path):
    """Users u, v; groups /groups/x, /groups/y and /groups/g/groups/sub/groups/deep."""
    database = DB(FileStorage(str(tmp_path / "Data.fs")))
    tm = transaction.TransactionManager()
    conn = database.open(transaction_manager=tm)
    with tm:
        root, _ = ensure_tree(conn.root())
        ctx = context(root)
        create_user(ctx, "u")
        create_user(ctx, "v")
        create_group(ctx, root.groups, "x")
        create_group(ctx, root.groups, "y")
        g = create_group(ctx, root.groups, "g")
        create_group(ctx, create_group(ctx, g.groups, "sub").groups, "deep")
        root.history = None  # see the module docstring
    conn.close()
    yield database
    database.close()


def race(db, first, second) -> ConflictError | None:
    """Both changes on one snapshot; commit ``first`` then ``second``.

    The error the second commit raised (its transaction is then aborted), or None.
    """
    sessions = []
    for _ in range(2):
        tm = transaction.TransactionManager()
        conn = db.open(transaction_manager=tm)
        conn.cacheMinimize()
        tm.begin()
        sessions.append((tm, conn))
    try:
        for (_, conn), change in zip(sessions, (first, second), strict=True):
            change(context(conn.root()[ROOT_KEY]))
        sessions[0][0].commit()
        try:
            sessions[1][0].commit()
        except ConflictError as exc:
            sessions[1][0].abort()
            return exc
        return None
    finally:
        for tm, conn in sessions:
            tm.abort()
            conn.close()


def committed(db):
    """The tree as committed, checked for consistency."""
    tm = transaction.TransactionManager()
    conn = db.open(transaction_manager=tm)
    root = conn.root()[ROOT_KEY]
    assert_consistent(root)
    return root


def all_groups(root):
    stack = list(root.groups._items.values())
    while stack:
        group = stack.pop()
        yield group
        stack.extend(group.groups._items.values())


def assert_consistent(root) -> None:
    groups = list(all_groups(root))
    tree = {
        (userid, group.path, membership.role)
        for group in groups
        for userid, membership in group.members.memberships()
    }
    index = {(userid, path, role) for userid, path, role, _ in root.index.all_items()}
    assert index == tree
    assert {userid for userid, _, _ in tree} <= set(root.users.keys())
    assert dict(root.group_ids) == {group.id: group for group in groups}
    for path, principals in root.acl_nodes.items():
        node = node_at(root, path)
        assert node is not None, path
        assert principals == tuple(sorted({p for _, p, _ in node.local_acl}))
        for principal in principals:
            parsed = parse_principal(principal)
            if parsed.kind == "user":
                assert parsed.name in root.users, principal
            elif parsed.kind == "group":
                assert group_at(root, parsed.name) is not None, principal


def ordered(a, b, order):
    return (a, b) if order == "as-named" else (b, a)


ORDERS = ["as-named", "reversed"]


# the two changes of each race


def delete_u(ctx):
    delete_user(ctx, ctx.root.users["u"])


def grant_u_on_x(ctx):
    new = acl.parse_entries(ctx.root, [(Allow, "user:u", ["view"])], "entries")
    acl.set_acl(ctx, ctx.root.groups["x"], new, lambda ace: "entries")


def grant_sub_on_x(ctx):
    new = acl.parse_entries(ctx.root, [(Allow, "group:/groups/g/groups/sub", ["view"])], "e")
    acl.set_acl(ctx, ctx.root.groups["x"], new, lambda ace: "entries")


def add_u_to(path, how="add_member"):
    def change(ctx):
        group = group_at(ctx.root, path)
        if how == "add_member":
            add_member(ctx, group, "u")
        elif how == "apply_batch":
            apply_batch(ctx, group, [Operation("add", "u")])
        elif how == "import_members":
            import_members(ctx, group, [("u", "member")])

    return change


def add_v_to(path):
    return lambda ctx: add_member(ctx, group_at(ctx.root, path), "v")


def move(path, to):
    return lambda ctx: move_group(ctx, group_at(ctx.root, path), to)


def delete(path):
    return lambda ctx: delete_group(ctx, group_at(ctx.root, path))


# (a) a user deleted while being added


@pytest.mark.parametrize("how", ["add_member", "apply_batch", "import_members"])
@pytest.mark.parametrize("order", ORDERS)
def test_deleting_a_user_while_adding_them_conflicts(db, order, how):
    first, second = ordered(delete_u, add_u_to("/groups/g", how), order)
    assert isinstance(race(db, first, second), ConflictError)
    root = committed(db)
    if order == "as-named":
        assert "u" not in root.users and root.index.paths("u") == []
    else:
        assert root.index.paths("u") == ["/groups/g"]


@pytest.mark.parametrize("order", ORDERS)
def test_deleting_a_user_while_giving_them_a_token_conflicts(db, order):
    first, second = ordered(delete_u, lambda ctx: create_token(ctx, ctx.root.users["u"]), order)
    assert isinstance(race(db, first, second), ConflictError)
    root = committed(db)
    assert {userid for userid, _ in root.token_digests.values()} <= set(root.users.keys())


# (b) crossed moves


@pytest.mark.parametrize("order", ORDERS)
def test_crossed_moves_conflict(db, order):
    first, second = ordered(move("/groups/x", "/groups/y"), move("/groups/y", "/groups/x"), order)
    assert isinstance(race(db, first, second), ConflictError)
    root = committed(db)
    assert sorted(root.groups.keys()) == ["admins", "g", "x" if order == "reversed" else "y"]


def test_crossed_moves_through_a_subgroup_conflict(db):
    first = move("/groups/x", "/groups/g/groups/sub")
    second = move("/groups/g", "/groups/x")
    assert isinstance(race(db, first, second), ConflictError)
    committed(db)


# (c) a group deleted while a member is added in its subtree


SUB = "/groups/g/groups/sub"
DEEP = "/groups/g/groups/sub/groups/deep"


@pytest.mark.parametrize("where", ["/groups/g", SUB, DEEP])
@pytest.mark.parametrize("order", ORDERS)
def test_deleting_a_group_while_adding_a_member_below_conflicts(db, order, where):
    first, second = ordered(delete("/groups/g"), add_u_to(where), order)
    assert isinstance(race(db, first, second), ConflictError)
    root = committed(db)
    expected = [] if order == "as-named" else [where]
    assert root.index.paths("u") == expected


def test_creating_a_subgroup_in_a_group_deleted_meanwhile_conflicts(db):
    def create(ctx):
        create_group(ctx, group_at(ctx.root, SUB).groups, "new")

    assert isinstance(race(db, delete("/groups/g"), create), ConflictError)
    assert group_at(committed(db), "/groups/g") is None


@pytest.mark.parametrize("order", ORDERS)
def test_deleting_a_group_while_naming_its_subgroup_in_an_ace_conflicts(db, order):
    first, second = ordered(delete("/groups/g"), grant_sub_on_x, order)
    assert isinstance(race(db, first, second), ConflictError)
    committed(db)


# (d) a group moved while a member is added below it


@pytest.mark.parametrize("where", ["/groups/g", DEEP])
@pytest.mark.parametrize("order", ORDERS)
def test_moving_a_group_while_adding_a_member_below_conflicts(db, order, where):
    first, second = ordered(move("/groups/g", "/groups/x"), add_u_to(where), order)
    assert isinstance(race(db, first, second), ConflictError)
    root = committed(db)
    expected = [] if order == "as-named" else [where]
    assert root.index.paths("u") == expected


@pytest.mark.parametrize("order", ORDERS)
def test_moving_a_group_while_naming_its_subgroup_in_an_ace_conflicts(db, order):
    first, second = ordered(move("/groups/g", "/groups/y"), grant_sub_on_x, order)
    assert isinstance(race(db, first, second), ConflictError)
    committed(db)


# (e) a user deleted while an ACE naming them is added


@pytest.mark.parametrize("order", ORDERS)
def test_deleting_a_user_while_naming_them_in_an_ace_conflicts(db, order):
    first, second = ordered(delete_u, grant_u_on_x, order)
    assert isinstance(race(db, first, second), ConflictError)
    root = committed(db)
    expected = () if order == "as-named" else ((Allow, "user:u", ("view",)),)
    assert root.groups["x"].local_acl == expected


# what does not overlap does not conflict


def test_adding_different_users_to_one_group_does_not_conflict(db):
    assert race(db, add_u_to("/groups/g"), add_v_to("/groups/g")) is None
    root = committed(db)
    assert sorted(root.groups["g"].members.keys()) == ["u", "v"]


def test_changes_in_unrelated_groups_do_not_conflict(db):
    assert race(db, add_u_to("/groups/x"), move("/groups/g/groups/sub", "/groups/y")) is None
    root = committed(db)
    assert root.index.paths("u") == ["/groups/x"]
    assert group_at(root, "/groups/y/groups/sub/groups/deep") is not None
