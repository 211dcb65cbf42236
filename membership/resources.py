"""The persistent resource tree that traversal walks.

Root -> users -> <user> -> tokens -> <token>
     -> groups -> <group> -> members -> <membership>
                          -> groups  -> <group> ...

Containers keep children in an ``OOBTree`` with a ``BTrees.Length`` beside it,
so a group of a million members is as cheap to page and count as a group of
ten. Every change that touches memberships also updates the user -> groups
index in the same transaction.

Every method here that creates, changes, deletes or moves something also
appends one event to the audit log (``history.record``), so the views and
the console scripts are audited alike. Local ACEs change only through
``Node.set_local_acl``, which records the change and keeps ``Root.acl_nodes``
(the nodes that carry local ACEs) current; group moves and deletions and
user deletions use it to keep ACEs that name their principals correct.
"""

from collections.abc import Iterable, Iterator
from datetime import datetime
from types import EllipsisType

from BTrees.Length import Length
from BTrees.OOBTree import OOBTree, OOTreeSet
from persistent import Persistent
from pyramid.authorization import ALL_PERMISSIONS, Allow
from pyramid.traversal import find_root

from . import clock
from .exceptions import AlreadyExists, FieldError, InvalidInput, NotFoundError, Refused
from .history import History, record
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
        """Canonical path, e.g. ``/groups/eng/groups/backend``. Names are slugs, so no
        quoting is needed (``resource_path`` quotes each segment; this runs per ACL check)."""
        names = []
        node = self
        while node is not None and node.__name__:
            names.append(node.__name__)
            node = node.__parent__
        return "/" + "/".join(reversed(names))

    def set_local_acl(self, aces: Iterable[tuple]) -> None:
        """The one way local ACEs change: a new tuple, the registry, one ``acl.changed`` event.

        ``aces`` are ``(action, principal, permissions)`` with plain-string
        permissions; validation and guard rails are the caller's (``acl.py``).
        """
        before = self.local_acl
        after = tuple((action, principal, tuple(perms)) for action, principal, perms in aces)
        if after == before:
            return
        self.local_acl = after
        root = find_root(self)
        path = self.path
        if after:
            root.acl_nodes[path] = tuple(sorted({principal for _, principal, _ in after}))
        else:
            root.acl_nodes.pop(path, None)
        record(
            self,
            "acl.changed",
            target=path,
            before={"entries": [ace_dict(ace) for ace in before]},
            after={"entries": [ace_dict(ace) for ace in after]},
        )


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
    #: The audit log (``db.bootstrap`` adds one to trees made before it existed).
    history: History | None = None
    #: Path of every node with local ACEs -> the principals they name. Small
    #: (operators write ACEs by hand), so moves and deletions may read it whole.
    acl_nodes: OOBTree | None = None

    def __init__(self) -> None:
        self.history = History()
        self.acl_nodes = OOBTree()
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
        user = self._attach(userid, User(password_hash, display_name, email))
        record(self, "user.created", target=user.path, after=user.fields())
        return user

    def add_missing_users(self, userids: Iterable[str]) -> int:
        """Bulk path for imports: create the users that do not exist yet, without passwords.

        One ``users.imported`` event with the count, not one per user: an
        import of a million members would otherwise write a million more
        events. The number created.
        """
        created = 0
        for userid in userids:
            if userid not in self._items:
                self._attach(userid, User(None, "", None))
                created += 1
        if created:
            record(self, "users.imported", target=self.path, after={"created": created})
        return created

    def remove_user(self, userid: str) -> None:
        """Delete a user with every membership, token and ACE naming them, in this transaction.

        One ``user.deleted`` event lists the groups the user left, filed under
        each of them; ACEs naming ``user:<id>`` go (``acl.changed`` each), so
        a later user with the same id inherits nothing.
        """
        user = self[userid]
        root = find_root(self)
        paths = root.index.paths(userid)
        if paths and _is_last_admin(root, userid):
            raise Refused("the last member of /groups/admins cannot be deleted")
        for path in paths:
            group = group_at(root, path)
            if group is not None and userid in group.members._items:
                group.members._remove(userid)
            root.index.discard(userid, path)
        tokens = user.tokens.values()
        for token in tokens:
            root.token_digests.pop(token.digest, None)
        record(
            self,
            "user.deleted",
            target=user.path,
            before={**user.fields(), "groups": paths, "tokens": len(tokens)},
            also=paths,
        )
        root.acl_nodes.pop(user.path, None)
        self._detach(userid)
        principal = f"user:{userid}"
        _rewrite_acls(root, lambda p: None if p == principal else p)


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

    def fields(self) -> dict:
        """What the audit log shows of a user: no hash, only whether a password is set."""
        return {
            "display_name": self.display_name,
            "email": self.email,
            "password": self.password_hash,  # history.record redacts it
        }

    def update(self, **changes) -> dict:
        """Set ``display_name``, ``email`` and/or ``password_hash``; one ``user.changed`` event.

        The changed fields' old values, ``{}`` when nothing changed (no event then).
        """
        before, after = _apply(self, changes, {"password_hash": "password"})
        if after:
            self.touch()
            record(self, "user.changed", target=self.path, before=before, after=after)
        return before


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
        record(self.user, "token.created", target=self._path(token_id), after=token.fields())
        return token

    def revoke(self, token_id: str) -> None:
        token = self._items.pop(token_id)
        find_root(self.user).token_digests.pop(token.digest, None)
        record(self.user, "token.deleted", target=self._path(token_id), before=token.fields())

    def _path(self, token_id: str) -> str:
        return f"{self.user.path}/tokens/{token_id}"


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

    def fields(self) -> dict:
        """What the audit log shows of a token: never the secret or its digest."""
        return {"name": self.name, "expires_at": self.expires_at}


