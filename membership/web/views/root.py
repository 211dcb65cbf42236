"""``GET /``: the service document."""

from importlib.metadata import PackageNotFoundError, version

from pyramid.httpexceptions import HTTPForbidden
from pyramid.view import view_config

from ...model import Root
from ..http import url
from ..security import AUTH_FAILED, effective_principals


def _version() -> str:
    try:
        return version("membership")
    except PackageNotFoundError:  # a source tree that was never installed
        return "unknown"


VERSION = _version()


@view_config(context=Root, request_method="GET", renderer="json")
def service_document(context: Root, request) -> dict:
    """Who is asking and what they carry. Bad credentials are refused even here,
    so a client with a typo'd password learns it at once instead of reading as anonymous."""
    identity = request.identity
    if identity is None and request.environ.get(AUTH_FAILED):
        raise HTTPForbidden()
    return {
        "service": "membership",
        "version": VERSION,
        "identity": {
            "user": identity.userid if identity and identity.client is None else None,
            "authenticated_by": identity.method if identity else None,
            "principals": effective_principals(request),
            "client": identity.client if identity else None,
            "issuer": identity.issuer if identity else None,
            "subject": identity.subject if identity else None,
            "scopes": list(identity.scopes) if identity and identity.scopes is not None else None,
        },
        "links": {
            "self": url(request, "/"),
            "users": url(request, "/users"),
            "groups": url(request, "/groups"),
            "acl": url(request, "/acl"),
            "history": url(request, "/history"),
        },
    }
