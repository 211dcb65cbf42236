"""The change feed's storage: one batch per transaction, ordered by commit.

An id drawn while a transaction runs is not commit order: of two
overlapping transactions, the one that started first may commit last. The
feed orders by the committing transaction's id instead (a batch's
``_p_serial``), which FileStorage, ZEO and RelStorage all hand out in
commit order. Batches are written once, so their serial stays that of the
transaction that made them.

A batch is unknown to its own transaction's tid until commit, so it starts
in ``pending`` (a random key, which spreads concurrent writers over the
buckets); the dispatcher later moves committed batches to ``sealed``, keyed
by their tid. A reader merges both, so it never depends on the dispatcher
having run: a batch with serial ``t`` is visible to every reader whose
snapshot is at or after ``t``, and every batch committed later gets a
larger serial, so "everything after the last serial I saw" misses nothing
and repeats nothing.
"""

import secrets
from collections.abc import Iterator

from BTrees.LOBTree import LOBTree
from BTrees.OOBTree import OOBTree
from persistent import Persistent
from ZODB.utils import u64


class Batch(Persistent):
    """The changes one transaction made, in order; plain JSON values only."""

    def __init__(self) -> None:
        self.items: list[dict] = []

    @property
    def tid(self) -> int:
        """The committing transaction's id (0 before commit)."""
        self._p_activate()
        return u64(self._p_serial)


class Feed(Persistent):
    """``pending`` (random key -> batch) and ``sealed`` (tid -> batch), and ``floor``:
    the oldest tid still held (older cursors must resync)."""

    floor: int = 0

    def __init__(self) -> None:
        self.pending = OOBTree()
        self.sealed = LOBTree()

    def add(self) -> Batch:
        batch = Batch()
        self.pending[secrets.token_hex(8)] = batch
        return batch

    def batches_after(self, tid: int) -> Iterator[tuple[int, Batch]]:
        """``(tid, batch)`` of every committed batch with a tid >= ``tid``, in tid order."""
        recent = [(batch.tid, batch) for batch in self.pending.values() if batch._p_jar is not None]
        recent = sorted((t, b) for t, b in recent if t >= tid and t)
        sealed = iter(self.sealed.items(min=tid))
        merged: list[tuple[int, Batch]] = []
        for item in sealed:
            while recent and recent[0][0] < item[0]:
                merged.append(recent.pop(0))
            yield from merged
            merged.clear()
            yield item
        yield from recent

    def unsealed(self, sample: int = 1000) -> tuple[int, int | None, bool]:
        """``(batches looked at, oldest committed tid among them, more left)``.

        Looks at no more than ``sample`` pending batches: their keys are random, so
        that is a fair sample of a backlog too large to read, and a backlog that
        large is the news anyway. For ``GET /health`` and the metrics."""
        oldest = None
        seen = 0
        for batch in self.pending.values():
            if seen >= sample:
                return seen, oldest, True
            seen += 1
            tid = batch.tid
            if tid and (oldest is None or tid < oldest):
                oldest = tid
        return seen, oldest, False

    def seal(self, limit: int = 1000, history=None) -> int:
        """Move up to ``limit`` committed pending batches to ``sealed``; how many moved.

        ``history``: the audit log, which indexes the events of each batch moved
        (``History.index_batch``) in the same transaction.
        """
        moved = 0
        for key, batch in list(self.pending.items()):
            if moved >= limit:
                break
            tid = batch.tid
            if not tid:
                continue
            self.sealed[tid] = batch
            del self.pending[key]
            if history is not None:
                history.index_batch(batch)
            moved += 1
        return moved

    def trim(self, before_tid: int) -> int:
        """Forget sealed batches older than ``before_tid``; cursors before it get 410."""
        old = list(self.sealed.keys(max=before_tid, excludemax=True))
        for tid in old:
            del self.sealed[tid]
        if before_tid > self.floor:
            self.floor = before_tid
        return len(old)
