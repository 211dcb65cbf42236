"""Groups at any depth, and their direct memberships."""

import uuid
from bisect import bisect_right
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

from BTrees.Length import Length
from BTrees.OOBTree import OOTreeSet
from pyramid.authorization import Allow

from .. import clock
from ..paging import KEY_CEILING, prefix_range
from ..paths import group_principal
from ..permissions import ROLE_PERMISSIONS
from .base import ADMIN_ACE, Container, Node


class Groups(Container):
    """Top-level groups under the root, or the subgroups of a group."""

    __name__ = "groups"


class Group(Node):
    """A group's own record: id, title, description, times. Membership changes never
    write it (they live in ``members``), so concurrent adds to one group do not collide."""

    #: Immutable, kept across moves (``model.evolve`` gives groups of release 0.1 one).
    id: str | None = None
    #: For groups that existed before the audit log was keyed by object:
    #: ``(path then, id of the first event after)``, see ``subscribers.audit``.
    legacy_history: tuple[str, int] | None = None
    #: The identity provider's id for this group (SCIM ``externalId``), case-exact.
    external_id: str | None = None

    def __init__(self, title: str, description: str) -> None:
        now = clock.now()
        self.id = str(uuid.uuid4())
        self.title = title
        self.description = description
        self.created = now
        self.modified = now
        self.members = Members()
        self.members.__name__ = "members"
        self.members.__parent__ = self
        self.groups = Groups()
        self.groups.__name__ = "groups"
        self.groups.__parent__ = self

    @property
    def name(self) -> str:
        return self.__name__

    @property
    def history_key(self) -> str:
        return self.id

    def builtin_acl(self) -> list:
        path = self.path
        aces = [ADMIN_ACE, (Allow, group_principal(path), ROLE_PERMISSIONS["member"])]
        for role in ("manager", "owner"):
            aces.append((Allow, group_principal(path, role), ROLE_PERMISSIONS[role]))
        return aces

    def __getitem__(self, name: str):
        if name == "members":
            return self.members
        if name == "groups":
            return self.groups
        raise KeyError(name)

    def walk(self) -> Iterator["Group"]:
        """This group and every group below it, depth first, without recursion."""
        stack = [self]
        while stack:
            group = stack.pop()
            yield group
            stack.extend(reversed(list(group.groups._items.values())))

    def lineage(self) -> Iterator["Group"]:
        """This group and every group above it, nearest first."""
        node = self
        while isinstance(node, Group):
            yield node
            node = node.__parent__.__parent__

    def touch(self) -> None:
        self.modified = clock.now()

    def fields(self) -> dict:
        fields = {"title": self.title, "description": self.description}
        if self.external_id is not None:
            fields["external_id"] = self.external_id
        return fields


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def expiry_key(when: datetime) -> int:
    """An instant as whole microseconds since the epoch: exact, so it orders and
    compares like the datetimes ``Membership.is_expired`` compares."""
    return (when - _EPOCH) // _MICROSECOND


