"""membership: a group-membership service on Pyramid traversal and ZODB."""

import sys

from pyramid.config import Configurator
from pyramid.router import Router

from . import subscribers  # noqa: F401  (the side jobs subscribe to domain events)
from .settings import SettingsError, apply_environment, load_settings


def main(global_config: dict, **settings) -> Router:
    """The WSGI app (``paste.app_factory``)."""
    settings = apply_environment(settings)
    try:
        parsed = load_settings(settings, environ={})
    except SettingsError as exc:
        print(f"membership: cannot start: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    settings["retry.attempts"] = str(parsed.retry_attempts)
    settings.setdefault("tm.manager_hook", "pyramid_tm.explicit_manager")
    settings.setdefault("tm.activate_hook", "membership.web.tweens.needs_transaction")
    # The audit actor comes from the domain call; pyramid_tm's own annotation
    # reads the storage outside the exception views.
    settings.setdefault("tm.annotate_user", "false")
    # reads: one attempt; oversized bodies: one attempt, so the limit refuses them unread
    settings.setdefault("retry.activate_hook", "membership.web.tweens.retry_attempts")
    with Configurator(settings=settings) as config:
        config.registry.membership_settings = parsed
        config.include(".web")
    return config.make_wsgi_app()
