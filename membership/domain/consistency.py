"""Is the tree consistent with itself? ``check`` says where not; ``repair`` fixes what it can.

The tree (users, groups, memberships, local ACEs, tokens) is the truth; the
registries beside it (the user -> groups index, ``members.by_role``, the
``Length`` counters, ``acl_nodes``, ``token_digests``, ``group_ids``) are
derived from it by the domain and its subscribers in the same transaction.
A bug in a concurrency declaration, a hand edit in a debug shell or an
interrupted migration can leave them apart; this module finds that
(``membership_fsck``) and rebuilds the derived parts from the tree.

What cannot be derived is only reported: a group that no container holds
any more (it is found through ``group_ids`` alone) cannot be put back
automatically, since nothing says where it belonged.

Both walks use an explicit stack: groups nest up to 1000 deep, deeper than
Python's recursion limit.
"""

import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from ..model import Group, Groups, Members, Membership, Root, User
from ..model.directory import Directory
from ..model.groups import DEFAULT_ROLE
from ..model.history import new_event_id
from ..model.index import expiry_stamp
from ..paths import membership_path, parse_principal, user_path
from ..permissions import ROLES
from .acl import store_acl
from .context import Context
from .events import MembershipRemoved

# Kinds of findings. Repairable unless said otherwise.
GROUP_UNREACHABLE = "group-unreachable"  # not repairable
GROUP_DUPLICATE = "group-duplicate"  # not repairable: one object in two places
NOT_A_GROUP = "not-a-group"  # not repairable
NODE_MISPLACED = "node-misplaced"  # __parent__ / __name__ disagree with where it sits
COUNT = "count"
BY_ROLE = "by-role"
INDEX_MISSING = "index-missing"
INDEX_MISMATCH = "index-mismatch"
INDEX_STALE = "index-stale"
MEMBERSHIP_ORPHAN = "membership-orphan"
MEMBERSHIP_VALUE = "membership-value"  # not repairable: a stored value that is no membership
ACL_REGISTRY = "acl-registry"
ACE_PRINCIPAL = "ace-principal"
TOKEN_DIGEST = "token-digest"  # noqa: S105 - a kind, not a secret
TOKEN_OWNER = "token-owner"  # noqa: S105
GROUP_ID_MISSING = "group-id-missing"
GROUP_ID_INDEX = "group-id-index"
GROUP_ID_DUPLICATE = "group-id-duplicate"  # not repairable: which one keeps its history?
DIRECTORY = "directory"
REGISTRY_MISSING = "registry-missing"  # not repairable here: the app's evolve step makes them


@dataclass(frozen=True)
class Finding:
    """One inconsistency: what kind, where (a path or a registry key), in words."""

    kind: str
    where: str
    detail: str
    repairable: bool = True

    def __str__(self) -> str:
        return f"{self.kind}: {self.where}: {self.detail}"


@dataclass
class _Walk:
    """What one pass over the tree saw, for the checks that need all of it."""

    groups: dict[str, Group]  # path -> group, every group reachable from the root
    seen: dict[int, Group]  # id(group) -> group (the objects are held, so ids stay unique)
    acl_nodes: dict[str, tuple]  # path -> local ACEs, for nodes that have any


def _group_containers(root: Root) -> Iterator[tuple[Groups, str, Group | None]]:
    """Every ``groups`` container reachable from the root with its path and owning group,
    parents before children, without recursion (see ``_walk`` for the checks)."""
    stack: list[tuple[Groups, str, Group | None]] = [(root.groups, "/groups", None)]
    entered: dict[int, Group] = {}  # a group held twice (or in a cycle) is entered once
    while stack:
        container, path, owner = stack.pop()
        yield container, path, owner
        for name, child in reversed(list(container._items.items())):
            if not isinstance(child, Group) or id(child) in entered:
                continue
            entered[id(child)] = child
            stack.append((child.groups, f"{path}/{name}/groups", child))


