"""Where the tree lives in ZODB, and how each request finds it."""

import transaction
from pyramid.request import Request
from pyramid_zodbconn import get_connection
from transaction.interfaces import NoTransaction
from ZODB import DB

from ..domain.setup import ROOT_KEY, NotInitialized, ensure_tree
from ..model import Root

__all__ = ["ROOT_KEY", "NotInitialized", "bootstrap", "database", "find_app_root", "root_factory"]


def database(registry) -> DB:
    """The app's ZODB database (the one place that knows pyramid_zodbconn keeps it here)."""
    return registry._zodb_databases[""]


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
    """Create the tree (users, groups, /groups/admins) if absent, else evolve it to
    this release; True if created.

    A separate transaction from any request, so the first request never
    races another to create the root.
    """
    tm = transaction.TransactionManager()
    conn = db.open(transaction_manager=tm)
    try:
        for attempt in tm.attempts(3):  # workers starting together may race; the loser re-reads
            with attempt as txn:
                txn.user = "system:initialize_membership_db"
                _, created = ensure_tree(conn.root())
        return created
    finally:
        conn.close()
