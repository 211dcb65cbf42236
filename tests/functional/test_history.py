"""The audit log: one event per change with its actor, nothing for failed requests, no
secrets anywhere, subtree and user histories, paging and filters, the scripts."""

import base64
import io
import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from membership.credentials import token_digest
from membership.domain import Actor, Context
from membership.domain.groups import create_group, update_group
from membership.domain.setup import ensure_tree
from membership.model import group_at, history
from membership.paths import history_paths
from membership.scripts.export_history import export
from membership.web.db import database

from .conftest import script_context, with_root
from .helpers import ADMIN, PASSWORD

ENG = "/groups/eng"
BACKEND = "/groups/eng/groups/backend"
DB = f"{BACKEND}/groups/db"
BIN = Path(sys.executable).parent


def all_events(api, **params):
    """Every event of /history, newest first, following ``next`` links."""
    query = "&".join(f"{k}={v}" for k, v in params.items())
    url = f"/history?limit=1000&{query}"
    events = []
    while url:
        body = api.get(url.replace("http://localhost", ""), status=200).json
        events += body["items"]
        url = body.get("next")
    return events


def summary(events):
    return [(e["actor"], e["action"], e["target"]) for e in events]


@pytest.fixture
def tree(api):
    api.group(ENG)
    api.group(BACKEND)
    for user in ["alice", "bob", "carol"]:
        api.user(user)
    api.member(ENG, "alice", "owner")
    return api


def test_each_change_is_one_event_with_its_actor(tree):
    before = len(all_events(tree))
    tree.post(f"{BACKEND}/members", {"user": "bob"}, as_="alice", status=201)
    tree.patch(f"{BACKEND}/members/bob", {"role": "manager"}, as_="alice", status=200)
    tree.post(f"{BACKEND}/groups", {"name": "db"}, as_="bob", status=201)
    tree.patch(DB, {"title": "Databases"}, as_="alice", status=200)
    tree.patch("/users/carol", {"display_name": "Carol"}, as_="carol", status=200)
    tree.post("/users/carol/tokens", {"name": "ci"}, as_="carol", status=201)
    tree.put(f"{DB}/acl", {"entries": [_ace("carol")]}, as_="alice", status=200)
    tree.delete(f"{BACKEND}/members/bob", as_="alice", status=204)
    tree.post(f"{DB}/move", {"to": ENG}, status=200)
    tree.delete("/groups/eng/groups/db", as_="alice", status=204)
    events = all_events(tree)
    assert len(events) == before + 11
    token = next(e for e in events if e["action"] == "token.created")
    assert summary(events[:11][::-1]) == [
        ("alice", "membership.created", f"{BACKEND}/members/bob"),
        ("alice", "membership.changed", f"{BACKEND}/members/bob"),
        ("bob", "group.created", DB),
        ("bob", "membership.created", f"{DB}/members/bob"),  # a manager's new group: owner
        ("alice", "group.changed", DB),
        ("carol", "user.changed", "/users/carol"),
        ("carol", "token.created", token["target"]),
        ("alice", "acl.changed", DB),
        ("alice", "membership.deleted", f"{BACKEND}/members/bob"),
        (ADMIN, "group.moved", "/groups/eng/groups/db"),
        ("alice", "group.deleted", "/groups/eng/groups/db"),
    ]
    by_action = {e["action"]: e for e in reversed(events[:11])}
    assert by_action["membership.changed"]["before"] == {"role": "member"}
    assert by_action["membership.changed"]["after"] == {"role": "manager"}
    assert by_action["group.changed"]["before"] == {"title": "db"}
    assert by_action["group.changed"]["after"] == {"title": "Databases"}
    assert by_action["group.moved"]["before"] == {"path": DB}
    assert by_action["group.moved"]["after"] == {"path": "/groups/eng/groups/db"}
    assert by_action["group.deleted"]["before"]["memberships"] == 1
    assert by_action["acl.changed"]["after"] == {"entries": [_ace("carol")]}
    assert token["after"] == {"name": "ci", "expires_at": None}
    assert events[0]["links"]["target"] == "http://localhost/groups/eng/groups/db"


