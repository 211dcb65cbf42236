"""Reading the change feed: every change after a position, in commit order.

A position is ``(tid, index)``: the committing transaction's id and the
item's place in that transaction's batch (``model/feed.py``). "After" is
strict, so a reader that resumes from the last position it saw gets each
change exactly once, and a transaction that commits later always has a
larger tid, whichever started first.
"""

import fnmatch
import time
from collections.abc import Callable, Iterator
from typing import NamedTuple

import transaction
from ZODB import DB
from ZODB.utils import u64

from ..model.feed import Feed
from .errors import DomainError, InvalidValue
from .setup import ROOT_KEY

#: Items a filtered page looks at before it answers with what it found so far.
SCAN_LIMIT = 10_000


class Position(NamedTuple):
    tid: int
    index: int


class Gone(DomainError):
    """The position is older than what the feed still holds: resync, then follow."""


class Change(NamedTuple):
    position: Position
    item: dict


def type_filter(patterns: list[str]) -> Callable[[dict], bool]:
    """``membership.*,group.created`` style: any pattern matches the item's type."""
    if not patterns:
        return lambda item: True
    return lambda item: any(fnmatch.fnmatchcase(item["type"], p) for p in patterns)


def about(key: str) -> Callable[[dict], bool]:
    """Items about the object with this history key (a group's subtree, a user)."""
    return lambda item: key in item["objects"]


def check_held(feed: Feed, after: Position | None) -> None:
    """``Gone`` for a position older than what the feed still holds."""
    if after is not None and after.tid < feed.floor:
        raise Gone(
            "this cursor is older than what the feed still holds: resync, then follow "
            "from after=now",
            subject="after",
        )


def read(
    feed: Feed,
    after: Position | None,
    *,
    limit: int,
    accept: Callable[[dict], bool],
    scan_limit: int = SCAN_LIMIT,
) -> tuple[list[Change], Position | None]:
    """A page of changes after ``after`` and the position to resume from.

    The resume position is that of the last item looked at, accepted or
    not, so a rare filter moves on instead of reading the same items again;
    with nothing new it is ``after`` itself.
    """
    check_held(feed, after)
    found: list[Change] = []
    last = after
    scanned = 0
    for tid, batch in feed.batches_after(after.tid if after else 0):
        for index, item in enumerate(batch.items):
            position = Position(tid, index)
            if after is not None and position <= after:
                continue
            last = position
            scanned += 1
            if accept(item):
                found.append(Change(position, item))
                if len(found) == limit:
                    return found, last
            if scanned >= scan_limit:
                return found, last
    return found, last


def encode_position(position: Position | tuple[int, int]) -> str:
    """A position as the 24 hex characters of a cursor."""
    tid, index = position
    return f"{tid:016x}{index:08x}"


def decode_position(cursor: str, subject: str = "after") -> Position:
    if len(cursor) != 24 or any(c not in "0123456789abcdef" for c in cursor):
        raise InvalidValue(
            f"{subject}: not a cursor this service issued (or 'now')", subject=subject
        )
    return Position(int(cursor[:16], 16), int(cursor[16:], 16))


def present(position: Position, item: dict) -> dict:
    """A change as clients see it: ``/changes``, server-sent events and webhooks alike."""
    cursor = encode_position(position)
    return {
        "id": cursor,
        "cursor": cursor,
        "type": item["type"],
        "time": item["time"],
        "actor": item["actor"],
        "target": item["target"],
        "groups": item["groups"],
        "data": item["data"],
    }


def latest(feed: Feed, last_tid: int) -> Position:
    """The position of "now": after everything committed up to ``last_tid``."""
    return Position(last_tid, 1 << 30)


#: How often ``follow`` looks at the storage's last tid while nothing happens.
FOLLOW_POLL_SECONDS = 0.2
#: How long ``follow`` stays quiet before it yields a heartbeat (``None``).
HEARTBEAT_SECONDS = 15.0
#: Most changes one read of ``follow`` hands on.
FOLLOW_BATCH = 1000


def follow(
    db: DB,
    after: Position | None,
    accept: Callable[[dict], bool],
    seconds: float,
    clock: Callable[[], float] = time.monotonic,
) -> Iterator[list[Change] | None]:
    """The changes after ``after`` as they commit, for ``seconds``: a list for each read
    that found some, ``None`` when a heartbeat is due (for a stream to keep proxies from
    closing it). ``Gone`` when the position is, or falls, behind what the feed holds.

    The API's event stream and the admin UI's live history both follow the feed
    this way. Between reads nothing holds a ZODB connection: the loop watches the
    storage's last tid and opens a connection (with a transaction of its own) only
    when that moved.
    """
    until = clock() + seconds
    beat = clock()
    seen = None
    while clock() < until:
        tid = u64(db.lastTransaction())
        if tid != seen:
            tm = transaction.TransactionManager(explicit=True)
            conn = db.open(transaction_manager=tm)
            try:
                tm.begin()
                found, position = read(
                    conn.root()[ROOT_KEY].feed, after, limit=FOLLOW_BATCH, accept=accept
                )
            finally:
                tm.abort()
                conn.close()
            seen = None if len(found) == FOLLOW_BATCH else tid
            after = position or after
            if found:
                beat = clock()
                yield found
            continue
        if clock() - beat >= HEARTBEAT_SECONDS:
            yield None
            beat = clock()
        time.sleep(FOLLOW_POLL_SECONDS)


def snapshot_position(feed: Feed) -> Position:
    """After every change this transaction sees: where a reader that has just shown what
    it read goes on following, missing nothing that commits later (the UI's history)."""
    tids = [batch.tid for batch in feed.pending.values() if batch._p_jar is not None]
    if len(feed.sealed):
        tids.append(feed.sealed.maxKey())
    return Position(max([feed.floor, *tids]), 1 << 30)
