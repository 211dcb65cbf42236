"""The change feed over HTTP: who may read it, filters, cursors, long-poll, SSE."""

import threading
import time

import pytest

from .helpers import ADMIN


@pytest.fixture
def settings(settings):
    return {**settings, "membership.changes.stream_seconds": "1"}


@pytest.fixture
def world(api):
    api.user("alice")
    api.user("bob")
    api.group("/groups/eng")
    api.group("/groups/eng/groups/backend")
    api.group("/groups/ops")
    api.member("/groups/eng", "alice", "owner")
    return api


def now(api, path="") -> str:
    return api.get(f"{path}/changes?after=now", status=200).json["cursor"]


def test_changes_come_in_order_with_their_shape(world):
    cursor = now(world)
    world.member("/groups/eng/groups/backend", "bob")
    world.patch("/groups/ops", {"title": "Ops"}, status=200)
    page = world.get(f"/changes?after={cursor}", status=200).json
    assert [(i["type"], i["target"]) for i in page["items"]] == [
        ("membership.created", "/groups/eng/groups/backend/members/bob"),
        ("group.changed", "/groups/ops"),
    ]
    first = page["items"][0]
    assert first["groups"] == ["/groups/eng/groups/backend", "/groups/eng"]
    assert first["actor"] == ADMIN
    assert first["data"]["after"]["role"] == "member"
    assert first["id"] == first["cursor"]
    again = world.get(f"/changes?after={page['cursor']}", status=200).json
    assert again["items"] == [] and again["cursor"] == page["cursor"]


def test_types_filter_with_globs_and_paging(world):
    cursor = now(world)
    for user in ("carol", "dave", "erin"):
        world.user(user)
        world.member("/groups/ops", user)
    page = world.get(f"/changes?after={cursor}&types=membership.*&limit=2", status=200).json
    assert [i["target"].rsplit("/", 1)[1] for i in page["items"]] == ["carol", "dave"]
    rest = world.get(page["next"].replace("http://localhost", ""), status=200).json
    assert [i["target"].rsplit("/", 1)[1] for i in rest["items"]] == ["erin"]
    assert world.get("/changes?types=user.created", status=200).json["items"]


def test_a_subtree_feed_holds_only_that_subtree(world):
    cursor = now(world, "/groups/eng")
    world.member("/groups/ops", "bob")
    world.member("/groups/eng/groups/backend", "bob")
    items = world.get(f"/groups/eng/changes?after={cursor}", as_="alice").json["items"]
    assert [i["target"] for i in items] == ["/groups/eng/groups/backend/members/bob"]


def test_a_users_feed_holds_that_user_and_their_memberships(world):
    cursor = now(world, "/users/bob")
    world.member("/groups/ops", "bob")
    world.member("/groups/ops", "alice")
    world.patch("/users/bob", {"display_name": "Bob"}, status=200)
    items = world.get(f"/users/bob/changes?after={cursor}", as_="bob").json["items"]
    assert [i["type"] for i in items] == ["membership.created", "user.changed"]


@pytest.mark.parametrize(
    "who,path,status",
    [
        (ADMIN, "", 200),
        ("alice", "", 403),  # the whole feed: admins only
        ("alice", "/groups/eng", 200),  # owner: view-history
        ("bob", "/groups/eng", 403),
        ("bob", "/users/bob", 200),
        ("bob", "/users/alice", 403),
        (None, "", 401),
    ],
)
def test_who_may_read_the_feed(world, who, path, status):
    assert world.get(f"{path}/changes", as_=who).status_int == status


@pytest.mark.parametrize("cursor", ["nope", "0" * 23, "g" * 24])
def test_a_malformed_cursor_is_400(world, cursor):
    res = world.get(f"/changes?after={cursor}")
    assert res.status_int == 400
    assert res.json["errors"][0]["field"] == "after"


def test_long_poll_answers_as_soon_as_something_commits(world):
    cursor = now(world)
    done = threading.Event()

    def later():
        time.sleep(0.5)
        world.group("/groups/later")
        done.set()

    threading.Thread(target=later).start()
    started = time.monotonic()
    page = world.get(f"/changes?after={cursor}&wait=10", status=200).json
    assert [i["target"] for i in page["items"]] == ["/groups/later"]
    assert time.monotonic() - started < 5
    done.wait(5)


def test_long_poll_with_nothing_new_answers_empty_at_the_end(world):
    cursor = now(world)
    started = time.monotonic()
    page = world.get(f"/changes?after={cursor}&wait=1", status=200).json
    assert page["items"] == [] and page["cursor"] == cursor
    assert time.monotonic() - started >= 1


@pytest.mark.no_spec_check
def test_server_sent_events_resume_from_last_event_id(world):
    cursor = now(world)
    world.group("/groups/one")
    world.group("/groups/two")
    headers = {"Accept": "text/event-stream"}
    res = world.get(f"/changes?after={cursor}", headers=headers, status=200)
    assert res.content_type == "text/event-stream"
    events = [block for block in res.text.split("\n\n") if block.startswith("id: ")]
    assert [e.split("\n")[1] for e in events] == ["event: group.created"] * 2
    assert res.text.startswith("retry: ") and res.text.rstrip().endswith("retry: 1000")
    first_id = events[0].split("\n")[0][len("id: ") :]
    resumed = world.get("/changes", headers={**headers, "Last-Event-ID": first_id}).text
    assert [b for b in resumed.split("\n\n") if b.startswith("id: ")] == events[1:]
