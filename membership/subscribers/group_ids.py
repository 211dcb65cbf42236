"""Stable group id -> group, so ``/groups/@id/<id>`` costs O(log n) (moves need nothing)."""

from ..domain.context import Context
from ..domain.events import GroupCreated, GroupDeleted, subscriber


@subscriber(GroupCreated)
def group_created(ctx: Context, event: GroupCreated) -> None:
    ctx.root.group_ids[event.group.id] = event.group


@subscriber(GroupDeleted)
def group_deleted(ctx: Context, event: GroupDeleted) -> None:
    ids = ctx.root.group_ids
    for _, group_id in event.groups:
        ids.pop(group_id, None)
