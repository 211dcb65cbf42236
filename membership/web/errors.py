"""Every error a client can see, as RFC 9457 ``application/problem+json``.

One exception view per kind of failure; none of them leaks a traceback, and
an unexpected exception is logged here and answered as a bare 500.
"""

import logging
from urllib.parse import quote

from pyramid.httpexceptions import HTTPException
from pyramid.response import Response
from pyramid.view import exception_view_config, forbidden_view_config, notfound_view_config
from ZODB.POSException import ConflictError

from ..domain.errors import (
    AlreadyExists,
    BulkOperationFailed,
    DomainError,
    InvalidValue,
    NotFound,
    NotPermitted,
    Refused,
    Unprocessable,
)
from ..paths import NAME_RULE, is_valid_name
from .db import NotInitialized
from .problems import MembershipError
from .rendering import dumps
from .security import AUTH_FAILED, THROTTLED

log = logging.getLogger(__name__)

PROBLEM_TYPE = "about:blank"
PROBLEM_JSON = "application/problem+json"


def problem(
    status: int,
    title: str,
    detail: str,
    *,
    errors: list[dict] | None = None,
    headers: dict | None = None,
    **extra,
) -> Response:
    body = {"type": PROBLEM_TYPE, "title": title, "status": status, "detail": detail}
    body["errors"] = errors or []
    body.update(extra)
    response = Response(body=dumps(body), status=status, content_type=PROBLEM_JSON, charset=None)
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


@exception_view_config(MembershipError)
def membership_error(exc: MembershipError, request) -> Response:
    return problem(
        exc.status,
        exc.title,
        exc.detail,
        errors=[error.as_dict() for error in exc.errors],
        **exc.extra,
    )


#: How each domain error is answered: ``(status, title)``; the first matching class wins.
DOMAIN_ERRORS: tuple[tuple[type[DomainError], int, str], ...] = (
    (InvalidValue, 400, "Invalid input"),
    (NotPermitted, 403, "Forbidden"),
    (AlreadyExists, 409, "Already exists"),
    (Refused, 409, "Conflict"),
    (NotFound, 422, "Unknown reference"),
    (Unprocessable, 422, "Validation failed"),
)


def domain_status(exc: DomainError) -> tuple[int, str]:
    cause = exc.cause if isinstance(exc, BulkOperationFailed) else exc
    for cls, status, title in DOMAIN_ERRORS:
        if isinstance(cause, cls):
            return status, title
    return 400, "Bad Request"


@exception_view_config(DomainError)
def domain_error(exc: DomainError, request) -> Response:
    status, title = domain_status(exc)
    errors = [] if exc.subject is None else [{"field": exc.subject, "message": exc.subject_message}]
    extra = {k: v for k, v in exc.facts.items() if k == "operation"}
    return problem(status, title, exc.message, errors=errors, **extra)


@notfound_view_config()
def not_found(exc: HTTPException, request) -> Response:
    """404 (or 405 with ``Allow``) for those who may know; anonymous callers get the
    same 401 whether or not something is there, so they cannot probe for names."""
    if request.authenticated_userid is None:
        return forbidden(exc, request)
    name = request.view_name
    if name and not is_valid_name(name) and not allowed_methods(request):
        return problem(
            400,
            "Bad Request",
            f"{name!r} in the path is not a valid name",
            errors=[{"field": "path", "message": f"{name!r} is not {NAME_RULE}"}],
        )
    allowed = allowed_methods(request)
    if allowed and request.method not in allowed:
        return problem(
            405,
            "Method Not Allowed",
            f"{request.method} is not allowed on {request.path}",
            headers={"Allow": ", ".join(sorted(allowed))},
        )
    return problem(404, "Not Found", f"nothing at {request.path}")


@forbidden_view_config()
def forbidden(exc: HTTPException, request) -> Response:
    if request.authenticated_userid is None:
        throttled = request.environ.get(THROTTLED)
        if throttled is not None:
            return problem(
                429,
                "Too Many Requests",
                f"{throttled}; try again in {throttled.retry_after} seconds",
                errors=[{"field": "Authorization", "message": str(throttled)}],
                headers={"Retry-After": str(throttled.retry_after)},
            )
        failed = request.environ.get(AUTH_FAILED)
        detail = (
            "the credentials given were not accepted"
            if failed
            else "this needs credentials: HTTP Basic or a Bearer token"
        )
        return problem(
            401,
            "Unauthorized",
            detail,
            headers={"WWW-Authenticate": 'Basic realm="membership"'},
        )
    return problem(403, "Forbidden", f"not allowed to {request.method} {request.path}")


@exception_view_config(HTTPException)
def http_exception(exc: HTTPException, request) -> Response:
    if exc.status_int < 400:
        return exc
    headers = {k: v for k, v in exc.headers.items() if k.lower() in ("allow", "retry-after")}
    return problem(exc.status_int, exc.title, exc.detail or exc.explanation, headers=headers)


@exception_view_config(NotInitialized)
def not_initialized(exc: NotInitialized, request) -> Response:
    return problem(
        503,
        "Service Unavailable",
        "the database is not initialized: run initialize_membership_db",
        headers={"Retry-After": "10"},
    )


@exception_view_config(ConflictError)
def still_conflicting(exc: ConflictError, request) -> Response:
    """A write that kept conflicting after every retry: the client may simply try again."""
    return problem(
        503,
        "Service Unavailable",
        "the change collided with concurrent changes too often; try again",
        headers={"Retry-After": "1"},
    )


@exception_view_config(Exception)
def unexpected(exc: Exception, request) -> Response:
    return internal_error(request)


def internal_error(request) -> Response:
    """The one 500 body: logged here with the traceback, answered with the request id only."""
    log.exception("unhandled error on %s %s", request.method, logged_path(request.environ))
    return problem(
        500,
        "Internal Server Error",
        "the server failed to answer this request; it has been logged",
        request_id=request.environ.get("membership.request_id"),
    )


_UNPRINTABLE = {i: f"\\x{i:02x}" for i in (*range(0x20), 0x7F)}
_LOGGED_PATH = 512


def logged_path(environ: dict) -> str:
    """The request path and query fit for one log line, whatever bytes the client sent.

    Read from the raw environ (``request.path`` raises on a path that is not
    UTF-8), percent-encoded, control characters escaped, length bounded.
    """
    raw = environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", "")
    path = quote(raw.encode("latin-1", "replace"), safe="/:@!$&'()*+,;=-._~%")
    if environ.get("QUERY_STRING"):
        path += "?" + environ["QUERY_STRING"]
    if len(path) > _LOGGED_PATH:
        path = path[:_LOGGED_PATH] + "..."
    return path.translate(_UNPRINTABLE)


def allowed_methods(request) -> set[str]:
    """Methods some view answers for this context and view name (for 405 and ``Allow``)."""
    context = getattr(request, "context", None)
    if context is None:
        return set()
    table = _method_table(request.registry)
    methods: set[str] = set()
    for context_type, name, view_methods in table:
        if name == request.view_name and isinstance(context, context_type):
            methods.update(view_methods)
    if "GET" in methods:
        methods.add("HEAD")
    return methods


def _method_table(registry) -> list:
    table = getattr(registry, "_membership_methods", None)
    if table is None:
        table = []
        for intr in registry.introspector.get_category("views") or []:
            view = intr["introspectable"]
            context = view["context"]
            methods = view["request_methods"]
            if context is None or not methods or view.get("exception_only"):
                continue
            if isinstance(methods, str):
                methods = (methods,)
            table.append((context, view["name"], tuple(methods)))
        registry._membership_methods = table
    return table
