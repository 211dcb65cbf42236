"""Token digest -> (user, token id): how a Bearer request finds its token."""

from ..domain.context import Context
from ..domain.events import TokenCreated, TokenRevoked, UserDeleted, subscriber


@subscriber(TokenCreated)
def token_created(ctx: Context, event: TokenCreated) -> None:
    token = event.token
    ctx.root.token_digests[token.digest] = (token.user.id, token.id)


@subscriber(TokenRevoked)
def token_revoked(ctx: Context, event: TokenRevoked) -> None:
    ctx.root.token_digests.pop(event.token.digest, None)


@subscriber(UserDeleted)
def user_deleted(ctx: Context, event: UserDeleted) -> None:
    for token in event.tokens:
        ctx.root.token_digests.pop(token.digest, None)
