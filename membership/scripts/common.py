"""What every console script does: load the ini, open the tree, clean up."""

import argparse
from collections.abc import Iterator
from contextlib import contextmanager

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