def _ace(userid):
    return {"action": "Allow", "principal": f"user:{userid}", "permissions": ["view"]}


def test_an_unchanged_patch_records_nothing(tree):
    before = len(all_events(tree))
    tree.patch(ENG, {"title": "eng"}, status=200)  # the title it already has
    assert len(all_events(tree)) == before


@pytest.mark.parametrize(
    "method,path,body,status",
    [
        ("POST", "/users", {"id": "alice", "password": "whatever-1"}, 409),
        ("POST", "/users", {"id": "Bad!"}, 422),
        ("POST", f"{ENG}/members", {"user": "ghost"}, (400, 422)),  # an unknown reference
        (
            "PATCH",
            f"{ENG}/members",
            [{"op": "add", "user": "bob"}, {"op": "add", "user": "ghost"}],
            422,
        ),
        ("DELETE", "/groups/admins", None, 409),
        ("PUT", f"{ENG}/acl", {"entries": [{**_ace("bob"), "principal": "user:ghost"}]}, 400),
        ("PATCH", ENG, {"title": "x"}, 403),  # bob may not
    ],
)
def test_failed_requests_leave_no_event(tree, method, path, body, status):
    before = all_events(tree)
    as_ = "bob" if status == 403 else ADMIN
    res = tree.request(method, path, body, as_=as_)
    assert res.status_int in (status if isinstance(status, tuple) else (status,)), res.text
    assert all_events(tree) == before


def test_a_rolled_back_bulk_change_leaves_no_partial_events(tree):
    before = all_events(tree)
    ops = [{"op": "add", "user": "bob"}, {"op": "add", "user": "carol"}]
    ops.append({"op": "remove", "user": "nobody-here"})
    assert tree.patch(f"{ENG}/members", ops).status_int == 422
    assert all_events(tree) == before
    tree.patch(f"{ENG}/members", ops[:2], status=200)
    assert [e["action"] for e in all_events(tree)[:2]] == ["membership.created"] * 2


def test_secrets_never_reach_the_log(tree, app):
    passwords = ["first-password-1", "second-password-2"]
    tree.user("dave", password=passwords[0])
    tree.patch("/users/dave", {"password": passwords[1]}, status=200)
    db = database(app.registry)
    hashes = with_root(db, lambda root: [root.users[u].password_hash for u in (ADMIN, "dave")])
    secret = tree.post(
        "/users/dave/tokens",
        {"name": "laptop"},
        headers={"Authorization": _basic("dave", passwords[1])},
        as_=None,
        status=201,
    ).json
    tree.delete(f"/users/dave/tokens/{secret['id']}", status=204)
    tree.delete("/users/dave", status=204)
    out = io.StringIO()
    count = with_root(db, lambda root: export(root, out))
    log = out.getvalue()
    assert count == len(log.splitlines()) >= 7
    digest = token_digest(secret["token"])
    for needle in [*passwords, PASSWORD, secret["token"], digest, *hashes, "$argon2", "mbr_"]:
        assert needle not in log
    changed = [json.loads(line) for line in log.splitlines() if '"user.changed"' in line][-1]
    assert changed["before"] == {"password": "[redacted]"}
    assert changed["after"] == {"password": "[redacted]"}


def _basic(userid, password):
    return "Basic " + base64.b64encode(f"{userid}:{password}".encode()).decode()


def test_subtree_history_at_depth(tree):
    tree.group(DB)
    tree.group("/groups/eng/groups/frontend")
    tree.group("/groups/ops")
    tree.member(DB, "bob")
    tree.member("/groups/eng/groups/frontend", "carol")
    tree.member("/groups/ops", "carol")

    def targets(path, **kw):
        res = tree.get(f"{path}/history?limit=1000", **kw)
        assert res.status_int == 200, res.text
        return [e["target"] for e in res.json["items"]]

    eng, backend, db = targets(ENG), targets(BACKEND), targets(DB)
    assert f"{DB}/members/bob" in eng and f"{DB}/members/bob" in backend
    assert f"{DB}/members/bob" in db
    assert "/groups/eng/groups/frontend/members/carol" in eng
    assert "/groups/eng/groups/frontend/members/carol" not in backend
    assert all(t.startswith(DB) for t in db)
    assert all(t.startswith(BACKEND) for t in backend)
    assert all(t.startswith(ENG) for t in eng)
    assert "/groups/ops/members/carol" not in eng
    # events about a user: their memberships anywhere, not other people's
    carol = targets("/users/carol", as_="carol")
    assert "/groups/ops/members/carol" in carol
    assert "/groups/eng/groups/frontend/members/carol" in carol
    assert f"{DB}/members/bob" not in carol


