"""Per-node ACLs as operators see and change them: validation, guard rails, explanations.

A node's ``__acl__`` is its built-in ACEs (the admins ACE on the root, the
role ACEs of a group, a user's self ACEs) followed by its local ACEs; Pyramid
checks the node's, then its parent's, up to the root, and the first ACE that
names one of the caller's principals and the permission decides. So:

* built-in ACEs come first on their node: a local ``Deny`` cannot take from
  a group's own members what their role grants on that group, but it does
  override anything inherited from above (that is how a subtree shuts a user
  or a parent group out);
* the same walk, done here step by step, explains every decision
  (:func:`decide`), and agrees with ``ACLHelper`` by construction.

Changes go through :func:`check_change` and then ``Node.set_local_acl``
(which records the event). Guard rails, in order: nobody grants (or lifts a
``Deny`` on) a permission they do not hold on the node themselves (403);
no ``Deny`` may name ``group:/groups/admins`` (409), and no change may take
any permission on the node from the principals every admin carries (409),
so the admins are never locked out of anything, at the root or below;
and nobody may take ``manage-acl`` on the node away from themselves (409).
"""

from collections.abc import Callable, Iterable, Iterator

from pyramid.authorization import Allow, Authenticated, Deny, Everyone
from pyramid.location import lineage
from pyramid.request import Request
from pyramid.traversal import resource_path

from .exceptions import FieldError, InvalidInput, MembershipError, Refused
from .names import is_valid_name, parent_paths
from .permissions import ADMINS_PATH, ROLES, Permission
from .resources import Node, Root, ace_dict, group_at
from .schemas import AceIn
from .security import effective_principals, principals_for

PRINCIPAL_FORMS = (
    "system.Everyone, system.Authenticated, user:<id>, group:<path> or group:<path>#<role>"
)

Ace = tuple[str, str, tuple[str, ...]]


class NotYours(MembershipError):
    """A grant of a permission the caller does not hold on the node."""

    status = 403
    title = "Forbidden"


def parse_entries(root: Root, entries: Iterable[AceIn], field: str) -> list[Ace]:
    """Validated ACE tuples; a 400 naming ``<field>.<i>.<part>`` for the first bad entry."""
    aces: list[Ace] = []
    seen: dict[tuple, int] = {}
    for position, entry in enumerate(entries):
        problem = principal_problem(root, entry.principal)
        if problem:
            raise InvalidInput.field(f"{field}.{position}.principal", problem)
        permissions = tuple(dict.fromkeys(str(p) for p in entry.permissions))
        ace = (entry.action, entry.principal, permissions)
        key = same_ace_key(ace)
        if key in seen:
            raise InvalidInput.field(f"{field}.{position}", f"repeats {field}.{seen[key]}")
        seen[key] = position
        aces.append(ace)
    return aces


def principal_problem(root: Root, principal: str) -> str | None:
    """Why ``principal`` cannot appear in an ACE, or None when it can."""
    if principal in (Everyone, Authenticated):
        return None
    kind, colon, rest = principal.partition(":")
    if colon and kind == "user":
        if not is_valid_name(rest) or rest not in root.users:
            return f"no user {rest!r}"
        return None
    if colon and kind == "group":
        path, hash_, role = rest.partition("#")
        if hash_ and role not in ROLES:
            return f"the role after '#' must be one of {', '.join(ROLES)}"
        if group_at(root, path) is None:
            return f"no group at {path!r}"
        return None
    return f"must be {PRINCIPAL_FORMS}"


def same_ace_key(ace: tuple) -> tuple:
    """ACEs are the same when action, principal and the set of permissions are."""
    action, principal, permissions = ace
    return action, principal, frozenset(permissions)


def apply_patch(current: Iterable[Ace], add: list[Ace], remove: list[Ace]) -> list[Ace]:
    """Remove exact matches (else a 400 naming ``remove.<i>``), then append new ACEs."""
    result = list(current)
    for position, ace in enumerate(remove):
        keys = [same_ace_key(each) for each in result]
        if same_ace_key(ace) not in keys:
            raise InvalidInput.field(f"remove.{position}", "no such local ACE on this node")
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


