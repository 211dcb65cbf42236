"""Which resources a SCIM list or search answers, and which page of them.

Filters are parsed and evaluated by ``scim2-models``; this module only picks
the candidates: the forms identity providers send on every sync
(``userName eq``, ``externalId eq``, ``id eq``, ``emails.value eq``,
``emails[type eq "work"].value eq``, Group ``displayName eq`` and
``members[value eq "…"]``) come from an index, possibly inside an ``and``
or joined by ``or``; any other filter is evaluated over the whole collection
only while it holds at most ``membership.scim.max_filter_scan`` resources,
and is ``400 tooMany`` beyond.

Unfiltered lists walk a BTree in key order. ``startIndex`` pages reuse
checkpoints: position -> the last key of a page that ended there, kept per
process and per collection, across commits. A page starting right after a
checkpoint continues after its key, so walking 100 at a time costs O(log n +
page) per page whatever is written meanwhile, and what a walker gets is
"the resources after the last one I was given": each resource that exists
for the whole walk comes exactly once, one added or deleted during it at
most once (``totalResults`` is that of the moment; positions are not exact
offsets while writes go on). Checkpoints are not dropped on a commit; a
newer one replaces one at the same position only when it ends earlier in
key order or the old one is more than ``MARK_SECONDS`` old, so two walkers
interleaving may see a repeat but never miss a resource (see
``Checkpoints.mark``). A page with no checkpoint at its start (another
process served the page before, or a jump) counts forward from the nearest
earlier one. Cursors (RFC 9865) carry the key themselves and need none of it.
"""

import base64
import itertools
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable, Iterator

from scim2_models.path.expressions import Comparison, LogicalExpr, ValuePath

from .errors import ScimProblem

#: Candidates: ``None`` means "no index answers this filter: scan".
Candidates = list[str] | None


def _is_value_eq(node) -> bool:
    """``value eq "…"`` inside a ``[...]`` filter."""
    path = getattr(node, "attr_path", None)
    return (
        isinstance(node, Comparison)
        and str(node.op) == "eq"
        and path is not None
        and path.attr.lower() == "value"
        and not path.sub_attr
        and isinstance(node.value, str)
    )


def _value_eq(node) -> str | None:
    """``value`` of ``X[value eq "v"]``, or of ``X[type eq "work" and value eq "v"]``."""
    inner = node.val_filter
    if _is_value_eq(inner):
        return inner.value
    if isinstance(inner, LogicalExpr) and str(inner.op) == "and":
        for term in inner.terms:
            if _is_value_eq(term):
                return term.value
    return None


def candidates(node, lookups: dict[str, Callable[[str], list[str]]]) -> Candidates:
    """Ids that may match ``node`` from the indexes in ``lookups`` (attr -> ids), or None.

    ``lookups`` keys: attribute names in lower case (``username``, ``id``...),
    and ``emails.value`` / ``members.value`` for the multi-valued ones.
    """
    if isinstance(node, Comparison):
        path = node.attr_path
        key = path.attr.lower() + ("." + path.sub_attr.lower() if path.sub_attr else "")
        if str(node.op) == "eq" and isinstance(node.value, str) and key in lookups:
            return lookups[key](node.value)
        return None
    if isinstance(node, ValuePath):
        key = node.attr_path.attr.lower() + ".value"
        value = _value_eq(node)
        if value is not None and key in lookups and node.sub_attr in (None, "value"):
            return lookups[key](value)
        return None
    if isinstance(node, LogicalExpr):
        found = [candidates(term, lookups) for term in node.terms]
        if str(node.op) == "and":
            known = [ids for ids in found if ids is not None]
            return min(known, key=len) if known else None
        if any(ids is None for ids in found):
            return None
        return list(dict.fromkeys(i for ids in found for i in ids))
    return None


#: A checkpoint younger than this is only replaced by one ending earlier in key order.
MARK_SECONDS = 600.0


class Checkpoints:
    """Where earlier pages of an unfiltered walk ended: ``walk -> {position: (last key,
    when)}``, a bounded LRU of walks (a walk: a collection), shared by the threads of a
    process and kept across commits."""

    def __init__(self, walks: int = 64, per_walk: int = 10_000) -> None:
        self._walks: OrderedDict = OrderedDict()
        self._lock = threading.Lock()
        self.walks = walks
        self.per_walk = per_walk

    def nearest(self, walk: tuple, position: int) -> tuple[int, str | None]:
        """The furthest checkpoint at or before ``position``: ``(position, key)``."""
        with self._lock:
            marks = self._walks.get(walk)
            if not marks:
                return 0, None
            self._walks.move_to_end(walk)
            if position in marks:
                return position, marks[position][0]
            best = max((p for p in marks if p <= position), default=0)
            return (best, marks[best][0]) if best else (0, None)

    def mark(self, walk: tuple, position: int, key: str, now: float | None = None) -> None:
        """A page ended at ``position`` with ``key``.

        Under concurrent writes two walkers may end the same position with different
        keys. The earlier key is kept while it is fresh: the walker that got the later
        one then sees a few resources again, where keeping the later key would make the
        other skip some.
        """
        now = time.monotonic() if now is None else now
        with self._lock:
            marks = self._walks.setdefault(walk, {})
            self._walks.move_to_end(walk)
            held = marks.get(position)
            if held is not None:
                if held[0] <= key and now - held[1] < MARK_SECONDS:
                    return
                marks[position] = (key, now)
            elif len(marks) < self.per_walk:
                marks[position] = (key, now)
            while len(self._walks) > self.walks:
                self._walks.popitem(last=False)


CHECKPOINTS = Checkpoints()
_DATABASES: "weakref.WeakKeyDictionary[object, int]" = weakref.WeakKeyDictionary()
_NUMBERS = itertools.count(1)


def database_number(db) -> int:
    """A number for ``db`` unique in this process (unlike ``id()``, never reused after
    it is gone), so the checkpoints of one database never serve another's walk."""
    if db is None:
        return 0
    with CHECKPOINTS._lock:
        number = _DATABASES.get(db)
        if number is None:
            number = _DATABASES[db] = next(_NUMBERS)
        return number


def index_page(
    keys_after: Callable[[str | None], Iterator[str]],
    walk: tuple,
    start_index: int,
    count: int,
) -> list[str]:
    """Keys ``start_index`` (1-based) to ``start_index + count - 1`` of a key walk."""
    if count == 0:
        return []
    position = start_index - 1
    reached, after = CHECKPOINTS.nearest(walk, position)
    keys = keys_after(after)
    for _ in range(position - reached):
        if next(keys, None) is None:
            return []
    page = []
    for key in keys:
        page.append(key)
        if len(page) == count:
            break
    if page:
        CHECKPOINTS.mark(walk, position + len(page), page[-1])
    return page


def cursor_page(
    keys_after: Callable[[str | None], Iterator[str]], cursor: str, count: int
) -> tuple[list[str], str | None]:
    """RFC 9865: the page after ``cursor`` ("" is the first) and the next cursor."""
    after = decode_cursor(cursor) if cursor else None
    keys = keys_after(after)
    page = []
    for key in keys:
        if len(page) == count:
            return page, encode_cursor(page[-1]) if page else None
        page.append(key)
    return page, None


def encode_cursor(key: str) -> str:
    return base64.urlsafe_b64encode(key.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> str:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        return base64.b64decode(padded, altchars=b"-_", validate=True).decode()
    except (ValueError, UnicodeDecodeError):
        raise ScimProblem(
            400, f"cursor {cursor!r} is not one this server gave", "invalidCursor"
        ) from None