def test_history_follows_a_moved_group_and_stays_queryable_by_its_old_path(tree):
    tree.group(DB)
    tree.group("/groups/ops")
    tree.member(DB, "bob")
    group_id = tree.get(DB).json["id"]
    tree.post(f"{DB}/move", {"to": "/groups/ops"}, status=200)
    moved = "/groups/ops/groups/db"
    actions = ["group.moved", "membership.created", "group.created"]
    assert [e["action"] for e in tree.get(f"{moved}/history").json["items"]] == actions
    # the old parent keeps what happened while the group was below it
    assert tree.get(f"{BACKEND}/history").json["items"][0]["action"] == "group.moved"
    old = tree.get(f"/history?path={DB}").json["items"]
    assert [e["action"] for e in old] == actions
    by_id = tree.get(f"/history?object={group_id}").json["items"]
    assert [e["action"] for e in by_id] == actions


def test_path_and_object_together_narrow_to_the_events_matching_both(tree):
    """``?path=X&object=Y``: the events about Y that were filed under X when they happened."""
    tree.group(DB)
    tree.group("/groups/ops")
    tree.group("/groups/sales")
    tree.member(DB, "bob")
    db_id, sales_id = tree.get(DB).json["id"], tree.get("/groups/sales").json["id"]
    tree.post(f"{DB}/move", {"to": "/groups/ops"}, status=200)
    tree.member("/groups/ops/groups/db", "carol")  # filed under the new path only

    def ids(query: str) -> list[str]:
        return [e["id"] for e in tree.get(f"/history?{query}&limit=100").json["items"]]

    by_path, by_object = ids(f"path={DB}"), ids(f"object={db_id}")
    both = ids(f"path={DB}&object={db_id}")
    assert both == [e for e in by_path if e in by_object]
    assert both and len(both) < len(by_object)  # carol's membership is not under the old path
    actions = [e["action"] for e in tree.get(f"/history?path={DB}&object={db_id}").json["items"]]
    assert "membership.created" in actions and actions[-1] == "group.created"
    # another object's events at that path: none (no union of the two filters)
    assert ids(f"path={DB}&object={sales_id}") == []
    assert ids(f"path=/groups/sales&object={db_id}") == []
    assert ids(f"path=/groups/ops&object={db_id}") == [
        e for e in ids("path=/groups/ops") if e in by_object
    ]


def test_a_new_group_under_a_reused_name_reads_only_its_own_history(tree):
    tree.group(DB)
    tree.member(DB, "bob")
    tree.put(f"{DB}/acl", {"entries": [ace_deny("user:carol")]}, status=200)
    old_id = tree.get(DB).json["id"]
    tree.delete(DB, status=204)
    tree.group(DB)
    assert tree.get(DB).json["id"] != old_id
    assert [e["action"] for e in tree.get(f"{DB}/history").json["items"]] == ["group.created"]
    # admins can still read the old one, by id or by path
    old = [e["action"] for e in tree.get(f"/history?object={old_id}").json["items"]]
    assert old == ["group.deleted", "acl.changed", "membership.created", "group.created"]
    assert len(tree.get(f"/history?path={DB}").json["items"]) == 5


def test_a_new_user_under_a_reused_id_reads_only_their_own_history(tree):
    tree.patch("/users/bob", {"display_name": "Old Bob"}, status=200)
    tree.delete("/users/bob", status=204)
    tree.user("bob")
    actions = [e["action"] for e in tree.get("/users/bob/history", as_="bob").json["items"]]
    assert actions == ["user.created"]


def ace_deny(principal):
    return {"action": "Deny", "principal": principal, "permissions": ["view"]}


