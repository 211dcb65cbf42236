"""Health probes for load balancers and orchestrators.

* ``GET /healthz``: the process is alive and serving. It never touches the
  storage, so a storage outage does not get healthy workers restarted.
* ``GET /readyz``: this worker can serve: the storage is reachable and the
  tree is initialized (``/users``, ``/groups``, ``/groups/admins``).

Both are unauthenticated and answer only ``{"status": ...}``: no version, no
storage address, no error text (the reason a worker is not ready goes to the
log). They are routes with their own context factory, matched before
traversal, so neither depends on the tree they probe; ``config.scan()``
registers route and view together (see ``probe``).

The same readiness seen from any other request: a storage that went away
(``ClientDisconnected`` from ZEO, and any other transient error still
failing after pyramid_retry's last attempt) is a 503 with ``Retry-After``,
not a 500.
"""

import json
import logging

import venusian
from pyramid.interfaces import IRootFactory
from pyramid.response import Response
from pyramid.security import NO_PERMISSION_REQUIRED
from pyramid.view import exception_view_config
from pyramid_zodbconn import get_connection
from transaction.interfaces import TransientError

from ..errors import problem

log = logging.getLogger(__name__)


class Probe:
    """Context of the probe routes: nothing to traverse, nothing to protect."""

    __acl__ = ()

    def __init__(self, request):
        self.request = request


def probe(path: str):
    """Serve the decorated function at ``path`` (GET, HEAD), unauthenticated.

    Like ``view_config``, it takes effect when ``config.scan()`` finds it; it
    adds the route as well as the view, so nothing else needs to know.
    """

    def decorator(view):
        def register(scanner, name, ob):
            config = scanner.config
            config.add_route(name, path, factory=Probe)
            config.add_view(
                ob,
                route_name=name,
                request_method=("GET", "HEAD"),
                permission=NO_PERMISSION_REQUIRED,
            )

        venusian.attach(view, register, category="pyramid")
        return view

    return decorator


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


@probe("/healthz")
def healthz(request):
    return _answer(200, {"status": "ok"})


@probe("/readyz")
def readyz(request):
    try:
        # The app's own root factory: the same connection, the same tree, the
        # same code path as every other request.
        root = request.registry.getUtility(IRootFactory)(request)
        ready = _storage_connected(get_connection(request)) and _tree_initialized(root)
        if not ready:
            log.warning("not ready: storage disconnected or tree not initialized")
    except Exception:
        log.warning("not ready: the storage cannot be read", exc_info=True)
        ready = False
    if ready:
        return _answer(200, {"status": "ok"})
    return _answer(
        503,
        {
            "type": "about:blank",
            "title": "Service Unavailable",
            "status": 503,
            "detail": "not ready",
        },
        content_type="application/problem+json",
        retry_after=5,
    )


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
