"""A real ZODB (in memory) with the tree bootstrapped, and domain contexts on it.

No Pyramid app, no request: the rules are called the way a script calls them.
"""

import pytest
import transaction
from ZODB import DB
from ZODB.MappingStorage import MappingStorage

from membership.credentials import Credentials
from membership.domain import Actor, Context
from membership.domain.setup import ensure_tree
from membership.domain.users import create_user

CREDENTIALS = Credentials(time_cost=1, memory_cost=8, parallelism=1)


def make_db() -> DB:
    db = DB(MappingStorage())
    conn = db.open()
    with transaction.manager:
        ensure_tree(conn.root())
    conn.close()
    return db


def script(root, name: str = "test", **kw) -> Context:
    return Context(root, Actor.script(name), CREDENTIALS, **kw)


def as_user(root, userid: str, **kw) -> Context:
    """A context acting as ``userid`` with the principals the index gives them now."""
    return Context(root, Actor.user(root, userid), CREDENTIALS, **kw)


@pytest.fixture
def db():
    database = make_db()
    yield database
    database.close()


@pytest.fixture
def root(db):
    """The tree, in a transaction that is aborted after the test."""
    tm = transaction.TransactionManager()
    conn = db.open(transaction_manager=tm)
    tm.begin()
    yield conn.root()["membership"]
    tm.abort()
    conn.close()


@pytest.fixture
def system(root) -> Context:
    return script(root)


@pytest.fixture
def admin(root, system) -> Context:
    from membership.domain.members import add_member

    create_user(system, "admin", password="admin password")
    add_member(system, root.groups["admins"], "admin", "owner")
    return as_user(root, "admin")