def test_paging_newest_first_with_a_cursor(tree):
    for n in range(25):
        tree.patch(ENG, {"title": f"t{n}"}, status=200)
    seen, url = [], f"{ENG}/history?limit=10&action=group.changed"
    pages = 0
    while url:
        body = tree.get(url.replace("http://localhost", ""), status=200).json
        seen += body["items"]
        url = body.get("next")
        pages += 1
    assert pages == 3
    assert [e["after"]["title"] for e in seen] == [f"t{n}" for n in range(24, -1, -1)]
    assert len({e["id"] for e in seen}) == 25
    times = [e["time"] for e in seen]
    assert times == sorted(times, reverse=True)
    res = tree.get(f"{ENG}/history?limit=10", status=200)
    assert 'rel="next"' in res.headers["Link"]
    assert tree.get(f"{ENG}/history?cursor=bm9wZQ").status_int == 400


def test_filters_actor_action_since(tree):
    tree.member(BACKEND, "bob", "manager")
    tree.post(f"{BACKEND}/members", {"user": "carol"}, as_="bob", status=201)
    tree.patch(ENG, {"title": "Engineering"}, as_="alice", status=200)
    by_bob = tree.get(f"{ENG}/history?actor=bob").json["items"]
    assert summary(by_bob) == [("bob", "membership.created", f"{BACKEND}/members/carol")]
    kind = tree.get(f"{ENG}/history?action=membership").json["items"]
    assert {e["action"] for e in kind} == {"membership.created"}
    assert len(kind) == 3  # alice (fixture), bob, carol
    exact = tree.get("/history?action=group.changed").json["items"]
    assert summary(exact) == [("alice", "group.changed", ENG)]
    everything_by_alice = tree.get("/history?actor=alice").json["items"]
    assert summary(everything_by_alice) == [("alice", "group.changed", ENG)]
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat().replace("+00:00", "Z")
    assert tree.get(f"/history?since={future}").json["items"] == []
    newest = tree.get("/history?limit=1").json["items"][0]
    since = tree.get(f"/history?since={newest['time']}").json["items"]
    assert [e["id"] for e in since] == [newest["id"]]
    assert tree.get("/history?since=yesterday").status_int == 400
    assert tree.get("/history?since=2026-01-01T00:00:00").status_int == 400  # no zone
    assert tree.get("/history?action=DROP%20TABLE").status_int == 400


def test_a_rare_filter_answers_a_short_page_without_reading_the_whole_log(tree, app):
    for n in range(30):
        tree.patch(ENG, {"title": f"t{n}"}, status=200)

    def page(root, before=None):
        return history.page(
            root.history,
            limit=5,
            sources=root.history.path_sources(ENG, group_at(root, ENG).id),
            actor="nobody",
            before=before,
            scan_limit=10,
        )

    db = database(app.registry)
    events, more, cursor = with_root(db, page)
    assert events == [] and more and cursor
    pages = 1
    while more:
        events, more, cursor = with_root(db, lambda root, c=cursor: page(root, c))
        assert events == []
        pages += 1
    assert pages == 4  # 33 events under /groups/eng, 10 at a time


@pytest.mark.parametrize(
    "who,path,status",
    [
        ("alice", ENG, 200),  # owner
        ("alice", BACKEND, 200),  # owner above
        ("bob", BACKEND, 200),  # owner
        ("carol", BACKEND, 403),  # member
        ("carol", ENG, 403),
        ("carol", "/users/carol", 200),  # herself
        ("carol", "/users/bob", 403),
        ("alice", "", 403),  # the whole log: admins only
        (ADMIN, "", 200),
        (ADMIN, "/users/carol", 200),
        (None, ENG, 401),
    ],
)
def test_who_may_read_history(tree, who, path, status):
    tree.member(BACKEND, "bob", "owner")
    tree.member(BACKEND, "carol")
    assert tree.get(f"{path}/history", as_=who).status_int == status


def test_user_deletion_is_one_event_in_each_group_it_left(tree):
    tree.member(BACKEND, "bob")
    tree.member("/groups/admins", "carol")
    tree.delete("/users/bob", status=204)
    deleted = tree.get(f"{BACKEND}/history").json["items"][0]
    assert deleted["action"] == "user.deleted"
    assert deleted["before"]["groups"] == [BACKEND]
    assert tree.get("/users/carol/history", as_="carol").json["items"][0]["target"] == (
        "/groups/admins/members/carol"
    )


