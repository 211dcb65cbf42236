"""Linked identities: an identity provider's ``(issuer, subject)`` that names a user.

A JWT bearer token says who it is with ``iss`` and ``sub``; linking that pair
to a user (``/users/<id>/identities``) makes the token act as the user. The
root's ``identity_index`` finds the user in one lookup; the user's own record
is the truth, so an index entry left behind by a deleted user (or an unlinked
identity) names nobody.
"""

from dataclasses import dataclass
from typing import ClassVar

from BTrees.OOBTree import OOBTree

from .. import clock
from ..model import LinkedIdentity, Root, User, mark_changed
from ..paths import identity_path
from .context import Context
from .errors import AlreadyExists
from .events import DomainEvent


@dataclass
class IdentityLinked(DomainEvent):
    action: ClassVar[str] = "identity.linked"
    user: User


@dataclass
class IdentityUnlinked(DomainEvent):
    action: ClassVar[str] = "identity.unlinked"
    user: User


def linked_user(root: Root, issuer: str, subject: str) -> User | None:
    """The user ``(issuer, subject)`` is linked to, or None (two BTree lookups)."""
    index = root.identity_index
    found = None if index is None else index.get((issuer, subject))
    if found is None:
        return None
    userid, number = found
    user = root.users.get(userid)
    records = None if user is None else user._identities
    record = None if records is None else records.get(number)
    if record is None or record[0] != issuer or record[1] != subject:
        return None  # the user, or this link of theirs, is gone
    return user


def link_identity(ctx: Context, user: User, issuer: str, subject: str) -> LinkedIdentity:
    """Link ``(issuer, subject)`` to ``user``; a pair names one user at most.

    Writes the user record and the index entry, so a concurrent deletion of the
    user, or a concurrent link of the same pair, conflicts.
    """
    root = ctx.root
    owner = linked_user(root, issuer, subject)
    if owner is not None:
        raise AlreadyExists(
            f"this identity ({issuer}, {subject}) is already linked to user {owner.id!r}",
            subject="subject",
        )
    user._identity_seq += 1
    number = str(user._identity_seq)
    user.identity_records()[number] = (issuer, subject, clock.now())
    mark_changed(user)
    if root.identity_index is None:  # a tree from before linked identities
        root.identity_index = OOBTree()
    root.identity_index[(issuer, subject)] = (user.id, number)
    identity = user.identities[number]
    ctx.notify(
        IdentityLinked(
            identity_path(user.id, number),
            after=identity.fields(),
            objects=(user.history_key,),
            user=user,
        )
    )
    return identity


def unlink_identity(ctx: Context, user: User, number: str) -> None:
    identity = user.identities[number]
    del user.identity_records()[number]
    mark_changed(user)
    index = ctx.root.identity_index
    key = (identity.issuer, identity.subject)
    if index is not None and index.get(key) == (user.id, number):
        del index[key]
    ctx.notify(
        IdentityUnlinked(
            identity_path(user.id, number),
            before=identity.fields(),
            objects=(user.history_key,),
            user=user,
        )
    )
