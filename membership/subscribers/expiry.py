"""The expiry registry follows every membership change (``model/expiry.py``).

A membership added without an expiry costs nothing here; the registry is
written only for memberships that have (or had) one.
"""

from ..domain.context import Context
from ..domain.events import (
    GroupDeleted,
    GroupMoved,
    MembershipAdded,
    MembershipChanged,
    MembershipExpired,
    MembershipRemoved,
    MembersImported,
    UserDeleted,
    subscriber,
)


@subscriber(MembershipAdded)
def membership_added(ctx: Context, event: MembershipAdded) -> None:
    expiries = ctx.root.expiries
    if expiries is not None and event.membership.expires_at is not None:
        expiries.set(event.userid, event.group_path, event.membership.expires_at)


@subscriber(MembershipChanged)
def membership_changed(ctx: Context, event: MembershipChanged) -> None:
    expiries = ctx.root.expiries
    if expiries is not None:
        expiries.set(event.userid, event.group_path, event.membership.expires_at)


@subscriber(MembershipRemoved, MembershipExpired)
def membership_gone(ctx: Context, event: MembershipRemoved | MembershipExpired) -> None:
    expiries = ctx.root.expiries
    if expiries is not None:
        expiries.discard(event.userid, event.group_path)


@subscriber(MembersImported)
def members_imported(ctx: Context, event: MembersImported) -> None:
    expiries = ctx.root.expiries
    if expiries is not None and expiries.by_member:
        for userid, _ in event.rows:
            expiries.discard(userid, event.group_path)


@subscriber(GroupDeleted)
def group_deleted(ctx: Context, event: GroupDeleted) -> None:
    expiries = ctx.root.expiries
    if expiries is not None and expiries.by_member:
        for userid, path in event.memberships:
            expiries.discard(userid, path)


@subscriber(GroupMoved)
def group_moved(ctx: Context, event: GroupMoved) -> None:
    expiries = ctx.root.expiries
    if expiries is None:
        return
    for userid, old_path, new_path, _, expires_at in event.memberships:
        # Only entries not announced yet move (an announced expiry stays announced).
        if expires_at is not None and (userid, old_path) in expiries.by_member:
            expiries.discard(userid, old_path)
            expiries.set(userid, new_path, expires_at)


@subscriber(UserDeleted)
def user_deleted(ctx: Context, event: UserDeleted) -> None:
    expiries = ctx.root.expiries
    if expiries is not None and expiries.by_member:
        for path in event.groups:
            expiries.discard(event.userid, path)
