"""Key ranges over sorted BTree keys: where a page starts and what it takes.

A page starts strictly after the last key the previous one showed
(``excludemin``), so it costs O(log n + limit) at any depth, and items
inserted or deleted between pages never shift the others. The web layer
makes that key an opaque cursor (``web/http.py``).
"""

import heapq
from collections.abc import Iterable, Iterator
from itertools import islice

KEY_CEILING = "\uffff"


def prefix_range(prefix: str, after: str | None) -> tuple[str | None, str | None, bool]:
    """``(min, max, excludemin)`` for names starting with ``prefix`` after ``after``."""
    low, exclude = prefix or None, False
    if after is not None and (low is None or after >= low):
        low, exclude = after, True
    high = prefix + KEY_CEILING if prefix else None
    return low, high, exclude


def take(items: Iterable, limit: int) -> tuple[list, bool]:
    """The first ``limit`` items and whether there are more."""
    page = list(islice(items, limit + 1))
    return page[:limit], len(page) > limit


def page_keys(tree, *, prefix: str = "", after: str | None = None, limit: int) -> tuple[list, bool]:
    """A page of a BTree's (or TreeSet's) string keys."""
    low, high, exclude = prefix_range(prefix, after)
    return take(tree.keys(min=low, max=high, excludemin=exclude), limit)


def dedupe_sorted(streams: Iterable[Iterator[str]]) -> Iterator[str]:
    """Merge sorted key streams into one sorted stream without repeats."""
    last = None
    for key in heapq.merge(*streams):
        if key != last:
            yield key
            last = key
