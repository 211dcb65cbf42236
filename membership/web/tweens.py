"""What wraps every request, outermost first.

* ``request_tween``: a request id (``X-Request-ID``), one access-log line
  (text or JSON, ``logs.py``), the request's metrics (``metrics.py``: count,
  duration, conflicts, commit time, logins, checks),
  ``X-Content-Type-Options``/``Cache-Control`` on every answer, and a
  problem+json 500 for anything that escaped every other handler;
* ``cors_tween``: CORS for the origins listed in ``membership.cors.allow_origins``
  (none by default);
* ``limits_tween``: 413 for a body over ``membership.max_body_bytes`` before
  any of it is read; 400 for a path with ``.``/``..``/empty/``@@`` segments or
  an encoded ``/``, ``\\`` or dot segment (``%2F``, ``%5C``, ``%2E``), too many
  query parameters or an over-long ``If-Match``/``If-None-Match``.

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
from ZODB.POSException import ConflictError

from . import logs, metrics
from .db import READ_ONLY
from .errors import internal_error, logged_path, problem
from .metrics import route_template
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
    if is_read(request):
        return 1
    length = request.content_length
    limit = max_body_bytes(request.registry)
    if (length is not None and length > limit) or (
        length is None and "chunked" in request.headers.get("Transfer-Encoding", "").lower()
    ):
        return 1
    return None


def request_tween_factory(handler, registry: Registry):
    settings = registry.membership_settings
    observe = metrics.RequestObserver() if settings.metrics_enabled else None
    json_logs = settings.log_format == "json"
    tracer = getattr(registry, "membership_tracer", None)
    time_commits = observe is not None or tracer is not None
    reads = getattr(registry, "membership_reads", None)

    def request_tween(request: Request) -> Response:
        environ = request.environ
        request_id = environ.get(REQUEST_ID)
        if request_id is None:  # the same id for every attempt of a retried request
            incoming = environ.get("HTTP_X_REQUEST_ID", "")
            request_id = incoming if _SANE_REQUEST_ID.fullmatch(incoming) else os.urandom(16).hex()
            environ[REQUEST_ID] = request_id
        started = environ.setdefault("membership.started", time.perf_counter())  # 1st attempt
        attempt = environ.get("retry.attempt") or 0
        if attempt:
            back_off_before_retry(attempt)
        if is_read(request):
            if reads is not None:  # on the thread's read connection (db.ReadConnections)
                environ[READ_ONLY] = reads
        elif time_commits:
            metrics.time_commits(request.tm, tracer, histogram=observe is not None)
        token = None
        if json_logs:
            token = logs.REQUEST.set(
                {"request_id": request_id, "method": request.method, "client": request.remote_addr}
            )
        try:
            return _answer(request, request_id, started, attempt)
        finally:
            if token is not None:
                logs.REQUEST.reset(token)

    def _answer(request: Request, request_id: str, started: float, attempt: int) -> Response:
        environ = request.environ
        try:
            response = handler(request)
        except Exception as exc:
            if pyramid_retry.is_error_retryable(request, exc):  # False on the last attempt
                if observe is not None and isinstance(exc, ConflictError):
                    metrics.conflict("retried")
                raise  # pyramid_retry runs the request again; that attempt logs
            response = internal_error(request)
            failed = exc
        else:
            failed = getattr(request, "exception", None)
            if failed is not None and pyramid_retry.is_error_retryable(request, failed):
                if observe is not None and isinstance(failed, ConflictError):
                    metrics.conflict("retried")
                return response  # pyramid_retry discards it and runs the request again
        if observe is not None and isinstance(failed, ConflictError):
            metrics.conflict("exhausted")  # the last attempt: answered 503
        identity = environ.get(IDENTITY)
        _set_headers(
            response,
            ("X-Request-ID", request_id),
            ("X-Content-Type-Options", "nosniff"),
            *(_NO_STORE if identity or "HTTP_AUTHORIZATION" in environ else ()),
        )
        seconds = time.perf_counter() - started
        status = response.status_code
        logging_access = access_log.isEnabledFor(logging.INFO)
        route = route_template(request) if observe is not None or logging_access else ""
        if observe is not None:
            observe(request, route, status, seconds)
        if logging_access:
            user = identity.userid if identity else "-"
            if json_logs:
                path = logged_path(environ)
                access_log.info(
                    "%s %s %s",
                    request.method,
                    path,
                    status,
                    extra={
                        "membership": {
                            "request_id": request_id,
                            "user": user,
                            "method": request.method,
                            "path": path,
                            "route": route,
                            "status": status,
                            "duration_ms": round(seconds * 1000, 3),
                            "client": request.remote_addr or "-",
                            "retries": attempt,
                        }
                    },
                )
            else:
                access_log.info(
                    '%s "%s %s" %s %.1fms user=%s rid=%s route=%s retries=%d',
                    request.remote_addr or "-",
                    request.method,
                    logged_path(environ),
                    status,
                    seconds * 1000,
                    user,
                    request_id,
                    route,
                    attempt,
                )
        return response

    return request_tween


#: ``Cache-Control`` for any answer to a caller who sent credentials.
_NO_STORE = (("Cache-Control", "no-store"),)


def _set_headers(response: Response, *pairs: tuple[str, str]) -> None:
    """``response.headers[name] = value`` for each pair, in one pass over the headers.

    Each assignment through WebOb's header view rebuilds the header list to
    drop the name's old values; three of them on every answer were ~2% of a
    membership check.
    """
    names = {name.lower() for name, _ in pairs}
    headerlist = response.headerlist
    if any(name.lower() in names for name, _ in headerlist):
        headerlist[:] = [pair for pair in headerlist if pair[0].lower() not in names]
    headerlist.extend(pairs)


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

    * a path traversal would fold or that hides a path in a name (400, ``path``);
    * a body over ``membership.max_body_bytes`` (413), refused unread;
    * more than ``membership.max_query_params`` query parameters (400);
    * an ``If-Match`` or ``If-None-Match`` longer than ``membership.max_etag_header`` (400).
    """
    settings = registry.membership_settings
    limit = settings.max_body_bytes
    max_params = settings.max_query_params
    max_etags = settings.max_etag_header

    def limits_tween(request):
        environ = request.environ
        path_problem = _encoded_path_problem(_raw_path(environ)) or _path_problem(
            environ.get("PATH_INFO", "")
        )
        if path_problem:
            return problem(
                400,
                "Bad Request",
                f"the path {path_problem}",
                errors=[{"field": "path", "message": path_problem}],
            )
        query = environ.get("QUERY_STRING", "")
        if query and query.count("&") >= max_params:
            count = len([part for part in query.split("&") if part])
            if count > max_params:
                return problem(
                    400,
                    "Bad Request",
                    f"at most {max_params} query parameters are accepted, not {count}",
                    errors=[{"field": "query", "message": f"more than {max_params} parameters"}],
                )
        for header, key in _CONDITIONAL_HEADERS:
            value = environ.get(key)
            if value is not None and len(value) > max_etags:
                return problem(
                    400,
                    "Bad Request",
                    f"{header} may be at most {max_etags} characters long",
                    errors=[{"field": header, "message": f"longer than {max_etags} characters"}],
                )
        raw_length = environ.get("CONTENT_LENGTH", "").strip()
        if raw_length and not _DIGITS.fullmatch(raw_length):
            return problem(
                400,
                "Bad Request",
                "Content-Length must be a non-negative integer",
                errors=[{"field": "Content-Length", "message": "not a non-negative integer"}],
            )
        length = int(raw_length) if raw_length else None
        chunked = "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()
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


