"""``GET /health``: the change feed's backlog is visible, and named, when no dispatcher
seals it (the test app runs none: ``memory://`` is no FileStorage); sealing clears it."""

import pytest

from membership.dispatch import Config, Dispatcher
from membership.web.db import database
from membership.web.metrics import UNSEALED_SECONDS
from membership.web.views.health import feed_health

from .conftest import with_root


@pytest.fixture
def settings(settings):
    return {**settings, "membership.health.unsealed_seconds": "0"}


def test_health_is_ok_when_nothing_waits(testapp, app):
    Dispatcher(database(app.registry), Config()).seal_all()
    body = testapp.get("/health").json
    assert body["status"] == "ok"
    assert body["feed"]["unsealed_batches"] == 0
    assert "detail" not in body


def test_unsealed_batches_make_it_degraded_and_name_the_dispatcher(testapp, api, app):
    for userid in ("alice", "bob"):
        api.user(userid)
    body = testapp.get("/health", headers={"Authorization": "Bearer nonsense"}).json
    assert body["status"] == "degraded"
    assert body["feed"]["unsealed_batches"] >= 2
    assert "membership_dispatch" in body["detail"]
    # sealing (membership_dispatch --seal does this) clears it; history reads the same
    before = api.get("/history").json["items"]
    sealed = Dispatcher(database(app.registry), Config()).seal_all(chunk=1)
    assert sealed >= 2
    body = testapp.get("/health").json
    assert (body["status"], body["feed"]["unsealed_batches"]) == ("ok", 0)
    assert api.get("/history").json["items"] == before


def test_a_backlog_younger_than_the_limit_is_ok_and_the_gauge_shows_its_age(api, app):
    api.user("alice")

    def judge(root):
        now = 4_000_000_000.0  # a fixed clock, far after the batch was committed
        return feed_health(root.feed, 1e12, now), feed_health(root.feed, 0, now)

    young, old = with_root(database(app.registry), judge)
    assert young["status"] == "ok" and young["unsealed_batches"] >= 1
    assert old["status"] == "degraded"
    assert UNSEALED_SECONDS._value.get() == pytest.approx(old["oldest_unsealed_seconds"], abs=0.01)
    assert old["oldest_unsealed_seconds"] > 0


def test_membership_dispatch_seal_clears_a_backlog_and_exits(tmp_path, capsys):
    """``membership_dispatch --seal <ini>``: what an operator runs after a spell without
    a dispatcher; the backlog is gone and ``/health`` is ok again."""
    from webtest import TestApp

    import membership
    from membership.scripts import dispatch
    from membership.scripts.initialize import ensure_admin

    from .conftest import TEST_SETTINGS, script_context
    from .helpers import ADMIN, PASSWORD, Api

    uri = f"file://{tmp_path}/Data.fs"
    settings = {
        **TEST_SETTINGS,
        "zodbconn.uri": uri,
        "membership.dispatch.in_process": "false",  # as on ZEO: no dispatcher anywhere
        "membership.health.unsealed_seconds": "0",
    }

    def serve():
        app = membership.main({}, **settings)
        return app, database(app.registry)

    app, db = serve()
    with_root(db, lambda root: ensure_admin(script_context(root, app.registry), ADMIN, PASSWORD))
    Api(TestApp(app)).user("alice")
    assert TestApp(app).get("/health").json["status"] == "degraded"
    db.close()

    ini = tmp_path / "dispatch.ini"
    ini.write_text(f"[app:main]\nuse = egg:membership\nzodbconn.uri = {uri}\n")
    assert dispatch.main([str(ini), "--seal"]) == 0
    out = capsys.readouterr().out
    assert "membership_dispatch: sealed " in out and "sealed 0 " not in out

    app, db = serve()
    try:
        body = TestApp(app).get("/health").json
        assert (body["status"], body["feed"]["unsealed_batches"]) == ("ok", 0)
    finally:
        db.close()
