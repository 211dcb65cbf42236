"""What every answer carries: request id, security headers, one access-log line; CORS."""

import logging
import re

import pytest
import transaction
from ZODB.POSException import ConflictError

from .helpers import ADMIN, basic


def test_request_id_is_made_and_echoed(testapp):
    res = testapp.get("/")
    assert re.fullmatch(r"[0-9a-f]{32}", res.headers["X-Request-ID"])
    assert testapp.get("/").headers["X-Request-ID"] != res.headers["X-Request-ID"]
    res = testapp.get("/", headers={"X-Request-ID": "lb-1234.abc"})
    assert res.headers["X-Request-ID"] == "lb-1234.abc"


@pytest.mark.parametrize("junk", ["a b", "x" * 200, "é", "a\tb", ""])
def test_an_unfit_incoming_request_id_is_replaced(testapp, junk):
    res = testapp.get("/", headers={"X-Request-ID": junk})
    assert re.fullmatch(r"[0-9a-f]{32}", res.headers["X-Request-ID"])


def test_every_answer_has_nosniff(api, testapp):
    for res in [
        testapp.get("/"),
        testapp.get("/docs"),
        testapp.get("/users", status=401),
        api.get("/nope"),
        api.put("/users", {}),
        testapp.post("/users", b"x" * (2 * 1024 * 1024), status=413, headers=basic(ADMIN)),
    ]:
        assert res.headers["X-Content-Type-Options"] == "nosniff", res


def test_authenticated_answers_are_not_cached(api, testapp):
    assert api.get("/users").headers["Cache-Control"] == "no-store"
    assert api.get("/groups/admins").headers["Cache-Control"] == "no-store"
    assert api.get("/users", as_=basic(ADMIN, "wrong")).headers["Cache-Control"] == "no-store"
    assert "no-store" not in testapp.get("/").headers.get("Cache-Control", "")


def test_one_access_log_line_per_request(api, caplog):
    api.user("alice")
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="membership.access"):
        res = api.get("/groups/admins/members?limit=5", headers={"X-Request-ID": "req-42"})
        api.get("/nothing")
    lines = [r.getMessage() for r in caplog.records if r.name == "membership.access"]
    assert len(lines) == 2
    first = lines[0]
    assert '"GET /groups/admins/members?limit=5" 200' in first
    assert re.search(r" \d+\.\dms ", first)
    assert "user=admin" in first and "rid=req-42" in first
    assert res.headers["X-Request-ID"] == "req-42"
    assert '"GET /nothing" 404' in lines[1]


def test_access_log_never_carries_a_password_and_escapes_control_characters(api, caplog):
    with caplog.at_level(logging.INFO, logger="membership.access"):
        api.get("/users/x%0Ay", as_=basic(ADMIN, "hunter2-secret"))
    (line,) = [r.getMessage() for r in caplog.records if r.name == "membership.access"]
    assert "\n" not in line and "hunter2" not in line
    assert "/users/x%0Ay" in line


def test_a_500_carries_the_request_id_and_nothing_internal(api, monkeypatch, caplog):
    def boom(request):
        raise RuntimeError("secret internal detail at /srv/membership/db.py")

    monkeypatch.setattr("membership.web.views.root.effective_principals", boom)
    with caplog.at_level(logging.ERROR):
        res = api.get("/", headers={"X-Request-ID": "trace-me"})
    assert res.status_int == 500
    assert res.content_type == "application/problem+json"
    assert res.json["request_id"] == "trace-me" == res.headers["X-Request-ID"]
    assert "secret" not in res.text and "RuntimeError" not in res.text
    assert "Traceback" not in res.text
    assert any("secret internal detail" in r.getMessage() or r.exc_info for r in caplog.records)


def test_cors_is_off_by_default(testapp):
    res = testapp.get("/", headers={"Origin": "https://app.example"})
    assert "Access-Control-Allow-Origin" not in res.headers
    preflight = testapp.options(
        "/users",
        headers={"Origin": "https://app.example", "Access-Control-Request-Method": "POST"},
        expect_errors=True,
    )
    assert preflight.status_int == 401  # anonymous: like any request without credentials
    assert "Access-Control-Allow-Origin" not in preflight.headers


@pytest.fixture
def settings(settings, request):
    if request.node.get_closest_marker("cors"):
        settings["membership.cors.allow_origins"] = "https://app.example https://admin.example"
        settings["membership.cors.max_age"] = "120"
    return settings


@pytest.mark.cors
def test_cors_for_configured_origins(api, testapp):
    res = testapp.get("/", headers={"Origin": "https://app.example"})
    assert res.headers["Access-Control-Allow-Origin"] == "https://app.example"
    assert "Origin" in res.headers["Vary"]
    assert "X-Request-ID" in res.headers["Access-Control-Expose-Headers"]
    preflight = testapp.options(
        "/groups/admins/members",
        headers={
            "Origin": "https://admin.example",
            "Access-Control-Request-Method": "PATCH",
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    )
    assert preflight.status_int == 204
    assert preflight.headers["Access-Control-Allow-Origin"] == "https://admin.example"
    assert "PATCH" in preflight.headers["Access-Control-Allow-Methods"]
    assert "Authorization" in preflight.headers["Access-Control-Allow-Headers"]
    assert preflight.headers["Access-Control-Max-Age"] == "120"
    other = testapp.get("/", headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in other.headers


@pytest.mark.parametrize("where", ["view", "commit"])
def test_a_write_that_keeps_conflicting_is_one_503_and_one_log_line(
    api, monkeypatch, caplog, where
):
    attempts = []

    def conflict(*args, **kwargs):
        attempts.append(1)
        raise ConflictError("simulated")

    if where == "view":
        monkeypatch.setattr("membership.web.views.groups.group_body", conflict)
    else:
        monkeypatch.setattr(transaction.TransactionManager, "commit", conflict)
    with caplog.at_level(logging.INFO, logger="membership.access"):
        res = api.post("/groups", {"name": "contested"}, headers={"X-Request-ID": "c-1"})
    assert len(attempts) == 3  # retry.attempts
    assert res.status_int == 503 and res.headers["Retry-After"] == "1"
    assert res.headers["X-Request-ID"] == "c-1"
    lines = [r.getMessage() for r in caplog.records if r.name == "membership.access"]
    assert len(lines) == 1 and '"POST /groups" 503' in lines[0]
