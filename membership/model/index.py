"""The user -> groups index: what the security policy reads on every request.

One flat ``OOBTree`` keyed by ``(userid, group path)``. A user's memberships
are one key range, so the lookup costs O(log n + groups of that user) and
loads a bucket or two, never the groups themselves. Concurrent inserts of
different keys land in different slots of a bucket, which BTrees merge
without a ConflictError; a per-user tuple or list would not.
"""

import math
import sys
from collections.abc import Iterator
from datetime import datetime
from typing import NamedTuple

from BTrees.OOBTree import OOBTree
from persistent import Persistent

from .base import range_holders

NEVER = math.inf
_SHARED: dict[tuple[str, float], tuple[str, float]] = {}


class IndexEntry(NamedTuple):
    path: str
    role: str
    expires: float  # POSIX seconds; NEVER when the membership does not expire

    def active_at(self, when: float) -> bool:
        return when < self.expires


def expiry_stamp(expires_at: datetime | None) -> float:
    return NEVER if expires_at is None else expires_at.timestamp()


class MembershipIndex(Persistent):
    """Mirror of every direct membership, kept in the same transaction as it."""

    def __init__(self) -> None:
        self._entries = OOBTree()

    def set(self, userid: str, path: str, role: str, expires_at: datetime | None) -> None:
        # One object for equal paths and values, so a bucket's pickle holds each once
        # (pickle shares by identity, not by equality): a bucket of 30 is half the bytes.
        stamp = expiry_stamp(expires_at)
        value = (sys.intern(role), stamp)
        if stamp == NEVER:
            value = _SHARED.setdefault(value, value)
        self._entries[(userid, sys.intern(path))] = value

    def discard(self, userid: str, path: str) -> None:
        self._entries.pop((userid, path), None)

    def entries(self, userid: str, after: str | None = None) -> Iterator[IndexEntry]:
        """Direct memberships of ``userid`` in path order, optionally after a path."""
        low = (userid,) if after is None else (userid, after)
        items = self._entries.items(
            min=low, max=(userid + "\x00",), excludemin=after is not None, excludemax=True
        )
        for (_, path), (role, expires) in items:
            yield IndexEntry(path, role, expires)

    def holders(self, userid: str) -> list[Persistent]:
        """The objects that hold ``userid``'s entries: what a decision that read all of
        them declares read (a concurrent add or removal for that user then conflicts)."""
        return range_holders(self._entries, (userid,), (userid + "\x00",))

    def paths(self, userid: str) -> list[str]:
        return [entry.path for entry in self.entries(userid)]

    def all_items(self) -> Iterator[tuple[str, str, str, float]]:
        """Every entry as ``(userid, path, role, expires)``; for checks and repair."""
        for (userid, path), (role, expires) in self._entries.items():
            yield userid, path, role, expires
