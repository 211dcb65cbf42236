"""Prometheus metrics: what each request adds, and ``GET /metrics``.

The metric objects are in ``membership/metrics.py``, once per process. Under
gunicorn every worker is a process of its own: ``gunicorn.conf.py`` sets
``PROMETHEUS_MULTIPROC_DIR`` before any worker imports them, so each worker
writes its samples to files in that directory and ``/metrics``, answered by
whichever worker, adds them all up (``MultiProcessCollector``). Without that
variable (``pserve``, tests) the process's own registry is served.

Every request is counted by method, *route template* and status, and timed:
the template comes from the traversal context's class and the view name
(``/groups/{group}/members/{user}``), never from the raw path, so the number
of series stays small whatever clients send (``route_template``). The work on
the request path is a few dict lookups: the label children are cached.

Access: ``membership.metrics.allow`` (addresses and networks, loopback by
default); anyone else, and anything relayed by a proxy (``Forwarded`` /
``X-Forwarded-For``), gets a 404.
"""

import ipaddress
import os
from time import perf_counter

from prometheus_client import REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.multiprocess import MultiProcessCollector
from pyramid.request import Request
from pyramid.response import Response
from pyramid.security import NO_PERMISSION_REQUIRED

from ..metrics import (  # noqa: F401 (re-exported: the web's code and tests use them here)
    BUILD_INFO,
    CHECKS,
    COMMIT_SECONDS,
    CONFLICTS,
    FEED_LAG_SECONDS,
    LOGIN_FAILURES,
    LOGIN_THROTTLED,
    REQUEST_SECONDS,
    REQUESTS,
    THROTTLE_STORAGE_ERRORS,
    UNSEALED_SECONDS,
    WEBHOOK_DELIVERIES,
)
from ..model import Group, Groups, Members, Membership, NonMember, Token, Tokens, User, Users
from ..model.webhooks import Subscription, Webhooks
from .openapi import CONTEXT_PATHS

MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"

_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_SCHEMES = frozenset({"basic", "token", "bearer", "jwt", "session"})
UNMATCHED = "unmatched"


# -- route templates

#: Where a name a container does not hold would have led (the 404's template).
_CHILD = {Groups: Group, Users: User, Members: Membership, Tokens: Token, Webhooks: Subscription}
#: View names that take the rest of the path as an argument.
_SUBPATH = {(Groups, "@id"): "/groups/@id/{id}"}
_CHECK_CONTEXTS = (Membership, NonMember)

_templates: dict[tuple[type, str | None], str] = {}


def _base(cls: type) -> str | None:
    for klass in cls.__mro__:
        paths = CONTEXT_PATHS.get(klass)
        if paths:
            return paths[0][0]
    return None


def _view_names(registry) -> dict[type, frozenset[str]]:
    """Context class -> the view names registered for it (or a base class), once per app."""
    names = getattr(registry, "_membership_view_names", None)
    if names is None:
        found: dict[type, set[str]] = {}
        for entry in registry.introspector.get_category("views") or []:
            view = entry["introspectable"]
            context = view["context"]
            if isinstance(context, type) and not view.get("route_name"):
                found.setdefault(context, set()).add(view["name"] or "")
        names = registry._membership_view_names = {k: frozenset(v) for k, v in found.items()}
    return names


def _known(registry, cls: type, name: str) -> bool:
    names = _view_names(registry)
    return any(name in names.get(klass, ()) for klass in cls.__mro__)


def _template(cls: type, name: str | None) -> str:
    base = _base(cls)
    if base is None:
        return f"<{cls.__name__}>"
    if name is None:  # a name no view answers: where it would have led
        child = _CHILD.get(cls)
        return _base(child) if child is not None else base.rstrip("/") + "/{name}"
    if not name:
        return base
    return _SUBPATH.get((cls, name)) or base.rstrip("/") + "/" + name


def route_template(request: Request) -> str:
    """``/groups/{group}/members/{user}``: what was asked, without the names in it.

    A route's own pattern (``/healthz``); for traversal, the first documented
    template of the context's class (``openapi.CONTEXT_PATHS``: a group at any
    depth is ``{group}``) plus the view name when a view has that name;
    ``unmatched`` when the request was answered before traversal.
    """
    route = request.matched_route
    if route is not None:
        return route.pattern
    context = request.__dict__.get("context")
    if context is None:
        return UNMATCHED
    cls = context.__class__
    name = request.view_name
    template = _templates.get((cls, name))
    if template is None:
        if not _known(request.registry, cls, name):
            name = None  # never a client's name as a label: one template for all of them
            template = _templates.get((cls, None))
        if template is None:
            template = _templates[(cls, name)] = _template(cls, name)
    return template


