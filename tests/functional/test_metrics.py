"""GET /metrics: the Prometheus text format, route templates, and who may read it.

The metric objects are process-wide (prometheus_client), shared by every app
these tests make, so each test compares values before and after what it does.
"""

import shutil
import subprocess
import time

import pytest
import transaction
from prometheus_client.parser import text_string_to_metric_families
from webtest import TestApp
from ZODB.POSException import ConflictError

from membership.web import metrics

from .helpers import ADMIN, basic

# /metrics is an operations endpoint, not part of the documented API.
pytestmark = pytest.mark.no_spec_check

LOCAL = {"REMOTE_ADDR": "127.0.0.1"}
CHECK = "/groups/{group}/members/{user}"


@pytest.fixture
def settings(settings):
    return {**settings, "membership.throttle.per_user": "2", "membership.throttle.window": "60"}


def scrape(testapp, environ=LOCAL) -> dict:
    res = testapp.get("/metrics", extra_environ=environ)
    assert res.content_type == "text/plain"
    assert "version=0.0.4" in res.headers["Content-Type"]
    samples = {}
    for family in text_string_to_metric_families(res.text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: dict, name: str, **labels) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def delta(before: dict, after: dict, name: str, **labels) -> float:
    return value(after, name, **labels) - value(before, name, **labels)


def test_requests_are_counted_by_route_template_never_by_raw_path(api, testapp):
    api.user("alice")
    api.group("/groups/eng")
    api.member("/groups/eng", "alice")
    before = scrape(testapp)
    assert api.get("/groups/eng/members/alice").status_int == 200
    assert api.get("/groups/eng/members/nobody").status_int == 404
    assert api.get("/users/alice").status_int == 200
    assert api.get("/users/alice/groups").status_int == 200
    assert api.get("/groups/eng/no-such-child").status_int == 404
    assert api.get("/users/no-such-user").status_int == 404
    after = scrape(testapp)
    count = "membership_http_requests_total"
    assert delta(before, after, count, method="GET", route=CHECK, status="200") == 1
    assert delta(before, after, count, method="GET", route=CHECK, status="404") == 1
    assert delta(before, after, count, method="GET", route="/users/{user}", status="200") == 1
    assert delta(before, after, count, method="GET", route="/users/{user}", status="404") == 1
    assert delta(before, after, count, method="GET", route="/users/{user}/groups", status="200")
    routes = {dict(labels).get("route") for name, labels in after if name == count}
    assert not any(
        word in route for route in routes for word in ("alice", "eng", "nobody", "no-such")
    ), routes
    duration = "membership_http_request_duration_seconds_count"
    assert delta(before, after, duration, method="GET", route=CHECK) == 2
    buckets = [
        labels
        for name, labels in after
        if name == "membership_http_request_duration_seconds_bucket"
        and dict(labels)["route"] == CHECK
    ]
    assert any(dict(labels)["le"] == "+Inf" for labels in buckets)


def test_arbitrary_names_do_not_make_new_series(api, testapp):
    for i in range(20):
        api.get(f"/groups/admins/junk{i}")
        api.get(f"/users/{ADMIN}/junk{i}")
    samples = scrape(testapp)
    routes = {
        dict(labels)["route"] for name, labels in samples if name.startswith("membership_http")
    }
    assert not [route for route in routes if "junk" in route]
    assert "/groups/{group}/{name}" in routes and "/users/{user}/{name}" in routes


def test_invented_methods_are_counted_as_other(testapp):
    unlinted = TestApp(testapp.app, lint=False)  # WebTest's lint refuses unknown methods
    before = scrape(testapp)
    for method in ("BREW", "WHEN"):
        unlinted.request("/users", method=method, headers=basic(ADMIN), expect_errors=True)
    after = scrape(testapp)
    other = [labels for name, labels in after if dict(labels).get("method") in ("BREW", "WHEN")]
    assert not other
    assert sum(
        delta(before, after, "membership_http_requests_total", method="other", route="/users",
              status=status)
        for status in ("400", "404", "405", "501")
    ) == 2  # fmt: skip


def test_membership_checks_are_counted_by_result(api, testapp):
    api.user("alice")
    api.group("/groups/eng")
    api.member("/groups/eng", "alice")
    api.group("/groups/eng/groups/backend")
    api.user("bob")
    api.member("/groups/eng/groups/backend", "bob")
    before = scrape(testapp)
    api.get("/groups/eng/members/alice")
    api.get("/groups/eng/members/bob")  # not a direct member
    api.get("/groups/eng/members/bob?effective=true")  # a member through backend
    api.get("/groups/eng/groups/backend/members/alice")
    after = scrape(testapp)
    assert delta(before, after, "membership_checks_total", result="member") == 2
    assert delta(before, after, "membership_checks_total", result="not_member") == 2


def test_failed_and_throttled_logins_are_counted(api, testapp):
    api.user("alice")
    before = scrape(testapp)
    for _ in range(2):
        api.get("/users/alice", as_=basic("alice", "wrong"))
    assert api.get("/users/alice", as_=basic("alice")).status_int == 429
    api.get("/users", as_={"Authorization": "Bearer mbr_not-a-token"})
    api.get("/users", as_={"Authorization": "Weird stuff"})
    after = scrape(testapp)
    assert delta(before, after, "membership_login_failures_total", scheme="basic") == 2
    assert delta(before, after, "membership_login_failures_total", scheme="token") == 1
    assert delta(before, after, "membership_login_failures_total", scheme="other") == 1
    assert delta(before, after, "membership_login_throttled_total", limit="user") == 1