class Groups(Container):
    """Top-level groups under the root, or the subgroups of a group."""

    item_kind = "group"

    def add_group(self, name: str, *, title: str = "", description: str = "") -> "Group":
        group = self._attach(name, Group(title or name, description))
        record(self, "group.created", target=group.path, after=group.fields())
        return group

    def remove_group(self, name: str) -> None:
        """Delete a group, its subtree and every membership in it (index too).

        One ``group.deleted`` event with the counts (not one per membership:
        a group may hold a million). ACEs anywhere that name a principal of
        the deleted subtree go too (``acl.changed`` each), so a group created
        later at the same path inherits none of its grants.
        """
        group = self[name]
        if group.path == ADMINS_PATH:
            raise Refused("/groups/admins cannot be deleted: it is how admins are admins")
        root = find_root(self)
        index = root.index
        old_path = group.path
        subgroups = memberships = 0
        for each in group.walk():
            path = each.path
            subgroups += 1
            for userid in each.members.keys():
                index.discard(userid, path)
                memberships += 1
        record(
            self,
            "group.deleted",
            target=old_path,
            before={**group.fields(), "groups": subgroups, "memberships": memberships},
        )
        for path in _paths_within(root.acl_nodes, old_path):
            del root.acl_nodes[path]
        self._detach(name)
        _rewrite_acls(root, lambda p: None if _names_group_within(p, old_path) else p)

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
        root = find_root(self)
        index = root.index
        moved_from = group.path
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
        moved_to = group.path
        record(
            self,
            "group.moved",
            target=moved_to,
            before={"path": moved_from},
            after={"path": moved_to},
            also=[moved_from],
        )
        # Local ACEs follow: the registry's keys inside the subtree, then every
        # ACE naming a principal of the subtree (group:<old>... -> group:<new>...).
        for path in _paths_within(root.acl_nodes, moved_from):
            root.acl_nodes[moved_to + path[len(moved_from) :]] = root.acl_nodes.pop(path)
        _rewrite_acls(root, lambda p: _rename_group_principal(p, moved_from, moved_to))
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

    def fields(self) -> dict:
        return {"title": self.title, "description": self.description}

    def update(self, **changes) -> dict:
        """Set ``title`` and/or ``description``; one ``group.changed`` event if anything changed."""
        before, after = _apply(self, changes)
        if after:
            self.touch()
            record(self, "group.changed", target=self.path, before=before, after=after)
        return before


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
        path = self.group.path
        membership = self._add(root.index, path, userid, role, added_by, expires_at)
        record(
            self,
            "membership.created",
            target=f"{path}/members/{userid}",
            after=membership.fields(),
            also=[f"/users/{userid}"],
        )
        return membership

    def add_existing_users(self, rows: Iterable[tuple[str, str]], added_by: str | None) -> int:
        """Bulk path for imports: ``(userid, role)`` pairs of users known to exist.

        Same effect as ``add_member`` per row, with the root and the group's
        path looked up once; rows already members are skipped. The number added.
        One ``members.imported`` event with the counts per role, not one per
        membership: each membership keeps ``added_by`` and ``added_at``, so
        who added whom and when is not lost, and the import stays one write
        per member.
        """
        index, path, added = find_root(self).index, self.group.path, 0
        roles: dict[str, int] = {}
        for userid, role in rows:
            if userid not in self._items:
                _check_role(role)
                self._add(index, path, userid, role, added_by, None)
                added += 1
                roles[role] = roles.get(role, 0) + 1
        if added:
            record(
                self,
                "members.imported",
                target=path,
                after={"added": added, "roles": roles, "added_by": added_by},
            )
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
        before = membership.fields()
        if role is not None and role != membership.role:
            _check_role(role)
            self.by_role.remove((membership.role, userid))
            self.by_role.add((role, userid))
            membership.role = role
        if expires_at is not ...:
            membership.expires_at = expires_at
        membership._modified = clock.now()
        path = self.group.path
        root.index.set(userid, path, membership.role, membership.expires_at)
        after = membership.fields()
        changed = [key for key in after if after[key] != before[key]]
        if changed:
            record(
                self,
                "membership.changed",
                target=f"{path}/members/{userid}",
                before={key: before[key] for key in changed},
                after={key: after[key] for key in changed},
                also=[f"/users/{userid}"],
            )
        return membership

    def remove_member(self, userid: str) -> None:
        path = self.group.path
        if path == ADMINS_PATH and len(self) == 1 and userid in self:
            raise Refused("the last member of /groups/admins cannot be removed")
        membership = self._remove(userid)
        record(
            self,
            "membership.deleted",
            target=f"{path}/members/{userid}",
            before=membership.fields(),
            also=[f"/users/{userid}"],
        )

    def _remove(self, userid: str) -> "Membership":
        """Remove without an event (the caller records the change it is part of)."""
        membership = self._detach(userid)
        self.by_role.remove((membership.role, userid))
        find_root(self).index.discard(userid, self.group.path)
        return membership

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


