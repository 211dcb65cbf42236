"""The audit log's storage: events in striped ``LOBTree`` s and three indexes.

The audit subscriber (``subscribers/audit.py``) appends one event per change,
in the transaction that makes it, so a rolled-back change takes its event
with it. This module stores and pages them.

An event id is a 63-bit integer that sorts by time: the microseconds since
1970 (52 bits, good until 2112) then 11 random bits; on the wire it is 16
hex digits. Integer keys keep each bucket a few hundred bytes, and a bucket
is what every append rewrites.

* ``_log``: ``STRIPES`` trees, the whole log, split by the id's random bits,
  so concurrent appends land in different buckets. The whole log newest
  first is a merge.
* ``_by_object``: ``(object key, stripe)`` -> tree of the events about that
  object: every group at and above the target and the user concerned, by
  their stable key (a group's id, a user's uid). History belongs to the
  object: a group or user created later under a reused name starts empty.
  This is the only index an event is written to.
* ``_path_keys``: path -> the keys of the objects that left it (deleted or
  moved away), written only then. "What happened at this path" is the
  events of those objects and of the one there now, filtered by the paths
  each event had then (``matches(path=)``), so admins can still ask about
  a path that is gone without every event paying for a path index.
* ``_by_path`` (``(path, stripe)`` -> tree) and ``_by_actor``: written by
  earlier releases for every event, now only read (the first for the events
  from before, the second not at all: ``?actor=`` filters while scanning,
  at most ``SCAN_LIMIT`` events per page, like ``?action=``).

Two processes drawing the same id in the same microsecond collide on insert,
which ZODB reports as a conflict and pyramid_retry retries with a new id.
"""

import heapq
import secrets
import threading
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from BTrees.LOBTree import LOBTree
from BTrees.OOBTree import OOBTree
from persistent import Persistent

from .. import clock
from ..paths import history_paths

STRIPES = 8
INDEX_STRIPES = 4
REDACTED = "[redacted]"
#: Field names whose values never reach the log.
SECRET_FIELDS = frozenset({"password", "password_hash", "token", "digest", "secret"})
#: Events a filtered page looks at before it answers with what it found so far.
SCAN_LIMIT = 10_000

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_RANDOM_BITS = 11
HIGHEST = (1 << 63) - 1
_stamp_lock = threading.Lock()
_last_stamp = 0
_MAX_STEP_BACK = 1_000_000  # microseconds


class Event(Persistent):
    """One change. Immutable once appended; plain JSON values only."""

    #: Other paths the event is about (a membership's user, a move's old path).
    also: tuple[str, ...] = ()

    def __init__(self, id_, actor, action, target, before, after, also=()) -> None:
        self.id = id_
        self.actor = actor
        self.action = action
        self.target = target
        self.before = before
        self.after = after
        if also:
            self.also = tuple(also)

    #: The object keys it is filed under (only known for events of the feed, see
    #: ``History``; stand-alone events are found through the index).
    objects: tuple[str, ...] = ()

    @classmethod
    def from_item(cls, item: dict) -> "Event":
        """The event a feed item records (never stored itself)."""
        event = cls.__new__(cls)
        state = event.__dict__
        state["id"] = item["id"]
        state["actor"] = item["actor"]
        state["action"] = item["type"]
        state["target"] = item["target"]
        data = item["data"]
        state["before"] = data["before"]
        state["after"] = data["after"]
        state["objects"] = item["objects"]
        also = item.get("also")
        if also:
            state["also"] = tuple(also)
        return event

    def about(self, path: str) -> bool:
        """Whether the event is filed under ``path`` (see ``paths.history_paths``)."""
        return path in history_paths(self.target, *self.also)

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


class Source(NamedTuple):
    """A range of ids to read: of an index tree, and/or of an object's events not indexed
    yet (``key``: the object key the pending events must name)."""

    tree: LOBTree | None
    low: int
    high: int
    key: str | None = None


