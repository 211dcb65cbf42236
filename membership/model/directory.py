"""Lookups by attribute: who has this userName, externalId or email; which groups
carry this title or externalId.

SCIM clients find users and groups by these attributes (Entra's and Okta's
"does it exist yet?" filters) on every sync, so each is a key range in a
BTree, never a scan. Sets of ``(key, id)`` pairs rather than maps to tuples:
concurrent inserts of different pairs land in different slots of a bucket,
which BTrees merge without a ConflictError; two inserts of the same
``userName`` collide on the one key of ``user_names`` and conflict, so the
uniqueness check cannot be raced.

Kept by ``membership.subscribers.directory`` from the user and group events,
filled for older trees by ``model.evolve`` (generation 5).
"""

from collections.abc import Iterator

from BTrees.OOBTree import OOBTree, OOTreeSet
from persistent import Persistent


def fold(text: str) -> str:
    """The case-insensitive form of a key (SCIM: userName, emails, Group displayName)."""
    return text.casefold()


class Directory(Persistent):
    def __init__(self) -> None:
        #: fold(userName) -> user id: unique.
        self.user_names = OOBTree()
        #: (externalId, user id): externalId is case-exact and not unique.
        self.user_external_ids = OOTreeSet()
        #: (fold(email), user id)
        self.user_emails = OOTreeSet()
        #: (fold(title), group id), and group id -> fold(title) to drop it again.
        self.group_titles = OOTreeSet()
        self.group_title_of = OOBTree()
        #: (externalId, group id)
        self.group_external_ids = OOTreeSet()

    # users

    def user_by_name(self, user_name: str) -> str | None:
        return self.user_names.get(fold(user_name))

    def set_user_name(self, userid: str, old: str | None, new: str | None) -> None:
        if old is not None and self.user_names.get(fold(old)) == userid:
            del self.user_names[fold(old)]
        if new is not None:
            self.user_names[fold(new)] = userid

    def users_by_external_id(self, external_id: str) -> list[str]:
        return _ids(self.user_external_ids, external_id)

    def set_user_external_id(self, userid: str, old: str | None, new: str | None) -> None:
        _swap(self.user_external_ids, userid, old, new)

    def users_by_email(self, email: str) -> list[str]:
        return _ids(self.user_emails, fold(email))

    def set_user_emails(self, userid: str, old: list[str], new: list[str]) -> None:
        for value in old:
            self.user_emails.discard((fold(value), userid))
        for value in new:
            self.user_emails.add((fold(value), userid))

    # groups

    def groups_by_title(self, title: str) -> list[str]:
        return _ids(self.group_titles, fold(title))

    def set_group_title(self, group_id: str, title: str | None) -> None:
        old = self.group_title_of.get(group_id)
        if old is not None:
            self.group_titles.discard((old, group_id))
            del self.group_title_of[group_id]
        if title is not None:
            self.group_titles.add((fold(title), group_id))
            self.group_title_of[group_id] = fold(title)

    def groups_by_external_id(self, external_id: str) -> list[str]:
        return _ids(self.group_external_ids, external_id)

    def set_group_external_id(self, group_id: str, old: str | None, new: str | None) -> None:
        _swap(self.group_external_ids, group_id, old, new)


def _ids(pairs: OOTreeSet, key: str) -> list[str]:
    return [ident for _, ident in _range(pairs, key)]


def _range(pairs: OOTreeSet, key: str) -> Iterator[tuple[str, str]]:
    # every (key, id) pair sorts after (key,) and before (key + "\0",)
    return pairs.keys(min=(key,), max=(key + "\x00",), excludemax=True)


def _swap(pairs: OOTreeSet, ident: str, old: str | None, new: str | None) -> None:
    if old is not None:
        pairs.discard((old, ident))
    if new is not None:
        pairs.add((new, ident))
