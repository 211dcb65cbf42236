"""``/ui/login`` and ``/ui/logout``: a form, a session cookie, the API's login throttle;
and "Log in with <IdP>" (``/ui/login/oidc``, ``/ui/login/callback``) when the UI has an
OAuth client at the identity provider (``membership.ui.oidc_client_id``)."""

import logging

from pyramid.httpexceptions import HTTPFound, HTTPSeeOther
from pyramid.security import NO_PERMISSION_REQUIRED
from pyramid.view import view_config

from ...model import Root
from ...paths import is_valid_name
from ...web.oidc import Flow, IssuerUnavailable, LoginFailed, user_for
from ...web.throttle import Throttled
from ..common import ROUTE, Form, render, ui_path
from ..session import FLOW_PATH, drop_flow, end_session, keep_flow, start_session, take_flow

log = logging.getLogger(__name__)


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


def _login_view(subpath: str = "", **settings):
    return view_config(
        route_name=ROUTE,
        context=Root,
        name="login",
        subpath=subpath,
        permission=NO_PERMISSION_REQUIRED,
        require_csrf=True,
        **settings,
    )


def login_page(request, form: Form, status: int = 200):
    client = request.registry.ui_login
    return render(
        request,
        "login.jinja2",
        status=status,
        form=form,
        oidc_name=request.registry.membership_settings.ui_oidc_name if client else None,
    )


@_login_view(request_method="GET")
def login_form(context, request):
    came_from = request.GET.get("came_from")
    if request.authenticated_userid is not None:
        return HTTPSeeOther(location=safe_target(request, came_from))
    form = Form("login", {"came_from": came_from or ""})
    return login_page(request, form)


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
        response = login_page(request, form, status=429)
        response.headers["Retry-After"] = str(exc.retry_after)
        return response
    user = context.users.get(userid) if is_valid_name(userid) else None
    password_hash = user.password_hash if user is not None else None
    verified = request.registry.credentials.verify(password_hash, password)
    if not verified or user is None or getattr(user, "active", True) is False:
        throttle.failed(key, address)
        form.errors[""] = "Unknown user or wrong password."
        return login_page(request, form, status=403)
    throttle.succeeded(userid, address)
    start_session(request, user)
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


# "Log in with <IdP>": OpenID Connect authorization code flow with PKCE.


def _oidc_failed(request, message: str, status: int, came_from: str = ""):
    form = Form("login", {"came_from": came_from})
    form.errors[""] = message
    response = login_page(request, form, status=status)
    drop_flow(response)
    return response


def _unavailable(request, exc: Exception, came_from: str = ""):
    log.warning("OIDC login: %s", exc)
    name = request.registry.membership_settings.ui_oidc_name
    response = _oidc_failed(
        request,
        f"{name} cannot be reached right now; try again later, or log in with a password.",
        503,
        came_from,
    )
    response.headers["Retry-After"] = "30"
    return response


@_login_view(subpath="oidc", request_method="GET")
def oidc_start(context, request):
    """Off to the identity provider, with a fresh state, nonce and PKCE challenge kept
    in the flow cookie (``session.keep_flow``)."""
    client = request.registry.ui_login
    if client is None:
        return _oidc_failed(request, "Logging in through an identity provider is not set up.", 404)
    came_from = safe_target(request, request.GET.get("came_from"))
    redirect_uri = request.application_url + FLOW_PATH + "/callback"
    try:
        url, flow = client.start(redirect_uri)
    except IssuerUnavailable as exc:
        return _unavailable(request, exc, came_from)
    response = HTTPFound(location=url)
    keep_flow(
        request,
        response,
        {
            "state": flow.state,
            "nonce": flow.nonce,
            "verifier": flow.verifier,
            "redirect_uri": flow.redirect_uri,
            "came_from": came_from,
        },
    )
    return response


@_login_view(subpath="callback", request_method="GET")
def oidc_callback(context, request):
    """Back from the identity provider: the state must be this browser's, the code is
    exchanged (with the PKCE verifier), the ID token checked (signature, issuer,
    audience, expiry, nonce); then the user is found as for a bearer JWT (linked
    identity, else ``membership.oidc.username_claim``) and gets the same session as
    after a password login. Whatever fails is shown on the login page in words."""
    client = request.registry.ui_login
    settings = request.registry.membership_settings
    name = settings.ui_oidc_name
    if client is None:
        return _oidc_failed(request, "Logging in through an identity provider is not set up.", 404)
    kept = take_flow(request)
    params = request.GET
    if kept is None:
        return _oidc_failed(
            request,
            f"This login with {name} expired or was started in another browser; try again.",
            400,
        )
    came_from = kept.get("came_from", "")
    state = params.get("state", "")
    if not isinstance(kept.get("state"), str) or state != kept["state"]:
        return _oidc_failed(
            request,
            f"The answer from {name} does not belong to the login started here (state); try again.",
            400,
            came_from,
        )
    if params.get("error"):
        error = params.get("error", "")[:60]
        detail = params.get("error_description", "")[:200]
        text = f"{name} did not log you in ({error}{': ' + detail if detail else ''})."
        return _oidc_failed(request, text, 403, came_from)
    code = params.get("code", "")
    if not code:
        return _oidc_failed(request, f"{name} sent no login code; try again.", 400, came_from)
    flow = Flow(kept["state"], kept["nonce"], kept["verifier"], kept["redirect_uri"])
    try:
        claims = client.finish(flow, code)
    except LoginFailed as exc:
        return _oidc_failed(request, f"Login refused: {exc}.", 403, came_from)
    except IssuerUnavailable as exc:
        return _unavailable(request, exc, came_from)
    user = user_for(context, claims, settings.oidc_username_claim)
    if user is not None and getattr(user, "active", True) is False:
        return _oidc_failed(
            request, f"The user {user.id} is deactivated: ask an administrator.", 403, came_from
        )
    if user is None:
        log.info("OIDC login of an unknown identity: %s %s", claims["iss"], claims["sub"])
        return _oidc_failed(
            request,
            f"Your {name} account (subject {claims['sub']}) is not linked to a user of this "
            "service. Ask an administrator to link it, or log in with a password.",
            403,
            came_from,
        )
    start_session(request, user)
    # Not a redirect: after a navigation that began on the identity provider's site,
    # the browser would not send the SameSite=Strict session cookie along the redirect.
    # A page of ours that moves on by itself starts a same-site navigation.
    response = render(request, "continue.jinja2", target=safe_target(request, came_from))
    drop_flow(response)
    return response
