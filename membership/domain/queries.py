"""Questions about membership, answered from the index and the tree; nothing is written.

Membership flows up: a member of ``/groups/eng/groups/backend`` is effectively
a member of ``/groups/eng``. "Which groups is alice in" reads the user ->
groups index, never the group tree, and expired memberships drop out at the
instant they expire.

Answers given to a caller only count groups the caller may view
(``may_view``): a subgroup hidden by a Deny shows up nowhere, not as an
effective member, a ``via``, or a listing entry.
"""

from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from typing import NamedTuple

from .. import clock
from ..model import Group, Members, Membership, Root, User, declare_read, group_at, history
from ..model.index import NEVER, IndexEntry
from ..paging import dedupe_sorted, prefix_range, take
from ..paths import (
    AUTHENTICATED,
    EVERYONE,
    ancestor_paths,
    group_principal,
    is_within,
    lineage_paths,
    user_principal,
)

MayView = Callable[[Group], bool]


def everything(group: Group) -> bool:
    return True


def principals_for(root: Root, userid: str) -> list[str]:
    """Principals of a user: direct memberships with their roles, plus every ancestor group.

    Reads only the index: membership flows up (a member of backend is a member of eng),
    roles do not (they reach down through ACL inheritance instead). Expired
    memberships grant nothing from the instant they expire. An inactive user
    (SCIM ``active=false``) carries none but ``system.Everyone``: the memberships
    stay, and grant again when the user is reactivated.
    """
    user = root.users._items.get(userid)
    if user is not None and user.active is False:
        return [EVERYONE]
    now = clock.now().timestamp()
    principals = [EVERYONE, AUTHENTICATED, user_principal(userid)]
    seen = set()
    for entry in root.index.entries(userid):
        if not entry.active_at(now):
            continue
        principals.append(group_principal(entry.path, entry.role))
        for path in lineage_paths(entry.path):
            if path not in seen:
                seen.add(path)
                principals.append(group_principal(path))
    return principals


def is_last_admin(root: Root, userid: str) -> bool:
    """Whether ``userid`` holds the only membership of /groups/admins active now.

    Declares what it counted read: the member count (any removal changes it)
    and the expiry count (any expiry change touches it), so two requests
    removing or expiring the last two admins at once cannot both succeed.
    """
    admins = root.groups.get("admins")
    if admins is None:
        return False
    members = admins.members
    mine = members.membership(userid)
    if mine is None or mine.is_expired():
        return False
    now = clock.now()
    others = [m for uid, m in members.memberships() if uid != userid and not m.is_expired(now)]
    declare_read(members._count, *filter(None, [members.expiring]))
    return not others


class GroupRow(NamedTuple):
    path: str
    direct: bool
    role: str | None = None
    via: str | None = None
    expires_at: datetime | None = None
    #: The group itself (None only where a caller builds rows by hand).
    group: Group | None = None


def active_entries(root: Root, userid: str) -> list[IndexEntry]:
    now = clock.now().timestamp()
    return [entry for entry in root.index.entries(userid) if entry.active_at(now)]


def _expiry(entry: IndexEntry) -> datetime | None:
    return None if entry.expires == NEVER else datetime.fromtimestamp(entry.expires, UTC)


def _resolve(root: Root, paths: Iterable[str]) -> dict[str, Group]:
    """The groups at ``paths`` (a set closed under ancestors), each looked up once
    from its parent's, so a user in deep chains costs one step per group."""
    found: dict[str, Group] = {}
    for path in sorted(paths, key=len):
        parent_path, _, name = path.rpartition("/")
        parent_path = parent_path.removesuffix("/groups")
        parent = found.get(parent_path) if parent_path else None
        group = group_at(root, path) if parent is None else parent.groups.get(name)
        if group is not None:
            found[path] = group
    return found


def _visible(root: Root, paths: Iterable[str], may_view: MayView) -> dict[str, Group]:
    """The groups at ``paths`` that ``may_view`` accepts, by path."""
    groups = _resolve(root, paths)
    if may_view is everything:
        return groups
    return {path: group for path, group in groups.items() if may_view(group)}


