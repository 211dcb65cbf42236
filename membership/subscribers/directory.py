"""The directory (``model/directory.py``) follows users' userName, externalId and
emails, and groups' titles and externalId, in the transaction that changes them."""

from ..domain.context import Context
from ..domain.events import (
    GroupChanged,
    GroupCreated,
    GroupDeleted,
    UserChanged,
    UserCreated,
    UserDeleted,
    UsersImported,
    subscriber,
)
from ..model.directory import Directory


def _directory(ctx: Context) -> Directory | None:
    return ctx.root.directory


def _values(emails: list[dict] | None) -> list[str]:
    return [each["value"] for each in emails or ()]


@subscriber(UserCreated)
def user_created(ctx: Context, event: UserCreated) -> None:
    directory = _directory(ctx)
    if directory is None:
        return
    user = event.user
    directory.set_user_name(user.id, None, user.login_name)
    directory.set_user_external_id(user.id, None, user.external_id)
    directory.set_user_emails(user.id, [], [value for value, _, _ in user.emails])


@subscriber(UsersImported)
def users_imported(ctx: Context, event: UsersImported) -> None:
    directory = _directory(ctx)
    if directory is None:
        return
    for user in event.users:
        directory.set_user_name(user.id, None, user.login_name)


@subscriber(UserChanged)
def user_changed(ctx: Context, event: UserChanged) -> None:
    directory = _directory(ctx)
    before, after = event.before or {}, event.after or {}
    if directory is None:
        return
    userid = event.user.id
    if "user_name" in after:
        directory.set_user_name(userid, before["user_name"], after["user_name"])
    if "external_id" in after:
        directory.set_user_external_id(userid, before["external_id"], after["external_id"])
    if "emails" in after:
        directory.set_user_emails(userid, _values(before["emails"]), _values(after["emails"]))


@subscriber(UserDeleted)
def user_deleted(ctx: Context, event: UserDeleted) -> None:
    directory = _directory(ctx)
    before = event.before or {}
    if directory is None:
        return
    directory.set_user_name(event.userid, before.get("user_name"), None)
    directory.set_user_external_id(event.userid, before.get("external_id"), None)
    directory.set_user_emails(event.userid, _values(before.get("emails")), [])


@subscriber(GroupCreated)
def group_created(ctx: Context, event: GroupCreated) -> None:
    directory = _directory(ctx)
    if directory is None:
        return
    group = event.group
    directory.set_group_title(group.id, group.title)
    directory.set_group_external_id(group.id, None, group.external_id)


@subscriber(GroupChanged)
def group_changed(ctx: Context, event: GroupChanged) -> None:
    directory = _directory(ctx)
    after = event.after or {}
    if directory is None:
        return
    group = event.group
    if "title" in after:
        directory.set_group_title(group.id, group.title)
    if "external_id" in after:
        directory.set_group_external_id(
            group.id, (event.before or {}).get("external_id"), after["external_id"]
        )


@subscriber(GroupDeleted)
def group_deleted(ctx: Context, event: GroupDeleted) -> None:
    directory = _directory(ctx)
    if directory is None:
        return
    for _, group_id in event.groups:
        directory.set_group_title(group_id, None)
    for group_id, external_id in event.external_ids:
        directory.set_group_external_id(group_id, external_id, None)
