"""Per-node ACLs as operators see and change them: validation, guard rails, explanations.

A node's ``__acl__`` is the admins ACE, its other built-in ACEs (the role
ACEs of a group, a user's self ACEs), then its local ACEs; Pyramid checks
the node's, then its parent's, up to the root, and the first ACE that names
one of the caller's principals and the permission decides. So:

* the admins ACE comes first on every node: no local ``Deny`` anywhere, by
  any principal it names, takes anything from a member of /groups/admins;
* built-in ACEs come before local ones on their node: a local ``Deny``
  cannot take from a group's own members what their role grants on that
  group, but it does override anything inherited from above;
* the same walk, done here step by step, explains every decision
  (:func:`decide`), and agrees with ``ACLHelper`` by construction.

Guard rails on a change, in order: principals only in canonical form and
naming something that exists (400); nobody grants (or lifts a ``Deny`` on)
a permission they do not hold on the node themselves (403); a ``Deny``
naming the admins is refused as meaningless (409); and nobody may take
``manage-acl`` on the node away from themselves (409).
"""

from collections.abc import Callable, Iterable, Iterator

from pyramid.authorization import ALL_PERMISSIONS, Allow, Deny
from pyramid.location import lineage

from ..model import Node, Root, declare_read, group_at
from ..paths import (
    ADMINS_PRINCIPAL,
    AUTHENTICATED,
    EVERYONE,
    lineage_paths,
    parse_principal,
    principal_group_path,
)
from ..permissions import Permission
from .context import Context
from .errors import InvalidValue, NotPermitted, Refused
from .events import AclChanged
from .queries import principals_for

PRINCIPAL_FORMS = (
    "system.Everyone, system.Authenticated, user:<id>, group:<path>, group:<path>#<role> "
    "or client:<id>"
)
PERMISSIONS = frozenset(str(p) for p in Permission)

Ace = tuple[str, str, tuple[str, ...]]


def ace_dict(ace: tuple) -> dict:
    action, principal, permissions = ace
    if permissions is ALL_PERMISSIONS:
        permissions = ["*"]
    elif isinstance(permissions, str):
        permissions = [permissions]
    return {"action": action, "principal": principal, "permissions": [str(p) for p in permissions]}


def principal_problem(root: Root, principal: str) -> str | None:
    """Why ``principal`` cannot appear in a new ACE, or None when it can."""
    parsed = parse_principal(principal)
    if parsed is None:
        return f"must be {PRINCIPAL_FORMS}, in canonical form"
    if parsed.kind == "user" and parsed.name not in root.users:
        return f"no user {parsed.name!r}"
    if parsed.kind == "group" and group_at(root, parsed.name) is None:
        return f"no group at {parsed.name!r}"
    return None


def parse_entries(root: Root, entries: Iterable[tuple], field: str) -> list[Ace]:
    """Validated ACE tuples from ``(action, principal, permissions)``; the first bad
    entry is an ``InvalidValue`` naming ``<field>.<i>.<part>``."""
    aces: list[Ace] = []
    seen: dict[tuple, int] = {}
    for position, (action, principal, permissions) in enumerate(entries):
        if action not in (Allow, Deny):
            raise InvalidValue(
                f"{field}.{position}.action: must be Allow or Deny",
                subject=f"{field}.{position}.action",
            )
        problem = principal_problem(root, principal)
        if problem:
            raise InvalidValue(
                f"{field}.{position}.principal: {problem}",
                subject=f"{field}.{position}.principal",
            )
        unknown = [str(p) for p in permissions if str(p) not in PERMISSIONS]
        if unknown or not permissions:
            raise InvalidValue(
                f"{field}.{position}.permissions: "
                + (f"no permission {unknown[0]!r}" if unknown else "give at least one"),
                subject=f"{field}.{position}.permissions",
            )
        ace = (action, principal, tuple(dict.fromkeys(str(p) for p in permissions)))
        key = same_ace_key(ace)
        if key in seen:
            raise InvalidValue(
                f"{field}.{position}: repeats {field}.{seen[key]}", subject=f"{field}.{position}"
            )
        seen[key] = position
        aces.append(ace)
    return aces


def loose_entries(entries: Iterable[tuple]) -> list[Ace]:
    """ACEs to remove: no existence check (they only have to match what is there)."""
    return [
        (action, principal, tuple(dict.fromkeys(str(p) for p in permissions)))
        for action, principal, permissions in entries
    ]


def same_ace_key(ace: tuple) -> tuple:
    """ACEs are the same when action, principal and the set of permissions are."""
    action, principal, permissions = ace
    return action, principal, frozenset(permissions)


