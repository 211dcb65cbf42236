"""What every UI view shares: registration, rendering, forms, errors in words.

Every UI view is registered on the ``ui`` route (``/ui/*traverse``) with
``ui_view``: the same traversal, the same ``__acl__`` and the same
permission names as the JSON view that does the same thing, and Pyramid's
CSRF check on every unsafe method. A write calls the same domain function
as the API with ``request.domain``; a refusal is shown next to the form
field the domain error names (``exc.subject``), the transaction is doomed
so nothing of it is kept, and the page answers the status the API would.
Success redirects (303) to the page, with a one-shot message.
"""

import base64
import binascii
import functools
import json
from collections.abc import Callable
from datetime import UTC, datetime
from urllib.parse import urlencode

from pydantic import BaseModel, ValidationError
from pyramid.httpexceptions import HTTPForbidden, HTTPSeeOther
from pyramid.renderers import render as pyramid_render
from pyramid.renderers import render_to_response
from pyramid.response import Response
from pyramid.security import NO_PERMISSION_REQUIRED
from pyramid.view import view_config

from .. import clock
from ..domain.errors import DomainError, InvalidValue, Unprocessable
from ..model import Group, Root, User
from ..paths import ADMINS_PRINCIPAL, NAME_RULE
from ..permissions import Permission
from ..web.errors import domain_status
from .session import PREFIX

ROUTE = "ui"
TEMPLATES = "membership.ui:templates/"
PAGE_SIZE = 50


def ui_view(
    context, name: str = "", method: str = "GET", permission: str | None = None, depth: int = 0
):
    """``view_config`` on the UI route. ``permission=None``: any logged-in user.
    ``depth``: how many decorators deep this is called (for venusian's scan)."""

    def decorate(func):
        view = func if permission is not None else _logged_in(func)
        return view_config(
            route_name=ROUTE,
            context=context,
            name=name,
            request_method=method,
            permission=permission or NO_PERMISSION_REQUIRED,
            require_csrf=True,
            _depth=1 + depth,
        )(view)

    return decorate


def _logged_in(func):
    @functools.wraps(func)
    def view(context, request, **kw):
        if request.authenticated_userid is None:
            raise HTTPForbidden()  # the UI's forbidden view sends it to /ui/login
        return func(context, request, **kw)

    return view


def ui_path(request, target, *suffix: str, **query) -> str:
    """``/ui`` + the node's path (or a path) + view names, with a query string."""
    path = target if isinstance(target, str) else target.path
    base = request.script_name + PREFIX
    url = base + path.rstrip("/")
    for part in suffix:
        url += "/" + part
    if url == base:
        url += "/"
    params = {k: v for k, v in query.items() if v not in (None, "")}
    if params:
        url += "?" + urlencode(params)
    return url


def is_htmx(request) -> bool:
    return request.headers.get("HX-Request") == "true"


def encode_cursor(key: str) -> str:
    raw = json.dumps(key, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def decode_cursor(cursor: str | None) -> str | None:
    """The key a cursor names; ``None`` (start over) for anything this UI did not issue."""
    if not cursor or len(cursor) > 512:
        return None
    try:
        key = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, UnicodeError, binascii.Error):
        return None
    return key if isinstance(key, str) else None


def parse_time(text: str, field: str) -> datetime | None:
    """A form's date/time: ``YYYY-MM-DD``, ``YYYY-MM-DDTHH:MM`` (UTC) or RFC 3339."""
    text = (text or "").strip()
    if not text:
        return None
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidValue(
            f"{field}: not a date and time", subject=field, subject_message="not a date and time"
        ) from None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def check(schema: type[BaseModel], **data) -> BaseModel:
    """Validate a form against the API's own request schema: the UI accepts nothing the
    API would refuse. The first problem is an ``Unprocessable`` naming the field (422)."""
    try:
        return schema.model_validate(data)
    except ValidationError as exc:
        error = exc.errors(include_url=False)[0]
        field = ".".join(str(part) for part in error["loc"]) or "body"
        message = _in_words(error, field)
        raise Unprocessable(f"{field}: {message}", subject=field) from None


def _in_words(error, field: str) -> str:
    kind, ctx = error["type"], error.get("ctx") or {}
    if kind == "string_pattern_mismatch":
        if "@" in str(ctx.get("pattern", "")):
            return "not an email address"
        if field == "to":
            return "must be a group's path, such as /groups/eng (or /groups: the top level)"
        return f"must be {NAME_RULE}"
    if kind == "string_too_short":
        return f"must be at least {ctx.get('min_length')} characters long"
    if kind == "string_too_long":
        return f"must be at most {ctx.get('max_length')} characters long"
    if kind == "literal_error":
        return f"must be one of {ctx.get('expected')}"
    return str(error["msg"])


def status_of(exc: DomainError) -> int:
    """The status the API answers this refusal with (``web/errors.py``'s table)."""
    return domain_status(exc)[0]


class Form:
    """A form that failed: its name, the values to show again, and errors per field.

    ``errors[""]`` is about the form as a whole; ``fields`` maps the domain's
    argument names (``exc.subject``) to this form's field names.
    """

    def __init__(self, name: str, values: dict | None = None, secret: tuple = ()) -> None:
        self.name = name
        self.values = values or {}
        #: Fields whose values are never shown again (passwords), but take errors.
        self.secret = secret
        self.errors: dict[str, str] = {}
        self.lines: list[tuple[int, str, str]] = []

    def add_error(self, exc: DomainError, fields: dict | None = None) -> None:
        subject = exc.subject or ""
        field = (fields or {}).get(subject, subject)
        if field and (field in self.values or field in self.secret):
            self.errors[field] = exc.subject_message
        else:
            self.errors[""] = exc.message


