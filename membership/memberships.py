"""Questions about effective membership, answered from the index and the tree.

Membership flows up: a member of ``/groups/eng/groups/backend`` is effectively
a member of ``/groups/eng``. Everything here reads the user -> groups index,
so "which groups is alice in" never walks the group tree, and expired
memberships drop out at the instant they expire.
"""

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import NamedTuple

from . import clock
from .index import NEVER, IndexEntry
from .names import parent_paths
from .paging import dedupe_sorted, prefix_range, take
from .resources import Group, Root


class GroupRow(NamedTuple):
    path: str
    direct: bool
    role: str | None = None
    via: str | None = None
    expires_at: datetime | None = None


def active_entries(root: Root, userid: str) -> list[IndexEntry]:
    now = clock.now().timestamp()
    return [entry for entry in root.index.entries(userid) if entry.active_at(now)]


def _expiry(entry: IndexEntry) -> datetime | None:
    return None if entry.expires == NEVER else datetime.fromtimestamp(entry.expires, UTC)


def effective_groups(root: Root, userid: str) -> dict[str, GroupRow]:
    """Every group the user is in, directly or through a subgroup, keyed by path.

    A group held both directly and through a subgroup is shown as direct; an
    inherited one names the nearest direct membership that brings it.
    """
    rows: dict[str, GroupRow] = {}
    entries = active_entries(root, userid)
    for entry in entries:
        rows[entry.path] = GroupRow(entry.path, True, entry.role, None, _expiry(entry))
    for entry in entries:
        for ancestor in parent_paths(entry.path):
            if ancestor not in rows:
                rows[ancestor] = GroupRow(ancestor, False, via=entry.path)
    return rows


def groups_of(
    root: Root,
    userid: str,
    *,
    direct_only: bool = False,
    prefix: str = "",
    after: str | None = None,
    limit: int,
) -> tuple[list[GroupRow], bool]:
    """A page of the user's groups in path order."""
    if direct_only:
        now = clock.now().timestamp()
        entries = (
            GroupRow(e.path, True, e.role, None, _expiry(e))
            for e in root.index.entries(userid, after=after)
            if e.active_at(now) and e.path.startswith(prefix)
        )
        return take(entries, limit)
    rows = effective_groups(root, userid)
    paths = sorted(p for p in rows if p.startswith(prefix) and (after is None or p > after))
    page, more = take(paths, limit)
    return [rows[path] for path in page], more


def effective_membership(root: Root, group_path: str, userid: str) -> GroupRow | None:
    """How ``userid`` is in the group at ``group_path``, if at all."""
    return effective_groups(root, userid).get(group_path)


def is_effective_member(root: Root, group_path: str, userid: str) -> bool:
    below = group_path + "/"
    return any(
        entry.path == group_path or entry.path.startswith(below)
        for entry in active_entries(root, userid)
    )


def effective_member_ids(
    root: Root, group: Group, *, prefix: str = "", after: str | None = None
) -> Iterator[str]:
    """Users in the group or any subgroup, each once, in id order, from ``after`` on.

    A k-way merge of the members BTrees of the subtree, each entered at the
    cursor, so a page costs O(k log n + limit) however deep the cursor is.
    """
    low, high, exclude = prefix_range(prefix, after)
    streams = [each.members.keys(min=low, max=high, excludemin=exclude) for each in group.walk()]
    path = group.path
    for userid in dedupe_sorted(streams):
        if is_effective_member(root, path, userid):
            yield userid
