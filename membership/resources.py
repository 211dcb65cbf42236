"""The persistent resource tree that traversal walks.

Root -> users -> <user> -> tokens -> <token>
     -> groups -> <group> -> members -> <membership>
                          -> groups  -> <group> ...

Containers keep children in an ``OOBTree`` with a ``BTrees.Length`` beside it,
so a group of a million members is as cheap to page and count as a group of
ten. Every change that touches memberships also updates the user -> groups
index in the same transaction.
"""

from collections.abc import Iterable, Iterator
from datetime import datetime
from types import EllipsisType

from BTrees.Length import Length
from BTrees.OOBTree import OOBTree, OOTreeSet
from persistent import Persistent
from pyramid.authorization import ALL_PERMISSIONS, Allow
from pyramid.traversal import find_root, resource_path

from . import clock
from .exceptions import AlreadyExists, FieldError, InvalidInput, NotFoundError, Refused
from .index import MembershipIndex
from .names import is_valid_name
from .paging import KEY_CEILING, prefix_range
from .permissions import ADMINS_PATH, ROLE_PERMISSIONS, ROLES, SELF_PERMISSIONS

ADMIN_ACE = (Allow, f"group:{ADMINS_PATH}", ALL_PERMISSIONS)


class Node(Persistent):
    """Anything in the tree: a name, a parent and local ACEs on top of the built-in ones."""

    __name__: str | None = None
    __parent__ = None
    local_acl: tuple = ()

    def builtin_acl(self) -> list:
        return []

    @property
    def __acl__(self) -> list:
        return [*self.builtin_acl(), *self.local_acl]

    @property
    def path(self) -> str:
        return resource_path(self)


class Container(Node):
    """A BTree of named children with a conflict-free count."""

    #: What the children are called in error messages ("user", "group", ...).
    item_kind = "item"

    def __init__(self) -> None:
        self._items = OOBTree()
        self._count = Length()

    def __getitem__(self, name: str):
        if not is_valid_name(name):
            raise InvalidInput.field(
                "name",
                "must be 1-64 characters of a-z, 0-9, '.', '_' or '-', starting with a letter "
                "or digit",
                detail=f"{name!r} is not a valid {self.item_kind} name",
            )
        return self._items[name]

    def get(self, name: str, default=None):
        return self._items.get(name, default) if is_valid_name(name) else default

    def __contains__(self, name: str) -> bool:
        return is_valid_name(name) and name in self._items

    def __len__(self) -> int:
        return self._count()

    def keys(self, **range_) -> Iterator[str]:
        return self._items.keys(**range_)

    def _attach(self, name: str, child: Node) -> Node:
        if not is_valid_name(name):
            raise InvalidInput.field("name", f"{name!r} is not a valid {self.item_kind} name")
        if name in self._items:
            raise AlreadyExists(f"{self.item_kind} {name!r} already exists at {self.path}")
        child.__name__ = name
        child.__parent__ = self
        self._items[name] = child
        self._count.change(1)
        return child

    def _detach(self, name: str) -> Node:
        child = self._items.pop(name)
        self._count.change(-1)
        return child


class Root(Node):
    """The top of the tree; its ACL makes members of /groups/admins all-powerful."""

    __name__ = ""
    __parent__ = None

    def __init__(self) -> None:
        self.index = MembershipIndex()
        self.token_digests = OOBTree()  # sha256 hex -> (userid, token id)
        self.users = Users()
        self.users.__parent__ = self
        self.groups = Groups()
        self.groups.__name__ = "groups"
        self.groups.__parent__ = self
        admins = self.groups.add_group("admins", title="Administrators")
        admins.description = "Members hold every permission everywhere."

    def builtin_acl(self) -> list:
        return [ADMIN_ACE]

    def __getitem__(self, name: str):
        if name == "users":
            return self.users
        if name == "groups":
            return self.groups
        raise KeyError(name)


class Users(Container):
    item_kind = "user"
    __name__ = "users"

    def add_user(
        self,
        userid: str,
        *,
        password_hash: str | None = None,
        display_name: str = "",
        email: str | None = None,
    ) -> "User":
        return self._attach(userid, User(password_hash, display_name, email))

    def remove_user(self, userid: str) -> None:
        """Delete a user with every membership and token, in this transaction."""
        user = self[userid]
        root = find_root(self)
        if root.index.paths(userid) and _is_last_admin(root, userid):
            raise Refused("the last member of /groups/admins cannot be deleted")
        for path in root.index.paths(userid):
            group = group_at(root, path)
            if group is not None:
                group.members.remove_member(userid)
            root.index.discard(userid, path)
        for token in list(user.tokens.values()):
            root.token_digests.pop(token.digest, None)
        self._detach(userid)


