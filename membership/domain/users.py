"""Users: create, change, delete, and the bulk creation an import needs."""

import uuid
from collections.abc import Iterable
from types import EllipsisType

from ..model import Root, User, declare_read, group_at, mark_changed
from ..model.users import email_dicts
from ..paths import name_problem, numbered_name, slugify
from ..permissions import Permission
from .context import Context
from .errors import AlreadyExists, InvalidValue, NotPermitted, Refused
from .events import UserChanged, UserCreated, UserDeleted, UsersImported
from .queries import is_last_admin
from .tokens import revoke_all

Email = tuple[str, str | None, bool]  # (value, type, primary)


def create_user(
    ctx: Context,
    userid: str,
    *,
    password: str | None = None,
    display_name: str = "",
    email: str | None = None,
    user_name: str | None = None,
    active: bool = True,
    external_id: str | None = None,
    given_name: str | None = None,
    family_name: str | None = None,
    emails: list[Email] | None = None,
) -> User:
    """Create a user. ``user_name`` (SCIM ``userName``, default: the id) is unique
    whatever its case; ``emails`` given, ``email`` is their primary value."""
    problem = name_problem(userid)
    if problem:
        raise InvalidValue(f"id: {problem}", subject="id")
    users = ctx.root.users
    if userid in users:
        raise AlreadyExists(f"user {userid!r} already exists", subject="id")
    _check_user_name(ctx, None, user_name if user_name is not None else userid)
    if not active:
        _require_provision(ctx)
    password_hash = ctx.hash_password(password) if password else None
    user = User(password_hash, display_name, email)
    if user_name is not None and user_name != userid:
        user.user_name = user_name
    if not active:
        user.active = False
    for attr, value in (
        ("external_id", external_id),
        ("given_name", given_name),
        ("family_name", family_name),
    ):
        if value is not None:
            setattr(user, attr, value)
    if emails is not None:
        user.set_emails(_checked_emails(emails))
    user = users.attach(userid, user)
    ctx.notify(UserCreated(user.path, after=user.fields(), objects=(user.history_key,), user=user))
    return user


def new_user_id(root: Root, user_name: str, mode: str = "slug") -> str:
    """The id of a user to create from ``user_name`` (``membership.scim.user_ids``):
    ``uuid``: a random UUID; ``slug``: the userName as a name, ``-2``, ``-3``... when taken."""
    if mode == "uuid":
        return str(uuid.uuid4())
    base = slugify(user_name, fallback="user")
    candidate, number = base, 1
    while candidate in root.users:
        number += 1
        candidate = numbered_name(base, number)
    return candidate


def user_by_name(root: Root, user_name: str) -> User | None:
    """The user whose ``userName`` is ``user_name`` in any case (O(log n))."""
    if root.directory is None:
        return None
    userid = root.directory.user_by_name(user_name)
    return None if userid is None else root.users.get(userid)


def users_by_external_id(root: Root, external_id: str) -> list[User]:
    if root.directory is None:
        return []
    found = (root.users.get(u) for u in root.directory.users_by_external_id(external_id))
    return [user for user in found if user is not None]


def users_by_email(root: Root, email: str) -> list[User]:
    """Users with ``email`` among their emails, in any case."""
    if root.directory is None:
        return []
    found = (root.users.get(u) for u in root.directory.users_by_email(email))
    return [user for user in found if user is not None]


def set_active(ctx: Context, user: User, active: bool) -> dict:
    """Activate or deactivate a user: an inactive one cannot authenticate (Basic,
    tokens, JWTs, the UI session) and carries no principals, but keeps every
    membership, so reactivating restores them. Needs ``provision`` or admin."""
    return update_user(ctx, user, active=active)


def _require_provision(ctx: Context) -> None:
    if not (ctx.actor.is_admin or ctx.actor.may(Permission.PROVISION, ctx.root)):
        raise NotPermitted(
            "active: only admins and provisioning users may activate or deactivate users",
            subject="active",
            permission=str(Permission.PROVISION),
        )