def apply_patch(current: Iterable[Ace], add: list[Ace], remove: list[Ace]) -> list[Ace]:
    """Remove exact matches (else ``remove.<i>`` is at fault), then append new ACEs."""
    result = list(current)
    for position, ace in enumerate(remove):
        keys = [same_ace_key(each) for each in result]
        if same_ace_key(ace) not in keys:
            raise InvalidValue(
                f"remove.{position}: no such local ACE on this node", subject=f"remove.{position}"
            )
        del result[keys.index(same_ace_key(ace))]
    for ace in add:
        if same_ace_key(ace) not in {same_ace_key(each) for each in result}:
            result.append(ace)
    return result


def _aces_of(location, replace: tuple | None) -> Iterator[tuple[tuple, bool]]:
    """``(ace, builtin)`` of one node in check order, with a proposed local ACL swapped in."""
    if isinstance(location, Node):
        local = replace[1] if replace is not None and replace[0] is location else location.local_acl
        for ace in location.builtin_acl():
            yield ace, True
        for ace in local:
            yield ace, False
    else:  # a transient view (a user's tokens): whatever it says
        for ace in getattr(location, "__acl__", ()):
            yield ace, True


def _path(location) -> str:
    path = getattr(location, "path", None)
    if path is None:  # transient views
        path = _path(location.__parent__) + "/" + location.__name__
    return path


def effective_entries(node) -> list[dict]:
    """Every ACE that applies at ``node``, in the order Pyramid checks them."""
    return [
        {**ace_dict(ace), "node": _path(location), "builtin": builtin}
        for location in lineage(node)
        for ace, builtin in _aces_of(location, None)
    ]


def _walk(node, replace: tuple | None = None) -> Iterator[tuple[tuple, object, bool]]:
    """``(ace, location, builtin)`` of every ACE that applies at ``node``, in check order."""
    for location in lineage(node):
        for ace, builtin in _aces_of(location, replace):
            yield ace, location, builtin


def lineage_aces(node) -> list[tuple[tuple, object, bool]]:
    """:func:`_walk` as a list: for callers that decide many times at one node."""
    return list(_walk(node))


def decide(
    node,
    principals: Iterable[str],
    permission: str,
    *,
    replace: tuple | None = None,
    aces: list[tuple[tuple, object, bool]] | None = None,
) -> tuple[bool, dict | None]:
    """``(allowed, deciding ACE)`` as ``ACLHelper.permits`` decides; ``None``: no ACE matched.

    ``replace=(node, local ACEs)`` decides as if that node's local ACL were
    already changed (the guard rails ask this before a change); ``aces`` is
    ``lineage_aces(node)`` worked out before (batch checks).
    """
    principals = set(principals)
    for ace, location, builtin in _walk(node, replace) if aces is None else aces:
        action, principal, permissions = ace
        if principal not in principals:
            continue
        if permissions is not ALL_PERMISSIONS:
            if isinstance(permissions, str):
                permissions = (permissions,)
            if permission not in permissions:
                continue
        entry = {**ace_dict(ace), "node": _path(location), "builtin": builtin}
        return action == Allow, entry
    return False, None


def explain(node, principals: Iterable[str]) -> list[dict]:
    """For every permission: allowed or not, and the ACE that decided."""
    principals = list(principals)
    rows = []
    for permission in Permission:
        allowed, entry = decide(node, principals, permission)
        rows.append({"permission": str(permission), "allowed": allowed, "decided_by": entry})
    return rows


def principals_of(root: Root, principal: str, node) -> list[str]:
    """What a principal carries that bears on ``node``, when someone asks about it.

    Only principals some ACE on the node's lineage names (plus the asked
    principal and the system ones) are told: asking at a small subgroup must
    not reveal the other groups a user is in. An unknown user or group is
    answered like one without memberships, so the answer cannot be used to
    find out which ids and paths exist.
    """
    return told_principals(carried_principals(root, principal), principal, named_principals(node))


def carried_principals(root: Root, principal: str) -> list[str]:
    """Every principal ``principal`` carries, wherever it is asked about (unfiltered:
    see :func:`told_principals`)."""
    parsed = parse_principal(principal)
    if parsed is None:
        raise InvalidValue(
            f"principal: must be {PRINCIPAL_FORMS}, in canonical form", subject="principal"
        )
    if principal == EVERYONE:
        return [EVERYONE]
    if parsed.kind == "user":
        return principals_for(root, parsed.name)
    carried = [EVERYONE, AUTHENTICATED, principal]
    path = principal_group_path(principal)
    if path is not None:
        carried += [f"group:{each}" for each in lineage_paths(path)]
    return carried


