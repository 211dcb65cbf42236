"""``OPTIONS`` on any resource: ``204`` with ``Allow``, the methods that URL answers.

Registered when ``config.scan()`` finds this module, for every context and
view name the API describes (``openapi.OPERATIONS``, which every view must
be in), so a new view gets its ``OPTIONS`` with its description. It asks
what ``GET`` asks there: credentials (unless ``GET`` needs none) and ``GET``'s
permission; anonymous callers get the same 401 as for anything else. CORS
preflights never reach it: the CORS tween answers them.
"""

import venusian
from pyramid.httpexceptions import HTTPForbidden
from pyramid.request import Request
from pyramid.security import NO_PERMISSION_REQUIRED

from ..errors import allowed_methods, view_permission
from ..http import no_content
from ..openapi import ALIASES, OPERATIONS
from ..security import AUTH_FAILED


def described_views() -> list[tuple[type, str]]:
    """``(context, view name)`` of every described view, aliases (``NonMember``) included.

    Views that read the rest of the path themselves (``/groups/@id/<id>``:
    ``subpath``) answer ``OPTIONS`` beside their ``GET``, which knows what it names.
    """
    pairs = dict.fromkeys(
        (context, name)
        for (context, name, _), operation in OPERATIONS.items()
        if "subpath" not in operation.extra
    )
    for alias, context in ALIASES.items():
        pairs.update(dict.fromkeys((alias, name) for c, name in list(pairs) if c is context))
    return list(pairs)


def options(context, request: Request):
    key = (ALIASES.get(type(context), type(context)), request.view_name, "GET")
    get = OPERATIONS.get(key)
    auth = "required" if get is None else get.auth
    if auth != "none" and request.authenticated_userid is None:
        if auth == "required" or request.environ.get(AUTH_FAILED):
            raise HTTPForbidden()  # the forbidden view answers 401
    permission = view_permission(request, "GET")
    if permission is not None:
        allowed = request.has_permission(permission, context)
        if not allowed:
            raise HTTPForbidden(result=allowed)
    return allow_answer(request)


def allow_answer(request: Request):
    """``204`` with ``Allow``: the methods this URL answers."""
    response = no_content(request)
    response.headers["Allow"] = ", ".join(sorted(allowed_methods(request)))
    return response


def _register(scanner, name, ob) -> None:
    for context, view_name in described_views():
        scanner.config.add_view(
            ob,
            context=context,
            name=view_name,
            request_method="OPTIONS",
            permission=NO_PERMISSION_REQUIRED,
        )


venusian.attach(options, _register, category="pyramid", depth=0)