# -- what the request tween records


class RequestObserver:
    """Records one answered request; label children cached, so a hit is a dict lookup."""

    def __init__(self) -> None:
        self._children: dict[tuple[str, str, int], tuple] = {}
        self._member = CHECKS.labels("member")
        self._not_member = CHECKS.labels("not_member")

    def __call__(self, request: Request, route: str, status: int, seconds: float) -> None:
        method = request.method
        if method not in _METHODS:
            method = "other"  # a client's invented method is no label (nor a cache key)
        key = (method, route, status)
        children = self._children.get(key)
        if children is None:
            children = self._children[key] = (
                REQUESTS.labels(method, route, str(status)),
                REQUEST_SECONDS.labels(method, route),
            )
        children[0].inc()
        children[1].observe(seconds)
        context = request.__dict__.get("context")
        if isinstance(context, _CHECK_CONTEXTS) and method in ("GET", "HEAD"):
            if not request.view_name:
                if status == 200:
                    self._member.inc()
                elif status == 404:
                    self._not_member.inc()
        environ = request.environ
        throttled = environ.get("membership.throttled")
        if throttled is not None:
            LOGIN_THROTTLED.labels(getattr(throttled, "kind", "") or "user").inc()
        else:
            failed = environ.get("membership.auth_failed")
            if failed:
                LOGIN_FAILURES.labels(failed if failed in _SCHEMES else "other").inc()


def conflict(outcome: str) -> None:
    CONFLICTS.labels(outcome).inc()


def time_commits(tm, tracer=None, *, histogram: bool = True) -> None:
    """Time every ``commit()`` of this request's transaction manager (and trace it).

    pyramid_tm commits through ``request.tm.commit``; the manager is made
    for this request (``tm.manager_hook``), so wrapping that one object
    touches nothing else.
    """
    commit = tm.commit

    def timed_commit():
        started = perf_counter()
        try:
            if tracer is None:
                return commit()
            with tracer.start_as_current_span("zodb.commit"):
                return commit()
        finally:
            if histogram:
                COMMIT_SECONDS.observe(perf_counter() - started)

    tm.commit = timed_commit


# -- GET /metrics


class MetricsContext:
    """Context of the ``/metrics`` route: nothing to traverse, nothing in the tree."""

    __acl__ = ()

    def __init__(self, request: Request) -> None:
        self.request = request


def _networks(settings) -> tuple:
    return tuple(ipaddress.ip_network(n, strict=False) for n in settings.metrics_allow)


def may_read(request: Request, networks: tuple) -> bool:
    """From an allowed address, and not relayed by a proxy (whose own address would pass)."""
    environ = request.environ
    if "HTTP_FORWARDED" in environ or "HTTP_X_FORWARDED_FOR" in environ:
        return False
    try:
        address = ipaddress.ip_address(request.remote_addr or "")
    except ValueError:
        return False
    if address.version == 6 and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(address in network for network in networks)


def exposition() -> bytes:
    """Every metric in the Prometheus text format (0.0.4), all workers' when multiprocess."""
    if os.environ.get(MULTIPROCESS_ENV):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
        return generate_latest(registry)
    return generate_latest(REGISTRY)


def metrics_view(request: Request) -> Response:
    from .errors import problem  # errors imports security, which imports the throttle, which ...

    settings = request.registry.membership_settings
    networks = request.registry.membership_metrics_networks
    if not settings.metrics_enabled or not may_read(request, networks):
        return problem(404, "Not Found", f"nothing at {request.path}")
    response = Response(body=exposition(), charset=None)
    response.headers["Content-Type"] = CONTENT_TYPE_PLAIN_0_0_4
    response.cache_control = "no-store"
    return response


def includeme(config) -> None:
    config.registry.membership_metrics_networks = _networks(config.registry.membership_settings)
    config.add_route("metrics", "/metrics", factory=MetricsContext)
    config.add_view(
        metrics_view,
        route_name="metrics",
        request_method=("GET", "HEAD"),
        permission=NO_PERMISSION_REQUIRED,
    )
