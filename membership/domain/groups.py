"""Groups: create, change, delete, move, find by id.

Concurrency: a change inside a group declares the group and every group
above it read (its path rests on them); a deletion or a move writes the
group it detaches and declares read the member and subgroup counts of its
whole subtree (and the ACL registry's version). So whichever of two
overlapping requests commits second conflicts, is retried, and decides
again on what the first one left.
"""

from types import EllipsisType

from ..model import Group, Groups, Root, declare_read, group_at, mark_changed
from ..paths import ADMINS_PATH, GROUPS_PATH, depth, name_problem
from ..permissions import Permission
from .context import Context
from .errors import AlreadyExists, InvalidValue, NotFound, NotPermitted, Refused, Unprocessable
from .events import GroupChanged, GroupCreated, GroupDeleted, GroupMoved
from .members import announce_added, new_membership


def parent_group(container: Groups) -> Group | None:
    """The group a ``groups`` container belongs to; None for the top level."""
    parent = container.__parent__
    return parent if isinstance(parent, Group) else None


def create_group(
    ctx: Context,
    container: Groups,
    name: str,
    *,
    title: str = "",
    description: str = "",
    external_id: str | None = None,
    make_owner: bool = True,
) -> Group:
    """Create a group under ``container``.

    The creator becomes its owner unless they would administer it anyway
    (inheritance), and, below the top level, only if they may manage the
    parent's members: ``create-group`` alone must not let anyone choose who
    is effectively a member of the parent. An OAuth client (``client:<id>``)
    never becomes one: it cannot be a member of anything, and holds on the new
    group what the ACEs above it grant ``client:<id>``, nothing more.
    ``make_owner=False`` (SCIM: the identity provider decides who is in its
    groups) adds nobody.
    """
    problem = name_problem(name)
    if problem:
        raise InvalidValue(f"name: {problem}", subject="name")
    parent = parent_group(container)
    new_depth = 1 if parent is None else depth(parent.path) + 1
    if new_depth > ctx.max_depth:
        raise Unprocessable(
            f"groups nest at most {ctx.max_depth} deep (membership.max_depth); "
            f"this one would be at depth {new_depth}",
            subject="name",
        )
    if name in container:
        raise AlreadyExists(f"group {name!r} already exists at {container.path}", subject="name")
    if parent is not None:
        declare_read(*parent.lineage())
    new = Group(title or name, description)
    if external_id is not None:
        new.external_id = external_id
    group = container.attach(name, new)
    keys = tuple(each.history_key for each in group.lineage())
    ctx.notify(GroupCreated(group.path, after=group.fields(), objects=keys, group=group))
    userid = ctx.actor.userid
    if make_owner and userid is not None and not ctx.actor.may(Permission.EDIT, group):
        if parent is None or ctx.actor.may(Permission.MANAGE_MEMBERS, parent.members):
            membership = new_membership(ctx, group, userid, "owner", None)
            ctx.notify(announce_added(ctx, group, membership))
    return group


def update_group(
    ctx: Context,
    group: Group,
    *,
    title: str | None = None,
    description: str | None = None,
    external_id: "str | EllipsisType | None" = ...,
) -> dict:
    """Set ``title``, ``description`` and/or ``external_id`` (``...``: leave it, None:
    clear it); one ``group.changed`` event if anything changed."""
    before, after = {}, {}
    changes = [("title", title), ("description", description)]
    if external_id is not ...:
        changes.append(("external_id", external_id))
    for attr, value in changes:
        if (value is not None or attr == "external_id") and getattr(group, attr) != value:
            before[attr], after[attr] = getattr(group, attr), value
            setattr(group, attr, value)
    if after:
        group.touch()
        keys = tuple(each.history_key for each in group.lineage())
        ctx.notify(GroupChanged(group.path, before=before, after=after, objects=keys, group=group))
    return before


