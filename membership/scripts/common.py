"""What every console script does: load the ini, open the tree, clean up."""

import argparse
from collections.abc import Iterator
from contextlib import contextmanager

import transaction
from pyramid.paster import bootstrap, setup_logging


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
    """One transaction of ``request.tm`` whose changes the audit log credits to ``actor``.

    ``actor`` is ``system:<script name>`` by convention; ``history.actor_of``
    reads it back from the transaction's ``user``, as it reads the
    authenticated user that pyramid_tm puts there for a web request.
    """
    with request.tm as txn:
        txn.user = actor
        yield txn
