"""Expiry instants not announced yet: what ``membership.expired`` events come from.

``due`` holds ``(expires stamp, userid, group path)`` in time order, so the
dispatcher finds what expired since it last looked in O(log n); ``by_member``
maps ``(userid, path)`` to its stamp, so a change or removal finds the entry
to drop. A subscriber keeps both in the transaction that changes the
membership; an entry goes once its event is raised, which makes the event
once per expiry instant (a later new expiry is a new entry).
"""

from collections.abc import Iterator
from datetime import datetime

from BTrees.OOBTree import OOBTree, OOTreeSet
from persistent import Persistent


class Expiries(Persistent):
    def __init__(self) -> None:
        self.due = OOTreeSet()
        self.by_member = OOBTree()

    def set(self, userid: str, path: str, expires_at: datetime | None) -> None:
        """The membership's expiry is now ``expires_at`` (None: it does not expire)."""
        key = (userid, path)
        stamp = None if expires_at is None else expires_at.timestamp()
        old = self.by_member.get(key)
        if old == stamp:
            return
        if old is not None:
            self.due.remove((old, userid, path))
            del self.by_member[key]
        if stamp is not None:
            self.due.add((stamp, userid, path))
            self.by_member[key] = stamp

    def discard(self, userid: str, path: str) -> None:
        old = self.by_member.get((userid, path))
        if old is not None:
            self.due.remove((old, userid, path))
            del self.by_member[(userid, path)]

    def passed(self, now: float, limit: int = 1000) -> Iterator[tuple[float, str, str]]:
        """``(stamp, userid, path)`` of expiries at or before ``now``, oldest first."""
        for count, entry in enumerate(self.due.keys(max=(now, "\uffff"))):
            if count >= limit or entry[0] > now:
                return
            yield entry

    def next_due(self) -> float | None:
        """The earliest expiry not announced yet, or None."""
        return self.due.minKey()[0] if self.due else None
