"""Personal access tokens: ``/users/<id>/tokens``. The secret is shown once, at creation."""

from pyramid.request import Request
from pyramid.view import view_config

from ... import clock
from ...domain import tokens
from ...model import Token, Tokens
from ...permissions import Permission
from ...scopes import ADMIN
from ..http import created, etag_of, no_content, read_body, url
from ..schemas import TokenCreate


def token_body(request: Request, token: Token) -> dict:
    return {
        "id": token.id,
        "name": token.name,
        "created": clock.rfc3339(token.created),
        "expires_at": clock.rfc3339(token.expires_at),
        "expired": token.is_expired(),
        "token": None,
        "scopes": list(token.scopes or (ADMIN,)),
        "links": {"self": url(request, token.user, "tokens", token.id)},
    }


@view_config(
    context=Tokens, request_method="POST", permission=Permission.MANAGE_TOKENS, renderer="json"
)
def create_token(context: Tokens, request: Request) -> dict:
    data = read_body(request, TokenCreate)
    token, secret = tokens.create_token(
        request.domain,
        context.user,
        name=data.name,
        expires_at=data.expires_at,
        scopes=data.scopes,
    )
    body = token_body(request, token)
    etag_of(request, body)  # what a GET shows: the secret is in this answer only
    created(request, body["links"]["self"])
    return {**body, "token": secret}


@view_config(
    context=Tokens, request_method="GET", permission=Permission.MANAGE_TOKENS, renderer="json"
)
def list_tokens(context: Tokens, request: Request) -> dict:
    return {"items": [token_body(request, token) for token in context.values()]}


@view_config(
    context=Token, request_method="GET", permission=Permission.MANAGE_TOKENS, renderer="json"
)
def get_token(context: Token, request: Request) -> dict:
    return token_body(request, context)


@view_config(context=Token, request_method="DELETE", permission=Permission.MANAGE_TOKENS)
def revoke_token(context: Token, request: Request):
    tokens.revoke_token(request.domain, context.user, context.id)
    return no_content(request)
