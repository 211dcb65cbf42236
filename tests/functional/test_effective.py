"""Nested groups: membership flows up, access flows down; expiry; moves; effective listings."""

from datetime import UTC, datetime, timedelta

import pytest

from membership import clock
from membership.web.db import database

START = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def frozen():
    """An injectable clock: tests move time by assigning ``frozen.now``."""

    class Clock:
        now = START

    clock.set_clock(lambda: Clock.now)
    yield Clock
    clock.set_clock(None)


@pytest.fixture
def tree(api):
    api.group("/groups/eng")
    api.group("/groups/eng/groups/backend")
    api.group("/groups/eng/groups/backend/groups/db")
    api.group("/groups/ops")
    for user in ["alice", "bob", "carol", "dave"]:
        api.user(user)
    return api


def paths(items):
    return [(i["path"], i["direct"], i.get("via"), i.get("role")) for i in items]


def test_membership_flows_up_with_via(tree):
    tree.member("/groups/eng/groups/backend/groups/db", "alice", "manager")
    items = tree.get("/users/alice/groups", as_="alice").json["items"]
    assert paths(items) == [
        ("/groups/eng", False, "/groups/eng/groups/backend/groups/db", None),
        ("/groups/eng/groups/backend", False, "/groups/eng/groups/backend/groups/db", None),
        ("/groups/eng/groups/backend/groups/db", True, None, "manager"),
    ]
    direct = tree.get("/users/alice/groups?direct=true", as_="alice").json["items"]
    assert paths(direct) == [("/groups/eng/groups/backend/groups/db", True, None, "manager")]


def test_direct_membership_wins_over_inherited(tree):
    tree.member("/groups/eng", "alice")
    tree.member("/groups/eng/groups/backend", "alice", "owner")
    items = tree.get("/users/alice/groups").json["items"]
    assert paths(items)[0] == ("/groups/eng", True, None, "member")


def test_access_flows_down_and_membership_grants_view_up(tree):
    tree.member("/groups/eng", "alice", "owner")
    tree.member("/groups/eng/groups/backend", "bob")
    assert tree.patch("/groups/eng/groups/backend", {"title": "BE"}, as_="alice").status_int == 200
    assert (
        tree.post(
            "/groups/eng/groups/backend/members", {"user": "carol", "role": "owner"}, as_="alice"
        ).status_int
        == 201
    )
    assert tree.get("/groups/eng", as_="bob").status_int == 200
    assert tree.patch("/groups/eng", {"title": "x"}, as_="bob").status_int == 403
    assert tree.get("/groups/ops", as_="bob").status_int == 403


def test_effective_check(tree):
    tree.member("/groups/eng/groups/backend", "bob")
    res = tree.get("/groups/eng/members/bob?effective=true")
    assert res.status_int == 200
    assert res.json["direct"] is False
    assert res.json["via"] == "/groups/eng/groups/backend"
    assert tree.get("/groups/eng/members/bob").status_int == 404
    assert tree.get("/groups/ops/members/bob?effective=true").status_int == 404
    direct = tree.get("/groups/eng/groups/backend/members/bob?effective=true")
    assert direct.status_int == 200 and direct.json["direct"] is True


def test_effective_member_listing_counts_each_user_once(tree):
    tree.member("/groups/eng", "alice")
    tree.member("/groups/eng/groups/backend", "alice")
    tree.member("/groups/eng/groups/backend", "bob")
    tree.member("/groups/eng/groups/backend/groups/db", "carol")
    tree.member("/groups/ops", "dave")
    first = tree.get("/groups/eng/members?effective=true&limit=2").json
    assert [i["user"] for i in first["items"]] == ["alice", "bob"]
    second = tree.get(first["next"]).json
    assert [i["user"] for i in second["items"]] == ["carol"]
    assert "next" not in second


def test_expiry_takes_effect_at_the_instant(tree, frozen):
    expires = START + timedelta(minutes=5)
    tree.member("/groups/eng", "bob", expires_at=expires.isoformat())
    assert tree.get("/groups/eng/members/bob").status_int == 200
    assert tree.get("/groups/eng", as_="bob").status_int == 200
    frozen.now = expires - timedelta(microseconds=1)
    assert tree.get("/groups/eng/members/bob").status_int == 200
    frozen.now = expires
    assert tree.get("/groups/eng/members/bob").status_int == 404
    assert tree.get("/groups/eng", as_="bob").status_int == 403
    assert tree.get("/users/bob/groups").json["items"] == []
    assert "group:/groups/eng" not in tree.get("/", as_="bob").json["identity"]["principals"]


