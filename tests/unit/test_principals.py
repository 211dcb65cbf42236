"""The principal lookup reads the user -> groups index, never the group tree."""

import transaction
from ZODB import DB

from membership.domain.groups import create_group
from membership.domain.members import add_member
from membership.domain.queries import principals_for
from membership.domain.setup import ROOT_KEY
from membership.domain.users import create_user

from .conftest import make_db, script


def build(n_groups: int) -> DB:
    db = make_db()
    conn = db.open()
    root = conn.root()[ROOT_KEY]
    ctx = script(root)
    create_user(ctx, "alice")
    for i in range(n_groups):
        group = create_group(ctx, root.groups, f"g{i:05d}")
        if i % (n_groups // 3) == 0:
            sub = create_group(ctx, group.groups, "sub")
            add_member(ctx, sub, "alice", "manager")
    transaction.commit()
    conn.close()
    return db


def loads_for_principals(db: DB) -> tuple[int, list[str]]:
    db.cacheMinimize()
    conn = db.open()
    try:
        conn.cacheMinimize()
        root = conn.root()[ROOT_KEY]
        root._p_activate()
        conn.getTransferCounts(clear=True)
        principals = principals_for(root, "alice")
        loads, _ = conn.getTransferCounts()
        return loads, principals
    finally:
        transaction.abort()
        conn.close()


def test_principals_include_ancestors_and_roles():
    db = build(30)
    _, principals = loads_for_principals(db)
    assert "group:/groups/g00000/groups/sub#manager" in principals
    assert "group:/groups/g00000/groups/sub" in principals
    assert "group:/groups/g00000" in principals
    assert "group:/groups/g00000#manager" not in principals  # roles do not flow up


def test_principal_lookup_cost_does_not_grow_with_number_of_groups():
    small_loads, small = loads_for_principals(build(30))
    large_loads, large = loads_for_principals(build(3000))
    assert len(small) == len(large)
    # A BTree one level deeper may cost a load or two more; a scan would cost thousands.
    assert large_loads <= small_loads + 3, (small_loads, large_loads)
