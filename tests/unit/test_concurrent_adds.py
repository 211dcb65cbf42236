"""Concurrent adds to one group merge; what an add does not read, it does not declare.

Memberships are values in the group's members tree, so an add writes a bucket
of that tree, its count, a bucket of the user -> groups index and the
transaction's feed batch: BTrees and ``Length`` resolve concurrent inserts of
different keys, so adds of different users to one group all commit, with no
ConflictError and no retry. Threads on one real FileStorage, each with its
own connection, all begun on one snapshot and committing at once; the same
through two ZEO clients is in ``tests/cluster/test_concurrent_adds.py``.
"""

import threading

import pytest
import transaction
from ZODB import DB
from ZODB.FileStorage import FileStorage
from ZODB.POSException import ConflictError

from membership.domain import Actor, Context
from membership.domain.consistency import check
from membership.domain.groups import create_group
from membership.domain.members import add_member
from membership.domain.setup import ROOT_KEY, ensure_tree
from membership.domain.users import create_missing_users, create_user, delete_user

WRITERS = 8
#: Writers whose ids sort between the members' (``m00075x`` after ``m00075``), spread over
#: the tree: each lands in a bucket with room. Two inserts that make one bucket split
#: conflict in any BTree (the split is not mergeable); pyramid_retry replays those.
SPREAD = [f"m{n:05d}x" for n in range(0, 600, 75)]


def context(root) -> Context:
    return Context(root, Actor.script("test"))


def make_db(path, members: int) -> DB:
    """Group g with ``members`` members (and users w0..w7, ``SPREAD``, not in it yet)."""
    database = DB(FileStorage(str(path / "Data.fs")))
    tm = transaction.TransactionManager()
    conn = database.open(transaction_manager=tm)
    with tm:
        root, _ = ensure_tree(conn.root())
        ctx = context(root)
        group = create_group(ctx, root.groups, "g")
        create_missing_users(ctx, [f"w{n}" for n in range(WRITERS)] + SPREAD)
        create_missing_users(ctx, [f"m{n:05d}" for n in range(members)])
        for n in range(members):
            add_member(ctx, group, f"m{n:05d}")
    with tm:
        root = conn.root()[ROOT_KEY]
        root.feed.seal(history=root.history)
    conn.close()
    return database


def concurrent_adds(database: DB, userids: list[str]) -> list[BaseException]:
    """Each user added by its own thread and connection; all commit at the same moment."""
    barrier = threading.Barrier(len(userids))
    database.setPoolSize(len(userids) + 1)
    errors: list[BaseException] = []

    def writer(userid: str) -> None:
        tm = transaction.TransactionManager()
        conn = database.open(transaction_manager=tm)
        try:
            tm.begin()
            root = conn.root()[ROOT_KEY]
            add_member(context(root), root.groups["g"], userid)
            barrier.wait()
            tm.commit()
        except BaseException as exc:  # every failure is reported
            errors.append(exc)
            tm.abort()
        finally:
            conn.close()

    threads = [threading.Thread(target=writer, args=(userid,)) for userid in userids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return errors


def committed(database: DB):
    tm = transaction.TransactionManager()
    conn = database.open(transaction_manager=tm)
    return conn, conn.root()[ROOT_KEY]


@pytest.mark.parametrize(
    ("members", "adds"),
    [(0, [f"w{n}" for n in range(WRITERS)]), (600, SPREAD)],
    ids=["one inline bucket", "600 members, separate buckets"],
)
def test_concurrent_adds_to_one_group_all_commit(tmp_path, members, adds):
    database = make_db(tmp_path, members)
    try:
        assert concurrent_adds(database, adds) == []
        conn, root = committed(database)
        group = root.groups["g"]
        assert len(group.members) == members + len(adds)
        assert all(userid in group.members for userid in adds)
        for userid in adds:
            assert root.index.paths(userid) == ["/groups/g"]
        log = root.history
        added = [e.target for e in log.newest_first() if e.action == "membership.created"]
        assert {f"/groups/g/members/{u}" for u in adds} <= set(added)
        assert check(root) == []
        conn.close()
    finally:
        database.close()


def test_deleting_a_user_while_adding_them_conflicts_in_a_big_index(tmp_path):
    """The deletion declares the index buckets that hold the user's entries: with
    hundreds of users the index has separate buckets, and an add for that user lands in
    one of them (the add itself declares the user record, which the deletion writes)."""
    database = make_db(tmp_path, 600)
    try:
        for order in ("add first", "delete first"):
            tm1, tm2 = transaction.TransactionManager(), transaction.TransactionManager()
            c1, c2 = database.open(transaction_manager=tm1), database.open(transaction_manager=tm2)
            tm1.begin()
            tm2.begin()
            r1, r2 = c1.root()[ROOT_KEY], c2.root()[ROOT_KEY]
            userid = "w3" if order == "add first" else "w4"
            add_member(context(r1), r1.groups["g"], userid)
            delete_user(context(r2), r2.users[userid])
            first, second = (tm1, tm2) if order == "add first" else (tm2, tm1)
            first.commit()
            with pytest.raises(ConflictError):
                second.commit()
            second.abort()
            c1.close()
            c2.close()
        conn, root = committed(database)
        assert check(root) == []
        # the first commit of each pair won: w3 was added (and kept), w4 deleted
        assert root.index.paths("w3") == ["/groups/g"] and "w3" in root.users
        assert "w4" not in root.groups["g"].members and "w4" not in root.users
        assert len(root.index._entries) > 200  # buckets of their own, not one inline
        conn.close()
    finally:
        database.close()


def test_an_add_does_not_conflict_with_a_change_it_did_not_read(tmp_path):
    """Another user's record changing meanwhile is none of an add's business."""
    database = make_db(tmp_path, 0)
    try:
        tm1, tm2 = transaction.TransactionManager(), transaction.TransactionManager()
        c1, c2 = database.open(transaction_manager=tm1), database.open(transaction_manager=tm2)
        tm1.begin()
        tm2.begin()
        r1, r2 = c1.root()[ROOT_KEY], c2.root()[ROOT_KEY]
        add_member(context(r1), r1.groups["g"], "w1")
        create_user(context(r2), "newcomer")
        delete_user(context(r2), r2.users["w2"])
        tm2.commit()
        tm1.commit()  # no ConflictError
        c1.close()
        c2.close()
        conn, root = committed(database)
        assert "w1" in root.groups["g"].members and "w2" not in root.users
        assert check(root) == []
        conn.close()
    finally:
        database.close()