class Members(Container):
    """Direct memberships of one group, with a (role, userid) set for ``?role=`` pages.

    Memberships that have an expiry are also counted (``expiring``) and kept in
    expiry order (``by_expiry``: ``(expiry_key, userid)``), so how many have
    expired by now costs O(1) for a group without any and O(log n + expired)
    otherwise. Trees written before these existed have ``None``: the first
    write builds them, reads compute the same from the memberships until then.
    """

    expiring: Length | None = None
    by_expiry: OOTreeSet | None = None

    def __init__(self) -> None:
        super().__init__()
        self.by_role = OOTreeSet()
        self.expiring = Length()
        self.by_expiry = OOTreeSet()

    @property
    def group(self) -> Group:
        return self.__parent__

    def user_ids(
        self, *, role: str | None = None, prefix: str = "", after: str | None = None
    ) -> Iterator[str]:
        """Member ids in order, from just after ``after``: O(log n) to start, O(1) each."""
        low, high, exclude = prefix_range(prefix, after)
        if role is None:
            return self._items.keys(min=low, max=high, excludemin=exclude)
        pairs = self.by_role.keys(
            min=(role, low or ""), max=(role, high or KEY_CEILING), excludemin=exclude
        )
        return (userid for _, userid in pairs)

    def add(self, userid: str, membership: "Membership") -> "Membership":
        self._ensure_expiry_index()
        self.attach(userid, membership)
        self.by_role.add((membership.role, userid))
        self._track_expiry(membership, userid)
        return membership

    def set_role(self, membership: "Membership", role: str) -> None:
        self.by_role.remove((membership.role, membership.user))
        self.by_role.add((role, membership.user))
        membership.role = role

    def set_expiry(self, membership: "Membership", expires_at: datetime | None) -> None:
        """Change a membership's expiry (``None``: never), keeping the expiry index."""
        if expires_at == membership.expires_at:
            return
        self._ensure_expiry_index()
        self._untrack_expiry(membership, membership.user)
        membership.expires_at = expires_at
        self._track_expiry(membership, membership.user)

    def remove(self, userid: str) -> "Membership":
        self._ensure_expiry_index()
        membership = self.detach(userid)
        self.by_role.remove((membership.role, userid))
        self._untrack_expiry(membership, userid)
        return membership

    def expired_count(self, now: datetime) -> int:
        """How many memberships have expired at ``now`` (and are not purged yet)."""
        limit = expiry_key(now)
        if self.by_expiry is None:  # a tree from before the index: computed, not stored
            stamps = getattr(self, "_v_expiry_keys", None)
            if stamps is None:
                stamps = sorted(
                    expiry_key(m.expires_at)
                    for m in self._items.values()
                    if m.expires_at is not None
                )
                self._v_expiry_keys = stamps
            return bisect_right(stamps, limit)
        if not self.expiring():
            return 0
        return sum(1 for _ in self.by_expiry.keys(max=(limit, KEY_CEILING)))

    def _ensure_expiry_index(self) -> None:
        if self.by_expiry is not None:
            return
        self.expiring = Length()
        self.by_expiry = OOTreeSet()
        for userid, membership in self._items.items():
            self._track_expiry(membership, userid)

    def _track_expiry(self, membership: "Membership", userid: str) -> None:
        if membership.expires_at is not None:
            self.by_expiry.add((expiry_key(membership.expires_at), userid))
            self.expiring.change(1)

    def _untrack_expiry(self, membership: "Membership", userid: str) -> None:
        if membership.expires_at is not None:
            self.by_expiry.remove((expiry_key(membership.expires_at), userid))
            self.expiring.change(-1)

    def __getitem__(self, name: str) -> "Membership | NonMember":
        """A direct membership, or a transient stand-in for a user who holds none here.

        The stand-in lets ``GET .../members/<user>?effective=true`` answer for
        members through a subgroup; every other request on it is a 404.
        """
        try:
            return super().__getitem__(name)
        except KeyError:
            if not Container.is_lookup_name(name):
                raise
            return NonMember(name, self)


class Membership(Node):
    expires_at: datetime | None = None
    #: Where the membership came from when not the REST API (``"import"``, ``"scim"``).
    source: str | None = None
    _modified: datetime | None = None

    def __init__(self, role: str, added_by: str | None, expires_at: datetime | None) -> None:
        self.role = role
        self.added_by = added_by
        self.added_at = clock.now()
        if expires_at is not None:
            self.expires_at = expires_at

    @property
    def modified(self) -> datetime:
        return self._modified or self.added_at

    @property
    def user(self) -> str:
        return self.__name__

    def is_expired(self, when: datetime | None = None) -> bool:
        return self.expires_at is not None and (when or clock.now()) >= self.expires_at

    def fields(self) -> dict:
        return {"role": self.role, "expires_at": self.expires_at}


class NonMember:
    """A user id under a group's members that is not a direct member (never stored)."""

    def __init__(self, userid: str, members: Members) -> None:
        self.__name__ = userid
        self.__parent__ = members

    @property
    def user(self) -> str:
        return self.__name__
