"""Users and their personal access tokens."""

import uuid
from datetime import datetime

from BTrees.OOBTree import OOBTree
from pyramid.authorization import Allow

from .. import clock
from ..paths import is_valid_name, user_path, user_principal
from ..permissions import SELF_PERMISSIONS
from .base import ADMIN_ACE, Container, Node


class Users(Container):
    __name__ = "users"


class User(Node):
    admin_first = True
    # Defaults live on the class, so a user made by a bulk import pickles only
    # what it has: a million of them is a million small records.
    password_hash: str | None = None
    display_name: str = ""
    #: The primary email (``emails``' primary entry, or its first): the field of release 0.1.
    email: str | None = None
    #: Unique, case-insensitive login name (SCIM ``userName``); None: the id itself
    #: (every user of release 0.1, and users created without one).
    user_name: str | None = None
    #: False: cannot authenticate and carries no principals; memberships are kept.
    #: None: never set by the identity provider (SCIM removed it): active.
    active: bool | None = True
    #: The identity provider's id for this user (SCIM ``externalId``), case-exact.
    external_id: str | None = None
    given_name: str | None = None
    family_name: str | None = None
    #: Every email as ``(value, type, primary)``; empty: just ``email`` (type ``work``).
    _emails: tuple = ()
    #: The object's own key in the audit log (a new user of a reused id does not
    #: read the old one's history). Users from release 0.1 have none: their
    #: history stays filed under their path (``history_key``).
    uid: str | None = None
    _tokens = None  # an OOBTree, made with the first token
    #: Linked external identities: an OOBTree, made with the first, of
    #: ``n -> (issuer, subject, created)``; ``_identity_seq`` numbers them.
    _identities = None
    _identity_seq: int = 0
    _modified: datetime | None = None
    #: Bumped by deactivation and by a password change (``domain.users.update_user``):
    #: an admin UI session remembers the value it began with and ends when it moves, so
    #: reactivating a user does not bring their old sessions back. On the class, so
    #: records written before it existed read 0 and need no migration.
    session_generation: int = 0

    def __init__(self, password_hash: str | None, display_name: str, email: str | None) -> None:
        self.created = clock.now()
        self.uid = str(uuid.uuid4())
        if password_hash is not None:
            self.password_hash = password_hash
        if display_name:
            self.display_name = display_name
        if email is not None:
            self.email = email

    @property
    def id(self) -> str:
        return self.__name__

    @property
    def modified(self) -> datetime:
        return self._modified or self.created

    @property
    def history_key(self) -> str:
        return self.uid or user_path(self.__name__)

    @property
    def login_name(self) -> str:
        """``userName``: the one set, else the id."""
        return self.user_name or self.__name__

    @property
    def emails(self) -> list[tuple[str, str | None, bool]]:
        """``(value, type, primary)`` of every email; a user with only ``email`` has it
        as the primary ``work`` address."""
        if self._emails:
            return list(self._emails)
        return [] if self.email is None else [(self.email, "work", True)]

    def set_emails(self, emails: list[tuple[str, str | None, bool]]) -> None:
        """Store ``emails`` and make ``email`` their primary (or first) value."""
        self._emails = tuple((value, kind, bool(primary)) for value, kind, primary in emails)
        primary = [value for value, _, is_primary in self._emails if is_primary]
        self.email = (primary or [value for value, _, _ in self._emails] or [None])[0]

    def builtin_acl(self) -> list:
        return [ADMIN_ACE, (Allow, user_principal(self.__name__), SELF_PERMISSIONS)]

    def __getitem__(self, name: str):
        if name == "tokens":
            return self.tokens
        if name == "identities":
            return self.identities
        raise KeyError(name)

    @property
    def tokens(self) -> "Tokens":
        return Tokens(self)

    @property
    def identities(self) -> "Identities":
        return Identities(self)

    def touch(self) -> None:
        self._modified = clock.now()

    def fields(self) -> dict:
        """What the audit log shows of a user: only whether a password is set."""
        return {
            "display_name": self.display_name,
            "email": self.email,
            "password": self.password_hash,  # the audit record redacts it
            "user_name": self.login_name,
            "active": self.active,
            "external_id": self.external_id,
            "given_name": self.given_name,
            "family_name": self.family_name,
            "emails": email_dicts(self.emails),
        }

    def token_records(self) -> OOBTree:
        if self._tokens is None:
            self._tokens = OOBTree()
        return self._tokens

    def identity_records(self) -> OOBTree:
        if self._identities is None:
            self._identities = OOBTree()
        return self._identities