def node_at(root: Root, path: str) -> Node | None:
    """The node at a path that can carry local ACEs: ``/``, ``/users/<id>`` or a group."""
    if path == "/":
        return root
    parts = path.strip("/").split("/")
    if len(parts) == 2 and parts[0] == "users":
        return root.users.get(parts[1])
    return group_at(root, path)


def ace_dict(ace: tuple) -> dict:
    action, principal, permissions = ace
    if permissions is ALL_PERMISSIONS:
        permissions = ["*"]
    elif isinstance(permissions, str):
        permissions = [permissions]
    return {"action": action, "principal": principal, "permissions": [str(p) for p in permissions]}


def _apply(obj, changes: dict, renames: dict | None = None) -> tuple[dict, dict]:
    """Set attributes; the changed ones' old and new values under their public names."""
    before, after = {}, {}
    for attr, value in changes.items():
        old = getattr(obj, attr)
        if old != value:
            name = (renames or {}).get(attr, attr)
            before[name], after[name] = old, value
            setattr(obj, attr, value)
    return before, after


def _paths_within(acl_nodes: OOBTree, path: str) -> list[str]:
    """Registry keys at ``path`` or below it (``/groups/a`` but not ``/groups/a-b``)."""
    keys = acl_nodes.keys(min=path, max=path + "/" + KEY_CEILING)
    return [key for key in keys if key == path or key.startswith(path + "/")]


def _group_of_principal(principal: str) -> str | None:
    if not principal.startswith("group:"):
        return None
    return principal[len("group:") :].partition("#")[0]


def _names_group_within(principal: str, path: str) -> bool:
    group_path = _group_of_principal(principal)
    return group_path is not None and (group_path == path or group_path.startswith(path + "/"))


def _rename_group_principal(principal: str, old: str, new: str) -> str:
    if not _names_group_within(principal, old):
        return principal
    return "group:" + new + principal[len("group:") + len(old) :]


def _rewrite_acls(root: Root, rewrite) -> None:
    """Apply ``rewrite(principal) -> principal | None`` (None drops the ACE) to every local ACL.

    Reads the registry, which names each node's principals, and loads only
    the nodes whose ACEs change.
    """
    for path, principals in list(root.acl_nodes.items()):
        if all(rewrite(principal) == principal for principal in principals):
            continue
        node = node_at(root, path)
        if node is None:  # pragma: no cover - the registry follows every move and delete
            del root.acl_nodes[path]
            continue
        aces = []
        for action, principal, permissions in node.local_acl:
            renamed = rewrite(principal)
            if renamed is not None:
                aces.append((action, renamed, permissions))
        node.set_local_acl(aces)
