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
checkpoints (position -> last key of the page that ended there) kept per
process and per database state, so walking 100 at a time costs O(log n) per
page, not O(offset); any commit starts a fresh set of checkpoints.
"""

import base64
import threading
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


class Checkpoints:
    """Where earlier pages of an unfiltered walk ended: ``(collection, state) ->
    {position: last key}``, a bounded LRU, shared by the threads of a process."""

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
                return position, marks[position]
            best = max((p for p in marks if p <= position), default=0)
            return best, marks.get(best)

    def mark(self, walk: tuple, position: int, key: str) -> None:
        with self._lock:
            marks = self._walks.setdefault(walk, {})
            self._walks.move_to_end(walk)
            if len(marks) < self.per_walk:
                marks[position] = key
            while len(self._walks) > self.walks:
                self._walks.popitem(last=False)


CHECKPOINTS = Checkpoints()


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
