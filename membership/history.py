"""The audit log: one event per change, appended in the transaction that makes it.

Who records: the resource layer (``resources.py``) calls :func:`record` from
every method that creates, changes, deletes or moves something, so views and
console scripts are audited alike and a rolled-back transaction takes its
events with it.

Who the actor is: the ``user`` of the current ZODB transaction, read here
and nowhere else. For a web request the security policy sets it to the
authenticated user id whenever a write asks for the identity
(``security.credit_transaction``; pyramid_tm's ``tm.annotate_user`` does the
same when on, but a deployment may turn that off); console scripts set it to
``system:<script name>`` (``scripts.common.transaction_as``). Anything else
(the tree's own bootstrap, a bare transaction in a test) is ``system``. It is
the same string ZODB writes into its own transaction record, so ``fstail``
and the audit log agree.

Storage: events are small persistent objects referenced from integer-keyed
``LOBTree`` s. An event id is a 63-bit integer that sorts by time: the
microseconds since 1970 (52 bits, good until 2112) then 11 random bits; on
the wire it is 16 hex digits. Integer keys keep each bucket a few hundred
bytes, and a bucket is what every append rewrites.

* ``_log``: ``STRIPES`` trees, the whole log, split by the id's random bits.
  Every write appends here; one time-ordered tree would put concurrent
  appends in the same last bucket (BTrees merge concurrent inserts into one
  bucket, but not a bucket split under a concurrent insert), stripes put
  them in different buckets. The whole log newest first is a merge.
* ``_by_path``: ``(path, stripe)`` -> tree of the events filed under it:
  every group path at or above the target, and ``/users/<id>`` for events
  about that user. A subtree's history is a merge of its few trees: a page
  costs O(limit log n), whatever the size of the log. Group paths have
  ``INDEX_STRIPES`` trees, because many requests change one busy group at
  once; a user's path has one (changes to one user rarely run concurrently,
  and a million users should not mean millions of mostly empty trees).
* ``_by_actor``: ``(actor, stripe)`` -> tree, for "what did alice change"
  (striped too: a service account may write from many workers at once).

Two processes drawing the same id in the same microsecond collide on insert,
which ZODB reports as a conflict and pyramid_retry retries with a new id: an
event is never overwritten.

Paths are the paths at the time of the event: after a move a group's older
events stay under its old path (the ``group.moved`` event is under both).
Secrets never enter an event: fields named like passwords, hashes or tokens
are replaced by ``"[redacted]"`` here, whatever the caller passes.
"""

import heapq
import secrets
import threading
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from BTrees.LOBTree import LOBTree
from BTrees.OOBTree import OOBTree
from persistent import Persistent
from pyramid.traversal import find_root
from transaction.interfaces import NoTransaction

from . import clock

STRIPES = 8
INDEX_STRIPES = 4
SYSTEM = "system"
REDACTED = "[redacted]"
#: Field names whose values never reach the log.
SECRET_FIELDS = frozenset({"password", "password_hash", "token", "digest", "secret"})
#: Events a filtered page looks at before it answers with what it found so far.
SCAN_LIMIT = 10_000

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_RANDOM_BITS = 11
_HIGHEST = (1 << 63) - 1
_stamp_lock = threading.Lock()
_last_stamp = 0
_MAX_STEP_BACK = 1_000_000  # microseconds


class Event(Persistent):
    """One change. Immutable once appended; plain JSON values only."""

    def __init__(self, id_, actor, action, target, before, after) -> None:
        self.id = id_
        self.actor = actor
        self.action = action
        self.target = target
        self.before = before
        self.after = after

    @property
    def time(self) -> datetime:
        return _EPOCH + timedelta(microseconds=self.id >> _RANDOM_BITS)

    def as_dict(self) -> dict:
        return {
            "id": public_id(self.id),
            "time": clock.rfc3339(self.time),
            "actor": self.actor,
            "action": self.action,
            "target": self.target,
            "before": self.before,
            "after": self.after,
        }