class History(Persistent):
    """The log and its indexes (see the module docstring for the keys).

    Since 0.2 an event is not an object of its own: it is an item of the change
    feed's batch for its transaction (``model/feed.py``), which the same commit
    writes anyway, and the indexes are filled when the dispatcher seals the
    batch (``index_batch``), in one transaction for many batches. Until then a
    reader finds the event among the feed's pending batches (``feed``), so a
    change is in the history the moment it commits; an add writes no history
    structure at all. Index values are ``(batch, position)``; logs of earlier
    releases hold ``Event`` objects, read the same.
    """

    _by_object: OOBTree | None = None  # absent in logs of release 0.1 (model.evolve adds it)
    _path_keys: OOBTree | None = None  # absent before 0.2 (made by the first departure)
    #: The change feed whose batches hold the events (``model.evolve`` links older trees).
    feed = None

    def __init__(self) -> None:
        self._log = tuple(LOBTree() for _ in range(STRIPES))
        self._by_path = OOBTree()
        self._by_actor = OOBTree()
        self._by_object = OOBTree()
        self._path_keys = OOBTree()

    def append(self, event: Event, objects: Iterable[str]) -> None:
        """File a stand-alone ``Event`` (a tree without a feed, or no jar to batch in)."""
        self._index(event.id, event, objects)

    def index_batch(self, batch) -> int:
        """Index the events of a committed feed batch (the dispatcher seals it); how many."""
        done = 0
        for position, item in enumerate(batch.items):
            event_id = item.get("id")
            if event_id is not None:
                self._index(event_id, (batch, position), item["objects"])
                done += 1
        return done

    def _index(self, event_id: int, value, objects: Iterable[str]) -> None:
        self._log[stripe_of(event_id)][event_id] = value
        for key in objects:
            _tree(self._by_object, key, INDEX_STRIPES, event_id)[event_id] = value

    def departed(self, path: str, key: str) -> None:
        """The object ``key`` no longer is at ``path`` (deleted or moved away)."""
        if self._path_keys is None:
            self._path_keys = OOBTree()
        keys = self._path_keys.get(path, ())
        if key not in keys:
            self._path_keys[path] = (*keys, key)

    def legacy_path_trees(self, path: str) -> list[LOBTree]:
        """The path index of earlier releases (events from before 0.2's layout)."""
        return _trees(self._by_path, path, _stripes_of_path(path))

    def path_sources(self, path: str, current: str | None = None) -> list[Source]:
        """What happened at ``path``: the path index of earlier releases, and the events
        of everything that was there (``current``: the key of the object there now).
        Filter with ``matches(path=path)``."""
        sources = whole(self.legacy_path_trees(path))
        keys = list(self._path_keys.get(path, ())) if self._path_keys is not None else []
        if current is not None and current not in keys:
            keys.append(current)
        for key in keys:
            sources.extend(self.object_sources(key))
        return sources

    def object_trees(self, key: str) -> list[LOBTree]:
        return _trees(self._by_object, key, INDEX_STRIPES)

    def object_sources(self, key: str, low: int = 0, high: int = HIGHEST) -> list[Source]:
        """The events about the object ``key``: indexed, and pending in the feed."""
        sources = [Source(tree, low, high) for tree in self.object_trees(key)]
        sources.append(Source(None, low, high, key))
        return sources

    def pending(self) -> list[Event]:
        """Events of the feed's batches not indexed yet, newest first."""
        feed = self.feed
        if feed is None or not feed.pending:
            return []
        events = [
            Event.from_item(item)
            for batch in feed.pending.values()
            for item in batch.items
            if "id" in item
        ]
        events.sort(key=_event_id, reverse=True)
        return events

    def newest_first(
        self,
        *,
        sources: "list[Source] | None" = None,
        actor: str | None = None,
        before: int | None = None,
        since: datetime | None = None,
    ) -> Iterator[Event]:
        """Events newest first, strictly older than the id ``before``, not older than ``since``.

        ``sources``: ranges of the object or path indexes (and of pending events
        by object key) to merge; else the striped log and every pending event.
        The caller filters the rest. An event in two of the sources (an index
        of an earlier release and the object index) comes once.
        """
        high = HIGHEST if before is None else before - 1
        low = since_id(since)
        pending = self.pending()
        if sources is None:
            ranges = [(tree, low, high) for tree in self._log]
            waiting = [e for e in pending if low <= e.id <= high]
        else:
            ranges = [
                (tree, max(low, lo), min(high, hi))
                for tree, lo, hi, _ in sources
                if tree is not None
            ]
            wanted = [
                (key, max(low, lo), min(high, hi))
                for tree, lo, hi, key in sources
                if key is not None
            ]
            waiting = [
                event
                for event in pending
                if any(lo <= event.id <= hi and key in event.objects for key, lo, hi in wanted)
            ]
        streams = [_descending(tree, hi, lo) for tree, lo, hi in ranges]
        if waiting:
            streams.append(iter(waiting))
        if len(streams) == 1:
            return streams[0]
        return _once(heapq.merge(*streams, key=_event_id, reverse=True))

    def oldest_first(self, since: datetime | None = None) -> Iterator[Event]:
        """The whole log in time order (for exports): a merge of the stripes, streamed."""
        low = since_id(since)
        waiting = [event for event in reversed(self.pending()) if event.id >= low]
        streams = [map(_resolve, tree.values(min=low)) for tree in self._log]
        return heapq.merge(*streams, iter(waiting), key=_event_id)

    def __len__(self) -> int:
        return sum(len(tree) for tree in self._log) + len(self.pending())


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


def _resolve(value) -> Event:
    """An index value as an event: ``(batch, position)``, or a stored ``Event``."""
    if type(value) is tuple:
        batch, position = value
        return Event.from_item(batch.items[position])
    return value


def _once(events: Iterator[Event]) -> Iterator[Event]:
    last = None
    for event in events:
        if event.id != last:
            last = event.id
            yield event


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
        yield _resolve(tree[key])
        probe = key - 1


def plain_values(values: dict | None) -> dict | None:
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


def matches(
    event: Event, *, actor: str | None, action: str | None, path: str | None = None
) -> bool:
    """``action`` is an exact action (``membership.created``) or a kind (``membership``);
    ``path``: the event was filed under that path when it happened."""
    if actor is not None and event.actor != actor:
        return False
    if action is not None and event.action != action and not event.action.startswith(action + "."):
        return False
    return path is None or event.about(path)


def whole(trees: Iterable[LOBTree]) -> list[Source]:
    return [Source(tree, 0, HIGHEST) for tree in trees]


def page(
    history: History,
    *,
    limit: int,
    sources: list[Source] | None = None,
    actor: str | None = None,
    action: str | None = None,
    path: str | None = None,
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
    stream = history.newest_first(sources=sources, actor=actor, before=before, since=since)
    for event in stream:
        if matches(event, actor=actor, action=action, path=path):
            if len(found) == limit:
                return found, True, found[-1].id
            found.append(event)
        last_seen = event.id
        seen += 1
        if seen >= scan_limit and len(found) < limit:
            return found, True, last_seen
    return found, False, found[-1].id if found else None
