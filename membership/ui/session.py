"""The admin UI's sessions: a signed cookie under ``/ui``, read only for ``/ui/`` requests.

The JSON API never reads it: ``web/security.py`` asks :func:`session_userid`
for requests under ``/ui/`` only (and ignores ``Authorization`` there), and
the cookie's ``Path=/ui`` keeps browsers from sending it anywhere else. The
cookie is ``HttpOnly``, ``SameSite=Strict`` and ``Secure`` unless
``membership.ui.insecure_cookies``; it is signed (HMAC) with
``membership.ui.session_secret``, or with a key drawn per process when that
is unset. It holds the user id, the user record's ``uid`` (a user deleted and
made again under the same id is someone else), the user's session generation
(``User.session_generation``, which deactivation and a password change bump:
every session of that user ends, and reactivating does not bring them back),
when the session began, the CSRF token and one-shot messages; never a password
or a token.

Imports nothing from the web layer; the UI's ``includeme`` plugs ``Sessions`` into the
security policy.
"""

import os
import time

from pyramid.session import SignedCookieSessionFactory
from webob.cookies import SignedSerializer

PREFIX = "/ui"
COOKIE = "membership_ui"
USER_KEY = "uid"
UID_KEY = "uuid"
GENERATION_KEY = "gen"
SINCE_KEY = "since"
#: A session ends after this long without a request, and this long after login in any case.
IDLE_SECONDS = 2 * 3600
MAX_AGE_SECONDS = 12 * 3600


def is_ui_request(request) -> bool:
    # The raw WSGI string, not WebOb's decoded ``path_info``: asked on every request
    # (the security policy), and the ASCII prefix reads the same either way.
    path = request.environ.get("PATH_INFO", "")
    return path == PREFIX or path.startswith(PREFIX + "/")


class Sessions:
    """This UI's sessions for the security policy (``web/security.py``'s ``Sessions``):
    under ``/ui/`` they are the only credentials."""

    def applies(self, request) -> bool:
        return is_ui_request(request)

    def userid(self, request, root) -> str | None:
        return session_userid(request, root)


#: Requests whose errors the UI answers (its pages and its static files): a ``path_info``
#: view predicate.
UI_PATHS = r"^" + PREFIX + r"(/|$)"


def session_secret(settings) -> str:
    """The configured key, or one drawn for this process (sessions then end at restart)."""
    return settings.ui_session_secret or os.urandom(32).hex()


def session_factory(secret: str, *, insecure: bool):
    return SignedCookieSessionFactory(
        secret,
        cookie_name=COOKIE,
        path=PREFIX,
        secure=not insecure,
        httponly=True,
        samesite="Strict",
        timeout=IDLE_SECONDS,
        reissue_time=300,
        hashalg="sha512",
        salt="membership.ui.session",
    )


def start_session(request, user) -> None:
    """A fresh session for ``user`` (new CSRF token: no fixation across a login), bound
    to its record and its current session generation."""
    session = request.session
    session.invalidate()
    session[USER_KEY] = user.id
    session[UID_KEY] = user.uid
    session[GENERATION_KEY] = user.session_generation
    session[SINCE_KEY] = int(time.time())
    session.new_csrf_token()


def end_session(request) -> None:
    request.session.invalidate()
    request.session.new_csrf_token()


def session_userid(request, root) -> str | None:
    """The user this ``/ui/`` request's session belongs to, if it is still valid."""
    session = request.session
    userid = session.get(USER_KEY)
    if not isinstance(userid, str):
        return None
    since = session.get(SINCE_KEY)
    if not isinstance(since, int) or time.time() - since > MAX_AGE_SECONDS:
        return None
    user = root.users.get(userid)
    if user is None or getattr(user, "active", True) is False:
        return None
    # Deactivated and reactivated since, or a new password: the generation moved on.
    if session.get(GENERATION_KEY) != user.session_generation:
        return None
    if session.get(UID_KEY) != user.uid:  # deleted, and another user made under the id
        return None
    return userid


# "Log in with <IdP>": the flow in progress, in a cookie of its own.

#: The flow's cookie: only for /ui/login (the start and the callback), ``SameSite=Lax``
#: because the callback arrives as a top-level navigation from the identity provider's
#: site, which a ``Strict`` cookie would not come back with.
FLOW_COOKIE = "membership_ui_login"
FLOW_PATH = PREFIX + "/login"
FLOW_SECONDS = 600


def _flow_serializer(request) -> SignedSerializer:
    return SignedSerializer(
        request.registry.ui_session_secret, salt="membership.ui.login-flow", hashalg="sha512"
    )


def keep_flow(request, response, flow: dict) -> None:
    """Sign ``flow`` (state, nonce, PKCE verifier, where to go) into the flow cookie."""
    value = _flow_serializer(request).dumps({**flow, "at": int(time.time())}).decode("ascii")
    response.set_cookie(
        FLOW_COOKIE,
        value,
        max_age=FLOW_SECONDS,
        path=FLOW_PATH,
        secure=not request.registry.membership_settings.ui_insecure_cookies,
        httponly=True,
        samesite="Lax",
    )


def take_flow(request) -> dict | None:
    """The flow this browser started, or None when there is none, it was tampered with,
    or it is older than ``FLOW_SECONDS`` (the answer deletes the cookie: ``drop_flow``)."""
    raw = request.cookies.get(FLOW_COOKIE)
    if not raw:
        return None
    try:
        flow = _flow_serializer(request).loads(raw.encode("ascii"))
    except (ValueError, UnicodeError):
        return None
    if not isinstance(flow, dict) or not isinstance(flow.get("at"), int):
        return None
    if time.time() - flow["at"] > FLOW_SECONDS:
        return None
    return flow


def drop_flow(response) -> None:
    """One flow, one callback: the answer to it removes the cookie."""
    response.delete_cookie(FLOW_COOKIE, path=FLOW_PATH)
