"""The ACL registry (``Root.acl_nodes``: path -> principals its local ACEs name) and
the ACEs that name what a deletion or a move changed.

ACEs naming a deleted user or group go, so a later user or group of the same
name inherits nothing; ACEs naming a moved group follow it. The registry
names each node's principals, so only the nodes whose ACEs change are loaded.
"""

from collections.abc import Callable

from ..domain.acl import store_acl
from ..domain.context import Context
from ..domain.events import AclChanged, GroupDeleted, GroupMoved, UserDeleted, subscriber
from ..model import Root, node_at
from ..paging import KEY_CEILING
from ..paths import (
    is_within,
    principal_group_path,
    rebase,
    rebase_principal,
    user_path,
    user_principal,
)


@subscriber(AclChanged)
def acl_changed(ctx: Context, event: AclChanged) -> None:
    principals = tuple(sorted({principal for _, principal, _ in event.node.local_acl}))
    if principals:
        ctx.root.acl_nodes[event.path] = principals
    else:
        ctx.root.acl_nodes.pop(event.path, None)


@subscriber(GroupDeleted)
def group_deleted(ctx: Context, event: GroupDeleted) -> None:
    registry = ctx.root.acl_nodes
    for path in paths_within(registry, event.target):
        del registry[path]

    def drop(principal: str) -> str | None:
        path = principal_group_path(principal)
        return None if path is not None and is_within(path, event.target) else principal

    rewrite_acls(ctx, drop)


@subscriber(GroupMoved)
def group_moved(ctx: Context, event: GroupMoved) -> None:
    registry = ctx.root.acl_nodes
    for path in paths_within(registry, event.old_path):
        registry[rebase(path, event.old_path, event.new_path)] = registry.pop(path)
    rewrite_acls(ctx, lambda p: rebase_principal(p, event.old_path, event.new_path))


@subscriber(UserDeleted)
def user_deleted(ctx: Context, event: UserDeleted) -> None:
    ctx.root.acl_nodes.pop(user_path(event.userid), None)
    principal = user_principal(event.userid)
    rewrite_acls(ctx, lambda p: None if p == principal else p)


def paths_within(registry, path: str) -> list[str]:
    """Registry keys at ``path`` or below it (``/groups/a`` but not ``/groups/a-b``)."""
    keys = registry.keys(min=path, max=path + "/" + KEY_CEILING)
    return [key for key in keys if is_within(key, path)]


def rewrite_acls(ctx: Context, rewrite: Callable[[str], str | None]) -> None:
    """Apply ``rewrite(principal) -> principal | None`` (None drops the ACE) to every
    local ACL that names a principal it changes."""
    root: Root = ctx.root
    for path, principals in list(root.acl_nodes.items()):
        if all(rewrite(principal) == principal for principal in principals):
            continue
        node = node_at(root, path)
        if node is None:  # the registry follows every move and delete
            del root.acl_nodes[path]
            continue
        aces = []
        for action, principal, permissions in node.local_acl:
            renamed = rewrite(principal)
            if renamed is not None:
                aces.append((action, renamed, permissions))
        store_acl(ctx, node, aces)