class Tokens:
    """Transient view of a user's tokens: most users never have one, so no object for them."""

    __name__ = "tokens"

    def __init__(self, user: User) -> None:
        self.__parent__ = user
        self.user = user

    def __getitem__(self, token_id: str) -> "Token":
        if self.user._tokens is None or not is_valid_name(token_id):
            raise KeyError(token_id)
        return self.user._tokens[token_id]

    def values(self) -> list["Token"]:
        if self.user._tokens is None:
            return []
        return list(self.user._tokens.values())

    def builtin_acl(self) -> list:
        return []

    @property
    def __acl__(self) -> list:
        return []


class Token(Node):
    """A personal access token's record: only the SHA-256 of the secret is kept."""

    #: The user it belongs to (a persistent reference; ``model.evolve`` sets it on
    #: tokens written by release 0.1).
    user: User | None = None
    #: What the token may be used for (``membership.scopes``); None: everything its
    #: user may do (every token of release 0.1, and tokens made without scopes).
    scopes: tuple[str, ...] | None = None

    def __init__(
        self,
        user: User,
        digest: str,
        name: str,
        expires_at: datetime | None,
        scopes: tuple[str, ...] | None = None,
    ) -> None:
        self.user = user
        self.digest = digest
        self.name = name
        self.created = clock.now()
        self.expires_at = expires_at
        if scopes is not None:
            self.scopes = tuple(scopes)

    @property
    def __parent__(self) -> Tokens | None:
        return None if self.user is None else Tokens(self.user)

    @property
    def id(self) -> str:
        return self.__name__

    def is_expired(self, when: datetime | None = None) -> bool:
        return self.expires_at is not None and (when or clock.now()) >= self.expires_at

    def fields(self) -> dict:
        """What the audit log shows of a token: never the secret or its digest."""
        fields = {"name": self.name, "expires_at": self.expires_at}
        if self.scopes is not None:
            fields["scopes"] = list(self.scopes)
        return fields


class Identities:
    """Transient view of a user's linked identities (``/users/<id>/identities``)."""

    __name__ = "identities"

    def __init__(self, user: User) -> None:
        self.__parent__ = user
        self.user = user

    def __getitem__(self, name: str) -> "LinkedIdentity":
        records = self.user._identities
        if records is None or not is_valid_name(name) or name not in records:
            raise KeyError(name)
        return LinkedIdentity(self, name, *records[name])

    def values(self) -> list["LinkedIdentity"]:
        records = self.user._identities
        if records is None:
            return []
        items = sorted(records.items(), key=lambda item: int(item[0]))
        return [LinkedIdentity(self, name, *record) for name, record in items]

    @property
    def __acl__(self) -> list:
        return []


class LinkedIdentity:
    """An identity provider's ``(issuer, subject)`` that names this user: transient,
    built from the user's record (a tuple), so the user's record is all there is."""

    __acl__: list = []

    def __init__(
        self, parent: Identities, name: str, issuer: str, subject: str, created: datetime
    ) -> None:
        self.__parent__ = parent
        self.__name__ = name
        self.issuer = issuer
        self.subject = subject
        self.created = created

    @property
    def id(self) -> str:
        return self.__name__

    @property
    def user(self) -> User:
        return self.__parent__.user

    def fields(self) -> dict:
        return {"issuer": self.issuer, "subject": self.subject}


def email_dicts(emails: list[tuple[str, str | None, bool]]) -> list[dict]:
    """``emails`` as JSON objects (audit records, the change feed, the API)."""
    return [{"value": value, "type": kind, "primary": primary} for value, kind, primary in emails]
