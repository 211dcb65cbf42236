"""App and WebTest fixtures: a fresh in-memory ZODB per test, cheap (but real) argon2."""

import pytest
import transaction
from webtest import TestApp

import membership
from membership.db import ROOT_KEY
from membership.scripts.initialize import ensure_admin

from .helpers import ADMIN, PASSWORD, Api

TEST_SETTINGS = {
    "zodbconn.uri": "memory://",
    "membership.argon2.time_cost": "1",
    "membership.argon2.memory_cost": "8",
    "membership.argon2.parallelism": "1",
    "retry.attempts": "3",
}


@pytest.fixture
def settings() -> dict:
    return dict(TEST_SETTINGS)


@pytest.fixture
def app(settings):
    wsgi = membership.main({}, **settings)
    db = wsgi.registry._zodb_databases[""]
    with_root(db, lambda root: ensure_admin(root, ADMIN, wsgi.registry.credentials, PASSWORD))
    yield wsgi
    db.close()


def with_root(db, func):
    """Run ``func(root)`` in its own committed transaction, as a script would."""
    tm = transaction.TransactionManager()
    conn = db.open(transaction_manager=tm)
    try:
        with tm:
            return func(conn.root()[ROOT_KEY])
    finally:
        conn.close()


@pytest.fixture
def testapp(app) -> TestApp:
    return TestApp(app)


@pytest.fixture
def api(testapp) -> Api:
    return Api(testapp)