class History(Persistent):
    """The log and its two indexes (see the module docstring for the keys)."""

    def __init__(self) -> None:
        self._log = tuple(LOBTree() for _ in range(STRIPES))
        self._by_path = OOBTree()
        self._by_actor = OOBTree()

    def append(self, event: Event, paths: Iterable[str]) -> None:
        self._log[stripe_of(event.id)][event.id] = event
        for path in paths:
            _tree(self._by_path, path, _stripes_of_path(path), event.id)[event.id] = event
        _tree(self._by_actor, event.actor, INDEX_STRIPES, event.id)[event.id] = event

    def newest_first(
        self,
        *,
        path: str | None = None,
        actor: str | None = None,
        before: int | None = None,
        since: datetime | None = None,
    ) -> Iterator[Event]:
        """Events newest first, strictly older than the id ``before``, not older than ``since``.

        Uses the path index when ``path`` is given, else the actor index when
        ``actor`` is, else the striped log; the caller filters the rest.
        """
        high = _HIGHEST if before is None else before - 1
        low = since_id(since)
        if path is not None:
            trees = _trees(self._by_path, path, _stripes_of_path(path))
        elif actor is not None:
            trees = _trees(self._by_actor, actor, INDEX_STRIPES)
        else:
            trees = self._log
        streams = [_descending(tree, high, low) for tree in trees]
        if len(streams) == 1:
            return streams[0]
        return heapq.merge(*streams, key=_event_id, reverse=True)

    def oldest_first(self, since: datetime | None = None) -> Iterator[Event]:
        """The whole log in time order (for exports): a merge of the stripes, streamed."""
        low = since_id(since)
        return heapq.merge(*(tree.values(min=low) for tree in self._log), key=_event_id)

    def __len__(self) -> int:
        return sum(len(tree) for tree in self._log)


def record(
    node,
    action: str,
    *,
    target: str,
    before: dict | None = None,
    after: dict | None = None,
    also: Iterable[str] = (),
) -> Event | None:
    """Append one event about ``target`` to the log of ``node``'s tree.

    ``also``: more paths the event is about (the user of a membership, the old
    path of a move), so their histories show it too. Nothing happens while
    the tree itself is being built (no log yet).
    """
    root = find_root(node)
    history = getattr(root, "history", None)
    if history is None:
        return None
    event = Event(new_event_id(), actor_of(root), action, target, _clean(before), _clean(after))
    history.append(event, index_paths(target, *also))
    return event


def actor_of(root) -> str:
    """Who is changing the tree: the current transaction's ``user``, else ``system``."""
    jar = getattr(root, "_p_jar", None)
    if jar is None:
        return SYSTEM
    try:
        txn = jar.transaction_manager.get()
    except NoTransaction:
        return SYSTEM
    # transaction's legacy setUser() writes "<path> <user>"; pyramid_tm writes the id alone.
    return (txn.user or "").rpartition(" ")[2] or SYSTEM


def index_paths(*paths: str) -> set[str]:
    """The history keys an event about ``paths`` is filed under.

    ``/groups/eng/groups/backend/members/bob`` -> ``/groups/eng``,
    ``/groups/eng/groups/backend``; ``/users/bob/tokens/x`` -> ``/users/bob``.
    The root and containers have no key of their own: the whole log covers them.
    """
    keys = set()
    for path in paths:
        parts = path.strip("/").split("/")
        if len(parts) < 2:
            continue
        if parts[0] == "users":
            keys.add(f"/users/{parts[1]}")
        elif parts[0] == "groups":
            for end in range(2, len(parts) + 1, 2):
                if parts[end - 2] != "groups":
                    break
                keys.add("/" + "/".join(parts[:end]))
    return keys


def new_event_id() -> int:
    """Time-ordered and unique: microseconds, then 11 random bits.

    Within a process the microseconds strictly increase across small steps
    back of the clock (under a second: NTP slews, two events in one
    microsecond), so one request's events keep their order; a larger jump
    is taken as the clock being corrected, and followed.
    """
    global _last_stamp
    stamp = (clock.now() - _EPOCH) // timedelta(microseconds=1)
    with _stamp_lock:
        if _last_stamp - _MAX_STEP_BACK < stamp <= _last_stamp:
            stamp = _last_stamp + 1
        _last_stamp = stamp
    return (stamp << _RANDOM_BITS) | secrets.randbits(_RANDOM_BITS)