class User(Node):
    # Defaults live on the class, so a user made by a bulk import pickles only
    # what it has: a million of them is a million small records.
    password_hash: str | None = None
    display_name: str = ""
    email: str | None = None
    _tokens = None  # an OOBTree, made with the first token
    _modified: datetime | None = None

    def __init__(self, password_hash: str | None, display_name: str, email: str | None) -> None:
        self.created = clock.now()
        if password_hash is not None:
            self.password_hash = password_hash
        if display_name:
            self.display_name = display_name
        if email is not None:
            self.email = email

    @property
    def modified(self) -> datetime:
        return self._modified or self.created

    @property
    def id(self) -> str:
        return self.__name__

    def builtin_acl(self) -> list:
        return [(Allow, f"user:{self.__name__}", SELF_PERMISSIONS)]

    def __getitem__(self, name: str):
        if name == "tokens":
            return self.tokens
        raise KeyError(name)

    @property
    def tokens(self) -> "Tokens":
        return Tokens(self)

    def touch(self) -> None:
        self._modified = clock.now()


class Tokens:
    """Transient view of a user's tokens: most users never have one, so no object for them."""

    __name__ = "tokens"
    item_kind = "token"

    def __init__(self, user: User) -> None:
        self.__parent__ = user
        self.user = user

    @property
    def _items(self) -> OOBTree:
        if self.user._tokens is None:
            self.user._tokens = OOBTree()
        return self.user._tokens

    def __getitem__(self, token_id: str) -> "Token":
        if self.user._tokens is None or not is_valid_name(token_id):
            raise KeyError(token_id)
        token = self.user._tokens[token_id]
        token._v_parent = self
        return token

    def values(self) -> list["Token"]:
        if self.user._tokens is None:
            return []
        return [self[token_id] for token_id in self.user._tokens.keys()]

    def add_token(self, token_id: str, digest: str, name: str, expires_at: datetime | None):
        token = Token(digest, name, expires_at)
        token.__name__ = token_id
        self._items[token_id] = token
        find_root(self.user).token_digests[digest] = (self.user.id, token_id)
        token._v_parent = self
        return token

    def revoke(self, token_id: str) -> None:
        token = self._items.pop(token_id)
        find_root(self.user).token_digests.pop(token.digest, None)


class Token(Node):
    """A personal access token's record: only the SHA-256 of the secret is kept."""

    @property
    def __parent__(self):
        """The transient Tokens view it was reached through (a volatile attribute:
        setting it neither marks the token changed nor gets pickled)."""
        return getattr(self, "_v_parent", None)

    def __init__(self, digest: str, name: str, expires_at: datetime | None) -> None:
        self.digest = digest
        self.name = name
        self.created = clock.now()
        self.expires_at = expires_at

    @property
    def id(self) -> str:
        return self.__name__

    def is_expired(self, when: datetime | None = None) -> bool:
        return self.expires_at is not None and (when or clock.now()) >= self.expires_at


class Groups(Container):
    """Top-level groups under the root, or the subgroups of a group."""

    item_kind = "group"

    def add_group(self, name: str, *, title: str = "", description: str = "") -> "Group":
        return self._attach(name, Group(title or name, description))

    def remove_group(self, name: str) -> None:
        """Delete a group, its subtree and every membership in it (index too)."""
        group = self[name]
        if group.path == ADMINS_PATH:
            raise Refused("/groups/admins cannot be deleted: it is how admins are admins")
        index = find_root(self).index
        for each in group.walk():
            path = each.path
            for userid in each.members.keys():
                index.discard(userid, path)
        self._detach(name)

    def move_group(self, name: str, destination: "Groups") -> "Group":
        """Move a group with its members and subgroups under ``destination``.

        Every membership in the subtree changes path, so the index entries are
        rewritten in the same transaction; principals follow on the next request.
        """
        group = self[name]
        if group.path == ADMINS_PATH:
            raise Refused("/groups/admins cannot be moved: it is how admins are admins")
        node = destination
        while node is not None:
            if node is group:
                raise InvalidInput.field("to", "a group cannot move under itself")
            node = node.__parent__
        if name in destination:
            raise AlreadyExists(f"group {name!r} already exists at {destination.path}")
        index = find_root(self).index
        for each in group.walk():
            old_path = each.path
            for userid in each.members.keys():
                index.discard(userid, old_path)
        self._detach(name)
        destination._attach(name, group)
        for each in group.walk():
            new_path = each.path
            for userid, membership in each.members._items.items():
                index.set(userid, new_path, membership.role, membership.expires_at)
        return group


