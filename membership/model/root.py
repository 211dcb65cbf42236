"""The top of the tree, and the registries that the side jobs keep beside it."""

from BTrees.Length import Length
from BTrees.OOBTree import OOBTree
from pyramid.authorization import Allow, Authenticated

from ..paths import group_names
from ..permissions import CHECK
from .base import ADMIN_ACE, Node
from .directory import Directory
from .expiry import Expiries
from .feed import Feed
from .groups import Group, Groups
from .history import History
from .index import MembershipIndex
from .users import Users
from .webhooks import Webhooks


class Root(Node):
    """``/``: users, groups, and what the subscribers maintain in the same transaction.

    * ``index``: user -> direct memberships (the principals of every request);
    * ``acl_nodes``: path of every node with local ACEs -> the principals they name;
    * ``acl_version``: written by every ACL change, declared read by whatever
      decides on the absence of ACEs (a user or group deletion, a move);
    * ``token_digests``: SHA-256 of a token -> ``(userid, token id)``;
    * ``group_ids``: stable group id -> group;
    * ``feed``: the change feed, one batch per transaction in commit order;
    * ``expiries``: membership expiry instants not announced yet (``membership.expired``);
    * ``webhooks``: the webhook subscriptions (``/webhooks``) and the sinks' cursors;
    * ``identity_index``: ``(issuer, subject)`` of a linked identity -> ``(userid, n)``
      (trees from before it get one with their first link);
    * ``directory``: users by userName, externalId and email, groups by title and
      externalId (``model/directory.py``; trees from before it get one from evolve);
    * ``history``: the audit log.
    """

    admin_first = True

    __name__ = ""
    __parent__ = None
    #: Evolve steps applied (``model.evolve``); 0 for a tree of release 0.1.
    generation: int = 0
    history: History | None = None
    acl_nodes: OOBTree | None = None
    acl_version: Length | None = None
    group_ids: OOBTree | None = None
    feed: Feed | None = None
    expiries: Expiries | None = None
    webhooks: Webhooks | None = None
    identity_index: OOBTree | None = None
    directory: Directory | None = None

    def __init__(self) -> None:
        self.history = History()
        self.acl_nodes = OOBTree()
        self.acl_version = Length()
        self.group_ids = OOBTree()
        self.feed = Feed()
        self.history.feed = self.feed
        self.index = MembershipIndex()
        self.token_digests = OOBTree()
        self.users = Users()
        self.users.__parent__ = self
        self.groups = Groups()
        self.groups.__parent__ = self
        self.expiries = Expiries()
        self.webhooks = Webhooks()
        self.webhooks.__parent__ = self
        self.identity_index = OOBTree()
        self.directory = Directory()

    def builtin_acl(self) -> list:
        return [ADMIN_ACE]

    def __getitem__(self, name: str):
        if name == "users":
            return self.users
        if name == "groups":
            return self.groups
        if name == "webhooks" and self.webhooks is not None:
            return self.webhooks
        if name == "checks":
            return Checks(self)
        raise KeyError(name)


class Checks:
    """``/checks``: where batch checks are posted. Not stored; anyone logged in holds
    ``check`` here, and each question is decided on its own group or node."""

    __name__ = "checks"
    __acl__: list = [(Allow, Authenticated, CHECK)]

    def __init__(self, root: Root) -> None:
        self.__parent__ = root


def group_at(root: Root, path: str) -> Group | None:
    """The group at a canonical path such as ``/groups/eng/groups/backend``, or None."""
    names = group_names(path)
    if names is None:
        return None
    node = root
    for name in names:
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
