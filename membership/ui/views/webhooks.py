"""Webhook subscriptions: ``/ui/webhooks`` (yours, or all for admins; a new one) and
``/ui/webhooks/{id}`` (one, its delivery log; pause, resume, new secret, delete).

The permissions are the API's (``membership/web/views/webhooks.py``): anyone
logged in may list (their own) and create, where they hold ``view-history``
(the domain's rule, shown by the ``path`` field); a subscription is seen and
changed by its owner and the admins only (its ``__acl__``). The writes call
the same domain functions (``domain/webhooks.py``).
"""

import re
from datetime import UTC, datetime

from pyramid.response import Response

from ...domain import changes
from ...domain import webhooks as rules
from ...domain.errors import DomainError
from ...model.webhooks import Subscription, Webhooks
from ...permissions import Permission
from ...web.schemas import WebhookCreate
from ..common import Form, check, done, failed, form_values, render, ui_path, ui_view

#: Validation errors about one of the types (``types.3``) belong to the ``types`` field.
TYPE_FIELDS = {f"types.{n}": "types" for n in range(rules.MAX_TYPES + 1)}


def split_types(text: str) -> list[str]:
    """``membership.* group.created`` or one per line, or with commas."""
    return [each for each in re.split(r"[\s,]+", text) if each]


def _allow_private(request) -> bool:
    return request.registry.membership_settings.webhooks_allow_private


def stamp(value: float | None) -> datetime | None:
    return None if not value else datetime.fromtimestamp(value, UTC)


@ui_view(Webhooks, permission=Permission.VIEW)
def webhooks_page(
    context: Webhooks,
    request,
    status: int = 200,
    form: Form | None = None,
    created: tuple | None = None,
) -> Response:
    """``GET /webhooks``: yours (all of them for admins), and the form for a new one."""
    found = sorted(rules.visible_subscriptions(request.domain), key=lambda s: s.created)
    return render(
        request,
        "webhooks.jinja2",
        status=status,
        form=form,
        subscriptions=found,
        created=created,
        path=request.GET.get("path", "").strip()[:300] or "/",
    )


@ui_view(Webhooks, name="create", method="POST", permission=Permission.VIEW)
def create_webhook(context: Webhooks, request):
    """``POST /webhooks``: the secret is shown once, in this answer only."""
    values = form_values(request, "url", "types", "path", "description")
    types = split_types(values["types"])
    try:
        check(
            WebhookCreate,
            url=values["url"],
            types=types,
            path=values["path"] or None,
            description=values["description"],
        )
        subscription, secret = rules.create_subscription(
            request.domain,
            url=values["url"],
            types=types,
            path=values["path"] or None,
            description=values["description"],
            allow_private=_allow_private(request),
        )
    except DomainError as exc:
        again = lambda **kw: webhooks_page(context, request, **kw)  # noqa: E731
        return failed(request, exc, Form("new-webhook", values), again, TYPE_FIELDS)
    return webhooks_page(context, request, status=201, created=(subscription, secret))


@ui_view(Subscription, permission=Permission.VIEW)
def webhook_page(
    context: Subscription,
    request,
    status: int = 200,
    form: Form | None = None,
    secret: str | None = None,
) -> Response:
    """``GET /webhooks/{id}`` and ``…/deliveries`` (newest first)."""
    state = context.state
    return render(
        request,
        "webhook.jinja2",
        status=status,
        form=form,
        hook=context,
        cursor=changes.encode_position(state.cursor),
        failing_since=stamp(state.failing_since),
        next_attempt=stamp(state.next_attempt) if context.active else None,
        deliveries=list(reversed(state.log)),
        secret=secret,
    )


def _again(context, request):
    return lambda **kw: webhook_page(context, request, **kw)


def _set_active(context: Subscription, request, active: bool):
    """``PATCH /webhooks/{id} {"active": …}``."""
    try:
        rules.update_subscription(
            request.domain, context, active=active, allow_private=_allow_private(request)
        )
    except DomainError as exc:
        return failed(request, exc, Form("state"), _again(context, request))
    message = "Resumed: deliveries go on from where they stopped." if active else "Paused."
    return done(request, message, ui_path(request, context), "state")


@ui_view(Subscription, name="pause", method="POST", permission=Permission.EDIT)
def pause_webhook(context: Subscription, request):
    return _set_active(context, request, False)


@ui_view(Subscription, name="resume", method="POST", permission=Permission.EDIT)
def resume_webhook(context: Subscription, request):
    return _set_active(context, request, True)


@ui_view(Subscription, name="rotate-secret", method="POST", permission=Permission.EDIT)
def rotate_secret(context: Subscription, request):
    """``POST /webhooks/{id}/rotate-secret``: the new secret shown once; the old one keeps
    signing beside it for a day."""
    secret = rules.rotate_secret(request.domain, context)
    return webhook_page(context, request, secret=secret)


@ui_view(Subscription, name="delete", method="POST", permission=Permission.DELETE)
def delete_webhook(context: Subscription, request):
    """``DELETE /webhooks/{id}``."""
    url = context.url
    rules.delete_subscription(request.domain, context)
    return done(request, f"Subscription to {url} deleted.", ui_path(request, "/webhooks"))
