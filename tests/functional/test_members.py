"""Memberships: add, check, change, remove, list, bulk; the owner/manager rules."""

from membership.web.db import database

from .helpers import ADMIN


def setup_eng(api, *users):
    api.group("/groups/eng")
    for user in users:
        api.user(user)


def test_add_member_then_check_is_200_and_non_member_404(api):
    setup_eng(api, "alice", "bob")
    res = api.post("/groups/eng/members", {"user": "alice"})
    assert res.status_int == 201
    assert res.json["role"] == "member"
    assert res.json["added_by"] == ADMIN
    assert res.location.endswith("/groups/eng/members/alice")
    assert api.get("/groups/eng/members/alice").status_int == 200
    missing = api.get("/groups/eng/members/bob")
    assert missing.status_int == 404
    assert missing.content_type == "application/problem+json"
    assert api.get("/groups/eng").json["member_count"] == 1


def test_adding_twice_is_409_and_unknown_user_is_422(api):
    setup_eng(api, "alice")
    api.member("/groups/eng", "alice")
    assert api.post("/groups/eng/members", {"user": "alice"}).status_int == 409
    unknown = api.post("/groups/eng/members", {"user": "ghost"})
    assert unknown.status_int in (400, 422)
    assert unknown.json["errors"][0]["field"] == "user"


def test_change_role_and_remove(api):
    setup_eng(api, "alice")
    api.member("/groups/eng", "alice")
    res = api.patch("/groups/eng/members/alice", {"role": "manager"})
    assert res.json["role"] == "manager"
    assert api.get("/users/alice/groups").json["items"][0]["role"] == "manager"
    assert api.delete("/groups/eng/members/alice").status_int == 204
    assert api.get("/groups/eng/members/alice").status_int == 404
    assert api.get("/groups/eng").json["member_count"] == 0
    assert api.delete("/groups/eng/members/alice").status_int == 404


def test_list_members_with_role_filter_and_paging(api):
    setup_eng(api, "ann", "bob", "cat", "dan")
    api.member("/groups/eng", "ann", "owner")
    api.member("/groups/eng", "bob")
    api.member("/groups/eng", "cat", "manager")
    api.member("/groups/eng", "dan")
    page = api.get("/groups/eng/members?limit=3")
    assert [m["user"] for m in page.json["items"]] == ["ann", "bob", "cat"]
    assert 'rel="next"' in page.headers["Link"]
    rest = api.get(page.json["next"]).json
    assert [m["user"] for m in rest["items"]] == ["dan"]
    assert "next" not in rest
    members = api.get("/groups/eng/members?role=member&limit=1").json
    assert [m["user"] for m in members["items"]] == ["bob"]
    assert [m["user"] for m in api.get(members["next"]).json["items"]] == ["dan"]
    assert [m["user"] for m in api.get("/groups/eng/members?role=owner").json["items"]] == ["ann"]


def test_manager_cannot_grant_or_remove_owner(api):
    setup_eng(api, "mgr", "own", "alice")
    api.member("/groups/eng", "mgr", "manager")
    api.member("/groups/eng", "own", "owner")
    assert (
        api.post("/groups/eng/members", {"user": "alice", "role": "owner"}, as_="mgr").status_int
        == 403
    )
    assert (
        api.post("/groups/eng/members", {"user": "alice", "role": "manager"}, as_="mgr").status_int
        == 201
    )
    assert api.patch("/groups/eng/members/alice", {"role": "owner"}, as_="mgr").status_int == 403
    assert api.delete("/groups/eng/members/own", as_="mgr").status_int == 403
    assert api.patch("/groups/eng/members/alice", {"role": "owner"}, as_="own").status_int == 200


def test_only_admins_change_admins(api):
    api.user("alice")
    api.group("/groups/eng")
    api.member("/groups/eng", "alice", "owner")
    assert api.post("/groups/admins/members", {"user": "alice"}, as_="alice").status_int == 403
    assert api.post("/groups/admins/members", {"user": "alice"}).status_int == 201
    assert api.get("/users", as_="alice").status_int == 200


def test_last_admin_cannot_leave_admins(api):
    assert api.delete(f"/groups/admins/members/{ADMIN}").status_int == 409


