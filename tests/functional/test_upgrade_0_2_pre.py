"""A database in the layout of main before memberships became values opens and answers the same.

``fixtures/membership-0.2-pre.fs`` was written by ``fixtures/make_db_0_2_pre.py``
on commit 4619686: every membership there is its own persistent object. The
current code stores memberships as values in the group's tree and reads both
forms, so nothing is converted at start-up; a write converts what it touches.
Each test opens a copy, so the fixture itself is never changed.
"""

import base64
import json
import shutil
from pathlib import Path

import pytest
import transaction
from webtest import TestApp

import membership
from membership.domain.consistency import check
from membership.web.db import ROOT_KEY, database

FIXTURES = Path(__file__).parent.parent / "fixtures"
SECRETS = json.loads((FIXTURES / "membership-0.2-pre.json").read_text())


def basic(user: str, password: str = SECRETS["password"]) -> dict:
    value = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {value}"}


ADMIN = basic("admin")


@pytest.fixture
def old_app(tmp_path):
    copy = tmp_path / "Data.fs"
    shutil.copyfile(FIXTURES / "membership-0.2-pre.fs", copy)
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


def fsck_problems(app: TestApp) -> list:
    db = database(app.app.registry)
    tm = transaction.TransactionManager()
    conn = db.open(transaction_manager=tm)
    try:
        root = conn.root()[ROOT_KEY]
        return list(check(root))
    finally:
        tm.abort()
        conn.close()


def test_memberships_answer_as_before(old_app):
    bob = old_app.get("/groups/eng/groups/backend/members/bob", headers=ADMIN).json
    assert (bob["role"], bob["added_by"], bob["added_at"]) == (
        "manager",
        "admin",
        "2026-01-01T12:00:00Z",
    )
    erin = old_app.get("/groups/ops/members/erin", headers=ADMIN).json
    assert erin["expires_at"] == "2027-06-01T00:00:00Z"
    old_app.get("/groups/ops/members/dave", headers=ADMIN, status=404)  # expired
    page = old_app.get("/groups/ops/members", headers=ADMIN).json["items"]
    assert [(m["user"], m["role"], m["expired"]) for m in page] == [
        ("dave", "member", True),
        ("erin", "member", False),
        ("gina", "member", False),
        ("imported", "manager", False),
    ]
    visible = old_app.get("/groups/ops/members", headers=basic("erin")).json["items"]
    assert [m["user"] for m in visible] == ["erin", "gina", "imported"]
    check = old_app.get("/groups/eng/members/carol?effective=true", headers=ADMIN).json
    assert check["via"] == "/groups/eng/groups/backend/groups/db"
    groups = old_app.get("/users/carol/groups", headers=basic("carol")).json["items"]
    assert [g["path"] for g in groups] == [
        "/groups/eng",
        "/groups/eng/groups/backend",
        "/groups/eng/groups/backend/groups/db",
    ]
    token = {"Authorization": f"Bearer {SECRETS['tokens']['alice']}"}
    assert old_app.get("/", headers=token).json["identity"]["authenticated_by"] == "token"
    old_app.get("/groups/eng/groups/backend", headers=basic("erin"), status=403)  # the Deny
    assert fsck_problems(old_app) == []


def test_history_of_the_old_layout_is_readable(old_app):
    events = old_app.get("/groups/eng/history?limit=1000", headers=ADMIN).json["items"]
    actions = {event["action"] for event in events}
    assert {"group.created", "membership.created", "membership.changed", "acl.changed"} <= actions
    bob = old_app.get("/users/bob/history", headers=ADMIN).json["items"]
    assert [e["action"] for e in bob][:2] == ["membership.changed", "membership.created"]
    deleted = old_app.get("/history?action=group.deleted", headers=ADMIN).json["items"]
    assert [event["target"] for event in deleted] == ["/groups/tmp"]
    mine = old_app.get("/history?actor=alice", headers=ADMIN).json["items"]
    assert [e["action"] for e in mine] == ["token.created"]


def test_writes_on_old_memberships_and_new_ones_side_by_side(old_app):
    path = "/groups/eng/groups/backend/members/bob"
    etag = old_app.get(path, headers=ADMIN).headers["ETag"]
    changed = old_app.patch_json(
        path, {"role": "owner"}, headers={**ADMIN, "If-Match": etag}, status=200
    ).json
    assert changed["role"] == "owner"
    assert changed["added_at"] == "2026-01-01T12:00:00Z"  # kept through the conversion
    assert old_app.get(path, headers=ADMIN).json["role"] == "owner"
    old_app.post_json("/groups/ops/members", {"user": "carol"}, headers=ADMIN, status=201)
    page = old_app.get("/groups/ops/members?role=member", headers=ADMIN).json["items"]
    assert [m["user"] for m in page] == ["carol", "dave", "erin", "gina"]
    old_app.delete("/groups/ops/members/gina", headers=ADMIN, status=204)
    old_app.get("/groups/ops/members/gina", headers=ADMIN, status=404)
    groups = old_app.get("/users/bob/groups", headers=ADMIN).json["items"]
    assert [(g["path"], g.get("role")) for g in groups] == [
        ("/groups/eng", None),
        ("/groups/eng/groups/backend", "owner"),
    ]
    old_app.post_json(
        "/groups/eng/groups/backend/move", {"to": "/groups/ops"}, headers=ADMIN, status=200
    )
    assert old_app.get("/groups/ops/groups/backend/members/bob", headers=ADMIN).json["role"] == (
        "owner"
    )
    old_app.delete("/users/carol", headers=ADMIN, status=204)
    old_app.get("/groups/ops/members/carol", headers=ADMIN, status=404)
    assert fsck_problems(old_app) == []