def check(root: Root) -> list[Finding]:
    """Every inconsistency between the tree and itself or its registries; [] when none."""
    findings: list[Finding] = []
    for attr in ("index", "acl_nodes", "token_digests", "group_ids", "acl_version", "directory"):
        if getattr(root, attr, None) is None:
            findings.append(
                Finding(
                    REGISTRY_MISSING,
                    "/",
                    f"root.{attr} is missing (start the app once: it evolves the tree)",
                    repairable=False,
                )
            )
    if findings:
        return findings
    walk = _walk(root, findings)
    _check_index(root, walk, findings)
    _check_acls(root, walk, findings)
    _check_tokens(root, findings)
    _check_group_ids(root, walk, findings)
    _check_directory(root, walk, findings)
    return findings


def _count(findings: list[Finding], container, path: str, actual: int) -> None:
    if len(container) != actual:
        findings.append(Finding(COUNT, path, f"counter says {len(container)}, holds {actual}"))


def _walk(root: Root, findings: list[Finding]) -> _Walk:
    """Groups, users and memberships: placement, counters, ``by_role``, orphan memberships."""
    walk = _Walk({}, {}, {})
    if root.local_acl:
        walk.acl_nodes["/"] = root.local_acl
    for attr in ("users", "groups"):
        container = getattr(root, attr)
        if container.__parent__ is not root or container.__name__ != attr:
            findings.append(Finding(NODE_MISPLACED, f"/{attr}", "container's parent is not /"))
    users = root.users
    count = 0
    for userid, user in users._items.items():
        count += 1
        where = user_path(userid)
        if user.__name__ != userid or user.__parent__ is not users:
            findings.append(Finding(NODE_MISPLACED, where, "user's __name__/__parent__ differ"))
        if user.local_acl:
            walk.acl_nodes[where] = user.local_acl
    _count(findings, users, "/users", count)

    for container, path, owner in _group_containers(root):
        if owner is not None and (container.__parent__ is not owner):
            findings.append(Finding(NODE_MISPLACED, path, "container's parent is not its group"))
        count = 0
        for name, group in container._items.items():
            count += 1
            group_path = f"{path}/{name}"
            if not isinstance(group, Group):
                findings.append(
                    Finding(NOT_A_GROUP, group_path, f"holds a {type(group).__name__}", False)
                )
                continue
            if id(group) in walk.seen:
                other = next(p for p, g in walk.groups.items() if g is group)
                findings.append(
                    Finding(
                        GROUP_DUPLICATE, group_path, f"the same group is also at {other}", False
                    )
                )
                continue
            walk.seen[id(group)] = group
            walk.groups[group_path] = group
            if group.__name__ != name or group.__parent__ is not container:
                findings.append(
                    Finding(NODE_MISPLACED, group_path, "group's __name__/__parent__ differ")
                )
            if group.local_acl:
                walk.acl_nodes[group_path] = group.local_acl
            _check_members(root, group, group_path, findings)
        _count(findings, container, path, count)
    return walk


def _check_members(root: Root, group: Group, path: str, findings: list[Finding]) -> None:
    members: Members = group.members
    where = f"{path}/members"
    if members.__parent__ is not group:
        findings.append(Finding(NODE_MISPLACED, where, "container's parent is not its group"))
    users = root.users._items
    count = 0
    expected_roles = set()
    legacy_roles = set()  # ("member", userid) pairs a pre-0.2 tree kept: harmless, never read
    for userid, value in members._items.items():
        count += 1
        if type(value) is tuple:
            role = value[0] if len(value) >= 3 else None
            if role not in ROLES:
                findings.append(
                    Finding(
                        MEMBERSHIP_VALUE,
                        membership_path(path, userid),
                        f"bad value {value!r}",
                        repairable=False,
                    )
                )
                continue
        else:
            role = value.role
        if role == DEFAULT_ROLE:
            legacy_roles.add((role, userid))
        else:
            expected_roles.add((role, userid))
        if type(value) is not tuple and (
            value.__name__ != userid or value.__parent__ is not members
        ):
            findings.append(
                Finding(
                    NODE_MISPLACED,
                    membership_path(path, userid),
                    "membership's __name__/__parent__ differ",
                )
            )
        if userid not in users:
            findings.append(
                Finding(MEMBERSHIP_ORPHAN, membership_path(path, userid), "no such user")
            )
    _count(findings, members, where, count)
    actual_roles = set(members.by_role.keys()) - legacy_roles
    if actual_roles != expected_roles:
        extra = sorted(actual_roles - expected_roles)
        missing = sorted(expected_roles - actual_roles)
        findings.append(
            Finding(BY_ROLE, where, f"by_role has extra {extra[:5]}, lacks {missing[:5]}")
        )


