"""Groups at any depth, and their direct memberships."""

import sys
import uuid
from bisect import bisect_right
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

from BTrees.Length import Length
from BTrees.OOBTree import OOTreeSet
from pyramid.authorization import Allow

from .. import clock
from ..paging import KEY_CEILING, prefix_range
from ..paths import group_principal, is_valid_name
from ..permissions import ROLE_PERMISSIONS
from .base import ADMIN_ACE, Container, Node


class Groups(Container):
    """Top-level groups under the root, or the subgroups of a group."""

    __name__ = "groups"


class Group(Node):
    """A group's own record: id, title, description, times. Membership changes never
    write it (they live in ``members``), so concurrent adds to one group do not collide."""

    admin_first = True

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


#: The role most memberships have: not kept in ``Members.by_role`` (see there).
DEFAULT_ROLE = "member"


def _stamp(when: datetime | None) -> int | None:
    return None if when is None else expiry_key(when)


def _instant(stamp: int | None) -> datetime | None:
    return None if stamp is None else _EPOCH + timedelta(microseconds=stamp)


class Members(Container):
    """Direct memberships of one group, as small values in one BTree.

    A membership is stored as a tuple ``(role, added_by, added_at, expires_at,
    source, modified)`` (instants as microseconds since 1970, trailing
    ``None`` s dropped), not as a persistent object of its own: an add writes
    one bucket instead of a bucket and an object, and a page of 100 loads a
    few buckets instead of 100 objects. Reading builds a transient
    ``Membership`` (``membership``, ``memberships``, traversal). Trees written
    before 0.2 hold persistent ``Membership`` objects: both forms are read,
    and a write converts the membership it touches (no start-up conversion,
    which would take minutes for a million-member group).

    ``by_role`` holds ``(role, userid)`` for the roles other than ``member``
    (managers and owners are few; a ``?role=member`` page walks the members
    and skips the others), so adding a plain member does not write it. Trees
    from before this change also hold ``("member", userid)`` pairs; they are
    never read and go when their membership changes.

    Memberships that have an expiry are also counted (``expiring``, touched
    by every expiry change, so a decision can declare it read) and kept in
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

    # -- reading ---------------------------------------------------------------

    def _view(self, userid: str, value) -> "Membership":
        if type(value) is tuple:
            return Membership.from_value(userid, self, value)
        return Membership.from_legacy(userid, self, value)

    def membership(self, userid: str) -> "Membership | None":
        """The direct membership of ``userid``, or None."""
        value = self._items.get(userid)
        return None if value is None else self._view(userid, value)

    def get(self, name: str, default=None):
        value = self._items.get(name) if is_valid_name(name) else None
        return default if value is None else self._view(name, value)

    def memberships(self, **range_) -> Iterator[tuple[str, "Membership"]]:
        """``(userid, membership)`` in id order over a key range of the tree."""
        view = self._view
        for userid, value in self._items.items(**range_):
            yield userid, view(userid, value)

    def user_ids(
        self, *, role: str | None = None, prefix: str = "", after: str | None = None
    ) -> Iterator[str]:
        """Member ids in order, from just after ``after``: O(log n) to start, O(1) each
        (for ``member``, O(1) per member plus the managers and owners skipped)."""
        low, high, exclude = prefix_range(prefix, after)
        if role is None:
            return self._items.keys(min=low, max=high, excludemin=exclude)
        if role == DEFAULT_ROLE:
            items = self._items.items(min=low, max=high, excludemin=exclude)
            return (userid for userid, value in items if _role_of(value) == role)
        pairs = self.by_role.keys(
            min=(role, low or ""), max=(role, high or KEY_CEILING), excludemin=exclude
        )
        return (userid for _, userid in pairs)

    def role_pairs(self) -> set[tuple[str, str]]:
        """What ``by_role`` should hold, computed from the memberships (for checks)."""
        return {
            (_role_of(value), userid)
            for userid, value in self._items.items()
            if _role_of(value) != DEFAULT_ROLE
        }

    def __getitem__(self, name: str) -> "Membership | NonMember":
        """A direct membership, or a transient stand-in for a user who holds none here.

        The stand-in lets ``GET .../members/<user>?effective=true`` answer for
        members through a subgroup; every other request on it is a 404.
        """
        if not Container.is_lookup_name(name):
            raise KeyError(name)
        value = self._items.get(name)
        if value is None:
            return NonMember(name, self)
        return self._view(name, value)

    # -- writing ---------------------------------------------------------------

    def add(self, userid: str, membership: "Membership") -> "Membership":
        if userid in self._items:
            raise KeyError(f"{userid!r} is taken")
        self._ensure_expiry_index()
        membership.__name__ = userid
        membership.__parent__ = self
        self._items[userid] = membership.value()
        self._count.change(1)
        self._index_role(membership.role, userid)
        self._track_expiry(membership, userid)
        return membership

    def set_role(self, membership: "Membership", role: str) -> None:
        userid = membership.user
        self._unindex_role(membership.role, userid)
        self._index_role(role, userid)
        membership.role = role
        self._store(membership)

    def set_expiry(self, membership: "Membership", expires_at: datetime | None) -> None:
        """Change a membership's expiry (``None``: never), keeping the expiry index."""
        if expires_at == membership.expires_at:
            return
        self._ensure_expiry_index()
        self._untrack_expiry(membership, membership.user)
        membership.expires_at = expires_at
        self._track_expiry(membership, membership.user)
        self.expiring.change(0)  # written even when the count stays: see the class docstring
        self._store(membership)

    def touch(self, membership: "Membership", when: datetime) -> None:
        """Record that ``membership`` changed at ``when``."""
        membership._modified = when
        self._store(membership)

    def remove(self, userid: str) -> "Membership":
        self._ensure_expiry_index()
        membership = self._view(userid, self._items.pop(userid))
        self._count.change(-1)
        self._unindex_role(membership.role, userid)
        self._untrack_expiry(membership, userid)
        return membership

    def _store(self, membership: "Membership") -> None:
        self._items[membership.user] = membership.value()

    def _index_role(self, role: str, userid: str) -> None:
        if role != DEFAULT_ROLE:
            self.by_role.add((role, userid))

    def _unindex_role(self, role: str, userid: str) -> None:
        # a pre-0.2 tree also holds ("member", userid): dropped here, never read
        if role != DEFAULT_ROLE or (role, userid) in self.by_role:
            self.by_role.remove((role, userid))

    def expired_count(self, now: datetime) -> int:
        """How many memberships have expired at ``now`` (and are not purged yet)."""
        limit = expiry_key(now)
        if self.by_expiry is None:  # a tree from before the index: computed, not stored
            stamps = getattr(self, "_v_expiry_keys", None)
            if stamps is None:
                stamps = sorted(
                    expiry_key(m.expires_at)
                    for _, m in self.memberships()
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
        for userid, membership in self.memberships():
            self._track_expiry(membership, userid)

    def _track_expiry(self, membership: "Membership", userid: str) -> None:
        if membership.expires_at is not None:
            self.by_expiry.add((expiry_key(membership.expires_at), userid))
            self.expiring.change(1)

    def _untrack_expiry(self, membership: "Membership", userid: str) -> None:
        if membership.expires_at is not None:
            self.by_expiry.remove((expiry_key(membership.expires_at), userid))
            self.expiring.change(-1)


def _role_of(value) -> str:
    return value[0] if type(value) is tuple else value.role


class Membership(Node):
    """A direct membership: who, which role, since when, until when, added by whom.

    What traversal and the domain hand out is a transient instance built
    from the value ``Members`` stores (``from_value``); changing one goes
    through ``Members`` (``set_role``, ``set_expiry``, ``touch``), which
    stores the new value. Persistent instances exist only in trees written
    before 0.2 (``from_legacy`` reads them).
    """

    expires_at: datetime | None = None
    #: Where the membership came from when not the REST API (``"import"``, ``"scim"``).
    source: str | None = None
    _modified: datetime | None = None

    def __init__(
        self,
        role: str,
        added_by: str | None,
        expires_at: datetime | None,
        source: str | None = None,
    ) -> None:
        self.role = role
        self.added_by = added_by
        self.added_at = clock.now()
        if expires_at is not None:
            self.expires_at = expires_at
        if source is not None:
            self.source = source

    @classmethod
    def from_value(cls, userid: str, members: Members, value: tuple) -> "Membership":
        """The membership ``value`` (see ``Members``) describes, never stored itself."""
        view = cls.__new__(cls)
        state = view.__dict__
        state["__name__"] = userid
        state["__parent__"] = members
        state["role"] = value[0]
        state["added_by"] = value[1]
        state["added_at"] = _instant(value[2])
        size = len(value)
        if size > 3 and value[3] is not None:
            state["expires_at"] = _instant(value[3])
        if size > 4 and value[4] is not None:
            state["source"] = value[4]
        if size > 5 and value[5] is not None:
            state["_modified"] = _instant(value[5])
        return view

    @classmethod
    def from_legacy(cls, userid: str, members: Members, stored: "Membership") -> "Membership":
        """A transient copy of a persistent membership of a pre-0.2 tree."""
        return cls.from_value(userid, members, stored.value())

    def value(self) -> tuple:
        """What ``Members`` stores for this membership: small, immutable, no object of its own."""
        added_by = self.added_by
        value = (
            sys.intern(self.role),  # shared by identity: a bucket's pickle holds each once
            added_by if added_by is None else sys.intern(added_by),
            expiry_key(self.added_at),
            _stamp(self.expires_at),
            self.source,
            _stamp(self._modified),
        )
        end = len(value)
        while end > 3 and value[end - 1] is None:
            end -= 1
        return value[:end]

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