class UI:
    """The per-request helper every template gets as ``ui``."""

    def __init__(self, request, form: Form | None = None) -> None:
        self.request = request
        self.form = form

    # who is asking
    @property
    def me(self) -> str | None:
        return self.request.authenticated_userid

    @property
    def is_admin(self) -> bool:
        identity = self.request.identity
        return identity is not None and ADMINS_PRINCIPAL in identity.principals

    def may(self, permission: str, node) -> bool:
        """The ACL decision the API's view would take for this caller on ``node``."""
        return bool(self.request.has_permission(permission, node))

    @property
    def root(self) -> Root:
        return self.request.root

    @property
    def nav(self) -> dict:
        """Which of the main pages the caller may open (none when the tree is unreachable)."""
        root = getattr(self.request, "root", None)  # unset when the root factory failed
        if self.me is None or not isinstance(root, Root):
            return {}
        return {
            "users": self.may(Permission.VIEW, root.users),
            "history": self.may(Permission.VIEW_HISTORY, root),
            "access": self.may(Permission.MANAGE_ACL, root),
            "webhooks": root.webhooks is not None and self.may(Permission.VIEW, root.webhooks),
        }

    @property
    def csrf_token(self) -> str:
        return self.request.session.get_csrf_token()

    # links
    def url(self, target, *suffix: str, **query) -> str:
        return ui_path(self.request, target, *suffix, **query)

    def static(self, name: str) -> str:
        return self.request.static_path(f"membership.ui:static/{name}")

    def api_url(self, target) -> str:
        path = target if isinstance(target, str) else target.path
        return self.request.application_url + path

    # forms
    def error(self, form: str, field: str = "") -> str | None:
        if self.form is None or self.form.name != form:
            return None
        return self.form.errors.get(field)

    def value(self, form: str, field: str, default: str = "") -> str:
        if self.form is None or self.form.name != form:
            return default
        value = self.form.values.get(field)
        return default if value is None else value

    def lines(self, form: str) -> list:
        return self.form.lines if self.form is not None and self.form.name == form else []

    def messages(self, queue: str = "") -> list[str]:
        return self.request.session.pop_flash(queue)

    # formatting
    @staticmethod
    def time(value: datetime | str | None) -> str:
        if value is None:
            return ""
        if isinstance(value, str):
            try:
                value = datetime.fromisoformat(value.replace("Z", "+00:00"))
            except ValueError:
                return value
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")

    @staticmethod
    def expiry(expires_at: datetime | None) -> tuple[str, str] | None:
        """``(badge class, words)`` for a membership's expiry, or None when it has none."""
        if expires_at is None:
            return None
        left = expires_at - clock.now()
        if left.total_seconds() <= 0:
            return "bad", "expired " + expires_at.strftime("%Y-%m-%d")
        if left.days < 7:
            days = left.days
            return "warn", "expires " + ("today" if days == 0 else f"in {days} d")
        return "info", "until " + expires_at.strftime("%Y-%m-%d")

    @staticmethod
    def kind(node) -> str:
        if isinstance(node, Group):
            return "group"
        if isinstance(node, User):
            return "user"
        return "root"

    def crumbs(self, node) -> list[tuple[str, str]]:
        """``(label, url)`` from the top down to ``node`` (excluded)."""
        trail = []
        if isinstance(node, Group):
            trail = [(g.name, self.url(g)) for g in reversed(list(node.lineage()))][:-1]
            trail.insert(0, ("Groups", self.url("/")))
        elif isinstance(node, User) and self.may(Permission.VIEW, node.__parent__):
            trail = [("Users", self.url("/users"))]
        return trail


#: Every page: only this server's own files, never inside another site's frame.
CONTENT_SECURITY_POLICY = "default-src 'self'; frame-ancestors 'none'"


def render(request, template: str, *, status: int = 200, form: Form | None = None, **values):
    """A page (or a fragment) with the headers every UI page has."""
    response = render_to_response(
        TEMPLATES + template, {"ui": UI(request, form), **values}, request=request
    )
    response.status = status
    return with_page_headers(response)


def render_fragment(request, template: str, **values) -> str:
    """A piece of a page as text (the live history's rows)."""
    return pyramid_render(TEMPLATES + template, {"ui": UI(request), **values}, request=request)


def with_page_headers(response: Response) -> Response:
    """What every UI answer carries: the CSP, no framing, no caching."""
    headers = response.headers
    headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    headers["X-Frame-Options"] = "DENY"
    headers["Referrer-Policy"] = "same-origin"
    headers["Cache-Control"] = "no-store"
    headers["Vary"] = "HX-Request, Cookie"
    return response


def done(request, message: str, location: str, queue: str = "") -> Response:
    """After a write: a one-shot message, then 303 to the page (the no-JS path and htmx
    alike: htmx follows the redirect and swaps in the part of the page it asked for)."""
    request.session.flash(message, queue)
    return HTTPSeeOther(location=location)


def failed(
    request,
    exc: DomainError,
    form: Form,
    page: Callable[..., Response],
    fields: dict | None = None,
) -> Response:
    """A refused write: nothing of it is kept, the page again with the error in words."""
    request.tm.doom()
    form.add_error(exc, fields)
    return page(status=status_of(exc), form=form)


def form_values(request, *names: str) -> dict[str, str]:
    return {name: request.POST.get(name, "").strip() for name in names}
