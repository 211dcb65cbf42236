"""Linked identities: ``/users/<id>/identities``, the ``(issuer, subject)`` pairs of an
identity provider whose JWTs act as this user. Admins link and unlink (by
default nobody else holds ``manage-identities``); the user may read their own."""

from pyramid.request import Request
from pyramid.view import view_config

from ... import clock
from ...domain import identities
from ...model import Identities, LinkedIdentity
from ...permissions import MANAGE_IDENTITIES, Permission
from ..http import created, etag_of, no_content, read_body, url
from ..schemas import LinkedIdentityCreate


def identity_body(request: Request, identity: LinkedIdentity) -> dict:
    return {
        "id": identity.id,
        "issuer": identity.issuer,
        "subject": identity.subject,
        "created": clock.rfc3339(identity.created),
        "links": {"self": url(request, identity.user, "identities", identity.id)},
    }


@view_config(
    context=Identities, request_method="POST", permission=MANAGE_IDENTITIES, renderer="json"
)
def link_identity(context: Identities, request: Request) -> dict:
    data = read_body(request, LinkedIdentityCreate)
    identity = identities.link_identity(request.domain, context.user, data.issuer, data.subject)
    body = identity_body(request, identity)
    etag_of(request, body)
    created(request, body["links"]["self"])
    return body


@view_config(
    context=Identities, request_method="GET", permission=Permission.MANAGE_TOKENS, renderer="json"
)
def list_identities(context: Identities, request: Request) -> dict:
    return {"items": [identity_body(request, identity) for identity in context.values()]}


@view_config(
    context=LinkedIdentity,
    request_method="GET",
    permission=Permission.MANAGE_TOKENS,
    renderer="json",
)
def get_identity(context: LinkedIdentity, request: Request) -> dict:
    return identity_body(request, context)


@view_config(context=LinkedIdentity, request_method="DELETE", permission=MANAGE_IDENTITIES)
def unlink_identity(context: LinkedIdentity, request: Request):
    identities.unlink_identity(request.domain, context.user, context.id)
    return no_content(request)
