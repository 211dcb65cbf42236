"""``/ui/login`` and ``/ui/logout``: a form, a session cookie, the API's login throttle."""

from pyramid.httpexceptions import HTTPSeeOther
from pyramid.security import NO_PERMISSION_REQUIRED
from pyramid.view import view_config

from ...model import Root
from ...paths import is_valid_name
from ...web.throttle import Throttled
from ..common import ROUTE, Form, render, ui_path
from ..session import end_session, start_session


def safe_target(request, came_from: str | None) -> str:
    """Where to go after logging in: a page of this UI, never another site."""
    home = ui_path(request, "/")
    base = request.script_name + "/ui/"
    if (
        not came_from
        or not came_from.startswith(base)
        or "//" in came_from
        or "\\" in came_from
        or any(ord(c) < 0x21 for c in came_from)
        or came_from.startswith(base + "login")
    ):
        return home
    return came_from


def _login_view(**settings):
    return view_config(
        route_name=ROUTE,
        context=Root,
        name="login",
        permission=NO_PERMISSION_REQUIRED,
        require_csrf=True,
        **settings,
    )


@_login_view(request_method="GET")
def login_form(context, request):
    came_from = request.GET.get("came_from")
    if request.authenticated_userid is not None:
        return HTTPSeeOther(location=safe_target(request, came_from))
    form = Form("login", {"came_from": came_from or ""})
    return render(request, "login.jinja2", form=form)


@_login_view(request_method="POST")
def login(context, request):
    """Failed logins count against the same per-user and per-address limits as Basic."""
    userid = request.POST.get("user", "").strip()
    password = request.POST.get("password", "")
    came_from = request.POST.get("came_from", "")
    form = Form("login", {"user": userid, "came_from": came_from})
    throttle = request.registry.login_throttle
    address = request.remote_addr  # not X-Forwarded-For: anyone can send that
    key = userid if is_valid_name(userid) else "?invalid"
    try:
        throttle.check(key, address)
    except Throttled as exc:
        form.errors[""] = f"{exc}; try again in {exc.retry_after} seconds."
        response = render(request, "login.jinja2", status=429, form=form)
        response.headers["Retry-After"] = str(exc.retry_after)
        return response
    user = context.users.get(userid) if is_valid_name(userid) else None
    password_hash = user.password_hash if user is not None else None
    verified = request.registry.credentials.verify(password_hash, password)
    if not verified or user is None or getattr(user, "active", True) is False:
        throttle.failed(key, address)
        form.errors[""] = "Unknown user or wrong password."
        return render(request, "login.jinja2", status=403, form=form)
    throttle.succeeded(userid, address)
    start_session(request, userid, password_hash)
    return HTTPSeeOther(location=safe_target(request, came_from))


@view_config(
    route_name=ROUTE,
    context=Root,
    name="logout",
    request_method="POST",
    permission=NO_PERMISSION_REQUIRED,
    require_csrf=True,
)
def logout(context, request):
    end_session(request)
    request.session.flash("You have logged out.", "login")
    return HTTPSeeOther(location=ui_path(request, "/", "login"))
