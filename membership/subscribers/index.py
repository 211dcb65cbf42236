"""The user -> groups index follows every membership change (``model/index.py``)."""

from ..domain.context import Context
from ..domain.events import (
    GroupDeleted,
    GroupMoved,
    MembershipAdded,
    MembershipChanged,
    MembershipRemoved,
    MembersImported,
    UserDeleted,
    subscriber,
)


@subscriber(MembershipAdded, MembershipChanged)
def membership_set(ctx: Context, event: MembershipAdded | MembershipChanged) -> None:
    membership = event.membership
    ctx.root.index.set(event.userid, event.group_path, membership.role, membership.expires_at)


@subscriber(MembershipRemoved)
def membership_removed(ctx: Context, event: MembershipRemoved) -> None:
    ctx.root.index.discard(event.userid, event.group_path)


@subscriber(MembersImported)
def members_imported(ctx: Context, event: MembersImported) -> None:
    index = ctx.root.index
    for userid, role in event.rows:
        index.set(userid, event.group_path, role, None)


@subscriber(GroupDeleted)
def group_deleted(ctx: Context, event: GroupDeleted) -> None:
    index = ctx.root.index
    for userid, path in event.memberships:
        index.discard(userid, path)


@subscriber(GroupMoved)
def group_moved(ctx: Context, event: GroupMoved) -> None:
    index = ctx.root.index
    for userid, old_path, _, _, _ in event.memberships:
        index.discard(userid, old_path)
    for userid, _, new_path, role, expires_at in event.memberships:
        index.set(userid, new_path, role, expires_at)


@subscriber(UserDeleted)
def user_deleted(ctx: Context, event: UserDeleted) -> None:
    index = ctx.root.index
    for path in event.groups:
        index.discard(event.userid, path)
