"""Every error a client can see, as RFC 9457 ``application/problem+json``.

One exception view per kind of failure; none of them leaks a traceback, and
an unexpected exception is logged here and answered as a bare 500.
"""

import logging
from urllib.parse import quote

from pyramid.httpexceptions import HTTPException
from pyramid.response import Response
from pyramid.security import NO_PERMISSION_REQUIRED
from pyramid.view import exception_view_config, forbidden_view_config, notfound_view_config
from ZODB.POSException import ConflictError

from ..domain.changes import Gone
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
from ..model import Groups, Users
from ..paths import NAME_RULE, is_valid_name
from .db import NotInitialized
from .problems import MembershipError
from .rendering import dumps
from .schemas import NO_SUCH_GROUP, NO_SUCH_USER
from .security import AUTH_FAILED, ISSUER_UNAVAILABLE, JWT_REFUSED, THROTTLED, ScopeDenied

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
    (Gone, 410, "Gone"),
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
    extra = {k: v for k, v in exc.facts.items() if k in ("operation", "item")}
    detail = exc.message
    cause = exc.cause if isinstance(exc, BulkOperationFailed) else exc
    permission = cause.facts.get("permission") if isinstance(cause, NotPermitted) else None
    if permission is not None:
        extra["permission"] = permission
        if permission not in detail:
            detail = f"{detail} (missing permission: {permission})"
    return problem(status, title, detail, errors=errors, **extra)


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
    context = getattr(request, "context", None)
    if name and not allowed and isinstance(context, Groups | Users):
        # Traversal stopped at a name its container does not hold.
        missing = f"{context.path.rstrip('/')}/{name}"
        if isinstance(context, Groups):
            return problem(404, "Not Found", f"no group at {missing}", type=NO_SUCH_GROUP)
        return problem(404, "Not Found", f"there is no user {name!r}", type=NO_SUCH_USER)
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
        if request.environ.get(ISSUER_UNAVAILABLE):
            return problem(
                503,
                "Service Unavailable",
                "the identity provider's signing keys cannot be fetched to check this token; "
                "try again later",
                headers={"Retry-After": "30"},
            )
        refused = request.environ.get(JWT_REFUSED)
        if refused is not None:
            return problem(
                401,
                "Unauthorized",
                f"the bearer token was not accepted: {refused}",
                errors=[{"field": "Authorization", "message": refused}],
                headers={
                    "WWW-Authenticate": bearer_challenge("invalid_token", error_description=refused)
                },
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
    denied = getattr(exc, "result", None)
    permission = getattr(denied, "permission", None)
    detail = f"not allowed to {request.method} {request.path}"
    if isinstance(denied, ScopeDenied):
        held = request.identity.scopes if request.identity else None
        return problem(
            403,
            "Forbidden",
            f"{detail} with these credentials: that needs the {denied.scope!r} scope "
            f"(permission {str(permission)!r}); they have {' '.join(held or ()) or 'none'}",
            permission=str(permission),
            scope=denied.scope,
            headers={
                "WWW-Authenticate": bearer_challenge("insufficient_scope", scope=denied.scope)
            },
        )
    if permission is None:
        return problem(403, "Forbidden", exc.detail or detail)
    return problem(
        403,
        "Forbidden",
        f"{detail}: that needs the {str(permission)!r} permission here, which you do not hold",
        permission=str(permission),
    )


def bearer_challenge(error: str, **params: str) -> str:
    """An RFC 6750 ``WWW-Authenticate: Bearer`` challenge; values are quoted-strings,
    so a quote, a backslash or a control character never reaches the header."""
    parts = [f'realm="membership", error="{error}"']
    for name, value in params.items():
        clean = "".join(ch if " " <= ch <= "~" and ch not in '"\\' else "?" for ch in value)
        parts.append(f'{name}="{clean[:300]}"')
    return "Bearer " + ", ".join(parts)


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
    methods: set[str] = set()
    for view_methods, _ in _views_here(request):
        methods.update(view_methods)
    if "GET" in methods:
        methods.add("HEAD")
    return methods


def view_permission(request, method: str) -> str | None:
    """The permission the view for ``method`` here requires (None: none, or no such view)."""
    for view_methods, permission in _views_here(request):
        if method in view_methods and permission is not None:
            return permission
    return None


def _views_here(request) -> list[tuple[tuple[str, ...], str | None]]:
    context = getattr(request, "context", None)
    if context is None:
        return []
    name = request.view_name
    return [
        (view_methods, permission)
        for context_type, view_name, view_methods, permission in _method_table(request.registry)
        if view_name == name and isinstance(context, context_type)
    ]


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
            if view.get("route_name"):
                continue  # the admin UI's pages (/ui/): not methods of the API's resources
            if isinstance(methods, str):
                methods = (methods,)
            permission = next(
                (
                    related["value"]
                    for related in intr["related"]
                    if related.category_name == "permissions"
                ),
                None,
            )
            if permission == NO_PERMISSION_REQUIRED:
                permission = None
            table.append((context, view["name"], tuple(methods), permission))
        registry._membership_methods = table
    return table
