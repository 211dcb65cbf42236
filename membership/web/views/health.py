"""Health probes for load balancers and orchestrators.

* ``GET /healthz``: the process is alive and serving. It never touches the
  storage, so a storage outage does not get healthy workers restarted.
* ``GET /readyz``: this worker can serve: the storage is reachable and the
  tree is initialized (``/users``, ``/groups``, ``/groups/admins``).

* ``GET /health``: the service's upkeep, for monitoring rather than routing:
  ``ok``, or ``degraded`` with a ``detail`` saying what to do. Today that is
  the change feed: batches not sealed for longer than
  ``membership.health.unsealed_seconds`` mean no dispatcher runs (on ZEO and
  RelStorage, ``membership_dispatch``), and every history read merges the
  whole backlog. Always 200 while the storage answers: a degraded service
  still serves, and must not be taken out of a load balancer for it.

All are unauthenticated and answer no version, no storage address, no error
text (the reason a worker is not ready goes to the log). They are routes
with their own context factory, matched before traversal, so none depends
on the tree it probes; ``config.scan()``
registers route and view together (``public.public_route``).

The same readiness seen from any other request: a storage that went away
(``ClientDisconnected`` from ZEO, and any other transient error still
failing after pyramid_retry's last attempt) is a 503 with ``Retry-After``,
not a 500.
"""

import json
import logging
import time

from pyramid.interfaces import IRootFactory
from pyramid.response import Response
from pyramid.view import exception_view_config
from transaction.interfaces import TransientError
from ZODB.TimeStamp import TimeStamp
from ZODB.utils import p64

from ... import metrics
from ...model.feed import Feed
from ..errors import problem
from .public import public_route

log = logging.getLogger(__name__)


def _answer(status: int, body: dict, content_type="application/json", retry_after=None):
    response = Response(
        status=status, body=json.dumps(body).encode(), content_type=content_type, charset=None
    )
    response.cache_control = "no-store"
    if retry_after is not None:
        response.retry_after = retry_after
    return response


def _storage_connected(connection) -> bool:
    """False if the storage says it is disconnected (a ZEO client keeps serving
    reads from its cache while the server is gone; writes would hang and fail)."""
    is_connected = getattr(connection.db().storage, "is_connected", None)
    return is_connected() if callable(is_connected) else True


def _tree_initialized(root) -> bool:
    try:
        return root["users"] is not None and root["groups"]["admins"] is not None
    except (KeyError, TypeError):
        return False


@public_route("/healthz")
def healthz(request):
    return _answer(200, {"status": "ok"})


@public_route("/readyz")
def readyz(request):
    try:
        # The app's own root factory: the same connection, the same tree, the
        # same code path as every other request.
        root = request.registry.getUtility(IRootFactory)(request)
        ready = _storage_connected(root._p_jar) and _tree_initialized(root)
        if not ready:
            log.warning("not ready: storage disconnected or tree not initialized")
    except Exception:
        log.warning("not ready: the storage cannot be read", exc_info=True)
        ready = False
    if ready:
        return _answer(200, {"status": "ok"})
    return _unavailable("not ready")


def _unavailable(detail: str):
    """A probe's 503: problem+json with ``Retry-After``, the reason only in the log."""
    return _answer(
        503,
        {"type": "about:blank", "title": "Service Unavailable", "status": 503, "detail": detail},
        content_type="application/problem+json",
        retry_after=5,
    )


def feed_health(feed: Feed | None, limit_seconds: float, now: float) -> dict:
    """The feed's part of ``/health``: how many batches wait for sealing (counted up to
    1,000), how old the oldest is, and whether that is past ``limit_seconds``."""
    if feed is None:
        seen, oldest, more = 0, None, False
    else:
        seen, oldest, more = feed.unsealed()
    age = 0.0 if oldest is None else max(0.0, now - _time_of(oldest))
    metrics.feed_unsealed(age)
    body = {
        "status": "degraded" if oldest is not None and age > limit_seconds else "ok",
        "unsealed_batches": seen,
        "unsealed_batches_capped": more,
        "oldest_unsealed_seconds": round(age, 3),
    }
    if body["status"] == "degraded":
        body["detail"] = (
            f"change-feed batches have waited {int(age)} s to be sealed (more than "
            f"{limit_seconds:g} s): no dispatcher is running. On ZEO or RelStorage run "
            "membership_dispatch <ini> (membership_dispatch --seal <ini> clears a backlog); "
            "until then every history read merges the whole backlog"
        )
    return body


def _time_of(tid: int) -> float:
    return TimeStamp(p64(tid)).timeTime()


@public_route("/health")
def health(request):
    try:
        root = request.registry.getUtility(IRootFactory)(request)
        limit = request.registry.membership_settings.health_unsealed_seconds
        feed = feed_health(getattr(root, "feed", None), limit, time.time())
    except Exception:
        log.warning("health: the storage cannot be read", exc_info=True)
        return _unavailable("the storage cannot be read")
    body = {"status": feed["status"], "feed": feed}
    if "detail" in feed:
        body["detail"] = feed["detail"]
    return _answer(200, body)


@exception_view_config(TransientError)
def storage_unavailable(exc, request):
    """A transient failure that outlived every retry: the storage is (briefly) unreachable.

    ``ConflictError`` is a ``TransientError`` too, but has its own, more
    specific, view in ``membership.errors``.
    """
    log.warning("storage unavailable on %s %s: %r", request.method, request.path, exc)
    return problem(
        503,
        "Service Unavailable",
        "the storage cannot be reached right now; try again",
        headers={"Retry-After": "5"},
    )