def _index_value(membership: Membership) -> tuple[str, float]:
    return membership.role, expiry_stamp(membership.expires_at)


def _check_index(root: Root, walk: _Walk, findings: list[Finding]) -> None:
    """Each direct membership has its index entry, and each entry its membership."""
    entries = root.index._entries
    for path, group in walk.groups.items():
        for userid, membership in group.members.memberships():
            expected = _index_value(membership)
            actual = entries.get((userid, path))
            if actual is None:
                findings.append(
                    Finding(INDEX_MISSING, membership_path(path, userid), "no index entry")
                )
            elif tuple(actual) != expected:
                findings.append(
                    Finding(
                        INDEX_MISMATCH,
                        membership_path(path, userid),
                        f"index says {tuple(actual)}, membership {expected}",
                    )
                )
    for userid, path, role, expires in root.index.all_items():
        group = walk.groups.get(path)
        if group is None or userid not in group.members._items:
            findings.append(
                Finding(
                    INDEX_STALE,
                    membership_path(path, userid),
                    f"index entry ({role}, {expires}) without a membership",
                )
            )


def _principal_problem(principal: str, root: Root, walk: _Walk) -> str | None:
    parsed = parse_principal(principal)
    if parsed is None:
        return f"{principal!r} is not a principal in canonical form"
    if parsed.kind == "user" and parsed.name not in root.users._items:
        return f"{principal} names no user"
    if parsed.kind == "group" and parsed.name not in walk.groups:
        return f"{principal} names no group"
    return None


def _principals(aces: Iterable[tuple]) -> tuple[str, ...]:
    return tuple(sorted({principal for _, principal, _ in aces}))


def _check_acls(root: Root, walk: _Walk, findings: list[Finding]) -> None:
    """``acl_nodes`` names exactly the nodes with local ACEs, and every ACE names someone."""
    registry = root.acl_nodes
    for path, aces in walk.acl_nodes.items():
        expected = _principals(aces)
        actual = registry.get(path)
        if actual is None:
            findings.append(Finding(ACL_REGISTRY, path, "node has local ACEs, registry lacks it"))
        elif tuple(actual) != expected:
            findings.append(
                Finding(ACL_REGISTRY, path, f"registry says {tuple(actual)}, ACEs {expected}")
            )
        for principal in expected:
            problem = _principal_problem(principal, root, walk)
            if problem:
                findings.append(Finding(ACE_PRINCIPAL, path, problem))
    for path in registry.keys():
        if path not in walk.acl_nodes:
            findings.append(Finding(ACL_REGISTRY, path, "registry names a node without local ACEs"))


def _tokens(root: Root) -> Iterator[tuple[str, User, str, object]]:
    for userid, user in root.users._items.items():
        for token_id, token in (user._tokens or {}).items():
            yield userid, user, token_id, token


def _check_tokens(root: Root, findings: list[Finding]) -> None:
    """Every token has its digest entry pointing back at it, and every entry its token."""
    digests = root.token_digests
    for userid, user, token_id, token in _tokens(root):
        where = f"{user_path(userid)}/tokens/{token_id}"
        if token.user is not user or token.__name__ != token_id:
            findings.append(Finding(TOKEN_OWNER, where, "token's user/__name__ differ"))
        entry = digests.get(token.digest)
        if entry is None or tuple(entry) != (userid, token_id):
            findings.append(Finding(TOKEN_DIGEST, where, f"digest entry is {entry}"))
    users = root.users._items
    for digest, entry in digests.items():
        userid, token_id = entry if isinstance(entry, tuple) and len(entry) == 2 else (None, None)
        user = users.get(userid) if isinstance(userid, str) else None
        token = None if user is None else (user._tokens or {}).get(token_id)
        if token is None or token.digest != digest:
            findings.append(
                Finding(TOKEN_DIGEST, f"token_digests[{digest[:12]}…]", f"names no token {entry}")
            )


