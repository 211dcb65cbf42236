"""The change feed follows commit order, not the order transactions started."""

import pytest
import transaction
from ZODB import DB
from ZODB.FileStorage import FileStorage

from membership.domain import Actor, Context
from membership.domain.changes import Gone, Position, read
from membership.domain.groups import create_group, update_group
from membership.domain.setup import ROOT_KEY, ensure_tree


def everything(item: dict) -> bool:
    return True


@pytest.fixture
def db(tmp_path):
    database = DB(FileStorage(str(tmp_path / "Data.fs")))
    with database.transaction() as conn:
        ensure_tree(conn.root())
    with database.transaction() as conn:
        ctx = Context(conn.root()[ROOT_KEY], Actor("setup", system=True))
        for name in ("first", "second"):
            create_group(ctx, ctx.root.groups, name)
    yield database
    database.close()


def open_writer(db, name):
    tm = transaction.TransactionManager()
    conn = db.open(transaction_manager=tm)
    tm.begin()
    return tm, conn, Context(conn.root()[ROOT_KEY], Actor(name, system=True))


def poll(db, after):
    with db.transaction() as conn:
        found, position = read(conn.root()[ROOT_KEY].feed, after, limit=100, accept=everything)
        return [change.item["actor"] for change in found], position


def test_overlapping_transactions_are_seen_once_each_in_commit_order(db):
    _, cursor = poll(db, None)
    tm1, conn1, early = open_writer(db, "started-first")
    tm2, conn2, late = open_writer(db, "started-second")
    update_group(early, early.root.groups["first"], title="by the early one")
    update_group(late, late.root.groups["second"], title="by the late one")
    tm2.commit()  # the one that started second commits first
    seen, cursor = poll(db, cursor)
    assert seen == ["started-second"]
    tm1.commit()
    seen, cursor = poll(db, cursor)
    assert seen == ["started-first"]  # an id drawn at record time would sort it before
    assert poll(db, cursor) == ([], cursor)
    conn1.close()
    conn2.close()


def test_one_transactions_changes_come_together_and_in_order(db):
    _, cursor = poll(db, None)
    with db.transaction() as conn:
        ctx = Context(conn.root()[ROOT_KEY], Actor("one", system=True))
        eng = create_group(ctx, ctx.root.groups, "eng")
        create_group(ctx, eng.groups, "backend")
        update_group(ctx, eng, title="Engineering")
    with db.transaction() as conn:
        found, _ = read(conn.root()[ROOT_KEY].feed, cursor, limit=2, accept=everything)
        assert [c.item["target"] for c in found] == ["/groups/eng", "/groups/eng/groups/backend"]
        assert found[0].position.tid == found[1].position.tid
        rest, _ = read(conn.root()[ROOT_KEY].feed, found[-1].position, limit=10, accept=everything)
        assert [c.item["type"] for c in rest] == ["group.changed"]


def test_sealing_changes_nothing_for_readers(db):
    before, _ = poll(db, None)
    with db.transaction() as conn:
        assert conn.root()[ROOT_KEY].feed.seal() >= 1
    after, _ = poll(db, None)
    assert after == before


def test_a_cursor_older_than_the_feed_holds_is_gone(db):
    _, cursor = poll(db, None)
    with db.transaction() as conn:
        feed = conn.root()[ROOT_KEY].feed
        feed.seal()
        feed.trim(cursor.tid + 1)
    with db.transaction() as conn, pytest.raises(Gone):
        read(conn.root()[ROOT_KEY].feed, Position(cursor.tid - 1, 0), limit=1, accept=everything)


def test_the_audit_log_reads_the_same_before_and_after_sealing_and_trimming(db):
    """Events live in the feed's batches: pending ones are read from there, sealed ones
    through the index the seal fills; trimming the feed keeps the history."""

    def history_of(conn, key=None):
        log = conn.root()[ROOT_KEY].history
        sources = None if key is None else log.object_sources(key)
        return [(e.action, e.target, e.actor) for e in log.newest_first(sources=sources)]

    with db.transaction() as conn:
        ctx = Context(conn.root()[ROOT_KEY], Actor("one", system=True))
        eng = create_group(ctx, ctx.root.groups, "eng")
        create_group(ctx, eng.groups, "backend")
        key = eng.history_key
    with db.transaction() as conn:
        ctx = Context(conn.root()[ROOT_KEY], Actor("two", system=True))
        update_group(ctx, ctx.root.groups["eng"], title="Engineering")
    with db.transaction() as conn:
        pending_all, pending_eng = history_of(conn), history_of(conn, key)
        assert conn.root()[ROOT_KEY].history.object_trees(key) == []  # nothing indexed yet
    assert pending_eng == [
        ("group.changed", "/groups/eng", "two"),
        ("group.created", "/groups/eng/groups/backend", "one"),
        ("group.created", "/groups/eng", "one"),
    ]
    with db.transaction() as conn:
        root = conn.root()[ROOT_KEY]
        assert root.feed.seal(history=root.history) >= 2
        assert not root.feed.pending
    with db.transaction() as conn:
        assert (history_of(conn), history_of(conn, key)) == (pending_all, pending_eng)
        assert conn.root()[ROOT_KEY].history.object_trees(key) != []
        feed = conn.root()[ROOT_KEY].feed
        feed.trim(feed.sealed.maxKey() + 1)
    with db.transaction() as conn:
        assert (history_of(conn), history_of(conn, key)) == (pending_all, pending_eng)
        assert len(conn.root()[ROOT_KEY].history) == len(pending_all)
