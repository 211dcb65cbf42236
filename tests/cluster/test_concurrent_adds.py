"""Concurrent adds to one group through two ZEO clients: they merge, no ConflictError.

A real ``runzeo`` server (the project's zeo.conf, a temporary FileStorage) and
two ``ClientStorage`` databases in this process, as two app processes would
have. Each client begins its transaction on the same snapshot, adds its own
users to the same group, and the commits cross: the server resolves the
BTree and ``Length`` conflicts (the members bucket, the count, the index
bucket, the feed's pending bucket), so every add commits the first time.
``tests/unit/test_concurrent_adds.py`` does the same with threads on one
FileStorage.
"""

import threading

import pytest
import transaction
import ZEO

from membership.domain import Actor, Context
from membership.domain.consistency import check
from membership.domain.groups import create_group
from membership.domain.members import add_member
from membership.domain.setup import ROOT_KEY, ensure_tree
from membership.domain.users import create_missing_users

from .servers import ZEOServer

pytestmark = pytest.mark.slow

PER_CLIENT = 6


def context(root) -> Context:
    return Context(root, Actor.script("test"))


@pytest.fixture
def clients(tmp_path):
    with ZEOServer(tmp_path / "zeo") as server:
        address = ("127.0.0.1", server.port)
        first, second = ZEO.DB(address), ZEO.DB(address)
        first.address = address
        try:
            yield first, second
        finally:
            first.close()
            second.close()


def test_two_clients_adding_to_one_group_at_once_both_commit(clients):
    first, second = clients
    with first.transaction() as conn:
        root, _ = ensure_tree(conn.root())
        ctx = context(root)
        group = create_group(ctx, root.groups, "g")
        create_missing_users(ctx, [f"a{n}" for n in range(PER_CLIENT)])
        create_missing_users(ctx, [f"b{n}" for n in range(PER_CLIENT)])
        create_missing_users(ctx, [f"m{n:04d}" for n in range(300)])
        for n in range(300):  # separate buckets; a* and b* land in the first one, with room
            add_member(ctx, group, f"m{n:04d}")
    barrier = threading.Barrier(2 * PER_CLIENT)
    errors: list[BaseException] = []

    def writer(db, userid: str) -> None:
        tm = transaction.TransactionManager()
        conn = db.open(transaction_manager=tm)
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

    threads = [
        threading.Thread(target=writer, args=(db, f"{prefix}{n}"))
        for db, prefix in ((first, "a"), (second, "b"))
        for n in range(PER_CLIENT)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    # What the server stored, through a client of its own: the two writers'
    # clients learn of each other's commits asynchronously (no server_sync here).
    reader = ZEO.DB(first.address)
    try:
        with reader.transaction() as conn:
            root = conn.root()[ROOT_KEY]
            members = root.groups["g"].members
            added = [u for u in members.keys() if u[0] in "ab"]
            assert sorted(added) == sorted(
                [f"a{n}" for n in range(PER_CLIENT)] + [f"b{n}" for n in range(PER_CLIENT)]
            )
            assert len(members) == 300 + 2 * PER_CLIENT
            assert root.index.paths("b3") == ["/groups/g"]
            assert check(root) == []
    finally:
        reader.close()