def _check_group_ids(root: Root, walk: _Walk, findings: list[Finding]) -> None:
    """Every group has an id that ``group_ids`` maps to it; no id maps outside the tree."""
    ids = root.group_ids
    owners: dict[str, str] = {}
    for path, group in walk.groups.items():
        if group.id is None:
            findings.append(Finding(GROUP_ID_MISSING, path, "group has no id"))
            continue
        if group.id in owners:
            findings.append(
                Finding(
                    GROUP_ID_DUPLICATE,
                    path,
                    f"id {group.id} is also {owners[group.id]}'s",
                    repairable=False,
                )
            )
            continue
        owners[group.id] = path
        if ids.get(group.id) is not group:
            findings.append(Finding(GROUP_ID_INDEX, path, f"group_ids[{group.id}] is not it"))
    for group_id, group in ids.items():
        if id(group) not in walk.seen:
            findings.append(
                Finding(
                    GROUP_UNREACHABLE,
                    f"group_ids[{group_id}]",
                    f"names a group no container holds (last at {_last_path(group)}); "
                    "re-attach it by hand or drop the id",
                    repairable=False,
                )
            )
        elif group.id != group_id:
            findings.append(
                Finding(GROUP_ID_INDEX, f"group_ids[{group_id}]", f"maps to group {group.id}")
            )


_DIRECTORY_PARTS = (
    "user_names",
    "user_external_ids",
    "user_emails",
    "group_titles",
    "group_title_of",
    "group_external_ids",
)


def _expected_directory(root: Root, groups: Iterable[Group]) -> Directory:
    """The lookups as the tree says they should be (a fresh, unsaved Directory)."""
    expected = Directory()
    for userid, user in root.users._items.items():
        expected.set_user_name(userid, None, user.login_name)
        expected.set_user_external_id(userid, None, user.external_id)
        expected.set_user_emails(userid, [], [value for value, _, _ in user.emails])
    for group in groups:
        if group.id is not None:
            expected.set_group_title(group.id, group.title)
            expected.set_group_external_id(group.id, None, group.external_id)
    return expected


def _contents(tree) -> object:
    return dict(tree.items()) if hasattr(tree, "values") else set(tree.keys())


def _check_directory(root: Root, walk: _Walk, findings: list[Finding]) -> None:
    """The userName, externalId, email and title lookups match the users and groups."""
    expected = _expected_directory(root, walk.groups.values())
    for part in _DIRECTORY_PARTS:
        if _contents(getattr(root.directory, part)) != _contents(getattr(expected, part)):
            findings.append(
                Finding(DIRECTORY, f"directory.{part}", "does not match the users and groups")
            )


def _repair_directory(root: Root) -> list[str]:
    root.directory = _expected_directory(root, _tree_groups(root).values())
    return ["directory: rebuilt from the users and groups"]


def _last_path(group) -> str:
    try:
        return group.path
    except Exception:  # a broken parent chain: say so rather than fail the whole check
        return "?"


# --------------------------------------------------------------------------
# repair


def repair(ctx: Context, findings: Iterable[Finding]) -> list[str]:
    """Fix the repairable findings by rebuilding from the tree; one line per action taken.

    Each step runs when a finding of its kind is present and recomputes what
    it fixes from the tree as it is now, in an order that lets later steps
    rely on earlier ones (placement, then ``by_role``, then memberships of
    missing users, then counters and registries). Run in one transaction:
    a concurrent write makes it conflict rather than be overwritten.
    """
    kinds = {f.kind for f in findings if f.repairable}
    root = ctx.root
    done: list[str] = []
    if NODE_MISPLACED in kinds or TOKEN_OWNER in kinds:
        done += _repair_placement(root)
    if BY_ROLE in kinds or MEMBERSHIP_ORPHAN in kinds:
        done += _repair_by_role(root)
    if MEMBERSHIP_ORPHAN in kinds:
        done += _repair_orphans(ctx)
    if COUNT in kinds:
        done += _repair_counts(root)
    if GROUP_ID_MISSING in kinds or GROUP_ID_INDEX in kinds:
        done += _repair_group_ids(root)
    if kinds & {INDEX_MISSING, INDEX_MISMATCH, INDEX_STALE, MEMBERSHIP_ORPHAN}:
        done += _repair_index(root)
    if ACE_PRINCIPAL in kinds:
        done += _repair_aces(ctx)
    if ACL_REGISTRY in kinds or ACE_PRINCIPAL in kinds:
        done += _repair_acl_registry(root)
    if TOKEN_DIGEST in kinds or TOKEN_OWNER in kinds:
        done += _repair_token_digests(root)
    if DIRECTORY in kinds:
        done += _repair_directory(root)
    return done


