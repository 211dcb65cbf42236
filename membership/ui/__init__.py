"""The admin web UI under ``/ui/``: server-rendered pages over the same tree and ACLs.

A hybrid route (``/ui/*traverse`` with the app's root factory) traverses the
tree the API serves, so ``/ui/groups/eng/groups/backend`` is that group's
page and every view checks the permission the API's view for the same thing
checks; writes call the same domain functions with ``request.domain``.
Jinja2 templates (``pyramid_jinja2``), htmx for partial updates (vendored in
``static/``: nothing is fetched from elsewhere), every form also works
without JavaScript. Sessions are a signed cookie under ``/ui`` only
(``session.py``); the JSON API never reads it.

Like ``web/``, a front end (ARCHITECTURE.md says what it may import from ``web``);
nothing imports it: ``web`` includes it, and its ``includeme`` plugs its sessions into
the security policy and its error pages in by path (``/ui/…``).
"""

from .session import PREFIX


def redirect_to_ui(request):
    from pyramid.httpexceptions import HTTPMovedPermanently

    return HTTPMovedPermanently(location=request.script_name + PREFIX + "/")


class SubpathPredicate:
    """``subpath="callback"``: the view answers ``…/login/callback`` only (``""``: no
    subpath), so ``/ui/login/<anything else>`` is not the login form."""

    def __init__(self, value: str, config) -> None:
        self.value = tuple(part for part in value.split("/") if part)

    def text(self) -> str:
        return f"subpath = {'/'.join(self.value)}"

    phash = text

    def __call__(self, context, request) -> bool:
        return tuple(request.subpath) == self.value


def includeme(config) -> None:
    from pyramid.security import NO_PERMISSION_REQUIRED

    from ..web.oidc import LoginClient
    from .session import Sessions, session_factory, session_secret
    from .templating import BYTECODE_CACHE

    settings = config.registry.membership_settings
    secret = session_secret(settings)
    config.registry.ui_session_secret = secret
    # "Log in with <IdP>": the same issuer, discovery and key cache as bearer JWTs.
    config.registry.ui_login = LoginClient.from_settings(
        settings, getattr(config.registry, "jwt_authentication", None)
    )
    config.add_view_predicate("subpath", SubpathPredicate)
    # Under /ui/ the session cookie is the only credential (web/security.py asks it).
    config.registry.security_policy.sessions = Sessions()
    config.set_session_factory(session_factory(secret, insecure=settings.ui_insecure_cookies))
    config.registry.settings.setdefault("jinja2.bytecode_caching", BYTECODE_CACHE)
    config.include("pyramid_jinja2")
    config.add_jinja2_renderer(".jinja2")
    config.add_jinja2_search_path("membership.ui:templates", name=".jinja2")
    # Routes match in order: the static files, then the bare /ui, then the tree.
    config.add_static_view(name="ui/static", path="membership.ui:static", cache_max_age=3600)
    config.add_route("ui_bare", PREFIX)
    config.add_view(redirect_to_ui, route_name="ui_bare", permission=NO_PERMISSION_REQUIRED)
    # No factory of its own: the app's root factory, so the same tree as the API's.
    config.add_route("ui", PREFIX + "/*traverse")
    config.scan(".views")