def test_hot_paths_do_not_read_the_history(tree, monkeypatch):
    tree.member(BACKEND, "bob")

    def boom(*args, **kw):
        raise AssertionError("the history was read")

    for name in ("newest_first", "oldest_first", "__len__", "__setstate__"):
        monkeypatch.setattr(history.History, name, boom)
    monkeypatch.setattr(history, "page", boom)
    tree.get(f"{BACKEND}/members/bob", as_="bob", status=200)
    tree.get("/", as_="bob", status=200)
    tree.get("/users/bob/groups", as_="bob", status=200)


def test_history_paths():
    assert history_paths(f"{DB}/members/bob", "/users/bob") == {ENG, BACKEND, DB, "/users/bob"}
    assert history_paths("/users/bob/tokens/abc") == {"/users/bob"}
    assert history_paths("/", "/users", "/groups") == set()


def test_a_script_is_the_actor_of_what_it_changes(app):
    def change(root):
        create_group(script_context(root, app.registry, "nightly"), root.groups, "scripted")
        return root.history.newest_first().__next__().actor

    assert with_root(database(app.registry), change) == "system:nightly"


# The scripts, against a real FileStorage


@pytest.fixture
def ini(tmp_path):
    path = tmp_path / "test.ini"
    path.write_text(
        "[app:main]\nuse = egg:membership\n"
        f"zodbconn.uri = file://{tmp_path}/Data.fs\n"
        "membership.argon2.time_cost = 1\nmembership.argon2.memory_cost = 8\n"
        "membership.argon2.parallelism = 1\n"
    )
    return path


def run(*argv, env=None):
    return subprocess.run(
        [str(BIN / argv[0]), *map(str, argv[1:])],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    )


@pytest.mark.slow
def test_scripts_record_their_actor_and_export_writes_json_lines(ini, tmp_path):
    env = {**os.environ, "MEMBERSHIP_ADMIN_PASSWORD": "script-admin-password"}
    run("initialize_membership_db", ini, env=env)
    users = tmp_path / "users.txt"
    users.write_text("".join(f"user{n}\n" for n in range(50)) + "boss,owner\n")
    run("import_members", ini, "/groups/admins", users, "--batch", "20", env=env)
    lines = run("export_history", ini, env=env).stdout.splitlines()
    events = [json.loads(line) for line in lines]
    assert [e["id"] for e in events] == sorted(e["id"] for e in events)  # oldest first
    actions = [(e["actor"], e["action"]) for e in events]
    assert ("system:initialize_membership_db", "user.created") in actions
    imports = [e for e in events if e["action"] == "members.imported"]
    assert [e["after"]["added"] for e in imports] == [20, 20, 11]
    assert {e["actor"] for e in imports} == {"system:import_members"}
    assert imports[-1]["after"]["roles"] == {"member": 10, "owner": 1}
    assert "script-admin-password" not in "\n".join(lines)
    since = events[-2]["time"]
    tail = run("export_history", ini, "--since", since, env=env).stdout.splitlines()
    assert [json.loads(line)["id"] for line in tail] == [e["id"] for e in events[-2:]]
    res = subprocess.run(
        [str(BIN / "export_history"), str(ini), "--since", "soon"], capture_output=True
    )
    assert res.returncode == 2


def test_event_ids_order_within_a_microsecond_and_follow_a_corrected_clock():
    from membership import clock

    fixed = datetime(2031, 5, 1, tzinfo=UTC)
    try:
        clock.set_clock(lambda: fixed)
        ids = [history.new_event_id() for _ in range(5)]
        assert ids == sorted(ids) and len(set(ids)) == 5
        assert [history.parse_id(history.public_id(i)) for i in ids] == ids
        clock.set_clock(lambda: fixed - timedelta(days=365))
        corrected = history.new_event_id()
        assert history.Event(corrected, "", "", "", None, None).time.year == 2030
    finally:
        clock.set_clock(None)