def _tree_groups(root: Root) -> dict[str, Group]:
    """Path -> group of every group reachable from the root, each object once."""
    result: dict[str, Group] = {}
    seen: set[int] = set()
    held: list[Group] = []  # keeps the objects alive, so id() stays unique
    for container, path, _ in _group_containers(root):
        for name, group in container._items.items():
            if isinstance(group, Group) and id(group) not in seen:
                seen.add(id(group))
                held.append(group)
                result[f"{path}/{name}"] = group
    return result


def _repair_placement(root: Root) -> list[str]:
    done = []
    for attr in ("users", "groups"):
        container = getattr(root, attr)
        if container.__parent__ is not root or container.__name__ != attr:
            container.__parent__, container.__name__ = root, attr
            done.append(f"/{attr}: parent set to /")
    for userid, user in root.users._items.items():
        if user.__name__ != userid or user.__parent__ is not root.users:
            user.__name__, user.__parent__ = userid, root.users
            done.append(f"{user_path(userid)}: __name__/__parent__ set")
        for token_id, token in (user._tokens or {}).items():
            if token.user is not user or token.__name__ != token_id:
                token.user, token.__name__ = user, token_id
                done.append(f"{user_path(userid)}/tokens/{token_id}: user/__name__ set")
    for container, path, owner in _group_containers(root):
        if owner is not None and container.__parent__ is not owner:
            container.__parent__ = owner
            done.append(f"{path}: parent set to its group")
        for name, group in container._items.items():
            if not isinstance(group, Group):
                continue
            if group.__name__ != name or group.__parent__ is not container:
                group.__name__, group.__parent__ = name, container
                done.append(f"{path}/{name}: __name__/__parent__ set")
            members = group.members
            if members.__parent__ is not group:
                members.__parent__ = group
                done.append(f"{path}/{name}/members: parent set to its group")
            for userid, membership in members._items.items():
                if type(membership) is tuple:  # a value: placed by where it is stored
                    continue
                if membership.__name__ != userid or membership.__parent__ is not members:
                    membership.__name__, membership.__parent__ = userid, members
                    done.append(f"{membership_path(f'{path}/{name}', userid)}: placement set")
    return done


def _repair_by_role(root: Root) -> list[str]:
    done = []
    for path, group in _tree_groups(root).items():
        members = group.members
        expected = members.role_pairs()
        actual = set(members.by_role.keys())
        for pair in sorted(actual - expected):
            members.by_role.remove(pair)
            done.append(f"{path}/members: by_role dropped {pair}")
        for pair in sorted(expected - actual):
            members.by_role.add(pair)
            done.append(f"{path}/members: by_role added {pair}")
    return done


def _repair_orphans(ctx: Context) -> list[str]:
    """Remove memberships of users that do not exist, through the model, with an audit event."""
    root = ctx.root
    users = root.users._items
    done = []
    for path, group in _tree_groups(root).items():
        orphans = [userid for userid in group.members._items.keys() if userid not in users]
        for userid in orphans:
            membership = group.members.remove(userid)
            root.index.discard(userid, path)
            ctx.notify(
                MembershipRemoved(
                    membership_path(path, userid),
                    before=membership.fields(),
                    also=(user_path(userid),),
                    objects=tuple(each.history_key for each in group.lineage()),
                    group_path=path,
                    userid=userid,
                )
            )
            done.append(f"{membership_path(path, userid)}: removed (no such user)")
    return done


def _set_count(container, path: str, actual: int) -> list[str]:
    if len(container) == actual:
        return []
    before = len(container)
    container._count.set(actual)
    return [f"{path}: counter {before} -> {actual}"]


def _repair_counts(root: Root) -> list[str]:
    done = _set_count(root.users, "/users", len(root.users._items))
    for container, path, _ in _group_containers(root):
        done += _set_count(container, path, len(container._items))
        for name, group in container._items.items():
            if isinstance(group, Group):
                members = group.members
                done += _set_count(members, f"{path}/{name}/members", len(members._items))
    return done


