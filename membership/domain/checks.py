"""Batch checks: many "is alice in eng?" and "may bob edit /groups/eng?" questions at once.

One call answers up to ``MAX_QUESTIONS`` questions, in order, from one read of
the tree (the caller's transaction), and writes nothing. Each question is
answered on its own: one the caller may not ask about is a ``forbidden``
answer in its place, never a refusal of the whole batch.

Who may ask what (the same rules as the single-question endpoints):

* a **membership** question (``user``, ``group``, ``effective``) needs ``view``
  on the group, as ``GET …/members/{user}`` does; an effective answer only
  counts subgroups the caller may view (a ``via`` never names a hidden one);
* a **permission** question (``principal``, ``permission``, ``path``) about the
  caller themself needs ``view`` on the node; about anyone else it needs
  ``manage-acl`` there, as ``GET …/permissions?principal=`` does, because the
  answer tells whether that principal is in the groups the node's ACEs name,
  which ``view`` alone does not show.

Unknown groups by path and unknown nodes are ``not_found`` (the single
endpoints answer 404 there too); a group asked for by id that is unknown *or*
hidden is ``not_found`` (``GET /groups/@id/{id}`` never tells them apart);
an unknown user in a membership question is ``not_found`` naming ``user``.

Cost: each group (by path or id), each node, each permission decision of the
caller, each asked-about user's memberships and principals are worked out
once per batch and reused by every question that needs them.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

from .. import clock
from ..model import Group, Node, Root, group_at, node_at
from ..paths import is_group_path, is_valid_name, parse_principal
from ..permissions import Permission
from . import acl
from .context import Context
from .errors import InvalidValue

#: Most questions one call takes (OpenFGA's BatchCheck takes 50 by default).
MAX_QUESTIONS = 1000

FORBIDDEN = "forbidden"
NOT_FOUND = "not_found"


@dataclass(frozen=True)
class MembershipQuestion:
    """Is ``user`` a member of ``group`` (a canonical path, or a group's stable id)?
    ``effective``: through a subgroup counts too."""

    user: str
    group: str
    effective: bool = False


@dataclass(frozen=True)
class PermissionQuestion:
    """Does ``principal`` hold ``permission`` on the node at ``path``?"""

    principal: str
    permission: str
    path: str


Question = MembershipQuestion | PermissionQuestion


class MembershipAnswer(NamedTuple):
    member: bool
    group: str  # the group's path (also when it was asked for by id)
    direct: bool | None = None
    role: str | None = None
    via: str | None = None


class PermissionAnswer(NamedTuple):
    allowed: bool
    #: The ACE that decided (as ``acl.decide`` gives it); None: no ACE matched, denied.
    decided_by: dict | None


class Unanswered(NamedTuple):
    """A question not answered: ``error`` is ``forbidden`` or ``not_found``."""

    error: str
    field: str
    detail: str


Answer = MembershipAnswer | PermissionAnswer | Unanswered


def answer_checks(ctx: Context, questions: Sequence[Question]) -> list[Answer]:
    """Answers to ``questions``, in their order; nothing is written.

    Raises ``InvalidValue`` naming ``items.<i>.<field>`` for a question that
    cannot be asked at all (more than ``MAX_QUESTIONS``, a principal not in
    canonical form, an unknown permission): those are the caller's mistakes,
    not answers.
    """
    if len(questions) > MAX_QUESTIONS:
        raise InvalidValue(
            f"items: at most {MAX_QUESTIONS} questions per call, not {len(questions)}",
            subject="items",
        )
    batch = _Batch(ctx)
    answers: list[Answer] = []
    for position, question in enumerate(questions):
        if isinstance(question, MembershipQuestion):
            answers.append(batch.membership(question))
        else:
            answers.append(batch.permission(position, question))
    return answers


class _Batch:
    """What one call has worked out so far, reused by the questions after."""

    def __init__(self, ctx: Context) -> None:
        self.root: Root = ctx.root
        self.actor = ctx.actor
        self.me = ctx.actor.principal
        self.now = clock.now().timestamp()
        self.groups: dict[str, tuple[Group, str] | None] = {}
        self.nodes: dict[str, Node | None] = {}
        self.decisions: dict[tuple[str, int], bool] = {}
        self.direct: dict[str, dict | None] = {}
        self.principals: dict[str, list[str]] = {}
        self.named: dict[int, set[str]] = {}
        self.aces: dict[int, list] = {}

    # -- the caller's own decisions, once per (permission, node)

    def may(self, permission: str, node) -> bool:
        key = (permission, id(node))
        found = self.decisions.get(key)
        if found is None:
            found = self.decisions[key] = self.actor.may(permission, node)
        return found

    def may_view(self, group: Group) -> bool:
        return self.may(Permission.VIEW, group)

    # -- membership questions

    def group(self, ref: str) -> tuple[Group, str] | None:
        """The group a path or an id names, with its path (worked out once)."""
        if ref in self.groups:
            return self.groups[ref]
        if is_group_path(ref):
            found = group_at(self.root, ref)
        else:
            found = self.root.group_ids.get(ref) if self.root.group_ids is not None else None
            if found is not None and not self.may_view(found):
                found = None  # by id, hidden and unknown look the same
        self.groups[ref] = answer = None if found is None else (found, found.path)
        return answer

    def direct_entries(self, userid: str) -> dict | None:
        """The user's active direct memberships by path; None: no such user."""
        if userid in self.direct:
            return self.direct[userid]
        entries = None
        if is_valid_name(userid) and userid in self.root.users:
            entries = {
                entry.path: entry
                for entry in self.root.index.entries(userid)
                if entry.active_at(self.now)
            }
        self.direct[userid] = entries
        return entries

    def membership(self, question: MembershipQuestion) -> Answer:
        found = self.group(question.group)
        if found is None:
            return Unanswered(NOT_FOUND, "group", f"no group {question.group!r}")
        group, path = found
        if not self.may_view(group):
            return Unanswered(FORBIDDEN, "group", f"you may not view {path}")
        userid = question.user
        entries = self.direct_entries(userid)
        if entries is None:
            return Unanswered(NOT_FOUND, "user", f"there is no user {userid!r}")
        entry = entries.get(path)
        if entry is not None:
            return MembershipAnswer(True, path, True, entry.role)
        if question.effective:
            # As ``queries.effective_groups`` answers: the first direct membership (in
            # path order) below the group, in a group the caller may view.
            below = path + "/"
            for each in entries:
                if each.startswith(below) and self.visible(each):
                    return MembershipAnswer(True, path, False, None, each)
        return MembershipAnswer(False, path)

    def visible(self, path: str) -> bool:
        found = self.group(path)
        return found is not None and self.may_view(found[0])

    # -- permission questions

    def node(self, path: str) -> Node | None:
        if path not in self.nodes:
            self.nodes[path] = node_at(self.root, path)
        return self.nodes[path]

    def principals_of(self, principal: str, node) -> list[str]:
        """``acl.principals_of``, with what the principal carries and what the node's
        ACEs name each worked out once per batch."""
        carried = self.principals.get(principal)
        if carried is None:
            carried = self.principals[principal] = acl.carried_principals(self.root, principal)
        named = self.named.get(id(node))
        if named is None:
            named = self.named[id(node)] = acl.named_principals(node, self.aces_at(node))
        return acl.told_principals(carried, principal, named)

    def aces_at(self, node) -> list:
        """``acl.lineage_aces``, once per node and batch."""
        aces = self.aces.get(id(node))
        if aces is None:
            aces = self.aces[id(node)] = acl.lineage_aces(node)
        return aces

    def permission(self, position: int, question: PermissionQuestion) -> Answer:
        principal = question.principal
        if parse_principal(principal) is None:
            raise InvalidValue(
                f"items.{position}.principal: must be {acl.PRINCIPAL_FORMS}, in canonical form",
                subject=f"items.{position}.principal",
                item=position,
            )
        if question.permission not in acl.PERMISSIONS:
            raise InvalidValue(
                f"items.{position}.permission: {question.permission!r} is no permission",
                subject=f"items.{position}.permission",
                item=position,
            )
        node = self.node(question.path)
        if node is None:
            return Unanswered(NOT_FOUND, "path", f"nothing at {question.path!r}")
        needed = Permission.VIEW if principal == self.me else Permission.MANAGE_ACL
        if not self.may(needed, node):
            return Unanswered(
                FORBIDDEN,
                "path",
                f"asking about {principal} on {question.path} needs {needed} there",
            )
        allowed, entry = acl.decide(
            node,
            self.principals_of(principal, node),
            question.permission,
            aces=self.aces_at(node),
        )
        return PermissionAnswer(allowed, entry)