def delete_group(ctx: Context, group: Group) -> None:
    """Delete a group, its subtree and every membership in it, in one transaction.

    One ``group.deleted`` event with the counts (not one per membership:
    a group may hold a million).
    """
    path = group.path
    if path == ADMINS_PATH:
        raise Refused("/groups/admins cannot be deleted: it is how admins are admins")
    keys = tuple(each.history_key for each in group.lineage())
    mark_changed(group)
    declare_read(ctx.root.acl_version)
    groups, memberships, external_ids = [], [], []
    for each in group.walk():
        declare_read(each.members._count, each.groups._count)
        each_path = each.path
        groups.append((each_path, each.id))
        if each.external_id is not None:
            external_ids.append((each.id, each.external_id))
        memberships.extend((userid, each_path) for userid in each.members.keys())
    fields = group.fields()
    group.__parent__.detach(group.name)
    ctx.notify(
        GroupDeleted(
            path,
            before={**fields, "groups": len(groups), "memberships": len(memberships)},
            objects=keys,
            groups=groups,
            memberships=memberships,
            external_ids=external_ids,
        )
    )


def move_group(ctx: Context, group: Group, to: str) -> Group:
    """Move a group with its members and subgroups under the group at ``to`` (or ``/groups``).

    Needs ``delete`` on the group (the caller's view checks it) and, where it
    lands, ``create-group`` and, below the top level, ``manage-members``: its
    members become effective members of the destination.
    """
    root = ctx.root
    old_path = group.path
    if old_path == ADMINS_PATH:
        raise Refused("/groups/admins cannot be moved: it is how admins are admins")
    destination_group = None if to == GROUPS_PATH else group_at(root, to)
    if to != GROUPS_PATH and destination_group is None:
        raise NotFound(f"no group at {to}", subject="to")
    destination = root.groups if destination_group is None else destination_group.groups
    if not ctx.actor.may(Permission.CREATE_GROUP, destination):
        raise NotPermitted(
            f"not allowed to create groups under {to}",
            subject="to",
            permission=str(Permission.CREATE_GROUP),
        )
    if destination_group is not None:
        if not ctx.actor.may(Permission.MANAGE_MEMBERS, destination_group.members):
            raise NotPermitted(
                f"moving a group under {to} makes its members members of {to}: "
                "that needs manage-members there",
                subject="to",
                permission=str(Permission.MANAGE_MEMBERS),
            )
        lineage = list(destination_group.lineage())
        if any(each is group for each in lineage):
            raise InvalidValue("a group cannot move under itself", subject="to")
        declare_read(*lineage)
    name = group.name
    if name in destination:
        raise AlreadyExists(f"group {name!r} already exists at {to}", subject="to")
    subtree = list(group.walk())
    height = max(depth(each.path) for each in subtree) - depth(old_path) + 1
    landing = 1 if destination_group is None else depth(destination_group.path) + 1
    if landing + height - 1 > ctx.max_depth:
        raise Unprocessable(
            f"groups nest at most {ctx.max_depth} deep (membership.max_depth); "
            f"this move would make a group {landing + height - 1} deep",
            subject="to",
        )
    mark_changed(group)
    declare_read(root.acl_version)
    old_paths = {}
    for each in subtree:
        declare_read(each.members._count, each.groups._count)
        old_paths[each.id] = each.path
    old_keys = tuple(each.history_key for each in group.lineage())
    group.__parent__.detach(name)
    destination.attach(name, group)
    group.touch()
    new_path = group.path
    memberships = [
        (userid, old_paths[each.id], each.path, membership.role, membership.expires_at)
        for each in subtree
        for userid, membership in each.members.memberships()
    ]
    keys = tuple(dict.fromkeys(old_keys + tuple(e.history_key for e in group.lineage())))
    ctx.notify(
        GroupMoved(
            new_path,
            before={"path": old_path},
            after={"path": new_path},
            also=(old_path,),
            objects=keys,
            group=group,
            old_path=old_path,
            new_path=new_path,
            memberships=memberships,
        )
    )
    return group


def group_by_id(root: Root, group_id: str) -> Group | None:
    return root.group_ids.get(group_id) if isinstance(group_id, str) else None