def named_principals(node, aces: list[tuple[tuple, object, bool]] | None = None) -> set[str]:
    """The principals some ACE on ``node``'s lineage names (``aces``: its
    ``lineage_aces``, if worked out before)."""
    return {ace[1] for ace, _, _ in (_walk(node) if aces is None else aces)}


def told_principals(carried: Iterable[str], principal: str, named: set[str]) -> list[str]:
    """Of ``carried``, what may be told at a node whose ACEs name ``named``."""
    kept = {EVERYONE, AUTHENTICATED, principal}
    return [p for p in dict.fromkeys(carried) if p in kept or p in named]


def granted(old: Iterable[Ace], new: Iterable[Ace]) -> list[tuple[Ace, str]]:
    """``(ace, permission)`` the change grants: new ``Allow`` pairs and lifted ``Deny`` pairs."""

    def pairs(aces: Iterable[Ace], action: str) -> set[tuple[str, str]]:
        return {(p, perm) for a, p, perms in aces if a == action for perm in perms}

    old, new = list(old), list(new)
    allowed_before, denied_after = pairs(old, Allow), pairs(new, Deny)
    result = []
    for ace in new:
        if ace[0] == Allow:
            result += [(ace, perm) for perm in ace[2] if (ace[1], perm) not in allowed_before]
    for ace in old:
        if ace[0] == Deny:
            result += [(ace, perm) for perm in ace[2] if (ace[1], perm) not in denied_after]
    return result


def set_acl(ctx: Context, node: Node, new: list[Ace], field_of: Callable[[Ace], str]) -> tuple:
    """Replace ``node``'s local ACEs after the guard rails (see the module docstring).

    ``field_of(ace)`` names where an ACE came from in the caller's input, for
    the errors. Declares read what the change rests on: the node's lineage
    and every user and group its ACEs name (a concurrent deletion or move
    of them conflicts); writes the registry's version, which deletions and
    moves declare read in turn.
    """
    actor = ctx.actor
    for ace, permission in granted(node.local_acl, new):
        if not actor.may(permission, node):
            raise NotPermitted(
                f"you cannot grant {permission} on {_path(node)}: you do not hold it here",
                subject=field_of(ace),
                permission=permission,
                subject_message=f"grants {permission}, which you do not hold here",
            )
    for ace in new:
        if ace[0] == Deny and principal_group_path(ace[1]) == ADMINS_PRINCIPAL[len("group:") :]:
            raise Refused(
                f"{ADMINS_PRINCIPAL} cannot be denied anything: it holds every permission "
                "everywhere, before any local ACE",
                subject=field_of(ace).rpartition(".")[0] or "entries",
            )
    proposed = (node, tuple(new))
    if not actor.system:  # users and OAuth clients alike
        allowed, _ = decide(node, actor.principals, Permission.MANAGE_ACL, replace=proposed)
        if not allowed:
            raise Refused(
                f"this change would take manage-acl on {_path(node)} away from you",
                subject="entries",
            )
    return store_acl(ctx, node, new)


def store_acl(ctx: Context, node: Node, new: Iterable[Ace]) -> tuple:
    """Replace ``node``'s local ACEs with no guard rails (``set_acl`` has them; the ACL
    registry calls this directly to drop or rename ACEs after a deletion or move).
    The previous ACEs."""
    before = node.local_acl
    after = tuple(new)
    if after == before:
        return before
    root = ctx.root
    declare_read(*(n for n in lineage(node) if hasattr(n, "_p_jar")))
    for _, principal, _ in after:
        parsed = parse_principal(principal)
        if parsed is not None and parsed.kind == "user":
            declare_read(*filter(None, [root.users.get(parsed.name)]))
        elif parsed is not None and parsed.kind == "group":
            group = group_at(root, parsed.name)
            if group is not None:
                declare_read(*group.lineage())
    node.set_local_acl(after)
    root.acl_version.change(1)
    path = _path(node)
    ctx.notify(
        AclChanged(
            path,
            before={"entries": [ace_dict(ace) for ace in before]},
            after={"entries": [ace_dict(ace) for ace in node.local_acl]},
            objects=_keys(node),
            node=node,
            path=path,
        )
    )
    return before


def _keys(node) -> tuple[str, ...]:
    key = getattr(node, "history_key", None)
    if key is None:
        return ()
    lineage_of = getattr(node, "lineage", None)
    return tuple(each.history_key for each in lineage_of()) if lineage_of else (key,)
