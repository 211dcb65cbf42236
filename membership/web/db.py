"""Where the tree lives in ZODB, and how each request finds it.

Writes get a connection per request from pyramid_zodbconn, joined to
pyramid_tm's transaction (committed, retried on conflict). Reads (every
request ``tweens.is_read`` says only reads, marked ``READ_ONLY`` by the
request tween) get their thread's own connection instead
(``ReadConnections``), which stays open between requests: opening and
closing a pooled connection, a transaction manager per request and the
close's cache sweep were about a tenth of a membership check. A read still
begins a transaction (the snapshot it reads: every commit before it, ZEO's
``server_sync`` included) and aborts it when the request is finished, as
before; nothing a read does is ever committed.
"""

import threading

import transaction
from pyramid.request import Request
from pyramid_zodbconn import get_connection
from transaction.interfaces import AlreadyInTransaction, NoTransaction
from ZODB import DB
from ZODB.Connection import Connection

from ..domain.setup import ROOT_KEY, NotInitialized, ensure_tree
from ..model import Root

__all__ = [
    "READ_ONLY",
    "ROOT_KEY",
    "NotInitialized",
    "ReadConnections",
    "bootstrap",
    "database",
    "find_app_root",
    "root_factory",
]

#: environ key the request tween sets on a read it serves (``tweens.is_read``): its
#: tree comes from the thread's read connection (``ReadConnections``).
READ_ONLY = "membership.read_only"
#: environ key of the read connection a request has begun on (found once per request).
_READ_CONNECTION = "membership.read_connection"


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

    A read the request tween marked ``READ_ONLY`` reads on its thread's read
    connection (``ReadConnections.begin``). Anything else (writes, and
    requests made outside the router: scripts and pshell use ``request.tm``
    themselves) gets pyramid_zodbconn's connection; safe methods run outside
    pyramid_tm (``tm.activate_hook``), so a transaction is begun here, which
    is what makes the connection see every write committed before this
    request. The connection's close (pyramid_zodbconn) aborts it.
    """
    environ = request.environ
    reads = environ.get(READ_ONLY)
    if reads is not None:
        conn = environ.get(_READ_CONNECTION)
        if conn is None:
            conn = environ[_READ_CONNECTION] = reads.begin(request)
        return conn.root().get(ROOT_KEY)
    conn = get_connection(request)
    if conn.explicit_transactions and not _in_transaction(conn.transaction_manager):
        conn.transaction_manager.begin()
    return conn.root().get(ROOT_KEY)


class ReadConnections:
    """One ZODB connection per thread for read requests, kept open between them.

    Each thread that serves reads opens one connection, with an explicit
    transaction manager of its own, the first time it needs it. Per request:
    ``begin`` begins a transaction (the snapshot the request reads) and asks
    Pyramid to abort it when the request is finished; the connection, its
    cache and its manager stay. Writes never use it: they keep pyramid_tm
    and a pooled connection. Only the thread that opened a connection ever
    uses it, so nothing here is shared but the pool size.

    The held connections are not in the pool's ``available`` stack, so the
    pool's size grows by one per connection held: the configured
    ``pool_size`` keeps meaning the connections requests borrow, and ZODB
    does not warn that the pool is over its size. Each held connection has
    its own object cache (``connection_cache_size``), beside the pooled ones
    writes warm.
    """

    def __init__(self, db: DB) -> None:
        self.db = db
        self._local = threading.local()
        self._lock = threading.Lock()

    def begin(self, request: Request) -> Connection:
        """The thread's read connection, in a new transaction aborted when ``request`` ends."""
        conn = getattr(self._local, "connection", None)
        if conn is None:
            conn = self._open()
        tm = conn.transaction_manager
        try:
            tm.begin()
        except AlreadyInTransaction:  # never expected: every begin is paired with an abort
            tm.abort()
            tm.begin()
        request.add_finished_callback(lambda _request: tm.abort())
        return conn

    def _open(self) -> Connection:
        with self._lock:
            self.db.setPoolSize(self.db.getPoolSize() + 1)
            conn = self.db.open(transaction_manager=_ReadManager(explicit=True))
        self._local.connection = conn
        return conn


class _ReadManager(transaction.TransactionManager):
    """A read connection's explicit manager: ``abort`` with no transaction does nothing.

    ``DB.close`` aborts the manager of every connection still open, and a
    held read connection is open between requests, when its explicit
    manager has no transaction (and would raise ``NoTransaction``).
    """

    def abort(self) -> None:
        try:
            super().abort()
        except NoTransaction:
            pass


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
