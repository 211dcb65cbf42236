"""The history page's live part: ``/ui/…/history-live``, the change feed as server-sent
events of the page's own rows, with the page's permission (``view-history``) and
selection (the node's subtree, the actor and action filters).

Streams last ``membership.changes.stream_seconds`` (short here), so WebTest reads each
to its end. The browser side is tests/browser/test_ui_browser.py.
"""

import html
import re

import pytest

from .test_ui import Browser

pytestmark = pytest.mark.no_spec_check


@pytest.fixture
def settings(settings):
    return {
        **settings,
        "membership.ui.insecure_cookies": "true",
        "membership.changes.stream_seconds": "0.6",
    }


@pytest.fixture
def people(api):
    """alice owns eng, bob owns eng/backend only, carol is in no group."""
    for userid in ("alice", "bob", "carol", "dave", "erin"):
        api.user(userid)
    api.group("/groups/eng")
    api.group("/groups/eng/groups/backend")
    api.group("/groups/ops")
    api.member("/groups/eng", "alice", "owner")
    api.member("/groups/eng/groups/backend", "bob", "owner")
    return api


def live_url(browser: Browser, page: str) -> str:
    """The stream the history page at ``page`` follows (from the page, as the script does)."""
    res = browser.get(page)
    body = res.html.select_one("tbody[data-live]")
    assert body is not None, res.text
    return body["data-live"]


def events(res) -> list[dict]:
    """The stream's events: ``{"event", "id", "data"}`` (data lines joined with newlines)."""
    assert res.content_type == "text/event-stream"
    found = []
    for block in res.text.split("\n\n"):
        fields: dict = {}
        for line in block.splitlines():
            name, _, value = line.partition(": ")
            if name == "data":
                fields["data"] = fields.get("data", "") + ("\n" if "data" in fields else "")
                fields["data"] += value
            elif name in ("event", "id"):
                fields[name] = value
        if fields.get("event"):
            found.append(fields)
    return found


def targets(found: list[dict]) -> list[str]:
    """The target each row names (``<code>…</code>`` in the "What" cell)."""
    return [html.unescape(re.search(r"<code>([^<]+)</code>", e["data"])[1]) for e in found]


def test_the_newest_page_of_a_history_goes_on_live_without_inline_script(app, people):
    alice = Browser(app, "alice")
    res = alice.get("/ui/groups/eng/history")
    assert res.headers["Content-Security-Policy"].startswith("default-src 'self'")
    scripts = res.html.find_all("script")
    assert scripts and all(s.get("src") for s in scripts)  # files of ours, nothing inline
    assert any(s["src"].endswith("/ui/static/live.js") for s in scripts)
    url = live_url(alice, "/ui/groups/eng/history")
    assert url.startswith("/ui/groups/eng/history-live?after=")
    # an older page, or one since a time, stays as it is
    assert (
        alice.get("/ui/groups/eng/history?since=2020-01-01").html.select_one("tbody[data-live]")
        is None
    )


def test_a_change_committed_after_the_page_arrives_as_its_row(app, people):
    alice = Browser(app, "alice")
    url = live_url(alice, "/ui/groups/eng/history")
    people.member("/groups/eng/groups/backend", "dave", expires_at="2031-01-01T00:00:00Z")
    people.member("/groups/ops", "erin")  # not below eng: not on this page
    res = alice.get(url)
    assert res.headers["Cache-Control"] == "no-store"
    found = events(res)
    assert [e["event"] for e in found] == ["change"]
    assert targets(found) == ["/groups/eng/groups/backend/members/dave"]
    row = found[0]["data"]
    assert row.startswith("<tr>") and "membership.created" in row and "admin" in row
    assert "2031-01-01" in row  # the after-values, as on the page
    assert "retry:" in res.text  # the browser reconnects (with Last-Event-ID) after the end


def test_a_reconnecting_browser_resumes_after_the_last_event_it_saw(app, people):
    alice = Browser(app, "alice")
    url = live_url(alice, "/ui/groups/eng/history")
    people.member("/groups/eng", "dave")
    people.member("/groups/eng", "erin")
    first, second = events(alice.get(url))
    assert targets([second]) == ["/groups/eng/members/erin"]
    again = events(alice.get(url, headers={"Last-Event-ID": first["id"]}))
    assert [e["id"] for e in again] == [second["id"]]


def test_the_page_filters_apply_to_the_live_rows(app, people):
    alice = Browser(app, "alice")
    url = live_url(alice, "/ui/groups/eng/history?action=group")
    assert "action=group" in url
    people.member("/groups/eng", "dave")
    people.patch("/groups/eng", {"title": "Engineering"})
    assert targets(events(alice.get(url))) == ["/groups/eng"]


def test_a_viewer_of_a_subgroup_sees_only_its_changes_live(app, people):
    bob = Browser(app, "bob")
    url = live_url(bob, "/ui/groups/eng/groups/backend/history")
    people.member("/groups/eng", "dave")  # above bob's subtree
    people.member("/groups/eng/groups/backend", "erin")
    assert targets(events(bob.get(url))) == ["/groups/eng/groups/backend/members/erin"]


def test_the_live_stream_of_a_node_needs_view_history_there(app, people):
    alice = Browser(app, "alice")
    after = live_url(alice, "/ui/groups/eng/history").split("after=")[1]
    people.member("/groups/eng", "dave")
    for userid in ("bob", "carol"):  # bob owns only backend; carol nothing
        res = Browser(app, userid).get(f"/ui/groups/eng/history-live?after={after}", status=403)
        assert res.content_type == "text/html"
        assert "view-history" in res.text and "dave" not in res.text
    res = Browser(app, "bob").get(f"/ui/history-live?after={after}", status=403)
    assert "dave" not in res.text
    # the admin's root history sees everything
    admin = Browser(app, "admin")
    assert targets(events(admin.get(f"/ui/history-live?after={after}"))) == [
        "/groups/eng/members/dave"
    ]


def test_without_a_session_the_stream_sends_to_the_login_page(people, testapp):
    res = testapp.get("/ui/groups/eng/history-live", status=303)
    assert "/ui/login" in res.location


def test_a_foreign_cursor_is_a_400_page(app, people):
    alice = Browser(app, "alice")
    res = alice.get("/ui/groups/eng/history-live?after=nonsense", status=400)
    assert "not a cursor this service issued" in html.unescape(res.text)