def test_concurrent_appends_merge_without_a_conflict(tmp_path):
    """Two transactions that each record events commit one after the other, no retry.

    (The first event of a new path or actor creates its tree: two transactions
    doing that for the same key at once conflict once, and the retry succeeds.)
    """
    import transaction
    from ZODB import DB
    from ZODB.FileStorage import FileStorage

    db = DB(FileStorage(str(tmp_path / "Data.fs")))

    def writer(conn) -> Context:
        return Context(conn.root()["membership"], Actor("writer", system=True))

    try:
        with db.transaction() as conn:
            ensure_tree(conn.root())
        with db.transaction() as conn:
            ctx = writer(conn)
            groups = [create_group(ctx, ctx.root.groups, f"g{n}") for n in range(2)]
            for n in range(40):  # every index tree of g0, g1 and the actor exists
                for group in groups:
                    update_group(ctx, group, title=f"{group.name} {n}")
        managers = [transaction.TransactionManager() for _ in range(2)]
        conns = [db.open(transaction_manager=tm) for tm in managers]
        for tm in managers:
            tm.begin()
        for n, conn in enumerate(conns):
            # one actor: both append to the same bucket of its tree
            ctx = writer(conn)
            update_group(ctx, ctx.root.groups[f"g{n}"], title=f"changed by {n}")
        for tm in managers:
            tm.commit()  # the second one resolves against the first
        for conn in conns:
            conn.close()
        with db.transaction() as conn:
            events = list(conn.root()["membership"].history.newest_first())
            assert [e.actor for e in events[:2]] == ["writer", "writer"]
            assert {e.target for e in events[:2]} == {"/groups/g0", "/groups/g1"}
            assert len(events) == 1 + 2 + 80 + 2  # admins, g0, g1, their changes, two more
    finally:
        db.close()


def test_the_actor_does_not_depend_on_pyramid_tm_annotating_the_user():
    from webtest import TestApp

    import membership
    from membership.scripts.initialize import ensure_admin

    from .conftest import TEST_SETTINGS
    from .helpers import Api

    app = membership.main({}, **{**TEST_SETTINGS, "tm.annotate_user": "false"})
    db = database(app.registry)
    try:
        with_root(
            db, lambda root: ensure_admin(script_context(root, app.registry), ADMIN, PASSWORD)
        )
        api = Api(TestApp(app))
        api.user("erin")
        api.patch("/users/erin", {"display_name": "Erin"}, as_="erin", status=200)
        events = api.get("/history?limit=2", status=200).json["items"]
        assert summary(events) == [
            ("erin", "user.changed", "/users/erin"),
            (ADMIN, "user.created", "/users/erin"),
        ]
    finally:
        db.close()


def test_pages_match_the_declared_schema(tree):
    from membership.web.schemas import HistoryPage

    tree.patch("/users/bob", {"password": "another-password"}, status=200)
    for path in ("", ENG, "/users/bob"):
        page = HistoryPage.model_validate(tree.get(f"{path}/history?limit=1", status=200).json)
        assert page.items and page.next


def test_a_tree_from_before_the_log_gets_one_at_startup(app):
    from membership.web.db import bootstrap

    db = database(app.registry)

    def make_it_old(root):
        # back to the class defaults (a tree that old had no change feed either)
        del root.history, root.acl_nodes, root.generation, root.feed

    with_root(db, make_it_old)
    assert with_root(db, lambda root: root.history) is None
    assert bootstrap(db) is False  # not created: upgraded
    assert with_root(db, lambda root: (len(root.history), len(root.acl_nodes))) == (0, 0)
    with_root(
        db, lambda root: create_group(script_context(root, app.registry), root.groups, "after")
    )
    assert with_root(db, lambda root: next(root.history.newest_first()).target) == "/groups/after"


def test_since_takes_only_an_rfc3339_time(tree):
    """Found by schemathesis: ``?since=0.5`` was read as a Unix timestamp."""
    res = tree.get("/history?since=0.5")
    assert res.status_int == 400
    assert res.json["errors"][0]["field"] == "since"
    assert tree.get("/history?since=2026-01-01T00:00:00Z").status_int == 200