def public_id(event_id: int) -> str:
    """An id as clients see it (and send back in cursors): 16 hex digits."""
    return f"{event_id:016x}"


def parse_id(value: str) -> int | None:
    """The id behind a public id, or None for anything this service did not issue."""
    if len(value) != 16 or any(c not in "0123456789abcdef" for c in value):
        return None
    return int(value, 16)


def since_id(since: datetime | None) -> int:
    """The lowest possible id of an event at or after ``since``."""
    if since is None:
        return 0
    return max(0, (since - _EPOCH) // timedelta(microseconds=1)) << _RANDOM_BITS


def stripe_of(event_id: int) -> int:
    return event_id % STRIPES


def _event_id(event: Event) -> int:
    return event.id


def _stripes_of_path(path: str) -> int:
    return 1 if path.startswith("/users/") else INDEX_STRIPES


def _tree(index: OOBTree, key: str, stripes: int, event_id: int) -> LOBTree:
    """The tree of ``key`` that ``event_id`` goes to, made on first use."""
    slot = (key, event_id % stripes)
    tree = index.get(slot)
    if tree is None:
        tree = index[slot] = LOBTree()
    return tree


def _trees(index: OOBTree, key: str, stripes: int) -> list[LOBTree]:
    return [tree for n in range(stripes) if (tree := index.get((key, n))) is not None]


def _descending(tree: LOBTree | None, high: int, low: int) -> Iterator[Event]:
    """Values with ``low <= id <= high``, highest id first.

    BTrees iterate forwards cheaply and backwards expensively, so each step is
    one ``maxKey`` probe: O(log n) per event, no scan.
    """
    if tree is None:
        return
    probe = high
    while probe >= low:
        try:
            key = tree.maxKey(probe)
        except ValueError:  # nothing at or below the probe
            return
        if key < low:
            return
        yield tree[key]
        probe = key - 1


def _clean(values: dict | None) -> dict | None:
    """Plain JSON, and no secrets whatever the caller passed."""
    if values is None:
        return None
    return {key: _plain(key, value) for key, value in values.items()}


def _plain(key: str, value: Any) -> Any:
    if key in SECRET_FIELDS:
        return None if value is None else REDACTED
    if isinstance(value, datetime):
        return clock.rfc3339(value)
    if isinstance(value, dict):
        return {k: _plain(k, v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_plain("", v) for v in value]
    return value


def matches(event: Event, *, actor: str | None, action: str | None) -> bool:
    """``action`` is an exact action (``membership.created``) or a kind (``membership``)."""
    if actor is not None and event.actor != actor:
        return False
    if action is not None and event.action != action and not event.action.startswith(action + "."):
        return False
    return True


def page(
    history: History,
    *,
    limit: int,
    path: str | None = None,
    actor: str | None = None,
    action: str | None = None,
    since: datetime | None = None,
    before: int | None = None,
    scan_limit: int = SCAN_LIMIT,
) -> tuple[list[Event], bool, int | None]:
    """A page of events newest first: ``(events, more, cursor key)``.

    Filters that no index serves are applied while scanning; a page looks at
    no more than ``scan_limit`` events, so a rare filter answers a short (even
    empty) page with a cursor to continue from, instead of reading the log.
    """
    found: list[Event] = []
    last_seen = None
    seen = 0
    use_actor_index = path is None
    stream = history.newest_first(
        path=path, actor=actor if use_actor_index else None, before=before, since=since
    )
    for event in stream:
        if matches(event, actor=actor, action=action):
            if len(found) == limit:
                return found, True, found[-1].id
            found.append(event)
        last_seen = event.id
        seen += 1
        if seen >= scan_limit and len(found) < limit:
            return found, True, last_seen
    return found, False, found[-1].id if found else None
