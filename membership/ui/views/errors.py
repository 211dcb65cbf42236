"""Errors under ``/ui/`` as HTML pages in words, never problem+json, never a Basic challenge.

A visitor without a session is sent to ``/ui/login`` (htmx requests with
``HX-Redirect``, so the whole page goes there, not a fragment). These views
match every path under ``/ui`` (the pages and the static files), a predicate more than
``web/errors.py``'s views have, so they win there.
"""

import logging

from pyramid.csrf import BadCSRFOrigin, BadCSRFToken
from pyramid.httpexceptions import HTTPException, HTTPSeeOther
from pyramid.response import Response
from pyramid.view import exception_view_config, forbidden_view_config, notfound_view_config
from ZODB.POSException import ConflictError

from ...domain.errors import DomainError
from ...domain.setup import NotInitialized
from ...web.errors import logged_path
from ..common import is_htmx, render, status_of, ui_path
from ..session import UI_PATHS

log = logging.getLogger(__name__)


def to_login(request) -> Response:
    came_from = request.path_qs if request.method == "GET" and not is_htmx(request) else None
    location = ui_path(request, "/", "login", came_from=came_from)
    if is_htmx(request):
        response = Response(status=200)
        response.headers["HX-Redirect"] = location
        return response
    return HTTPSeeOther(location=location)


def error_page(request, status: int, title: str, detail: str, **headers) -> Response:
    response = render(request, "error.jinja2", status=status, title=title, detail=detail)
    if is_htmx(request):  # show it in place of the page's main part, not inside a section
        response.headers.update(
            {"HX-Retarget": "main", "HX-Reselect": "main", "HX-Reswap": "outerHTML"}
        )
    response.headers.update(headers)
    return response


@forbidden_view_config(path_info=UI_PATHS)
def forbidden(exc, request) -> Response:
    if request.authenticated_userid is None:
        return to_login(request)
    permission = getattr(getattr(exc, "result", None), "permission", None)
    detail = "You are not allowed to see or do this here."
    if permission is not None:
        detail = f"This needs the {permission} permission here, which you do not hold."
    return error_page(request, 403, "Not allowed", detail)


@notfound_view_config(path_info=UI_PATHS)
def not_found(exc, request) -> Response:
    if request.authenticated_userid is None:
        return to_login(request)
    return error_page(request, 404, "Not found", f"There is nothing at {request.path}.")


@exception_view_config(HTTPException, path_info=UI_PATHS)
def http_error(exc, request) -> Response:
    if exc.status_int < 400:
        return exc
    if isinstance(exc, BadCSRFToken | BadCSRFOrigin):
        return error_page(
            request,
            400,
            "Form expired",
            "This form was sent without its security token, or with an old one (did you "
            "log in again in another tab?). Go back, reload the page and try again.",
        )
    headers = {k: v for k, v in exc.headers.items() if k.lower() == "retry-after"}
    return error_page(request, exc.status_int, exc.title, exc.explanation or exc.title, **headers)


@exception_view_config(DomainError, path_info=UI_PATHS)
def domain_error(exc, request) -> Response:
    return error_page(request, status_of(exc), "Not done", exc.message)


@exception_view_config(Exception, path_info=UI_PATHS)
def unexpected(exc, request) -> Response:
    if isinstance(exc, ConflictError):
        return error_page(
            request,
            503,
            "Busy",
            "The change collided with other changes too often. Try again.",
            **{"Retry-After": "1"},
        )
    if isinstance(exc, NotInitialized):
        return error_page(
            request,
            503,
            "Not ready",
            "The database is not initialized yet: run initialize_membership_db.",
            **{"Retry-After": "10"},
        )
    log.exception("unhandled error on %s %s", request.method, logged_path(request.environ))
    request_id = request.environ.get("membership.request_id")
    return error_page(
        request,
        500,
        "Server error",
        f"The server failed to answer this request; it has been logged as {request_id}.",
    )
