"""Webhook subscriptions: ``/webhooks`` and ``/webhooks/{id}`` (``…/test``,
``…/rotate-secret``, ``…/deliveries``). The secret is shown when it is made, only.

Deliveries are the dispatcher's (``membership.dispatch``); ``…/test`` sends
one signed ``webhook.test`` message from here and answers what happened.
"""

import secrets
import time
from collections.abc import Iterator
from datetime import UTC, datetime

from pyramid.request import Request
from pyramid.response import Response
from pyramid.view import view_config

from ... import clock
from ...dispatch import sending
from ...domain import changes, webhooks
from ...model.webhooks import Subscription, Webhooks
from ...permissions import Permission
from ..http import created, no_content, read_body, url
from ..rendering import dumps
from ..schemas import WebhookCreate, WebhookPatch


def _time(stamp: float | None) -> str | None:
    return None if not stamp else clock.rfc3339(datetime.fromtimestamp(stamp, UTC))


def webhook_body(request: Request, subscription: Subscription, secret: str | None = None):
    state = subscription.state
    body = {
        "id": subscription.id,
        "url": subscription.url,
        "types": list(subscription.types),
        "path": subscription.feed_path,
        "description": subscription.description,
        "active": subscription.active,
        "owner": subscription.owner,
        "created": clock.rfc3339(subscription.created),
        "modified": clock.rfc3339(subscription.modified),
        "cursor": changes.encode_position(state.cursor),
        "attempts": state.attempts,
        "links": {
            "self": url(request, subscription),
            "deliveries": url(request, subscription, "deliveries"),
        },
    }
    if subscription.disabled_reason:
        body["disabled_reason"] = subscription.disabled_reason
    if state.failing_since is not None:
        body["failing_since"] = _time(state.failing_since)
    if state.next_attempt and subscription.active:
        body["next_attempt"] = _time(state.next_attempt)
    if state.last_error:
        body["last_error"] = state.last_error
    if secret is not None:
        body["secret"] = secret
    return body


def _allow_private(request: Request) -> bool:
    return request.registry.membership_settings.webhooks_allow_private


@view_config(context=Webhooks, request_method="POST", permission=Permission.VIEW, renderer="json")
def create_webhook(context: Webhooks, request: Request) -> dict:
    data = read_body(request, WebhookCreate)
    subscription, secret = webhooks.create_subscription(
        request.domain,
        url=data.url,
        types=data.types,
        path=data.path,
        description=data.description,
        allow_private=_allow_private(request),
    )
    body = webhook_body(request, subscription, secret)
    created(request, body["links"]["self"])
    return body


@view_config(context=Webhooks, request_method="GET", permission=Permission.VIEW, renderer="json")
def list_webhooks(context: Webhooks, request: Request) -> dict:
    found = webhooks.visible_subscriptions(request.domain)
    return {"items": [webhook_body(request, each) for each in found]}


@view_config(
    context=Subscription, request_method="GET", permission=Permission.VIEW, renderer="json"
)
def get_webhook(context: Subscription, request: Request) -> dict:
    return webhook_body(request, context)


@view_config(
    context=Subscription, request_method="PATCH", permission=Permission.EDIT, renderer="json"
)
def update_webhook(context: Subscription, request: Request) -> dict:
    data = read_body(request, WebhookPatch)
    webhooks.update_subscription(
        request.domain,
        context,
        url=data.url,
        types=data.types,
        description=data.description,
        active=data.active,
        cursor=data.cursor,
        allow_private=_allow_private(request),
    )
    return webhook_body(request, context)


@view_config(context=Subscription, request_method="DELETE", permission=Permission.DELETE)
def delete_webhook(context: Subscription, request: Request):
    webhooks.delete_subscription(request.domain, context)
    return no_content(request)


@view_config(
    context=Subscription,
    name="rotate-secret",
    request_method="POST",
    permission=Permission.EDIT,
    renderer="json",
)
def rotate_secret(context: Subscription, request: Request) -> dict:
    secret = webhooks.rotate_secret(request.domain, context)
    return webhook_body(request, context, secret)


@view_config(
    context=Subscription,
    name="test",
    request_method="POST",
    permission=Permission.EDIT,
)
def test_webhook(context: Subscription, request: Request) -> Response:
    """One signed ``webhook.test`` message, now; the cursor does not move.

    The POST can take ``membership.webhooks.timeout`` (10 s): it must not hold
    the request's ZODB connection and transaction meanwhile, as the
    dispatcher never does. So the view reads what the message needs (URL,
    signing secrets) and answers a response whose body sends the message:
    by the time the server asks for the body, pyramid_tm has ended the
    transaction and pyramid_zodbconn has given the connection back to the
    pool. The status is 200 whatever the receiver answered (``ok`` says).
    """
    settings = request.registry.membership_settings
    now = time.time()
    msg_id = f"test_{secrets.token_hex(8)}"
    url = context.url
    data = {"webhook": context.id, "url": url}
    body = sending.message("webhook.test", clock.rfc3339(clock.now()), data)
    headers = sending.signed_headers(msg_id, body, context.signing_secrets(now), now)

    def send() -> Iterator[bytes]:
        attempt = sending.post(
            url,
            body,
            headers,
            timeout=settings.webhooks_timeout,
            allow_private=settings.webhooks_allow_private,
        )
        yield dumps(
            {
                "ok": attempt.ok,
                "status": attempt.status,
                "latency_ms": round(attempt.latency * 1000, 1),
                "error": attempt.error,
                "id": msg_id,
            }
        )

    response = request.response
    response.content_type = "application/json"
    response.charset = None
    response.app_iter = send()
    return response


@view_config(
    context=Subscription,
    name="deliveries",
    request_method="GET",
    permission=Permission.VIEW,
    renderer="json",
)
def list_deliveries(context: Subscription, request: Request) -> dict:
    return {"items": [dict(entry) for entry in reversed(context.state.log)]}
