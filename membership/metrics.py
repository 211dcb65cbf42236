"""The metrics the service counts: every Prometheus metric object, in one place.

Shared vocabulary (no layer imported): the web counts requests, commits,
conflicts, logins and checks (``membership/web/metrics.py`` records them and
serves ``GET /metrics``); the change-feed dispatcher (``membership.dispatch``)
counts webhook deliveries and the feed's lag through ``webhook_delivered`` and
``feed_lag``. Each object exists once per process; under gunicorn the values
go to ``PROMETHEUS_MULTIPROC_DIR`` (see ``gunicorn.conf.py``), so metric kinds
the multiprocess mode cannot add up (``Info``, ``Enum``, custom collectors)
are not used.
"""

import sys
from importlib.metadata import PackageNotFoundError, version

from prometheus_client import Counter, Gauge, Histogram, disable_created_metrics

disable_created_metrics()  # no *_created series: they double the output and nobody graphs them

#: Request latency buckets, in seconds: a membership check takes well under 5 ms.
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)

REQUESTS = Counter(
    "membership_http_requests",
    "HTTP requests answered, by method, route template and status.",
    ("method", "route", "status"),
)
REQUEST_SECONDS = Histogram(
    "membership_http_request_duration_seconds",
    "Time from the request reaching the app to its answer (all attempts of a retried write).",
    ("method", "route"),
    buckets=LATENCY_BUCKETS,
)
CONFLICTS = Counter(
    "membership_zodb_conflicts",
    "ZODB conflicts of writes: retried (the request ran again) or exhausted (503 after the "
    "last of retry.attempts).",
    ("outcome",),
)
COMMIT_SECONDS = Histogram(
    "membership_zodb_commit_duration_seconds",
    "Time a write's transaction took to commit (two-phase commit with the storage), "
    "failed commits included.",
    buckets=LATENCY_BUCKETS,
)
LOGIN_FAILURES = Counter(
    "membership_login_failures",
    "Requests whose credentials were not accepted, by scheme (basic, token, ...).",
    ("scheme",),
)
LOGIN_THROTTLED = Counter(
    "membership_login_throttled",
    "Basic logins refused with 429 before being tried, by the limit that was hit "
    "(user or address).",
    ("limit",),
)
THROTTLE_STORAGE_ERRORS = Counter(
    "membership_throttle_storage_errors",
    "Calls to the shared throttle storage (Redis) that failed; the process counted on its "
    "own instead.",
)
CHECKS = Counter(
    "membership_checks",
    "Membership checks (GET /groups/{group}/members/{user}) by result: member or not_member.",
    ("result",),
)
BUILD_INFO = Gauge(
    "membership_build_info",
    "Always 1; the labels say which release and Python serve.",
    ("version", "python"),
    multiprocess_mode="max",
)
# Incremented by the change-feed dispatcher (membership.dispatch) through the helpers below.
WEBHOOK_DELIVERIES = Counter(
    "membership_webhook_deliveries",
    "Webhook deliveries by outcome: delivered (2xx), failed (anything else; retried "
    "later), gave_up (the subscription was disabled with changes undelivered: 410, a day "
    "of failures, or a cursor the feed no longer holds).",
    ("outcome",),
)
FEED_LAG_SECONDS = Gauge(
    "membership_changes_lag_seconds",
    "Age of the oldest change the dispatcher has not delivered yet (0: caught up).",
    multiprocess_mode="livemax",
)
UNSEALED_SECONDS = Gauge(
    "membership_changes_unsealed_seconds",
    "Age of the oldest change-feed batch not sealed yet (0: none). The dispatcher seals "
    "every 2 s; a value that only grows means no dispatcher runs, and history reads slow "
    "down with the backlog. Set by the dispatcher's rounds and by GET /health.",
    multiprocess_mode="livemax",
)


def _version() -> str:
    try:
        return version("membership")
    except PackageNotFoundError:
        return "unknown"


BUILD_INFO.labels(_version(), ".".join(map(str, sys.version_info[:3]))).set(1)


def webhook_delivered(outcome: str) -> None:
    """For the dispatcher: one delivery attempt ended with ``outcome``."""
    WEBHOOK_DELIVERIES.labels(outcome).inc()


def feed_unsealed(seconds: float) -> None:
    """How old the oldest unsealed feed batch is (the dispatcher and ``/health``)."""
    UNSEALED_SECONDS.set(max(0.0, seconds))


def feed_lag(seconds: float) -> None:
    """For the dispatcher: how far behind the newest change its deliveries are."""
    FEED_LAG_SECONDS.set(max(0.0, seconds))
