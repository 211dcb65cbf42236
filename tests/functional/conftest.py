"""App and WebTest fixtures: a fresh in-memory ZODB per test, cheap (but real) argon2.

Every response WebTest sees is checked against the app's OpenAPI document
(``spec_check.py``): documented status, documented media type, body valid
against the declared schema. Mark a test ``no_spec_check`` to opt out.
"""

import pytest
import transaction
from webtest import TestApp

import membership
from membership.domain import Actor, Context
from membership.scripts.initialize import ensure_admin
from membership.web.db import ROOT_KEY, database

from .helpers import ADMIN, PASSWORD, Api
from .spec_check import checker_for

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
    db = database(wsgi.registry)
    with_root(db, lambda root: ensure_admin(script_context(root, wsgi.registry), ADMIN, PASSWORD))
    yield wsgi
    db.close()


def script_context(root, registry, name: str = "test") -> Context:
    """A domain context acting as ``system:<name>``, as a console script would."""
    return Context(
        root,
        Actor.script(name),
        registry.credentials,
        max_depth=registry.membership_settings.max_depth,
    )


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


@pytest.fixture(autouse=True)
def responses_match_the_spec(request, monkeypatch):
    """Fail any test whose WebTest responses break the OpenAPI document."""
    if request.node.get_closest_marker("no_spec_check"):
        yield
        return
    seen: list[str] = []
    original = TestApp.do_request

    def do_request(self, req, status=None, expect_errors=None):
        res = original(self, req, status=status, expect_errors=expect_errors)
        registry = getattr(self.app, "registry", None)
        if registry is not None:
            path = req.environ["PATH_INFO"].encode("latin-1").decode("utf-8", "replace")
            problems = checker_for(registry).problems(req.method, path, res)
            seen.extend(f"{req.method} {req.path_qs[:200]}: {p}" for p in problems)
            assert not problems, problems
        return res

    monkeypatch.setattr(TestApp, "do_request", do_request)
    yield
    assert not seen, seen  # also when a test caught the AssertionError above
