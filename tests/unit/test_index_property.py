"""Property: whatever happens to the tree, the user -> groups index mirrors it exactly."""

import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from membership.domain import groups, members, users
from membership.domain.errors import DomainError
from membership.domain.setup import ROOT_KEY

from .conftest import make_db, script

USERS = ["u1", "u2", "u3", "u4"]
NAMES = ["a", "b", "c"]
ROLES = ["member", "manager", "owner"]


def all_groups(root):
    stack = list(root.groups._items.values())
    while stack:
        group = stack.pop()
        yield group
        stack.extend(group.groups._items.values())


def brute_force_index(root) -> set:
    return {
        (userid, group.path, membership.role)
        for group in all_groups(root)
        for userid, membership in group.members.memberships()
    }


def index_contents(root) -> set:
    return {(userid, path, role) for userid, path, role, _ in root.index.all_items()}


def pick(root, choice: int):
    groups = sorted(all_groups(root), key=lambda g: g.path)
    return groups[choice % len(groups)]


operations = st.lists(
    st.one_of(
        st.tuples(st.just("add_group"), st.integers(0, 50), st.sampled_from(NAMES)),
        st.tuples(
            st.just("add_member"),
            st.integers(0, 50),
            st.sampled_from(USERS),
            st.sampled_from(ROLES),
        ),
        st.tuples(
            st.just("change_role"),
            st.integers(0, 50),
            st.sampled_from(USERS),
            st.sampled_from(ROLES),
        ),
        st.tuples(st.just("remove_member"), st.integers(0, 50), st.sampled_from(USERS)),
        st.tuples(st.just("move"), st.integers(0, 50), st.integers(0, 50)),
        st.tuples(st.just("delete_group"), st.integers(0, 50)),
        st.tuples(st.just("delete_user"), st.sampled_from(USERS)),
        st.tuples(st.just("add_user"), st.sampled_from(USERS)),
    ),
    max_size=40,
)


def apply(ctx, op) -> None:
    root = ctx.root
    kind, *args = op
    if kind == "add_group":
        groups.create_group(ctx, pick(root, args[0]).groups, args[1])
    elif kind == "add_member":
        members.add_member(ctx, pick(root, args[0]), args[1], args[2])
    elif kind == "change_role":
        members.change_member(ctx, pick(root, args[0]), args[1], role=args[2])
    elif kind == "remove_member":
        members.remove_member(ctx, pick(root, args[0]), args[1])
    elif kind == "move":
        group, target = pick(root, args[0]), pick(root, args[1])
        groups.move_group(ctx, group, target.path)
    elif kind == "delete_group":
        groups.delete_group(ctx, pick(root, args[0]))
    elif kind == "delete_user":
        if args[0] in root.users:
            users.delete_user(ctx, root.users[args[0]])
    elif kind == "add_user":
        users.create_user(ctx, args[0])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(operations)
def test_index_always_equals_brute_force(ops):
    db = make_db()
    conn = db.open()
    try:
        root = conn.root()[ROOT_KEY]
        ctx = script(root)
        for user in USERS:
            users.create_user(ctx, user)
        for op in ops:
            try:
                apply(ctx, op)
            except DomainError:
                pass  # refused operations (duplicates, cycles, admins) must change nothing
            assert index_contents(root) == brute_force_index(root), op
            counted = {g.path: len(g.members) for g in all_groups(root)}
            actual = {g.path: len(list(g.members.keys())) for g in all_groups(root)}
            assert counted == actual
    finally:
        transaction.abort()
        conn.close()
        db.close()