def test_commits_are_timed(api, testapp):
    before = scrape(testapp)
    api.user("carol")
    api.group("/groups/ops")
    after = scrape(testapp)
    assert delta(before, after, "membership_zodb_commit_duration_seconds_count") == 2
    assert delta(before, after, "membership_zodb_commit_duration_seconds_sum") > 0


def test_conflicts_are_counted_retried_then_exhausted(api, testapp, monkeypatch):
    before = scrape(testapp)

    def conflict(*args, **kwargs):
        raise ConflictError("simulated")

    monkeypatch.setattr(transaction.TransactionManager, "commit", conflict)
    assert api.post("/groups", {"name": "contested"}).status_int == 503
    monkeypatch.undo()
    after = scrape(testapp)
    assert delta(before, after, "membership_zodb_conflicts_total", outcome="retried") == 2
    assert delta(before, after, "membership_zodb_conflicts_total", outcome="exhausted") == 1
    assert (
        delta(
            before,
            after,
            "membership_http_requests_total",
            method="POST",
            route="/groups",
            status="503",
        )
        == 1
    )


def test_build_info(testapp):
    samples = scrape(testapp)
    info = [dict(labels) for name, labels in samples if name == "membership_build_info"]
    assert info and info[0]["version"] and info[0]["python"].startswith("3.")


@pytest.mark.parametrize("address", ["127.0.0.1", "127.8.9.10", "::1", "::ffff:127.0.0.1"])
def test_loopback_may_read(testapp, address):
    assert testapp.get("/metrics", extra_environ={"REMOTE_ADDR": address}).status_int == 200


@pytest.mark.parametrize(
    ("environ", "headers"),
    [
        ({"REMOTE_ADDR": "10.0.0.1"}, {}),
        ({"REMOTE_ADDR": "2001:db8::1"}, {}),
        ({}, {}),
        (LOCAL, {"X-Forwarded-For": "203.0.113.9"}),  # relayed by a proxy on this host
        (LOCAL, {"Forwarded": "for=203.0.113.9"}),
    ],
)
def test_anyone_else_gets_404(testapp, environ, headers):
    res = testapp.get("/metrics", extra_environ=environ, headers=headers, status=404)
    assert res.content_type == "application/problem+json"
    assert "membership_" not in res.text


@pytest.mark.parametrize("credentials", [None, basic(ADMIN)])
def test_credentials_neither_help_nor_hurt(testapp, credentials):
    headers = credentials or {}
    testapp.get("/metrics", extra_environ={"REMOTE_ADDR": "10.0.0.1"}, headers=headers, status=404)
    testapp.get("/metrics", extra_environ=LOCAL, headers=headers, status=200)


class TestAllowList:
    @pytest.fixture
    def settings(self, settings):
        return {**settings, "membership.metrics.allow": "10.1.0.0/16 192.0.2.7"}

    def test_the_configured_networks_only(self, testapp):
        testapp.get("/metrics", extra_environ={"REMOTE_ADDR": "10.1.200.3"}, status=200)
        testapp.get("/metrics", extra_environ={"REMOTE_ADDR": "192.0.2.7"}, status=200)
        testapp.get("/metrics", extra_environ={"REMOTE_ADDR": "192.0.2.8"}, status=404)
        testapp.get("/metrics", extra_environ=LOCAL, status=404)


class TestDisabled:
    @pytest.fixture
    def settings(self, settings):
        return {**settings, "membership.metrics.enabled": "false"}

    def test_nothing_is_counted_and_nothing_served(self, api, testapp):
        before = metrics.REQUESTS.labels("GET", "/users/{user}", "200")._value.get()
        api.get(f"/users/{ADMIN}")
        assert metrics.REQUESTS.labels("GET", "/users/{user}", "200")._value.get() == before
        testapp.get("/metrics", extra_environ=LOCAL, status=404)


def test_promtool_accepts_the_output(api, testapp):
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool not installed (Debian package prometheus; .ci/run installs it)")
    api.get("/groups/admins/members/admin")
    api.get("/users", as_=basic("admin", "wrong"))
    text = testapp.get("/metrics", extra_environ=LOCAL).text
    done = subprocess.run(
        [promtool, "check", "metrics"], input=text, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_counting_a_request_costs_microseconds(app):
    """The membership check's hot path: the route template and the cached label children."""
    from pyramid.request import Request

    observe = metrics.RequestObserver()
    request = Request.blank("/groups/admins/members/admin")
    request.registry = app.registry
    request.context = metrics.NonMember.__new__(metrics.NonMember)
    request.view_name = ""
    request.matched_route = None
    best = float("inf")
    for _ in range(5):
        started = time.perf_counter()
        for _ in range(1000):
            observe(request, metrics.route_template(request), 404, 0.001)
        best = min(best, (time.perf_counter() - started) / 1000)
    assert best < 50e-6, f"{best * 1e6:.1f} µs per request"