def effective_entries(node) -> list[dict]:
    """Every ACE that applies at ``node``, in the order Pyramid checks them."""
    return [
        {**ace_dict(ace), "node": _path(location), "builtin": builtin}
        for location in lineage(node)
        for ace, builtin in _aces_of(location, None)
    ]


def decide(
    node, principals: Iterable[str], permission: str, *, replace: tuple | None = None
) -> tuple[bool, dict | None]:
    """``(allowed, deciding ACE)`` as ``ACLHelper.permits`` decides; ``None``: no ACE matched.

    ``replace=(node, local ACEs)`` decides as if that node's local ACL were
    already changed (the guard rails ask this before a change).
    """
    principals = set(principals)
    for location in lineage(node):
        for ace, builtin in _aces_of(location, replace):
            action, principal, permissions = ace
            if principal not in principals:
                continue
            if isinstance(permissions, str):
                permissions = (permissions,)
            if permission in permissions:
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


def principals_of(root: Root, principal: str) -> list[str]:
    """What a principal carries when asked about.

    ``user:<id>``: that user's real principals. ``group:<path>[#role]``: what
    any such member carries, as ``security.principals_for`` computes it (the
    group's principal and every group above it: membership flows up).
    Otherwise the principal with the system ones every caller has.
    """
    problem = principal_problem(root, principal)
    if problem:
        raise InvalidInput.field("principal", problem)
    if principal.startswith("user:"):
        return principals_for(root, principal[len("user:") :])
    if principal == Everyone:
        return [Everyone]
    carried = [Everyone, Authenticated, principal]
    if principal.startswith("group:"):
        path = principal[len("group:") :].partition("#")[0]
        carried += [f"group:{each}" for each in (path, *parent_paths(path))]
    return list(dict.fromkeys(carried))


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


def check_change(request: Request, node, new: list[Ace], field_of: Callable[[Ace], str]) -> None:
    """The guard rails (see the module docstring); raises, or returns when the change may go."""
    for ace, permission in granted(node.local_acl, new):
        if not request.has_permission(permission, node):
            raise NotYours(
                f"you cannot grant {permission} on {_path(node)}: you do not hold it here",
                [FieldError(field_of(ace), f"grants {permission}, which you do not hold here")],
            )
    proposed = (node, tuple(new))
    admins = f"group:{ADMINS_PATH}"
    for ace in new:
        if ace[0] == Deny and ace[1].partition("#")[0] == admins:
            raise Refused(
                f"{admins} cannot be denied anything: it holds every permission everywhere",
                [FieldError(field_of(ace).rpartition(".")[0] or "entries", "denies the admins")],
            )
    for role in ROLES:
        principals = {Everyone, Authenticated, admins, f"{admins}#{role}"}
        for permission in Permission:
            allowed, entry = decide(node, principals, permission, replace=proposed)
            if not allowed:
                cause = "" if entry is None else f" ({entry['action']} {entry['principal']})"
                raise Refused(
                    f"this change would take {permission} on {_path(node)} away from "
                    f"{admins}{cause}",
                    [FieldError("entries", f"{admins} must keep every permission everywhere")],
                )
    allowed, _ = decide(
        node, effective_principals(request), Permission.MANAGE_ACL, replace=proposed
    )
    if not allowed:
        raise Refused(
            f"this change would take manage-acl on {_path(node)} away from you",
            [FieldError("entries", "you would lose manage-acl here")],
        )


def _path(location) -> str:
    return resource_path(location)


def parse_entries_loosely(entries: Iterable[AceIn]) -> list[Ace]:
    """ACEs to remove: no existence check (they only have to match what is there)."""
    return [
        (entry.action, entry.principal, tuple(dict.fromkeys(str(p) for p in entry.permissions)))
        for entry in entries
    ]
