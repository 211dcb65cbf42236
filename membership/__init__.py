"""membership: a group-membership service on Pyramid traversal and ZODB."""

import os

from pyramid.config import Configurator
from pyramid.router import Router

from .db import bootstrap, root_factory
from .rendering import JSONRenderer

#: Environment variables that override ini settings, so one ini serves many deployments.
ENVIRONMENT_OVERRIDES = {"MEMBERSHIP_ZODB_URI": "zodbconn.uri"}


def settings_with_environment(settings: dict) -> dict:
    settings = dict(settings)
    for variable, key in ENVIRONMENT_OVERRIDES.items():
        if os.environ.get(variable):
            settings[key] = os.environ[variable]
    return settings


def main(global_config: dict, **settings) -> Router:
    """The WSGI app (``paste.app_factory``)."""
    settings = settings_with_environment(settings)
    settings.setdefault("tm.manager_hook", "pyramid_tm.explicit_manager")
    settings.setdefault("tm.activate_hook", "membership.tweens.needs_transaction")
    # The audit actor is set by the security policy (security.credit_transaction);
    # pyramid_tm's own annotation reads the storage outside the exception views.
    settings.setdefault("tm.annotate_user", "false")
    settings.setdefault("retry.attempts", "3")
    # reads: one attempt; oversized bodies: one attempt, so the limit refuses them unread
    settings.setdefault("retry.activate_hook", "membership.tweens.retry_attempts")
    with Configurator(settings=settings, root_factory=root_factory) as config:
        config.include("pyramid_tm")
        config.include(".request")
        config.include("pyramid_retry")
        config.include("pyramid_zodbconn")
        config.include(".storage")
        config.add_renderer("json", JSONRenderer)
        config.include(".security")
        config.include(".tweens")
        config.scan(".views")
        config.scan(".errors")
        bootstrap(config.registry._zodb_databases[""])
    return config.make_wsgi_app()