def effective_groups(root: Root, userid: str, may_view: MayView = everything) -> dict:
    """Every group the user is in, directly or through a subgroup, keyed by path.

    A group held both directly and through a subgroup is shown as direct; an
    inherited one names the nearest direct membership that brings it. Only
    groups ``may_view`` accepts count, as members and as ``via``.
    """
    entries = active_entries(root, userid)
    visible = _visible(root, {p for e in entries for p in lineage_paths(e.path)}, may_view)
    rows: dict[str, GroupRow] = {}
    for entry in entries:
        if entry.path in visible:
            rows[entry.path] = GroupRow(
                entry.path, True, entry.role, None, _expiry(entry), visible[entry.path]
            )
    for entry in entries:
        if entry.path not in visible:
            continue
        for ancestor in ancestor_paths(entry.path):
            if ancestor not in rows and ancestor in visible:
                rows[ancestor] = GroupRow(ancestor, False, via=entry.path, group=visible[ancestor])
    return rows


def groups_of(
    root: Root,
    userid: str,
    *,
    direct_only: bool = False,
    prefix: str = "",
    after: str | None = None,
    limit: int,
    may_view: MayView = everything,
) -> tuple[list[GroupRow], bool]:
    """A page of the user's groups in path order, each row with its group."""
    if direct_only:
        now = clock.now().timestamp()
        entries = (
            GroupRow(e.path, True, e.role, None, _expiry(e), group)
            for e in root.index.entries(userid, after=after)
            if e.active_at(now) and e.path.startswith(prefix)
            for group in (group_at(root, e.path),)
            if group is not None and may_view(group)
        )
        return take(entries, limit)
    rows = effective_groups(root, userid, may_view)
    paths = sorted(p for p in rows if p.startswith(prefix) and (after is None or p > after))
    page, more = take(paths, limit)
    return [rows[path] for path in page], more


def member_counts(group: Group) -> tuple[int, int]:
    """``(members, expired)``: the group's active direct memberships, and the expired
    ones not purged yet (which grant nothing, so they are no members)."""
    members = group.members
    expired = members.expired_count(clock.now())
    return len(members) - expired, expired


def effective_membership(
    root: Root, group_path: str, userid: str, may_view: MayView = everything
) -> GroupRow | None:
    """How ``userid`` is in the group at ``group_path``, if at all."""
    return effective_groups(root, userid, may_view).get(group_path)


def visible_subtree(group: Group, may_view: MayView) -> list[Group]:
    """The group and the groups below it that ``may_view`` accepts (a hidden
    group's own members do not count; a visible group below it still does)."""
    return [each for each in group.walk() if may_view(each)]


def effective_member_ids(
    root: Root,
    group: Group,
    *,
    prefix: str = "",
    after: str | None = None,
    may_view: MayView = everything,
) -> Iterator[str]:
    """Users in the group or any visible subgroup, each once, in id order, from ``after`` on.

    A k-way merge of the members BTrees of the subtree, each entered at the
    cursor, so a page costs O(k log n + limit) however deep the cursor is.
    """
    low, high, exclude = prefix_range(prefix, after)
    groups = visible_subtree(group, may_view)
    paths = {each.path for each in groups}
    streams = [each.members.keys(min=low, max=high, excludemin=exclude) for each in groups]
    path = group.path
    for userid in dedupe_sorted(streams):
        if any(
            entry.path in paths and is_within(entry.path, path)
            for entry in active_entries(root, userid)
        ):
            yield userid


def member_rows(
    members: Members,
    *,
    role: str | None,
    prefix: str,
    after: str | None,
    with_expired: bool,
) -> Iterator[tuple[str, Membership]]:
    """Direct memberships in id order; expired ones only for those who manage members."""
    ids = members.user_ids(role=role, prefix=prefix, after=after)
    rows = ((userid, members.get(userid)) for userid in ids)
    if with_expired:
        return rows
    now = clock.now()
    return (row for row in rows if not row[1].is_expired(now))


def history_sources(log: history.History, node: Group | User) -> list[history.Source]:
    """The index ranges that hold a group's or user's own history (``GET …/history`` and
    the admin UI's history pages read the same).

    Its events by object key; for a group or user from release 0.1, also
    what its path collected from its creation until the upgrade.
    """
    sources = log.object_sources(node.history_key)
    legacy = getattr(node, "legacy_history", None)
    if legacy is not None:
        path, until = legacy
        low = history.since_id(node.created)
        sources += [history.Source(t, low, until - 1) for t in log.legacy_path_trees(path)]
    elif isinstance(node, User) and node.uid is None:
        low = history.since_id(node.created)
        trees = log.legacy_path_trees(node.path)
        sources += [history.Source(t, low, history.HIGHEST) for t in trees]
    return sources