#: The conditional headers whose length is limited, with their WSGI environ keys (read
#: there directly: WebOb's header view translates names on every access).
_CONDITIONAL_HEADERS = (("If-Match", "HTTP_IF_MATCH"), ("If-None-Match", "HTTP_IF_NONE_MATCH"))

#: The authority of an absolute-form request target (``GET http://host/path``).
_ABSOLUTE_FORM = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^/]*")


def _raw_path(environ: dict) -> str | None:
    """The path of the request target as the client sent it, still percent-encoded.

    ``PATH_INFO`` is decoded (``%2F`` is already a ``/`` there), so the raw
    target comes from the server: ``REQUEST_URI`` (waitress) or ``RAW_URI``
    (gunicorn). None when the server gives neither (WebTest, some others):
    then only what ``PATH_INFO`` shows can be checked.
    """
    raw = environ.get("REQUEST_URI") or environ.get("RAW_URI")
    if not raw:
        return None
    path = raw.split("?", 1)[0].split("#", 1)[0]
    absolute = _ABSOLUTE_FORM.match(path)
    return path[absolute.end() :] if absolute else path


def _encoded_path_problem(raw: str | None) -> str | None:
    """Why a raw (still percent-encoded) request path is refused, or None.

    WSGI decodes ``PATH_INFO``, so ``/groups/eng%2Fgroups%2Fbackend`` would be
    traversed as ``/groups/eng/groups/backend``: a name that hides a path,
    which a proxy rule on the raw path would not see. Refused: an encoded
    ``/`` (``%2F``) or ``\\`` (``%5C``) anywhere in the path, and a segment
    that decodes to ``.`` or ``..`` (``%2E``, ``.%2e``, ...).
    """
    if not raw or "%" not in raw:
        return None
    for segment in raw.split("/"):
        if "%" not in segment:
            continue
        lowered = segment.lower()
        if "%2f" in lowered:
            return "may not contain an encoded '/' (%2F)"
        if "%5c" in lowered:
            return "may not contain an encoded '\\' (%5C)"
        if lowered.replace("%2e", ".") in (".", ".."):
            return "may not contain '.' or '..' segments, encoded (%2E) or not"
    return None


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
    settings = config.registry.membership_settings
    logs.install(settings.log_format)
    config.include(".metrics")  # GET /metrics; the request tween counts
    config.include(".tracing")  # off unless membership.tracing.enabled
    config.add_tween("membership.web.tweens.request_tween_factory", under=INGRESS)
    config.add_tween(
        "membership.web.tweens.cors_tween_factory",
        under="membership.web.tweens.request_tween_factory",
    )
    config.add_tween(
        "membership.web.tweens.limits_tween_factory",
        under="membership.web.tweens.cors_tween_factory",
    )


#: POSTs that only read (their question is too large for a query string): handled as
#: reads, with no transaction committed and one attempt (``POST /checks``).
READ_ONLY_POSTS = frozenset({"/checks"})


def is_read(request) -> bool:
    method = request.method
    if method in SAFE_METHODS:
        return True
    # The raw WSGI string: ``request.path_info`` decodes, and fails on bytes that are no UTF-8.
    return method == "POST" and request.environ.get("PATH_INFO") in READ_ONLY_POSTS


def needs_transaction(request) -> bool:
    """``tm.activate_hook``: reads are not committed (``db.find_app_root`` still begins
    one on the thread's read connection, so they see every earlier write, and aborts
    it when the request is finished)."""
    return not is_read(request)
