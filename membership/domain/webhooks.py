"""Webhook subscriptions: who may subscribe to what, and the changes to a subscription.

Rules: an admin may subscribe to anything; anyone else to the changes of a
group or user on which they hold ``view-history`` (``path``), and only while
they hold it (the dispatcher checks before each delivery). A subscription is
seen and changed by its owner and the admins only. The secret
(``whsec_`` + base64 of 32 random bytes) is shown once; after a rotation the
old one keeps signing beside the new one for a day.
"""

import base64
import re
import secrets

from ZODB.utils import u64

from .. import addresses, clock
from ..model import Root, node_at
from ..model.webhooks import Subscription, Webhooks
from ..paths import ROOT_PATH, parse_principal
from ..permissions import Permission
from .changes import Gone, Position, decode_position, latest
from .context import Actor, Context
from .errors import InvalidValue, NotFound, NotPermitted, Unprocessable
from .events import WebhookChanged, WebhookCreated, WebhookDeleted, WebhookDisabled

#: How long the previous secret keeps signing after a rotation.
OLD_SECRET_SECONDS = 24 * 3600
SECRET_BYTES = 32
MAX_TYPES = 50
TYPE_PATTERN = re.compile(r"^[a-z*][a-z.*]{0,99}$")


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode("ascii")


def current_position(root: Root) -> Position:
    """ "Now" in the feed: after everything committed so far."""
    jar = root._p_jar
    tid = u64(jar.db().lastTransaction()) if jar is not None else 0
    return latest(root.feed, tid)


def _check_url(url: str, allow_private: bool) -> None:
    try:
        addresses.check(url, allow_private=allow_private)
    except addresses.AddressRefused as exc:
        raise Unprocessable(f"url: {exc}", subject="url") from None


def _check_types(types: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    if len(types) > MAX_TYPES:
        raise InvalidValue(f"types: at most {MAX_TYPES}", subject="types")
    for each in types:
        if not TYPE_PATTERN.fullmatch(each):
            raise InvalidValue(
                f"types: {each!r} is not an event type or a glob such as membership.*",
                subject="types",
            )
    return tuple(dict.fromkeys(types))


def _scope(ctx: Context, path: str) -> str | None:
    """The history key the subscription follows (None: everything), after the rule."""
    node = node_at(ctx.root, path)
    if node is None:
        raise NotFound(f"path: nothing at {path}", subject="path")
    if not ctx.actor.may(Permission.VIEW_HISTORY, node):
        raise NotPermitted(
            f"subscribing to {path} needs view-history there",
            subject="path",
            permission=str(Permission.VIEW_HISTORY),
        )
    return None if path == ROOT_PATH else node.history_key


def may_receive(root: Root, subscription: Subscription) -> bool:
    """Whether the owner still holds ``view-history`` where the subscription looks."""
    owner = subscription.owner
    if owner.startswith("system:"):
        return True
    client = parse_principal(owner)
    if client is not None and client.kind == "client":
        actor = Actor.oauth_client(client.name)
    elif root.users.get(owner) is None:
        return False
    else:
        actor = Actor.user(root, owner)
    node = node_at(root, subscription.feed_path)
    if node is None:  # the group went; nothing will match its id again
        return True
    return actor.may(Permission.VIEW_HISTORY, node)


def create_subscription(
    ctx: Context,
    *,
    url: str,
    types: list[str] | tuple[str, ...] = (),
    path: str | None = None,
    description: str = "",
    allow_private: bool = False,
) -> tuple[Subscription, str]:
    """A new subscription starting after everything committed now, and its secret."""
    path = path or ROOT_PATH
    if ctx.actor.principal is None and not ctx.actor.system:
        raise NotPermitted("log in to subscribe", permission=str(Permission.VIEW_HISTORY))
    scope = _scope(ctx, path)
    _check_url(url, allow_private)
    webhooks: Webhooks = ctx.root.webhooks
    secret = new_secret()
    subscription = Subscription(
        url=url,
        types=_check_types(types),
        feed_path=path,
        scope=scope,
        description=description,
        owner=ctx.actor.id,
        secret=secret,
        cursor=current_position(ctx.root),
        created=clock.now(),
    )
    sub_id = secrets.token_hex(8)
    while sub_id in webhooks._items:
        sub_id = secrets.token_hex(8)
    webhooks.attach(sub_id, subscription)
    ctx.notify(
        WebhookCreated(subscription.path, after=subscription.fields(), subscription=subscription)
    )
    return subscription, secret


def visible_subscriptions(ctx: Context) -> list[Subscription]:
    """Every subscription for admins; one's own for anyone else."""
    values = ctx.root.webhooks.values()
    if ctx.actor.is_admin:
        return list(values)
    return [each for each in values if each.owner == ctx.actor.id]


def update_subscription(
    ctx: Context,
    subscription: Subscription,
    *,
    url: str | None = None,
    types: list[str] | None = None,
    description: str | None = None,
    active: bool | None = None,
    cursor: str | None = None,
    allow_private: bool = False,
) -> Subscription:
    """Change what PATCH may change; ``cursor`` (24 hex, or ``now``) replays from there."""
    before = subscription.fields()
    if url is not None and url != subscription.url:
        _check_url(url, allow_private)
        subscription.url = url
    if types is not None:
        subscription.types = _check_types(types)
    if description is not None:
        subscription.description = description
    if active is not None and active != subscription.active:
        subscription.active = active
        if active:  # enabled again: a fresh start of the failure window
            subscription.disabled_reason = ""
            subscription.state.succeeded()
    if cursor is not None:
        position = (
            current_position(ctx.root) if cursor == "now" else decode_position(cursor, "cursor")
        )
        if position.tid < ctx.root.feed.floor:
            raise Gone(
                "cursor: older than what the feed still holds; resync, then use 'now'",
                subject="cursor",
            )
        subscription.state.set_cursor(position)
    after = subscription.fields()
    changed = [key for key in after if after[key] != before[key]]
    if cursor is not None:
        before["cursor"], after["cursor"] = None, cursor
        changed.append("cursor")
    if changed:
        subscription.modified = clock.now()
        ctx.notify(
            WebhookChanged(
                subscription.path,
                before={k: before[k] for k in changed},
                after={k: after[k] for k in changed},
                subscription=subscription,
            )
        )
    return subscription


def rotate_secret(ctx: Context, subscription: Subscription) -> str:
    """A new secret; the old one keeps signing beside it for a day."""
    now = clock.now()
    subscription.old_secret = subscription.secret
    subscription.old_secret_until = now.timestamp() + OLD_SECRET_SECONDS
    subscription.secret = new_secret()
    subscription.modified = now
    ctx.notify(
        WebhookChanged(
            subscription.path,
            before={"secret": "old"},
            after={"secret": "new"},
            subscription=subscription,
        )
    )
    return subscription.secret


def delete_subscription(ctx: Context, subscription: Subscription) -> None:
    ctx.root.webhooks.detach(subscription.id)
    ctx.notify(
        WebhookDeleted(subscription.path, before=subscription.fields(), subscription=subscription)
    )


def disable(ctx: Context, subscription: Subscription, reason: str) -> None:
    """Stop delivering (a 410 from the receiver, a day of failures, a lost permission)."""
    if not subscription.active:
        return
    subscription.active = False
    subscription.disabled_reason = reason
    subscription.modified = clock.now()
    ctx.notify(
        WebhookDisabled(
            subscription.path,
            before={"active": True},
            after={"active": False, "reason": reason},
            subscription=subscription,
            reason=reason,
        )
    )
