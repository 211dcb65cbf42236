"""Memberships: add, change, remove, all-or-nothing batches, and imports.

Rules: roles are ``member`` < ``manager`` < ``owner``; granting, changing or
removing ``owner`` needs ``grant-owner`` (owners have it, managers do not);
the last admin stays. Concurrency: a membership change declares the group's
lineage read (a concurrent move or deletion conflicts); an add declares the
user record read (a user deletion writes it, so a concurrent one conflicts)
without writing it.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from types import EllipsisType

from .. import clock
from ..model import Group, Membership, declare_read
from ..paths import ADMINS_PATH, membership_path, user_path
from ..permissions import ROLES, Permission
from .context import Context
from .errors import (
    AlreadyExists,
    BulkOperationFailed,
    DomainError,
    InvalidValue,
    NotFound,
    NotPermitted,
    Refused,
    Unprocessable,
)
from .events import MembershipAdded, MembershipChanged, MembershipRemoved, MembersImported
from .queries import is_last_admin
from .users import create_missing_users


def check_role(role: str) -> None:
    if role not in ROLES:
        raise InvalidValue(f"role: must be one of {', '.join(ROLES)}", subject="role")


def require_grant(ctx: Context, group: Group, *roles: str | None) -> None:
    """Granting, changing or removing ``owner`` needs ``grant-owner`` (managers lack it)."""
    if "owner" in roles and not ctx.actor.may(Permission.GRANT_OWNER, group.members):
        raise NotPermitted(
            "only owners may grant, change or remove the owner role",
            subject="role",
            permission=str(Permission.GRANT_OWNER),
        )


def _keys(ctx: Context, group: Group, userid: str) -> tuple[str, ...]:
    keys = tuple(each.history_key for each in group.lineage())
    user = ctx.root.users.get(userid)
    return keys if user is None else (*keys, user.history_key)


def new_membership(
    ctx: Context,
    group: Group,
    userid: str,
    role: str,
    expires_at: datetime | None,
    source: str | None = None,
) -> Membership:
    """Attach a membership with the declarations every write path needs (no event)."""
    user = ctx.root.users.get(userid)
    if user is None:
        raise NotFound(f"no user {userid!r}", subject="user", subject_message="no such user")
    if userid in group.members._items:
        raise AlreadyExists(f"{userid} is already a member of {group.path}", subject="user")
    declare_read(user, *group.lineage())
    return group.members.add(userid, Membership(role, ctx.actor.id, expires_at, source))


def announce_added(ctx: Context, group: Group, membership: Membership) -> MembershipAdded:
    userid = membership.user
    return MembershipAdded(
        membership.path,
        after=membership.fields(),
        also=(user_path(userid),),
        objects=_keys(ctx, group, userid),
        group_path=group.path,
        userid=userid,
        membership=membership,
    )


def _changed(ctx: Context, group: Group, membership: Membership, before, after):
    userid = membership.user
    return MembershipChanged(
        membership.path,
        before=before,
        after=after,
        also=(user_path(userid),),
        objects=_keys(ctx, group, userid),
        group_path=group.path,
        userid=userid,
        membership=membership,
    )


def _removed(ctx: Context, group: Group, userid: str, before: dict) -> MembershipRemoved:
    return MembershipRemoved(
        membership_path(group.path, userid),
        before=before,
        also=(user_path(userid),),
        objects=_keys(ctx, group, userid),
        group_path=group.path,
        userid=userid,
    )


def add_member(
    ctx: Context,
    group: Group,
    userid: str,
    role: str = "member",
    *,
    expires_at: datetime | None = None,
    source: str | None = None,
) -> Membership:
    check_role(role)
    require_grant(ctx, group, role)
    membership = new_membership(ctx, group, userid, role, expires_at, source)
    ctx.notify(announce_added(ctx, group, membership))
    return membership


def _change(
    ctx: Context, group: Group, membership: Membership, role, expires_at
) -> tuple[dict, dict]:
    before = membership.fields()
    if role is not None and role != membership.role:
        check_role(role)
        require_grant(ctx, group, membership.role, role)
        group.members.set_role(membership, role)
    if expires_at is not ...:
        group.members.set_expiry(membership, expires_at)
    after = membership.fields()
    changed = [key for key in after if after[key] != before[key]]
    if changed:
        declare_read(*group.lineage())
        group.members.touch(membership, clock.now())
    return {k: before[k] for k in changed}, {k: after[k] for k in changed}


def change_member(
    ctx: Context,
    group: Group,
    userid: str,
    *,
    role: str | None = None,
    expires_at: "datetime | EllipsisType | None" = ...,
) -> Membership:
    """Change role and/or expiry; ``expires_at=None`` clears it, ``...`` leaves it."""
    membership = group.members.membership(userid)
    if membership is None:
        raise NotFound(f"{userid} is not a member of {group.path}", subject="user")
    before, after = _change(ctx, group, membership, role, expires_at)
    if after:
        ctx.notify(_changed(ctx, group, membership, before, after))
    return membership


def remove_member(ctx: Context, group: Group, userid: str) -> None:
    membership = group.members.membership(userid)
    if membership is None:
        raise NotFound(f"{userid} is not a member of {group.path}", subject="user")
    _remove(ctx, group, membership)
    ctx.notify(_removed(ctx, group, userid, membership.fields()))


def _remove(ctx: Context, group: Group, membership: Membership) -> None:
    require_grant(ctx, group, membership.role)
    if group.path == ADMINS_PATH and is_last_admin(ctx.root, membership.user):
        raise Refused("the last member of /groups/admins cannot be removed", subject="user")
    declare_read(*group.lineage())
    group.members.remove(membership.user)


@dataclass(frozen=True)
class Operation:
    """One item of a batch: ``add``, ``remove`` or ``replace`` (add, or change if present)."""

    op: str
    user: str
    role: str = "member"
    expires_at: datetime | None = None


_UNDOES = {"remove": {"add", "replace"}, "add": {"remove"}, "replace": {"remove"}}


def apply_batch(ctx: Context, group: Group, operations: Iterable[Operation]) -> dict:
    """Apply ``operations`` in order, all or nothing; the counts per kind.

    Two operations where one undoes the other for the same user (add then
    remove, remove then add) are refused, naming both. Each user touched
    gets one event with the net effect, however many operations named them.
    """
    members = group.members
    counts = {"add": 0, "remove": 0, "replace": 0}
    first_seen: dict[str, tuple[int, str, dict | None]] = {}
    for position, op in enumerate(operations):
        try:
            seen = first_seen.get(op.user)
            if seen is not None and seen[1] in _UNDOES[op.op]:
                raise Unprocessable(
                    f"operations {seen[0]} and {position} contradict each other for {op.user}",
                    subject="user",
                    operations=[seen[0], position],
                )
            current = members.membership(op.user)
            if seen is None:
                before = None if current is None else current.fields()
                first_seen[op.user] = (position, op.op, before)
            else:
                first_seen[op.user] = (seen[0], op.op, seen[2])
            check_role(op.role)
            if op.op == "remove":
                if current is None:
                    raise NotFound(f"{op.user} is not a member", subject="user")
                _remove(ctx, group, current)
            elif current is None:
                require_grant(ctx, group, op.role)
                new_membership(ctx, group, op.user, op.role, op.expires_at)
            elif op.op == "add":
                raise AlreadyExists(f"{op.user} is already a member", subject="user")
            else:
                _change(ctx, group, current, op.role, op.expires_at)
        except BulkOperationFailed:
            raise
        except DomainError as exc:
            raise BulkOperationFailed(position, exc) from None
        counts[op.op] += 1
    for userid, (_, _, before) in first_seen.items():
        after_membership = members.membership(userid)
        if before is None and after_membership is not None:
            ctx.notify(announce_added(ctx, group, after_membership))
        elif before is not None and after_membership is None:
            ctx.notify(_removed(ctx, group, userid, before))
        elif before is not None:
            after = after_membership.fields()
            changed = [key for key in after if after[key] != before[key]]
            if changed:
                ctx.notify(
                    _changed(
                        ctx,
                        group,
                        after_membership,
                        {k: before[k] for k in changed},
                        {k: after[k] for k in changed},
                    )
                )
    return counts


def import_members(ctx: Context, group: Group, rows: Iterable[tuple[str, str]]) -> int:
    """Bulk path for imports: ``(userid, role)`` rows; missing users are created.

    The same rules as ``add_member``; rows already members are skipped.
    One ``users.imported`` and one ``members.imported`` event with the
    counts, not one per row: each membership keeps ``added_by`` and
    ``added_at``, so who added whom and when is not lost.
    """
    rows = list(rows)
    create_missing_users(ctx, (userid for userid, _ in rows))
    added: list[tuple[str, str]] = []
    roles: dict[str, int] = {}
    for userid, role in rows:
        if userid in group.members._items:
            continue
        check_role(role)
        require_grant(ctx, group, role)
        new_membership(ctx, group, userid, role, None, source="import")
        added.append((userid, role))
        roles[role] = roles.get(role, 0) + 1
    if added:
        ctx.notify(
            MembersImported(
                group.path,
                after={"added": len(added), "roles": roles, "added_by": ctx.actor.id},
                objects=tuple(each.history_key for each in group.lineage()),
                group_path=group.path,
                rows=added,
            )
        )
    return len(added)
