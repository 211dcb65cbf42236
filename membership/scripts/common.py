"""What every console script does: load the ini, open the tree, clean up."""

import argparse
from collections.abc import Iterator
from contextlib import contextmanager

import transaction
from pyramid.paster import bootstrap, setup_logging

from ..domain import Actor, Context


def parser(prog: str, description: str) -> argparse.ArgumentParser:
    result = argparse.ArgumentParser(prog=prog, description=description)
    result.add_argument("config_uri", help="the ini file, e.g. development.ini")
    return result


@contextmanager
def app_environment(config_uri: str) -> Iterator[dict]:
    """Pyramid's bootstrap env (``root``, ``request``, ``registry``) for a script's lifetime.

    The request's transaction manager is explicit: ``with env["request"].tm:``
    is one transaction.
    """
    setup_logging(config_uri)
    env = bootstrap(config_uri)
    env["request"].tm.abort()  # finding the root began a read transaction; scripts begin their own
    try:
        yield env
    finally:
        env["closer"]()
        for db in getattr(env["registry"], "_zodb_databases", {}).values():
            db.close()  # releases a FileStorage's lock for whoever opens it next


@contextmanager
def transaction_as(request, actor: str) -> Iterator[transaction.Transaction]:
    """One transaction of ``request.tm``, marked with ``actor`` in ZODB's own record
    (``fstail`` shows it) as a web request is marked with its user."""
    with request.tm as txn:
        txn.user = actor
        yield txn


def script_context(env: dict, name: str) -> Context:
    """What a script's domain calls take: the tree, ``system:<name>`` as the actor."""
    registry = env["registry"]
    return Context(
        env["root"],
        Actor.script(name),
        registry.credentials,
        max_depth=registry.membership_settings.max_depth,
    )
