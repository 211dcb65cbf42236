"""Property: the explanation of a decision is the decision the security policy makes.

Random local ACLs on a small tree, random principal sets: for every node and
permission, ``acl.decide`` must agree with Pyramid's ``ACLHelper``, and the
ACE it names must be one that applies at that node.
"""

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyramid.authorization import ACLHelper, Authenticated, Everyone

from membership.domain import Actor
from membership.domain.acl import decide, effective_entries
from membership.domain.groups import create_group
from membership.domain.setup import ROOT_KEY
from membership.domain.users import create_user
from membership.model import node_at
from membership.permissions import Permission

from .conftest import make_db, script

PATHS = ["/", "/users/u1", "/groups/a", "/groups/a/groups/b", "/groups/a/groups/b/groups/c"]
GROUPS = [p for p in PATHS if p.startswith("/groups")]
PRINCIPALS = [
    Everyone,
    Authenticated,
    "user:u1",
    "group:/groups/admins",
    *(f"group:{p}" for p in GROUPS),
    *(f"group:{p}#{role}" for p in GROUPS for role in ("member", "manager", "owner")),
]
PERMISSIONS = [str(p) for p in Permission]

aces = st.tuples(
    st.sampled_from(["Allow", "Deny"]),
    st.sampled_from(PRINCIPALS),
    st.lists(st.sampled_from(PERMISSIONS), min_size=1, max_size=3, unique=True).map(tuple),
)
acls = st.fixed_dictionaries({path: st.lists(aces, max_size=3) for path in PATHS})


def make_tree():
    db = make_db()
    conn = db.open()
    root = conn.root()[ROOT_KEY]
    ctx = script(root)
    create_user(ctx, "u1")
    a = create_group(ctx, root.groups, "a")
    b = create_group(ctx, a.groups, "b")
    create_group(ctx, b.groups, "c")
    return db, conn, root


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(acls, st.sets(st.sampled_from(PRINCIPALS), min_size=1, max_size=4))
def test_decide_agrees_with_aclhelper(local_acls, principals):
    db, conn, root = make_tree()
    try:
        for path, entries in local_acls.items():
            node_at(root, path).set_local_acl(entries)
        helper = ACLHelper()
        for path in PATHS:
            node = node_at(root, path)
            applicable = effective_entries(node)
            for permission in PERMISSIONS:
                allowed, entry = decide(node, principals, permission)
                assert allowed == bool(helper.permits(node, principals, permission))
                if entry is not None:
                    assert entry in applicable
                    assert entry["principal"] in principals
    finally:
        conn.transaction_manager.abort()
        conn.close()
        db.close()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(acls, st.sets(st.sampled_from(PRINCIPALS), min_size=1, max_size=4))
def test_actor_may_agrees_with_aclhelper(local_acls, principals):
    """``Actor.may`` answers an admin on ``admin_first`` nodes without building the
    ACL: it must still say what Pyramid says, even under local Deny entries that
    name the admins (which the guard rails never let in, but the decision must
    not depend on that)."""
    db, conn, root = make_tree()
    try:
        for path, entries in local_acls.items():
            node_at(root, path).set_local_acl(entries)
        helper = ACLHelper()
        actor = Actor("someone", tuple(principals))
        nodes = [node_at(root, path) for path in PATHS]
        nodes += [node_at(root, "/groups/a").members, root.groups]
        for node in nodes:
            for permission in PERMISSIONS:
                assert actor.may(permission, node) == bool(
                    helper.permits(node, principals, permission)
                ), (node, permission)
    finally:
        conn.transaction_manager.abort()
        conn.close()
        db.close()
