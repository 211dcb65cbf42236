"""Personal access tokens: minted here, only their SHA-256 kept."""

from collections.abc import Iterable
from datetime import datetime

from ..credentials import new_token
from ..model import Token, User, mark_changed
from ..paths import token_path
from ..scopes import SCOPES, normalized
from .context import Context
from .errors import InvalidValue
from .events import TokenCreated, TokenRevoked


def create_token(
    ctx: Context,
    user: User,
    *,
    name: str = "",
    expires_at: datetime | None = None,
    scopes: Iterable[str] | None = None,
) -> tuple[Token, str]:
    """A new token and its secret (shown once; only the digest is stored).

    ``scopes`` narrow what the token may be used for (``membership.scopes``);
    None, or ``admin`` among them, is everything its user may do.

    Writes the user record, so a concurrent deletion of the user conflicts
    instead of leaving a token digest that names nobody.
    """
    if scopes is not None:
        unknown = [scope for scope in scopes if scope not in SCOPES]
        if unknown:
            raise InvalidValue(
                f"scopes: no scope {unknown[0]!r} (one of {', '.join(SCOPES)})", subject="scopes"
            )
        scopes = normalized(scopes)
        if not scopes:
            raise InvalidValue(
                "scopes: give at least one, or leave it out for admin", subject="scopes"
            )
    token_id, secret, digest = new_token()
    token = Token(user, digest, name, expires_at, scopes)
    token.__name__ = token_id
    user.token_records()[token_id] = token
    mark_changed(user)
    ctx.notify(
        TokenCreated(
            token_path(user.id, token_id),
            after=token.fields(),
            objects=(user.history_key,),
            token=token,
        )
    )
    return token, secret


def revoke_token(ctx: Context, user: User, token_id: str) -> None:
    token = user.token_records().pop(token_id)
    ctx.notify(
        TokenRevoked(
            token_path(user.id, token_id),
            before=token.fields(),
            objects=(user.history_key,),
            token=token,
        )
    )


def revoke_all(ctx: Context, user: User) -> int:
    tokens = user.tokens.values()
    for token in tokens:
        revoke_token(ctx, user, token.id)
    return len(tokens)
