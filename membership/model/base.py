"""What every node of the tree is: a name, a parent, local ACEs, and BTree containers.

The model knows no rules and raises no domain errors: the domain checks
before it calls (names, existence, permissions), and a broken precondition
here is a programming error (``KeyError``/``ValueError``).
"""

from collections.abc import Iterable, Iterator

from BTrees.Length import Length
from BTrees.OOBTree import OOBTree
from persistent import Persistent
from pyramid.authorization import ALL_PERMISSIONS, Allow

from ..paths import ADMINS_PRINCIPAL, RESERVED_NAMES, is_valid_name

#: First on every node's ACL, so no local ACE anywhere is checked before it:
#: nothing can take a permission from a member of /groups/admins.
ADMIN_ACE = (Allow, ADMINS_PRINCIPAL, ALL_PERMISSIONS)

Ace = tuple[str, str, tuple[str, ...]]


def declare_read(*objects: Persistent) -> None:
    """Make this transaction fail at commit if another one changed any of ``objects``.

    ZODB detects only write-write conflicts; a decision that rests on what it
    merely read (a user exists, a group is where it was) declares it here,
    so a concurrent change of it is a ConflictError that pyramid_retry
    replays, instead of both transactions committing (write skew).
    """
    for obj in objects:
        jar = getattr(obj, "_p_jar", None)
        if jar is not None and obj._p_oid is not None:
            obj._p_activate()  # a ghost has no serial yet, and readCurrent would skip it
            jar.readCurrent(obj)


def range_holders(tree, low, high) -> list[Persistent]:
    """The persistent objects that hold (or would hold) the keys ``low`` .. ``high`` of a BTree.

    Declaring them read (``declare_read``) makes a decision that read a key
    range conflict with a concurrent insert or removal in that range, without
    declaring the whole tree (which every write anywhere in it would break):
    the leaf buckets covering the range, or the tree itself while its items
    are stored inline (a small tree has no bucket objects).
    """
    state = tree.__getstate__()
    if state is None or len(state) == 1:  # empty, or one inline bucket
        return [tree]
    bucket_type = type(tree)._bucket_type
    node = tree
    while True:
        data = node.__getstate__()[0]  # (child0, key1, child1, key2, child2, ...)
        child = data[0]
        for position in range(1, len(data), 2):
            if data[position] > low:
                break
            child = data[position + 1]
        if isinstance(child, bucket_type):
            break
        node = child
    holders = [child]
    while child.maxKey() < high if len(child) else False:
        rest = child.__getstate__()
        if len(rest) < 2:
            break
        child = rest[1]
        holders.append(child)
    return holders


def mark_changed(obj: Persistent) -> None:
    """Write ``obj`` in this transaction, so that readers that declared it conflict."""
    obj._p_changed = True


class Node(Persistent):
    """Anything in the tree: a name, a parent and local ACEs after the built-in ones."""

    __name__: str | None = None
    __parent__ = None
    local_acl: tuple = ()

    #: True where ``builtin_acl`` begins with ``ADMIN_ACE`` (the root, groups, users,
    #: webhook subscriptions): an admin's decision on such a node is Allow for every
    #: permission, which ``domain.context.Actor.may`` answers without building the ACL.
    admin_first: bool = False

    def builtin_acl(self) -> list:
        """ACEs every node of this kind has before its local ones (containers: none)."""
        return []

    @property
    def __acl__(self) -> list:
        return [*self.builtin_acl(), *self.local_acl]

    @property
    def path(self) -> str:
        """Canonical path, e.g. ``/groups/eng/groups/backend``; a loop, never recursion."""
        names = []
        node = self
        while node is not None and node.__name__:
            names.append(node.__name__)
            node = node.__parent__
        return "/" + "/".join(reversed(names))

    def set_local_acl(self, aces: Iterable[Ace]) -> tuple:
        """Replace the local ACEs with a new tuple (ZODB never sees in-place changes)."""
        self.local_acl = tuple((action, who, tuple(perms)) for action, who, perms in aces)
        return self.local_acl


class Container(Node):
    """A BTree of named children with a conflict-free count."""

    def __init__(self) -> None:
        self._items = OOBTree()
        self._count = Length()

    @staticmethod
    def is_lookup_name(name: str) -> bool:
        """Whether traversal looks ``name`` up as a child; reserved and invalid
        names are left to the views of the container (or a 404)."""
        return name not in RESERVED_NAMES and is_valid_name(name)

    def __getitem__(self, name: str):
        if not self.is_lookup_name(name):
            raise KeyError(name)
        return self._items[name]

    def get(self, name: str, default=None):
        return self._items.get(name, default) if is_valid_name(name) else default

    def __contains__(self, name: str) -> bool:
        return is_valid_name(name) and name in self._items

    def __len__(self) -> int:
        return self._count()

    def keys(self, **range_) -> Iterator[str]:
        return self._items.keys(**range_)

    def attach(self, name: str, child: Node) -> Node:
        if name in self._items:
            raise KeyError(f"{name!r} is taken")
        child.__name__ = name
        child.__parent__ = self
        self._items[name] = child
        self._count.change(1)
        return child

    def detach(self, name: str) -> Node:
        child = self._items.pop(name)
        self._count.change(-1)
        return child
