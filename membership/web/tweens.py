"""What wraps every request, outermost first.

* ``request_tween``: a request id (``X-Request-ID``), one access-log line,
  ``X-Content-Type-Options``/``Cache-Control`` on every answer, and a
  problem+json 500 for anything that escaped every other handler;
* ``cors_tween``: CORS for the origins listed in ``membership.cors.allow_origins``
  (none by default);
* ``limits_tween``: 413 for a body over ``membership.max_body_bytes`` before
  any of it is read; 400 for too many query parameters or an over-long
  ``If-Match``/``If-None-Match``.

``needs_transaction`` and ``retry_attempts`` are the ``pyramid_tm`` and
``pyramid_retry`` activate hooks (reads: no commit, one attempt; oversized
bodies: one attempt, so the body limit refuses them unread).
"""

import logging
import os
import re
import time

import pyramid_retry
from pyramid.registry import Registry
from pyramid.request import Request
from pyramid.response import Response
from pyramid.tweens import INGRESS

from .errors import internal_error, logged_path, problem
from .security import IDENTITY, SAFE_METHODS
from .storage import back_off_before_retry

access_log = logging.getLogger("membership.access")

REQUEST_ID = "membership.request_id"
#: An incoming X-Request-ID is kept if it looks like an id; anything else is replaced.
_DIGITS = re.compile(r"[0-9]+")
_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:+/=-]{1,128}")

CORS_METHODS = "GET, HEAD, POST, PATCH, DELETE, OPTIONS"
CORS_REQUEST_HEADERS = "Authorization, Content-Type, If-Match, If-None-Match, X-Request-ID"
CORS_EXPOSED_HEADERS = "ETag, Location, Link, Retry-After, WWW-Authenticate, X-Request-ID"


def max_body_bytes(registry: Registry) -> int:
    return registry.membership_settings.max_body_bytes


def retry_attempts(request: Request) -> int | None:
    """``retry.activate_hook``: one attempt for reads, so pyramid_retry does not copy
    their bodies for attempts that cannot happen; writes get ``retry.attempts``.

    Also one attempt for a body the limit will refuse: pyramid_retry would
    otherwise copy all of it (to replay it) before the limit could say no.
    """
    if request.method in SAFE_METHODS:
        return 1
    length = request.content_length
    limit = max_body_bytes(request.registry)
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
            request_id = incoming if _SANE_REQUEST_ID.fullmatch(incoming) else os.urandom(16).hex()
            environ[REQUEST_ID] = request_id
        started = environ.setdefault("membership.started", time.perf_counter())  # 1st attempt
        if environ.get("retry.attempt"):
            back_off_before_retry(environ["retry.attempt"])
        try:
            response = handler(request)
        except Exception as exc:
            if pyramid_retry.is_error_retryable(request, exc):  # False on the last attempt
                raise  # pyramid_retry runs the request again; that attempt logs
            response = internal_error(request)
        failed = getattr(request, "exception", None)
        if failed is not None and pyramid_retry.is_error_retryable(request, failed):
            return response  # pyramid_retry discards it and runs the request again
        headers = response.headers
        headers["X-Request-ID"] = request_id
        headers["X-Content-Type-Options"] = "nosniff"
        identity = environ.get(IDENTITY)
        if identity or "HTTP_AUTHORIZATION" in environ:
            headers["Cache-Control"] = "no-store"
        if access_log.isEnabledFor(logging.INFO):
            access_log.info(
                '%s "%s %s" %s %.1fms user=%s rid=%s',
                request.remote_addr or "-",
                request.method,
                logged_path(environ),
                response.status_code,
                (time.perf_counter() - started) * 1000,
                identity.userid if identity else "-",
                request_id,
            )
        return response

    return request_tween


def cors_tween_factory(handler, registry: Registry):
    origins = set(registry.membership_settings.cors_allow_origins)
    max_age = str(registry.membership_settings.cors_max_age)
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


def limits_tween_factory(handler, registry: Registry):
    """400/413 for requests over the configured limits, before the body or query is parsed.

    * a body over ``membership.max_body_bytes`` (413), refused unread;
    * more than ``membership.max_query_params`` query parameters (400);
    * an ``If-Match`` or ``If-None-Match`` longer than ``membership.max_etag_header`` (400).
    """
    settings = registry.membership_settings
    limit = settings.max_body_bytes
    max_params = settings.max_query_params
    max_etags = settings.max_etag_header

    def limits_tween(request):
        path_problem = _path_problem(request.environ.get("PATH_INFO", ""))
        if path_problem:
            return problem(
                400,
                "Bad Request",
                f"the path {path_problem}",
                errors=[{"field": "path", "message": path_problem}],
            )
        query = request.environ.get("QUERY_STRING", "")
        if query and query.count("&") >= max_params:
            count = len([part for part in query.split("&") if part])
            if count > max_params:
                return problem(
                    400,
                    "Bad Request",
                    f"at most {max_params} query parameters are accepted, not {count}",
                    errors=[{"field": "query", "message": f"more than {max_params} parameters"}],
                )
        for header in ("If-Match", "If-None-Match"):
            value = request.headers.get(header)
            if value is not None and len(value) > max_etags:
                return problem(
                    400,
                    "Bad Request",
                    f"{header} may be at most {max_etags} characters long",
                    errors=[{"field": header, "message": f"longer than {max_etags} characters"}],
                )
        raw_length = request.environ.get("CONTENT_LENGTH", "")
        if raw_length.strip() and not _DIGITS.fullmatch(raw_length.strip()):
            return problem(
                400,
                "Bad Request",
                "Content-Length must be a non-negative integer",
                errors=[{"field": "Content-Length", "message": "not a non-negative integer"}],
            )
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

    return limits_tween


def _path_problem(raw: str) -> str | None:
    """Why a raw ``PATH_INFO`` is refused before traversal, or None.

    Traversal would fold ``.`` and ``..`` segments and empty ones (so
    ``/groups/eng/groups/..`` would name ``/groups/eng``); a client that sends
    them is confused or probing, and a proxy rule on ``/groups/eng/...`` should
    not be sidestepped by them. ``@@name`` would address a view by name,
    which this API never documents. A trailing slash is fine.
    """
    try:
        path = raw.encode("latin-1").decode("utf-8")
    except UnicodeError:
        return "is not UTF-8"
    segments = path.split("/")[1:]
    if segments and segments[-1] == "":
        segments.pop()
    for segment in segments:
        if segment in (".", ".."):
            return "may not contain '.' or '..' segments"
        if segment == "":
            return "may not contain empty segments ('//')"
        if segment.startswith("@@"):
            return "may not contain '@@' segments (view names are plain segments here)"
    return None


def includeme(config) -> None:
    config.add_tween("membership.web.tweens.request_tween_factory", under=INGRESS)
    config.add_tween(
        "membership.web.tweens.cors_tween_factory",
        under="membership.web.tweens.request_tween_factory",
    )
    config.add_tween(
        "membership.web.tweens.limits_tween_factory",
        under="membership.web.tweens.cors_tween_factory",
    )


def needs_transaction(request) -> bool:
    """``tm.activate_hook``: reads are not committed (``db.find_app_root`` still begins
    one, so they see every earlier write)."""
    return request.method not in SAFE_METHODS
