"""What wraps every request, outermost first.

* ``request_tween``: a request id (``X-Request-ID``), one access-log line,
  ``X-Content-Type-Options``/``Cache-Control`` on every answer, and a
  problem+json 500 for anything that escaped every other handler;
* ``cors_tween``: CORS for the origins listed in ``membership.cors.allow_origins``
  (none by default);
* ``body_limit_tween``: 413 for a body over ``membership.max_body_bytes``
  before any of it is read.

``needs_transaction`` and ``retry_attempts`` are the ``pyramid_tm`` and
``pyramid_retry`` activate hooks (reads: no commit, one attempt; oversized
bodies: one attempt, so the body limit refuses them unread).
"""

import logging
import re
import time
import uuid

import pyramid_retry
from pyramid.registry import Registry
from pyramid.request import Request
from pyramid.response import Response
from pyramid.tweens import INGRESS

from .errors import problem

log = logging.getLogger(__name__)
access_log = logging.getLogger("membership.access")

DEFAULT_MAX_BODY = 1024 * 1024
REQUEST_ID = "membership.request_id"
_IDENTITY = "membership.identity"  # where security.py caches the identity
#: An incoming X-Request-ID is kept if it looks like an id; anything else is replaced.
_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:+/=-]{1,128}")
_UNPRINTABLE = {i: f"\\x{i:02x}" for i in (*range(0x20), 0x7F)}
_LOGGED_PATH = 512

CORS_METHODS = "GET, HEAD, POST, PATCH, DELETE, OPTIONS"
CORS_REQUEST_HEADERS = "Authorization, Content-Type, If-Match, If-None-Match, X-Request-ID"
CORS_EXPOSED_HEADERS = "ETag, Location, Link, Retry-After, WWW-Authenticate, X-Request-ID"


def max_body_bytes(settings: dict) -> int:
    return int(settings.get("membership.max_body_bytes", DEFAULT_MAX_BODY))


def retry_attempts(request: Request) -> int | None:
    """``retry.activate_hook``: one attempt for reads, so pyramid_retry does not copy
    their bodies for attempts that cannot happen; writes get ``retry.attempts``.

    Also one attempt for a body the limit will refuse: pyramid_retry would
    otherwise copy all of it (to replay it) before the limit could say no.
    """
    if request.method in SAFE_METHODS:
        return 1
    length = request.content_length
    limit = max_body_bytes(request.registry.settings)
    if (length is not None and length > limit) or (
        length is None and "chunked" in request.headers.get("Transfer-Encoding", "").lower()
    ):
        return 1
    return None


def request_tween_factory(handler, registry: Registry):
    def request_tween(request: Request) -> Response:
        environ = request.environ
        request_id = environ.get(REQUEST_ID)
        if request_id is None:  # the same id for every attempt of a retried request
            incoming = request.headers.get("X-Request-ID", "")
            request_id = incoming if _SANE_REQUEST_ID.fullmatch(incoming) else uuid.uuid4().hex
            environ[REQUEST_ID] = request_id
        started = time.perf_counter()
        try:
            response = handler(request)
        except Exception as exc:
            if pyramid_retry.is_error_retryable(request, exc) and not (
                pyramid_retry.is_last_attempt(request)
            ):
                raise  # pyramid_retry runs the request again; that attempt logs
            log.exception("unhandled error on %s %s", request.method, _printable(request.path))
            response = problem(
                500,
                "Internal Server Error",
                "the server failed to answer this request; it has been logged",
                request_id=request_id,
            )
        if response.status_code in (204, 304) and not response.body:
            response.content_type = None  # views answer 204 with request.response
        headers = response.headers
        headers["X-Request-ID"] = request_id
        headers["X-Content-Type-Options"] = "nosniff"
        identity = environ.get(_IDENTITY)
        if identity or "HTTP_AUTHORIZATION" in environ:
            headers["Cache-Control"] = "no-store"
        access_log.info(
            '%s "%s %s" %s %.1fms user=%s rid=%s',
            request.client_addr or "-",
            request.method,
            _printable(request.path_qs),
            response.status_code,
            (time.perf_counter() - started) * 1000,
            identity.userid if identity else "-",
            request_id,
        )
        return response

    return request_tween


def _printable(text: str) -> str:
    """A path fit for one log line: control characters escaped, length bounded."""
    if len(text) > _LOGGED_PATH:
        text = text[:_LOGGED_PATH] + "..."
    return text.translate(_UNPRINTABLE)


def cors_tween_factory(handler, registry: Registry):
    origins = set(registry.settings.get("membership.cors.allow_origins", "").split())
    max_age = str(int(registry.settings.get("membership.cors.max_age", 600)))
    if not origins:
        return handler

    def cors_tween(request: Request) -> Response:
        origin = request.headers.get("Origin")
        allowed = origin is not None and (origin in origins or "*" in origins)
        if not allowed:
            return handler(request)
        if request.method == "OPTIONS" and "Access-Control-Request-Method" in request.headers:
            response = Response(status=204)
            response.headers.update(
                {
                    "Access-Control-Allow-Methods": CORS_METHODS,
                    "Access-Control-Allow-Headers": CORS_REQUEST_HEADERS,
                    "Access-Control-Max-Age": max_age,
                }
            )
        else:
            response = handler(request)
            response.headers["Access-Control-Expose-Headers"] = CORS_EXPOSED_HEADERS
        response.headers["Access-Control-Allow-Origin"] = origin
        response.vary = (*(response.vary or ()), "Origin")
        return response

    return cors_tween


def body_limit_tween_factory(handler, registry: Registry):
    """413 for a body over ``membership.max_body_bytes`` before any of it is read."""
    limit = max_body_bytes(registry.settings)

    def body_limit_tween(request):
        length = request.content_length
        chunked = "chunked" in request.headers.get("Transfer-Encoding", "").lower()
        if (length is not None and length > limit) or (chunked and length is None):
            if chunked and length is None:
                data = request.body_file_raw.read(limit + 1)
                if len(data) <= limit:
                    request.body = data
                    return handler(request)
            return problem(
                413,
                "Content Too Large",
                f"the body may be at most {limit} bytes",
                errors=[{"field": "body", "message": f"larger than {limit} bytes"}],
            )
        return handler(request)

    return body_limit_tween


def includeme(config) -> None:
    config.add_tween("membership.tweens.request_tween_factory", under=INGRESS)
    config.add_tween(
        "membership.tweens.cors_tween_factory", under="membership.tweens.request_tween_factory"
    )
    config.add_tween(
        "membership.tweens.body_limit_tween_factory",
        under="membership.tweens.cors_tween_factory",
    )


SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def needs_transaction(request) -> bool:
    """``tm.activate_hook``: reads are not committed (``db.find_app_root`` still begins
    one, so they see every earlier write)."""
    return request.method not in SAFE_METHODS
