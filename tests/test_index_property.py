"""Property: whatever happens to the tree, the user -> groups index mirrors it exactly."""

import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ZODB import DB
from ZODB.MappingStorage import MappingStorage

from membership.db import ROOT_KEY, bootstrap
from membership.exceptions import MembershipError

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
        for userid, membership in group.members._items.items()
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


def apply(root, op) -> None:
    kind, *args = op
    if kind == "add_group":
        pick(root, args[0]).groups.add_group(args[1])
    elif kind == "add_member":
        pick(root, args[0]).members.add_member(args[1], args[2])
    elif kind == "change_role":
        group = pick(root, args[0])
        if args[1] in group.members:
            group.members.change_member(args[1], role=args[2])
    elif kind == "remove_member":
        group = pick(root, args[0])
        if args[1] in group.members:
            group.members.remove_member(args[1])
    elif kind == "move":
        group, target = pick(root, args[0]), pick(root, args[1])
        group.__parent__.move_group(group.name, target.groups)
    elif kind == "delete_group":
        group = pick(root, args[0])
        group.__parent__.remove_group(group.name)
    elif kind == "delete_user":
        if args[0] in root.users:
            root.users.remove_user(args[0])
    elif kind == "add_user":
        root.users.add_user(args[0])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(operations)
def test_index_always_equals_brute_force(ops):
    db = DB(MappingStorage())
    bootstrap(db)
    conn = db.open()
    try:
        root = conn.root()[ROOT_KEY]
        for user in USERS:
            root.users.add_user(user)
        for op in ops:
            try:
                apply(root, op)
            except (MembershipError, KeyError):
                pass  # refused operations (duplicates, cycles, admins) must change nothing
            assert index_contents(root) == brute_force_index(root), op
            counted = {g.path: len(g.members) for g in all_groups(root)}
            actual = {g.path: len(list(g.members.keys())) for g in all_groups(root)}
            assert counted == actual
    finally:
        transaction.abort()
        conn.close()
        db.close()
