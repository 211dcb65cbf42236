"""Users: create, change, delete, and the bulk creation an import needs."""

from collections.abc import Iterable
from types import EllipsisType

from ..model import User, declare_read, group_at, mark_changed
from ..paths import name_problem
from ..permissions import Permission
from .context import Context
from .errors import AlreadyExists, InvalidValue, NotPermitted, Refused
from .events import UserChanged, UserCreated, UserDeleted, UsersImported
from .queries import is_last_admin
from .tokens import revoke_all


def create_user(
    ctx: Context,
    userid: str,
    *,
    password: str | None = None,
    display_name: str = "",
    email: str | None = None,
) -> User:
    problem = name_problem(userid)
    if problem:
        raise InvalidValue(f"id: {problem}", subject="id")
    users = ctx.root.users
    if userid in users:
        raise AlreadyExists(f"user {userid!r} already exists", subject="id")
    password_hash = ctx.hash_password(password) if password else None
    user = users.attach(userid, User(password_hash, display_name, email))
    ctx.notify(UserCreated(user.path, after=user.fields(), objects=(user.history_key,), user=user))
    return user


def update_user(
    ctx: Context,
    user: User,
    *,
    display_name: str | None = None,
    email: "str | EllipsisType | None" = ...,
    password: str | None = None,
    current_password: str | None = None,
    revoke_tokens: bool = False,
) -> dict:
    """Change a user; the changed fields' old values (``{}``: nothing changed, no event).

    Changing your own password takes the current one, unless you are an
    admin: a stolen session or token alone cannot lock the owner out.
    ``revoke_tokens`` revokes every token of the user in the same change.
    """
    changes: dict = {}
    if display_name is not None:
        changes["display_name"] = display_name
    if email is not ...:
        changes["email"] = email
    if password is not None:
        if ctx.actor.userid == user.id and not ctx.actor.is_admin:
            if current_password is None:
                raise InvalidValue(
                    "current_password: needed to change your own password",
                    subject="current_password",
                )
            if ctx.credentials is None or not ctx.credentials.verify(
                user.password_hash, current_password
            ):
                raise NotPermitted(
                    "current_password: not your current password",
                    subject="current_password",
                    permission=str(Permission.EDIT),
                )
        changes["password_hash"] = ctx.hash_password(password)
    before, after = {}, {}
    for attr, value in changes.items():
        old = getattr(user, attr)
        if old != value:
            name = "password" if attr == "password_hash" else attr
            before[name], after[name] = old, value
            setattr(user, attr, value)
    if after:
        user.touch()
        ctx.notify(
            UserChanged(
                user.path, before=before, after=after, objects=(user.history_key,), user=user
            )
        )
    if revoke_tokens:
        revoke_all(ctx, user)
    return before


def delete_user(ctx: Context, user: User) -> None:
    """Delete a user with every membership, token and ACE naming them.

    Writes the user record, which every membership, token and ACE change
    about this user declares it read: a concurrent one conflicts and is
    retried (then finds no user) instead of leaving a dangling reference.
    """
    root = ctx.root
    userid = user.id
    paths = root.index.paths(userid)
    if is_last_admin(root, userid):
        raise Refused("the last member of /groups/admins cannot be deleted")
    mark_changed(user)
    declare_read(root.acl_version)
    keys = [user.history_key]
    for path in paths:
        group = group_at(root, path)
        if group is not None and userid in group.members._items:
            group.members.remove(userid)
            keys.extend(each.history_key for each in group.lineage())
    tokens = user.tokens.values()
    root.users.detach(userid)
    ctx.notify(
        UserDeleted(
            user.path,
            before={**user.fields(), "groups": paths, "tokens": len(tokens)},
            also=tuple(paths),
            objects=tuple(dict.fromkeys(keys)),
            userid=userid,
            groups=paths,
            tokens=tokens,
        )
    )


def create_missing_users(ctx: Context, userids: Iterable[str]) -> int:
    """Bulk path for imports: create the users that do not exist yet, without passwords.

    One ``users.imported`` event with the count, not one per user: an
    import of a million members would otherwise write a million more events.
    """
    users = ctx.root.users
    created = []
    for userid in userids:
        if userid not in users._items:
            problem = name_problem(userid)
            if problem:
                raise InvalidValue(f"{userid!r}: {problem}", subject="user")
            created.append(users.attach(userid, User(None, "", None)))
    if created:
        ctx.notify(UsersImported(users.path, after={"created": len(created)}, users=created))
    return len(created)