def test_expired_members_hidden_from_viewers_shown_to_managers(tree, frozen):
    tree.member("/groups/eng", "alice")
    tree.member("/groups/eng", "bob", expires_at=(START + timedelta(hours=1)).isoformat())
    tree.member("/groups/eng", "carol", "manager")
    frozen.now = START + timedelta(hours=2)
    seen_by_member = tree.get("/groups/eng/members", as_="alice").json["items"]
    assert [m["user"] for m in seen_by_member] == ["alice", "carol"]
    seen_by_manager = tree.get("/groups/eng/members", as_="carol").json["items"]
    assert [(m["user"], m.get("expired", False)) for m in seen_by_manager] == [
        ("alice", False),
        ("bob", True),
        ("carol", False),
    ]
    # a manager can extend it again
    later = (START + timedelta(days=1)).isoformat()
    assert (
        tree.patch("/groups/eng/members/bob", {"expires_at": later}, as_="carol").status_int == 200
    )
    assert tree.get("/groups/eng/members/bob").status_int == 200


def test_purge_expired_removes_membership_and_index(tree, frozen, app):
    from membership.scripts.purge import purge_expired

    from .conftest import script_context, with_root

    tree.member("/groups/eng", "bob", expires_at=(START + timedelta(hours=1)).isoformat())
    tree.member("/groups/eng", "alice")
    frozen.now = START + timedelta(hours=1)
    removed = with_root(
        database(app.registry), lambda root: purge_expired(script_context(root, app.registry))
    )
    assert removed == [("bob", "/groups/eng")]
    assert tree.get("/groups/eng").json["member_count"] == 1
    assert [m["user"] for m in tree.get("/groups/eng/members").json["items"]] == ["alice"]


def test_move_subgroup_keeps_members_and_index(tree):
    tree.member("/groups/eng/groups/backend/groups/db", "alice")
    tree.member("/groups/ops", "bob", "owner")
    res = tree.post("/groups/eng/groups/backend/move", {"to": "/groups/ops"})
    assert res.status_int == 200, res.text
    assert res.json["path"] == "/groups/ops/groups/backend"
    assert tree.get("/groups/eng/groups/backend").status_int == 404
    assert tree.get("/groups/ops/groups/backend/groups/db/members/alice").status_int == 200
    assert [i["path"] for i in tree.get("/users/alice/groups").json["items"]] == [
        "/groups/ops",
        "/groups/ops/groups/backend",
        "/groups/ops/groups/backend/groups/db",
    ]
    # principals follow: the owner of ops now owns the moved subtree
    assert (
        tree.patch("/groups/ops/groups/backend/groups/db", {"title": "DB"}, as_="bob").status_int
        == 200
    )


def test_move_to_top_level_and_refusals(tree):
    assert tree.post("/groups/eng/groups/backend/move", {"to": "/groups"}).status_int == 200
    assert tree.get("/groups/backend").status_int == 200
    under_itself = tree.post("/groups/backend/move", {"to": "/groups/backend/groups/db"})
    assert under_itself.status_int == 400
    assert under_itself.json["errors"][0]["field"] == "to"
    assert tree.post("/groups/backend/move", {"to": "/groups/nowhere"}).status_int == 422
    tree.group("/groups/ops/groups/db")
    assert tree.post("/groups/backend/groups/db/move", {"to": "/groups/ops"}).status_int == 409
    assert tree.post("/groups/admins/move", {"to": "/groups/ops"}).status_int == 409


def test_move_needs_delete_here_and_create_there(tree):
    tree.member("/groups/eng", "alice", "owner")
    denied = tree.post("/groups/eng/groups/backend/move", {"to": "/groups/ops"}, as_="alice")
    assert denied.status_int == 403
    tree.member("/groups/ops", "alice", "manager")
    allowed = tree.post("/groups/eng/groups/backend/move", {"to": "/groups/ops"}, as_="alice")
    assert allowed.status_int == 200


def test_cursor_paging_survives_inserts_and_deletes_between_pages(tree, app):
    from membership.domain.users import create_missing_users

    from .conftest import script_context, with_root

    db = database(app.registry)
    names = [f"m{i:03d}" for i in range(0, 100, 2)]
    with_root(
        db,
        lambda root: create_missing_users(
            script_context(root, app.registry), [f"m{i:03d}" for i in range(100)]
        ),
    )
    tree.patch("/groups/eng/members", [{"op": "add", "user": n} for n in names])
    seen = []
    page = tree.get("/groups/eng/members?limit=10").json
    seen += [m["user"] for m in page["items"]]
    tree.delete("/groups/eng/members/m000")  # already seen
    tree.delete(f"/groups/eng/members/{names[-1]}")  # not yet seen
    tree.member("/groups/eng", "m001")  # before the cursor
    tree.member("/groups/eng", "m051")  # after the cursor
    while "next" in page:
        page = tree.get(page["next"]).json
        seen += [m["user"] for m in page["items"]]
    stayed = set(names) - {"m000", names[-1]}
    assert len(seen) == len(set(seen)), "no item twice"
    assert stayed <= set(seen), "no item that stayed is skipped"
    assert "m051" in seen and names[-1] not in seen
