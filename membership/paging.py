"""Cursor paging over sorted BTree keys.

A cursor is the last key a page showed, made opaque. The next page starts
strictly after it (``excludemin``), so a page costs O(log n + limit) at any
depth, and items inserted or deleted between pages never shift the others.
"""

import base64
import binascii
import heapq
import json
from collections.abc import Iterable, Iterator
from itertools import islice
from typing import Any

from .exceptions import InvalidInput

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
KEY_CEILING = "\uffff"


def encode_cursor(key: Any) -> str:
    raw = json.dumps(key, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def decode_cursor(cursor: str | None) -> Any:
    if cursor is None:
        return None
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        key = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
    except (ValueError, UnicodeError, binascii.Error) as exc:
        raise InvalidInput.field("cursor", "not a cursor this service issued") from exc
    if not isinstance(key, str):
        raise InvalidInput.field("cursor", "not a cursor this service issued")
    return key


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