def _check_user_name(ctx: Context, user: User | None, user_name: str) -> None:
    if not isinstance(user_name, str) or not user_name.strip() or len(user_name) > 256:
        raise InvalidValue("user_name: 1 to 256 characters, not only spaces", subject="user_name")
    directory = ctx.root.directory
    holder = None if directory is None else directory.user_by_name(user_name)
    if holder is not None and (user is None or holder != user.id):
        raise AlreadyExists(
            f"user_name: {user_name!r} is taken (user names are unique whatever their case)",
            subject="user_name",
        )


def _checked_emails(emails: list[Email]) -> list[Email]:
    checked = []
    for position, (value, kind, primary) in enumerate(emails):
        if not isinstance(value, str) or "@" not in value or len(value) > 254:
            raise InvalidValue(
                f"emails.{position}.value: not an email address", subject=f"emails.{position}"
            )
        checked.append((value, kind, bool(primary)))
    if sum(1 for _, _, primary in checked if primary) > 1:
        raise InvalidValue("emails: at most one may be primary", subject="emails")
    return checked


def update_user(
    ctx: Context,
    user: User,
    *,
    display_name: str | None = None,
    email: "str | EllipsisType | None" = ...,
    password: str | None = None,
    current_password: str | None = None,
    revoke_tokens: bool = False,
    user_name: "str | EllipsisType | None" = ...,
    active: "bool | EllipsisType | None" = ...,
    external_id: "str | EllipsisType | None" = ...,
    given_name: "str | EllipsisType | None" = ...,
    family_name: "str | EllipsisType | None" = ...,
    emails: "list[Email] | EllipsisType" = ...,
) -> dict:
    """Change a user; the changed fields' old values (``{}``: nothing changed, no event).

    ``...`` leaves a field as it is, None clears it (``user_name=None``: back to
    the id; ``active=None``: unset, which counts as active). ``email`` changes
    the primary entry of ``emails``; ``emails``
    replaces them all (and ``email`` becomes their primary value).

    Changing your own password takes the current one, unless you are an
    admin: a stolen session or token alone cannot lock the owner out.
    ``revoke_tokens`` revokes every token of the user in the same change.
    """
    changes: dict = {}
    if display_name is not None:
        changes["display_name"] = display_name
    new_emails = ...
    if emails is not ...:
        new_emails = _checked_emails(emails)
    elif email is not ...:
        rest = [entry for entry in user.emails if entry[0] != user.email]
        new_emails = ([] if email is None else [(email, "work", True)]) + [
            (value, kind, False) for value, kind, _ in rest
        ]
    if user_name is not ...:
        wanted = user.id if user_name is None else user_name
        if wanted != user.login_name:
            _check_user_name(ctx, user, wanted)
            changes["user_name"] = None if wanted == user.id else wanted
    if active is not ... and active != user.active:
        _require_provision(ctx)
        if active is False and is_last_admin(ctx.root, user.id):
            raise Refused("active: the last admin cannot be deactivated", subject="active")
        changes["active"] = active
    for attr, value in (
        ("external_id", external_id),
        ("given_name", given_name),
        ("family_name", family_name),
    ):
        if value is not ...:
            changes[attr] = value
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
    if "user_name" in after:  # events show the userName in effect, never None
        before["user_name"] = before["user_name"] or user.id
        after["user_name"] = user.login_name
    if new_emails is not ... and new_emails != user.emails:
        old_emails, old_email = user.emails, user.email
        user.set_emails(new_emails)
        before["emails"], after["emails"] = email_dicts(old_emails), email_dicts(user.emails)
        if user.email != old_email:
            before["email"], after["email"] = old_email, user.email
    if after.get("active") is False or "password" in after:
        # Every admin UI session of the user ends, and stays ended after a reactivation.
        user.session_generation += 1
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
    # what it read: the user's index entries (a membership added meanwhile conflicts;
    # an add also declares the user, which this writes) and the ACL registry
    declare_read(root.acl_version, *root.index.holders(userid))
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
