"""A database written by release 0.1 opens under this code and answers the same.

``fixtures/membership-0.1.fs`` was written by ``fixtures/make_db_0_1.py`` on
commit 18f2a7c (release 0.1). Each test opens a copy, so the fixture itself
is never changed, and starts the app on it with no manual step in between.
"""

import base64
import json
import shutil
from pathlib import Path

import pytest
from webtest import TestApp

import membership
from membership.web.db import database

FIXTURES = Path(__file__).parent.parent / "fixtures"
SECRETS = json.loads((FIXTURES / "membership-0.1.json").read_text())


def basic(user: str, password: str = SECRETS["password"]) -> dict:
    value = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {value}"}


@pytest.fixture
def old_app(tmp_path):
    copy = tmp_path / "Data.fs"
    shutil.copyfile(FIXTURES / "membership-0.1.fs", copy)
    app = membership.main(
        {},
        **{
            "zodbconn.uri": f"file://{copy}",
            "membership.argon2.time_cost": "1",
            "membership.argon2.memory_cost": "8",
            "membership.argon2.parallelism": "1",
        },
    )
    yield TestApp(app)
    database(app.registry).close()


def test_users_and_their_credentials_survive(old_app):
    ids = [u["id"] for u in old_app.get("/users", headers=basic("admin")).json["items"]]
    assert ids == ["admin", "alice", "bob", "carol", "dave", "erin"]
    assert old_app.get("/", headers=basic("carol")).json["identity"]["user"] == "carol"
    token = {"Authorization": f"Bearer {SECRETS['tokens']['alice']}"}
    assert old_app.get("/", headers=token).json["identity"]["authenticated_by"] == "token"
    old_app.get("/", headers=basic("carol", "wrong password"), status=401)


def test_nested_groups_roles_and_effective_membership_answer_as_before(old_app):
    admin = basic("admin")
    eng = old_app.get("/groups/eng", headers=admin).json
    assert (eng["title"], eng["description"]) == ("Engineering", "Everyone who builds things")
    backend = old_app.get("/groups/eng/groups/backend/members/bob", headers=admin).json
    assert backend["role"] == "manager"
    check = old_app.get("/groups/eng/members/carol?effective=true", headers=admin).json
    assert check["via"] == "/groups/eng/groups/backend/groups/db"
    groups = old_app.get("/users/carol/groups", headers=basic("carol")).json["items"]
    assert [g["path"] for g in groups] == [
        "/groups/eng",
        "/groups/eng/groups/backend",
        "/groups/eng/groups/backend/groups/db",
    ]
    # alice owns eng, so she administers the subtree; bob manages backend only
    old_app.get("/groups/eng/groups/backend/groups/db/acl", headers=basic("alice"), status=200)
    old_app.patch_json(
        "/groups/eng", {"title": "x"}, headers=basic("bob"), status=403, expect_errors=True
    )


def test_the_expired_membership_stays_expired(old_app):
    old_app.get("/groups/ops/members/dave", headers=basic("admin"), status=404)
    members = old_app.get("/groups/ops/members", headers=basic("erin")).json["items"]
    assert [m["user"] for m in members] == ["erin"]


def test_local_aces_still_decide(old_app):
    entries = old_app.get("/groups/eng/acl", headers=basic("admin")).json["entries"]
    assert entries == [
        {"action": "Allow", "principal": "group:/groups/ops", "permissions": ["view"]}
    ]
    old_app.get("/groups/eng", headers=basic("erin"), status=200)  # ops may view eng
    old_app.get("/groups/eng/groups/backend", headers=basic("erin"), status=403)  # the Deny


def test_history_is_readable(old_app):
    events = old_app.get("/groups/eng/history?limit=1000", headers=basic("admin")).json["items"]
    actions = {event["action"] for event in events}
    assert {"group.created", "membership.created", "acl.changed", "group.changed"} <= actions
    deleted = old_app.get("/history?action=group.deleted", headers=basic("admin")).json["items"]
    assert [event["target"] for event in deleted] == ["/groups/tmp"]


def test_new_writes_work_on_the_old_tree(old_app):
    admin = basic("admin")
    old_app.post_json("/users", {"id": "frank", "password": "x" * 12}, headers=admin, status=201)
    old_app.post_json(
        "/groups/eng/groups/backend/members", {"user": "frank"}, headers=admin, status=201
    )
    groups = old_app.get("/users/frank/groups", headers=admin).json["items"]
    assert [g["path"] for g in groups] == ["/groups/eng", "/groups/eng/groups/backend"]
    old_app.post_json(
        "/groups/eng/groups/backend/move", {"to": "/groups/ops"}, headers=admin, status=200
    )
    check = old_app.get("/groups/ops/members/carol?effective=true", headers=admin).json
    assert check["via"] == "/groups/ops/groups/backend/groups/db"
    old_app.delete("/users/carol", headers=admin, status=204)
    old_app.get("/groups/ops/groups/backend/groups/db/members/carol", headers=admin, status=404)


def test_groups_get_stable_ids_on_upgrade(old_app):
    admin = basic("admin")
    ids = {
        path: old_app.get(path, headers=admin).json["id"]
        for path in ("/groups/admins", "/groups/eng", "/groups/eng/groups/backend")
    }
    assert len(set(ids.values())) == 3
    found = old_app.get(f"/groups/@id/{ids['/groups/eng/groups/backend']}", headers=admin)
    assert found.status_int == 307
    assert found.headers["Location"].endswith("/groups/eng/groups/backend")
    # the ids are stored, not made up per request
    assert old_app.get("/groups/eng", headers=admin).json["id"] == ids["/groups/eng"]


def test_an_upgraded_group_keeps_its_history_and_adds_to_it(old_app):
    admin = basic("admin")
    old_app.patch_json("/groups/eng", {"title": "Eng"}, headers=admin, status=200)
    events = old_app.get("/groups/eng/history?limit=1000", headers=admin).json["items"]
    actions = [event["action"] for event in events]
    assert actions[0] == "group.changed"
    assert actions.count("group.created") == 3  # eng, backend, db: all from 0.1
    # the deleted /groups/tmp of 0.1 is not the history of a new group there
    old_app.post_json("/groups", {"name": "tmp"}, headers=admin, status=201)
    fresh = old_app.get("/groups/tmp/history", headers=admin).json["items"]
    assert [event["action"] for event in fresh] == ["group.created"]


def test_users_of_0_1_get_user_names_and_stay_active(old_app):
    admin = basic("admin")
    carol = old_app.get("/users/carol", headers=admin).json
    assert (carol["user_name"], carol["active"], carol["external_id"]) == ("carol", True, None)
    # the userName index was filled: another user cannot take "CAROL"
    res = old_app.patch_json(
        "/users/dave", {"user_name": "CAROL"}, headers=admin, status=409, expect_errors=True
    )
    assert res.json["errors"][0]["field"] == "user_name"