def test_bulk_applies_all_operations(api):
    setup_eng(api, "ann", "bob", "cat")
    api.member("/groups/eng", "cat")
    ops = [
        {"op": "add", "user": "ann"},
        {"op": "add", "user": "bob", "role": "manager"},
        {"op": "remove", "user": "cat"},
        {"op": "replace", "user": "ann", "role": "owner"},
    ]
    res = api.patch("/groups/eng/members", ops)
    assert res.status_int == 200, res.text
    assert res.json["applied"] == 4
    roles = {m["user"]: m["role"] for m in api.get("/groups/eng/members").json["items"]}
    assert roles == {"ann": "owner", "bob": "manager"}


def test_bulk_is_all_or_nothing_and_names_the_failing_item(api):
    setup_eng(api, "ann", "bob")
    ops = [
        {"op": "add", "user": "ann"},
        {"op": "add", "user": "bob"},
        {"op": "add", "user": "ghost"},
    ]
    res = api.patch("/groups/eng/members", ops)
    assert res.status_int in (400, 422)
    assert res.json["errors"][0]["field"].startswith("2.")
    assert res.json["operation"] == 2
    assert api.get("/groups/eng").json["member_count"] == 0
    assert api.get("/users/ann/groups").json["items"] == []


def test_bulk_schema_error_names_item_and_field(api):
    setup_eng(api)
    res = api.patch(
        "/groups/eng/members", [{"op": "add", "user": "ok"}, {"op": "zap", "user": "x"}]
    )
    assert res.status_int == 422
    assert res.json["errors"][0]["field"] == "1.op"


def test_bulk_ten_thousand_operations(api, app):
    setup_eng(api)
    from membership.domain.users import create_missing_users

    from .conftest import script_context, with_root

    db = database(app.registry)
    with_root(
        db,
        lambda root: create_missing_users(
            script_context(root, app.registry), [f"u{i:05d}" for i in range(10_000)]
        ),
    )
    ops = [{"op": "add", "user": f"u{i:05d}"} for i in range(10_000)]
    res = api.patch("/groups/eng/members", ops)
    assert res.status_int == 200
    assert res.json["member_count"] == 10_000
    assert api.get("/groups/eng/members/u09999").status_int == 200
    assert api.get("/users/u04321/groups").json["items"][0]["path"] == "/groups/eng"


def test_membership_etag_if_match(api):
    setup_eng(api, "alice")
    api.member("/groups/eng", "alice")
    etag = api.get("/groups/eng/members/alice").headers["ETag"]
    assert (
        api.patch(
            "/groups/eng/members/alice", {"role": "manager"}, headers={"If-Match": '"old"'}
        ).status_int
        == 412
    )
    assert (
        api.patch(
            "/groups/eng/members/alice", {"role": "manager"}, headers={"If-Match": etag}
        ).status_int
        == 200
    )
    assert api.delete("/groups/eng/members/alice", headers={"If-Match": etag}).status_int == 412


def test_user_groups_lists_direct_memberships_with_roles(api):
    setup_eng(api, "alice")
    api.group("/groups/ops")
    api.member("/groups/eng", "alice", "manager")
    api.member("/groups/ops", "alice")
    items = api.get("/users/alice/groups", as_="alice").json["items"]
    assert [(i["path"], i["role"], i["direct"]) for i in items] == [
        ("/groups/eng", "manager", True),
        ("/groups/ops", "member", True),
    ]


def test_membership_changes_do_not_rewrite_the_group_record(api, app):
    """Concurrent adds to one group must not all collide on the Group object."""
    setup_eng(api, "alice")
    conn = database(app.registry).open()
    try:
        from membership.web.db import ROOT_KEY

        serial = conn.root()[ROOT_KEY].groups["eng"]._p_serial
    finally:
        conn.close()
    api.member("/groups/eng", "alice")
    api.patch("/groups/eng/members/alice", {"role": "manager"}, status=200)
    api.delete("/groups/eng/members/alice", status=204)
    conn = database(app.registry).open()
    try:
        assert conn.root()[ROOT_KEY].groups["eng"]._p_serial == serial
    finally:
        conn.close()
