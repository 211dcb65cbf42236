"""Where the tree lives in ZODB, and how it comes to be."""

import transaction
from BTrees.OOBTree import OOBTree
from pyramid.request import Request
from pyramid_zodbconn import get_connection
from transaction.interfaces import NoTransaction
from ZODB import DB

from .history import History
from .resources import Root

ROOT_KEY = "membership"


class NotInitialized(Exception):
    """The database holds no membership tree yet."""


def root_factory(request: Request) -> Root:
    root = find_app_root(request)
    if root is None:
        raise NotInitialized("the database holds no membership tree yet")
    return root


def find_app_root(request: Request) -> Root | None:
    """The tree's root on this request's connection.

    Safe methods run outside pyramid_tm (``tm.activate_hook``), so nothing is
    committed for them; they still begin a transaction here, which is what
    makes the connection see every write committed before this request. The
    connection's close (pyramid_zodbconn) aborts it.
    """
    conn = get_connection(request)
    if conn.explicit_transactions and not _in_transaction(conn.transaction_manager):
        conn.transaction_manager.begin()
    return conn.root().get(ROOT_KEY)


def _in_transaction(tm) -> bool:
    try:
        tm.get()
    except NoTransaction:
        return False
    return True


def bootstrap(db: DB) -> bool:
    """Create the empty tree (users, groups, /groups/admins) if absent; True if created.

    Idempotent, and a separate transaction from any request, so the first
    request never races another to create the root.
    """
    tm = transaction.TransactionManager()
    conn = db.open(transaction_manager=tm)
    try:
        for attempt in tm.attempts(3):  # workers starting together may race; the loser re-reads
            with attempt:
                zodb_root = conn.root()
                if ROOT_KEY in zodb_root:
                    upgrade(zodb_root[ROOT_KEY])
                    created = False
                else:
                    zodb_root[ROOT_KEY] = Root()
                    created = True
        return created
    finally:
        conn.close()


def upgrade(root: Root) -> None:
    """Give a tree made by an older version what this one expects (idempotent)."""
    if root.history is None:
        root.history = History()
    if root.acl_nodes is None:
        root.acl_nodes = OOBTree()
