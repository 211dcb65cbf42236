"""What the app needs from a storage shared by several processes.

Included by ``main()`` right after pyramid_zodbconn (``config.include``).

Read your writes
----------------

A change made through one worker must be visible on the very next request to
any other worker. RelStorage polls the database when a transaction begins, so
it gives that for free. A ZEO client learns of other clients' commits from
invalidation messages the server pushes asynchronously: a request that begins
before the message arrives reads the old state. ZEO's ``server_sync`` closes
that window with one round trip to the server when a transaction begins
(every invalidation sent before the reply has been applied by then). zodburi's
``zeo://`` URIs cannot set it, so the app sets it on every ZEO client storage
it opens, whatever the URI said.

Back off before a retry
-----------------------
pyramid_retry replays a conflicted request at once. Writers that collided
then collide again, and RelStorage refuses a row lock that another commit
holds at once (``lock_not_available``), so a burst of writers to one group
can use up every attempt in milliseconds. Before each replay the request
waits a random time below an exponentially growing bound ("full jitter"),
which spreads the writers out. The request tween calls it when it sees a
replayed attempt (``retry.attempt`` > 0), not an ``IBeforeRetry`` subscriber:
a single subscriber makes Pyramid look up subscribers for each of the eight
events of every request, a quarter of a membership check.
"""

import random
import time

from ZODB import DB

#: Upper bound of the wait before the first replay, in seconds; doubles per attempt.
BACKOFF_FIRST = 0.01
#: The bound never grows past this.
BACKOFF_MAX = 0.5


def includeme(config) -> None:
    for db in config.registry._zodb_databases.values():
        require_read_your_writes(db)


def back_off_before_retry(attempt: int) -> None:
    """Wait before replay number ``attempt`` (1, 2, ...) of a conflicted request."""
    time.sleep(random.uniform(0, min(BACKOFF_MAX, BACKOFF_FIRST * 2**attempt)))  # noqa: S311


def require_read_your_writes(db: DB) -> None:
    """Make a transaction begun on ``db`` see every commit that came before it."""
    storage = db.storage
    if not hasattr(storage, "server_sync"):  # not a ZEO ClientStorage
        return
    if not storage.server_sync:
        storage.server_sync = True
        # ClientStorage binds sync to ping when it (re)connects with
        # server_sync set; bind it now if it is connected already.
        ping = getattr(storage, "ping", None)
        if ping is not None:
            storage.sync = ping
        # A connection captures its storage's sync when it is created; drop
        # those made before (ZODB.DB makes one to check the root) so that
        # every connection handed to a request pings.
        db.pool.clear()
        db.historical_pool.clear()
