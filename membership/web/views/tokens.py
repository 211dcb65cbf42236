"""Personal access tokens: ``/users/<id>/tokens``. The secret is shown once, at creation."""

from pyramid.request import Request
from pyramid.view import view_config

from ... import clock
from ...domain import tokens
from ...model import Token, Tokens
from ...permissions import Permission
from ..http import created, no_content, read_body, url
from ..schemas import TokenCreate


def token_body(request: Request, token: Token) -> dict:
    body = {
        "id": token.id,
        "name": token.name,
        "created": clock.rfc3339(token.created),
        "links": {"self": url(request, token.user, "tokens", token.id)},
    }
    if token.expires_at is not None:
        body["expires_at"] = clock.rfc3339(token.expires_at)
    body["expired"] = token.is_expired()
    return body


@view_config(
    context=Tokens, request_method="POST", permission=Permission.MANAGE_TOKENS, renderer="json"
)
def create_token(context: Tokens, request: Request) -> dict:
    data = read_body(request, TokenCreate)
    token, secret = tokens.create_token(
        request.domain, context.user, name=data.name, expires_at=data.expires_at
    )
    body = token_body(request, token)
    body["token"] = secret
    created(request, body["links"]["self"])
    return body


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