def _repair_group_ids(root: Root) -> list[str]:
    """Ids for groups without one; ``group_ids`` rebuilt for the tree. Entries naming a
    group outside the tree stay: they are the only way left to find it (see ``check``)."""
    done = []
    groups = _tree_groups(root)
    in_tree = {id(group) for group in groups.values()}
    owners: dict[str, Group] = {}
    for path, group in groups.items():
        if group.id is None:
            group.id = str(uuid.uuid4())
            # Its earlier events are filed under its path (as evolve does for 0.1 groups).
            group.legacy_history = (path, new_event_id())
            done.append(f"{path}: new id {group.id}")
        owners.setdefault(group.id, group)
    ids = root.group_ids
    for group_id, group in list(ids.items()):
        if id(group) in in_tree and owners.get(group_id) is not group:
            del ids[group_id]
            done.append(f"group_ids[{group_id}]: dropped (maps to group {group.id})")
    for group_id, group in owners.items():
        if ids.get(group_id) is not group:
            ids[group_id] = group
            done.append(f"group_ids[{group_id}]: set to {group.path}")
    return done


def _repair_index(root: Root) -> list[str]:
    """Index entries rebuilt from the memberships: missing added, wrong fixed, stale dropped."""
    done = []
    index = root.index
    groups = _tree_groups(root)
    for path, group in groups.items():
        for userid, membership in group.members.memberships():
            actual = index._entries.get((userid, path))
            if actual is None or tuple(actual) != _index_value(membership):
                index.set(userid, path, membership.role, membership.expires_at)
                done.append(f"index ({userid}, {path}): set to {_index_value(membership)}")
    stale = [
        (userid, path)
        for userid, path, _, _ in index.all_items()
        if path not in groups or userid not in groups[path].members._items
    ]
    for userid, path in stale:
        index.discard(userid, path)
        done.append(f"index ({userid}, {path}): dropped (no such membership)")
    return done


def _repair_aces(ctx: Context) -> list[str]:
    """Drop ACEs whose principal names nobody (or is not canonical), through ``store_acl``,
    which audits the change and keeps ``acl_nodes`` in step."""
    root = ctx.root
    groups = _tree_groups(root)
    walk = _Walk(groups, {id(g): g for g in groups.values()}, {})
    nodes = [("/", root)]
    nodes += [(user_path(userid), user) for userid, user in root.users._items.items()]
    nodes += list(groups.items())
    done = []
    for path, node in nodes:
        if not node.local_acl:
            continue
        kept, dropped = [], []
        for ace in node.local_acl:
            (dropped if _principal_problem(ace[1], root, walk) else kept).append(ace)
        if dropped:
            store_acl(ctx, node, kept)
            done += [f"{path}: ACE {ace[0]} {ace[1]} {list(ace[2])} dropped" for ace in dropped]
    return done


def _repair_acl_registry(root: Root) -> list[str]:
    done = []
    expected: dict[str, tuple] = {}
    if root.local_acl:
        expected["/"] = _principals(root.local_acl)
    for userid, user in root.users._items.items():
        if user.local_acl:
            expected[user_path(userid)] = _principals(user.local_acl)
    for path, group in _tree_groups(root).items():
        if group.local_acl:
            expected[path] = _principals(group.local_acl)
    registry = root.acl_nodes
    for path in [key for key in registry.keys() if key not in expected]:
        del registry[path]
        done.append(f"acl_nodes[{path}]: dropped")
    for path, principals in expected.items():
        if registry.get(path) != principals:
            registry[path] = principals
            done.append(f"acl_nodes[{path}]: set to {principals}")
    return done


def _repair_token_digests(root: Root) -> list[str]:
    done = []
    expected = {token.digest: (userid, token_id) for userid, _, token_id, token in _tokens(root)}
    digests = root.token_digests
    for digest in [key for key in digests.keys() if key not in expected]:
        entry = digests.pop(digest)
        done.append(f"token_digests[{digest[:12]}…]: dropped (named {tuple(entry)})")
    for digest, entry in expected.items():
        if digests.get(digest) != entry:
            digests[digest] = entry
            done.append(f"token_digests[{digest[:12]}…]: set to {entry}")
    return done


__all__ = ["Finding", "check", "repair"]