class Group(Node):
    """A group's own record: title, description, times. Membership changes never write it
    (they live in ``members``), so concurrent adds to one group do not collide here."""

    def __init__(self, title: str, description: str) -> None:
        now = clock.now()
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

    def builtin_acl(self) -> list:
        path = self.path
        aces = [(Allow, f"group:{path}", ROLE_PERMISSIONS["member"])]
        for role in ("manager", "owner"):
            aces.append((Allow, f"group:{path}#{role}", ROLE_PERMISSIONS[role]))
        return aces

    def __getitem__(self, name: str):
        if name == "members":
            return self.members
        if name == "groups":
            return self.groups
        raise KeyError(name)

    def walk(self) -> Iterator["Group"]:
        """This group and every group below it, depth first."""
        yield self
        for child in self.groups._items.values():
            yield from child.walk()

    def touch(self) -> None:
        self.modified = clock.now()


class Members(Container):
    """Direct memberships of one group, with a (role, userid) set for ``?role=`` pages."""

    item_kind = "membership"

    def __init__(self) -> None:
        super().__init__()
        self.by_role = OOTreeSet()

    @property
    def group(self) -> Group:
        return self.__parent__

    def add_member(
        self,
        userid: str,
        role: str = "member",
        *,
        added_by: str | None = None,
        expires_at: datetime | None = None,
    ) -> "Membership":
        root = find_root(self)
        if userid not in root.users:
            raise NotFoundError(f"no user {userid!r}", [FieldError("user", "no such user")])
        _check_role(role)
        return self._add(root.index, self.group.path, userid, role, added_by, expires_at)

    def add_existing_users(self, rows: Iterable[tuple[str, str]], added_by: str | None) -> int:
        """Bulk path for imports: ``(userid, role)`` pairs of users known to exist.

        Same effect as ``add_member`` per row, with the root and the group's
        path looked up once; rows already members are skipped. The number added.
        """
        index, path, added = find_root(self).index, self.group.path, 0
        for userid, role in rows:
            if userid not in self._items:
                _check_role(role)
                self._add(index, path, userid, role, added_by, None)
                added += 1
        return added

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

    def _add(self, index, path, userid, role, added_by, expires_at) -> "Membership":
        membership = self._attach(userid, Membership(role, added_by, expires_at))
        self.by_role.add((role, userid))
        index.set(userid, path, role, expires_at)
        return membership

    def change_member(
        self,
        userid: str,
        *,
        role: str | None = None,
        expires_at: "datetime | EllipsisType | None" = ...,
    ) -> "Membership":
        """Change role and/or expiry; ``expires_at=None`` clears it, ``...`` leaves it."""
        membership = self._items[userid]
        root = find_root(self)
        if role is not None and role != membership.role:
            _check_role(role)
            self.by_role.remove((membership.role, userid))
            self.by_role.add((role, userid))
            membership.role = role
        if expires_at is not ...:
            membership.expires_at = expires_at
        membership._modified = clock.now()
        root.index.set(userid, self.group.path, membership.role, membership.expires_at)
        return membership

    def remove_member(self, userid: str) -> None:
        root = find_root(self)
        path = self.group.path
        if path == ADMINS_PATH and len(self) == 1 and userid in self:
            raise Refused("the last member of /groups/admins cannot be removed")
        membership = self._detach(userid)
        self.by_role.remove((membership.role, userid))
        root.index.discard(userid, path)

    def __getitem__(self, name: str) -> "Membership | NonMember":
        """A direct membership, or a transient stand-in for a user who holds none here.

        The stand-in lets ``GET .../members/<user>?effective=true`` answer for
        members through a subgroup; every other request on it is a 404.
        """
        try:
            return super().__getitem__(name)
        except KeyError:
            return NonMember(name, self)


class Membership(Node):
    expires_at: datetime | None = None
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


class NonMember:
    """A user id under a group's members that is not a direct member (never stored)."""

    def __init__(self, userid: str, members: Members) -> None:
        self.__name__ = userid
        self.__parent__ = members

    @property
    def user(self) -> str:
        return self.__name__


def _check_role(role: str) -> None:
    if role not in ROLES:
        raise InvalidInput.field("role", f"must be one of {', '.join(ROLES)}")


def _is_last_admin(root: Root, userid: str) -> bool:
    admins = root.groups.get("admins")
    return admins is not None and userid in admins.members and len(admins.members) == 1


def group_at(root: Root, path: str) -> Group | None:
    """The group at a canonical path such as ``/groups/eng/groups/backend``, or None."""
    parts = path.strip("/").split("/")
    if len(parts) < 2 or len(parts) % 2:
        return None
    node = root
    for container, name in zip(parts[::2], parts[1::2], strict=True):
        if container != "groups":
            return None
        node = node.groups.get(name)
        if node is None:
            return None
    return node
