"""What every console script does: load the ini, open the tree, clean up.

A FileStorage can be open in one process only: a script started while a
server holds it gets one line saying so and what to do, and exit status 1
(``StorageLocked``), never zc.lockfile's traceback. The same for a script
that writes through a read-only URI.
"""

import argparse
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import transaction
from pyramid.paster import bootstrap, setup_logging
from zc.lockfile import LockError
from ZODB.POSException import ReadOnlyError

from ..domain import Actor, Context

_LOCKED_FILE = re.compile(r"lock '(.+?)\.lock'")
_prog = "membership"  # the running script's name (set by ``parser``), for its error lines


def parser(prog: str, description: str) -> argparse.ArgumentParser:
    global _prog
    _prog = prog
    result = argparse.ArgumentParser(prog=prog, description=description)
    result.add_argument("config_uri", help="the ini file, e.g. development.ini")
    return result


def locked_message(exc: LockError, script: str | None = None, *, read_only_hint: bool = True):
    """One line for a FileStorage another process holds: what happened, what to do."""
    found = _LOCKED_FILE.search(str(exc))
    path = found.group(1) if found else "the FileStorage"
    line = (
        f"{script or _prog}: {path} is in use by a running server (its lock is held): "
        "stop the server and run this again"
    )
    if read_only_hint and found:
        line += (
            f", or, to read without stopping it, set "
            f"MEMBERSHIP_ZODB_URI='file://{path}?read_only=true'"
        )
    return line


def fail(line: str, status: int = 1):
    """Print ``line`` on stderr and exit with ``status`` (no traceback)."""
    print(line, file=sys.stderr)
    raise SystemExit(status)


@contextmanager
def app_environment(config_uri: str, *, reads_only: bool = False) -> Iterator[dict]:
    """Pyramid's bootstrap env (``root``, ``request``, ``registry``) for a script's lifetime.

    The request's transaction manager is explicit: ``with env["request"].tm:``
    is one transaction. ``reads_only``: the script changes nothing, so a
    locked FileStorage's answer suggests the read-only URI too.
    """
    setup_logging(config_uri)
    try:
        env = bootstrap(config_uri)
    except LockError as exc:
        fail(locked_message(exc, read_only_hint=reads_only))
    except ReadOnlyError:
        fail(
            f"{_prog}: the storage was opened read-only (read_only=true), but the tree in it "
            "must first be created or upgraded: run it once without read_only"
        )
    env["request"].tm.abort()  # finding the root began a read transaction; scripts begin their own
    try:
        yield env
    except ReadOnlyError:
        fail(
            f"{_prog}: the storage was opened read-only (read_only=true) and this changes "
            "it: stop the server and use the normal URI"
        )
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
