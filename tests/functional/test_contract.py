"""The HTTP contract, uniform across resources: OPTIONS, ETags on writes, typed 404s,
one status per kind of error, JSON merge patch, filters that are never ignored,
optional fields present as null, and counts of active memberships."""

from datetime import UTC, datetime, timedelta

import pytest

from membership import clock
from membership.domain import events
from membership.web.db import database
from membership.web.schemas import NO_SUCH_GROUP, NO_SUCH_USER, NOT_A_MEMBER, HistoryAction

from .conftest import with_root

START = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def frozen():
    class Clock:
        now = START

    clock.set_clock(lambda: Clock.now)
    yield Clock
    clock.set_clock(None)


@pytest.fixture
def eng(api):
    api.group("/groups/eng")
    api.group("/groups/eng/groups/backend")
    for user in ("alice", "bob", "carol"):
        api.user(user)
    return api


def allow(res) -> set[str]:
    return {method.strip() for method in res.headers["Allow"].split(",")}


# 1. OPTIONS


@pytest.mark.parametrize(
    ("path", "methods"),
    [
        ("/", {"GET", "HEAD", "OPTIONS"}),
        ("/users", {"GET", "HEAD", "OPTIONS", "POST"}),
        ("/users/alice", {"GET", "HEAD", "OPTIONS", "PATCH", "DELETE"}),
        ("/users/alice/groups", {"GET", "HEAD", "OPTIONS"}),
        ("/groups/eng", {"GET", "HEAD", "OPTIONS", "PATCH", "DELETE"}),
        ("/groups/eng/move", {"OPTIONS", "POST"}),
        ("/groups/eng/members", {"GET", "HEAD", "OPTIONS", "POST", "PATCH"}),
        ("/groups/eng/members/alice", {"GET", "HEAD", "OPTIONS", "PATCH", "DELETE"}),
        ("/groups/eng/groups/backend/members/bob", {"GET", "HEAD", "OPTIONS"}),
        ("/groups/eng/acl", {"GET", "HEAD", "OPTIONS", "PUT", "PATCH"}),
        ("/acl", {"GET", "HEAD", "OPTIONS", "PUT", "PATCH"}),
    ],
)
def test_options_answers_204_with_the_methods_of_that_url(eng, path, methods):
    eng.member("/groups/eng", "alice")
    res = eng.request("OPTIONS", path)
    assert res.status_int == 204, res.text
    assert not res.body
    assert allow(res) == methods


def test_options_asks_what_get_asks(eng):
    assert eng.request("OPTIONS", "/users", as_=None).status_int == 401
    assert eng.request("OPTIONS", "/groups/eng/members", as_=None).status_int == 401
    assert eng.request("OPTIONS", "/groups/nope", as_=None).status_int == 401
    assert eng.request("OPTIONS", "/", as_=None).status_int == 204  # GET / is for anyone
    assert eng.request("OPTIONS", "/openapi.json", as_=None).status_int == 204
    denied = eng.request("OPTIONS", "/groups/eng", as_="bob")
    assert denied.status_int == 403
    assert denied.json["permission"] == "view"
    assert eng.request("OPTIONS", "/users/bob", as_="bob").status_int == 204
    assert eng.request("OPTIONS", "/groups/nope").status_int == 404


def test_options_on_a_group_by_id_asks_what_its_get_asks(eng):
    group_id = eng.get("/groups/eng").json["id"]
    res = eng.request("OPTIONS", f"/groups/@id/{group_id}")
    assert (res.status_int, allow(res)) == (204, {"GET", "HEAD", "OPTIONS"})
    assert eng.request("OPTIONS", f"/groups/@id/{group_id}", as_="bob").status_int == 404
    assert eng.request("OPTIONS", "/groups/@id/" + "a" * 80).status_int == 404
    assert eng.request("OPTIONS", f"/groups/@id/{group_id}", as_=None).status_int == 401


def test_options_is_listed_in_allow_of_a_405(eng):
    res = eng.request("PUT", "/groups/eng", {"title": "x"})
    assert res.status_int == 405
    assert "OPTIONS" in allow(res)


def test_options_is_documented(testapp):
    document = testapp.get("/openapi.json").json
    op = document["paths"]["/groups/{group}/members/{user}"]["options"]
    assert "204" in op["responses"]
    assert "Allow" in op["responses"]["204"]["headers"]
    assert document["paths"]["/"]["options"]["security"][0] == {}


# 2. ETags on writes


def test_a_patch_answers_the_etag_a_get_gives_and_it_chains(eng):
    first = eng.patch("/users/alice", {"display_name": "Alice"})
    assert first.status_int == 200
    assert first.headers["ETag"] == eng.get("/users/alice").headers["ETag"]
    second = eng.patch(
        "/users/alice", {"display_name": "Alice L."}, headers={"If-Match": first.headers["ETag"]}
    )
    assert second.status_int == 200, second.text
    third = eng.patch(
        "/users/alice", {"email": "a@example.org"}, headers={"If-Match": second.headers["ETag"]}
    )
    assert third.status_int == 200
    stale = eng.patch("/users/alice", {"email": None}, headers={"If-Match": first.headers["ETag"]})
    assert stale.status_int == 412


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "then"),
    [
        ("POST", "/users", {"id": "dave"}, 201, "/users/dave"),
        ("POST", "/groups", {"name": "ops"}, 201, "/groups/ops"),
        ("PATCH", "/groups/eng", {"title": "Engineering"}, 200, "/groups/eng"),
        ("POST", "/groups/eng/members", {"user": "bob"}, 201, "/groups/eng/members/bob"),
        ("PATCH", "/groups/eng/members/alice", {"role": "manager"}, 200, None),
        ("POST", "/groups/eng/groups/backend/move", {"to": "/groups"}, 200, "/groups/backend"),
        ("PUT", "/groups/eng/acl", {"entries": []}, 200, "/groups/eng/acl"),
    ],
)
def test_every_write_with_a_body_answers_the_etag_of_the_new_representation(
    eng, method, path, body, status, then
):
    eng.member("/groups/eng", "alice")
    res = eng.request(method, path, body)
    assert res.status_int == status, res.text
    assert res.headers["ETag"] == eng.get(then or path).headers["ETag"]


def test_a_new_token_answers_the_etag_of_its_record_not_of_the_secret(eng):
    res = eng.post("/users/alice/tokens", {"name": "ci"}, as_="alice", status=201)
    assert res.json["token"]
    got = eng.get(res.location, as_="alice")
    assert got.json["token"] is None
    assert res.headers["ETag"] == got.headers["ETag"]


def test_a_bulk_change_answers_no_etag(eng):
    res = eng.patch("/groups/eng/members", [{"op": "add", "user": "bob"}])
    assert res.status_int == 200
    assert "ETag" not in res.headers


# 3. Typed 404s of the membership check


def test_the_check_says_why_in_its_problem_type(eng):
    eng.member("/groups/eng", "alice")
    not_member = eng.get("/groups/eng/members/bob")
    assert (not_member.status_int, not_member.json["type"]) == (404, NOT_A_MEMBER)
    no_user = eng.get("/groups/eng/members/ghost")
    assert (no_user.status_int, no_user.json["type"]) == (404, NO_SUCH_USER)
    no_group = eng.get("/groups/nope/members/alice")
    assert (no_group.status_int, no_group.json["type"]) == (404, NO_SUCH_GROUP)
    deeper = eng.get("/groups/eng/groups/nope/members/alice")
    assert deeper.json["type"] == NO_SUCH_GROUP
    effective = eng.get("/groups/eng/members/ghost?effective=true")
    assert effective.json["type"] == NO_SUCH_USER
    assert eng.get("/groups/eng/members/bob?effective=true").json["type"] == NOT_A_MEMBER
    # as a member who may view the group, too
    assert eng.get("/groups/eng/members/ghost", as_="alice").json["type"] == NO_SUCH_USER
    assert eng.get("/groups/eng/members/bob", as_="alice").json["type"] == NOT_A_MEMBER


def test_an_expired_membership_is_not_a_member(eng, frozen):
    eng.member("/groups/eng", "alice", expires_at=(START + timedelta(hours=1)).isoformat())
    frozen.now = START + timedelta(hours=1)
    res = eng.get("/groups/eng/members/alice")
    assert (res.status_int, res.json["type"]) == (404, NOT_A_MEMBER)


def test_the_problem_types_are_documented(testapp):
    document = testapp.get("/openapi.json").json
    check = document["paths"]["/groups/{group}/members/{user}"]["get"]
    for uri in (NOT_A_MEMBER, NO_SUCH_USER, NO_SUCH_GROUP):
        assert uri in check["description"]
        assert (
            uri in document["components"]["schemas"]["Problem"]["properties"]["type"]["description"]
        )


def test_other_404s_stay_about_blank(eng):
    assert eng.get("/users/alice/tokens/nope").json["type"] == "about:blank"


# 4. One status per kind of error


def test_bulk_errors_name_the_operation_whoever_refuses_it(eng):
    missing = eng.patch(
        "/groups/eng/members", [{"op": "add", "user": "bob"}, {"op": "remove", "user": "carol"}]
    )
    assert missing.status_int == 422
    assert (missing.json["operation"], missing.json["errors"][0]["field"]) == (1, "1.user")
    unknown = eng.patch("/groups/eng/members", [{"op": "add", "user": "ghost"}])
    assert unknown.status_int == 422
    assert (unknown.json["operation"], unknown.json["errors"][0]["field"]) == (0, "0.user")
    schema = eng.patch(
        "/groups/eng/members",
        [{"op": "add", "user": "bob"}, {"op": "add", "user": "bob"}, {"op": "add", "user": 5}],
    )
    assert schema.status_int == 422
    assert schema.json["operation"] == 2
    assert schema.json["errors"][0]["field"] == "2.user"
    bad_op = eng.patch("/groups/eng/members", [{"op": "frobnicate", "user": "bob"}])
    assert (bad_op.status_int, bad_op.json["operation"]) == (422, 0)
    assert eng.get("/groups/eng/members/bob").status_int == 404  # nothing applied


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/users", {"id": "alice"}, "id"),
        ("/groups", {"name": "eng"}, "name"),
        ("/groups/eng/members", {"user": "alice"}, "user"),
        ("/groups/ops/groups/backend/move", {"to": "/groups/eng"}, "to"),
    ],
)
def test_a_duplicate_is_409_naming_the_field(eng, path, body, field):
    eng.member("/groups/eng", "alice")
    eng.group("/groups/ops")
    eng.group("/groups/ops/groups/backend")
    res = eng.post(path, body)
    assert res.status_int == 409
    assert [e["field"] for e in res.json["errors"]] == [field]


def test_a_403_names_the_missing_permission(eng):
    eng.member("/groups/eng", "alice", "manager")
    eng.member("/groups/eng", "bob")
    view_level = eng.post("/groups/eng/members", {"user": "carol"}, as_="bob")
    assert view_level.status_int == 403
    assert view_level.json["permission"] == "manage-members"
    assert "manage-members" in view_level.json["detail"]
    domain = eng.post("/groups/eng/members", {"user": "carol", "role": "owner"}, as_="alice")
    assert domain.status_int == 403
    assert domain.json["permission"] == "grant-owner"
    assert "grant-owner" in domain.json["detail"]
    bulk = eng.patch(
        "/groups/eng/members", [{"op": "add", "user": "carol", "role": "owner"}], as_="alice"
    )
    assert (bulk.status_int, bulk.json["permission"], bulk.json["operation"]) == (
        403,
        "grant-owner",
        0,
    )
    other = eng.get("/groups/eng/permissions?principal=user:carol", as_="bob")
    assert other.status_int == 403
    assert other.json["permission"] == "manage-acl"


# 5. JSON merge patch


def test_null_removes_an_optional_field(eng, frozen):
    eng.patch("/users/alice", {"display_name": "Alice", "email": "a@example.org"}, status=200)
    res = eng.patch("/users/alice", {"display_name": None, "email": None})
    assert res.status_int == 200, res.text
    assert (res.json["display_name"], res.json["email"]) == ("", None)
    eng.patch("/groups/eng", {"description": "Builds things"}, status=200)
    res = eng.patch("/groups/eng", {"description": None})
    assert (res.status_int, res.json["description"]) == (200, "")
    later = (START + timedelta(days=1)).isoformat()
    eng.member("/groups/eng", "alice", expires_at=later)
    res = eng.patch("/groups/eng/members/alice", {"expires_at": None})
    assert (res.status_int, res.json["expires_at"]) == (200, None)


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/users/alice", "password"),
        ("/groups/eng", "title"),
        ("/groups/eng/members/alice", "role"),
    ],
)
def test_null_on_a_required_field_is_422_naming_it(eng, path, field):
    eng.member("/groups/eng", "alice")
    before = eng.get(path).json
    res = eng.patch(path, {field: None})
    assert res.status_int == 422
    assert [e["field"] for e in res.json["errors"]] == [field]
    assert eng.get(path).json == before


# 6. Filters, user groups, optional fields


def test_role_with_effective_is_a_400_naming_role(eng):
    res = eng.get("/groups/eng/members?effective=true&role=owner")
    assert res.status_int == 400
    assert res.json["errors"][0]["field"] == "role"


def test_an_unknown_history_action_is_a_400_naming_action(eng):
    res = eng.get("/history?action=user.frobnicated")
    assert res.status_int == 400
    assert res.json["errors"][0]["field"] == "action"
    assert eng.get("/history?action=memberships").status_int == 400
    assert eng.get("/history?action=user").status_int == 200
    assert eng.get("/history?action=acl.changed").status_int == 200


def test_the_known_history_actions_are_those_the_log_records():
    actions = {cls.action for cls in _subclasses(events.DomainEvent) if cls.action}
    kinds = {action.split(".")[0] for action in actions}
    assert set(HistoryAction.__args__) == actions | kinds
    assert {
        "user.created",
        "users.imported",
        "token.deleted",
        "group.moved",
        "membership.changed",
        "members.imported",
        "acl.changed",
        "acl",
        "members",
    } <= actions | kinds


def _subclasses(cls):
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)


def test_a_users_groups_carry_title_id_and_links_and_page(eng):
    eng.group("/groups/ops", title="Operations")
    eng.member("/groups/eng/groups/backend", "alice", "manager")
    eng.member("/groups/ops", "alice")
    first = eng.get("/users/alice/groups?limit=2", as_="alice")
    assert [i["path"] for i in first.json["items"]] == ["/groups/eng", "/groups/eng/groups/backend"]
    inherited, direct = first.json["items"]
    assert inherited["title"] == "eng"
    assert inherited["id"] == eng.get("/groups/eng").json["id"]
    assert (inherited["role"], inherited["via"], inherited["expires_at"]) == (
        None,
        "/groups/eng/groups/backend",
        None,
    )
    assert inherited["links"] == {"self": "http://localhost/groups/eng", "membership": None}
    assert (direct["role"], direct["via"]) == ("manager", None)
    assert (
        direct["links"]["membership"] == "http://localhost/groups/eng/groups/backend/members/alice"
    )
    assert eng.get(direct["links"]["membership"]).status_int == 200
    rest = eng.get(first.json["next"], as_="alice").json
    assert [(i["path"], i["title"]) for i in rest["items"]] == [("/groups/ops", "Operations")]
    assert "next" not in rest
    direct_only = eng.get("/users/alice/groups?direct=true&limit=1", as_="alice").json
    assert [i["path"] for i in direct_only["items"]] == ["/groups/eng/groups/backend"]
    assert [i["path"] for i in eng.get(direct_only["next"]).json["items"]] == ["/groups/ops"]


def test_optional_fields_are_present_as_null(eng):
    assert eng.get("/users/alice").json["email"] is None
    membership = eng.member("/groups/eng", "alice")
    assert (membership["expires_at"], membership["expired"]) == (None, False)
    assert membership["direct"] is True
    listed = eng.get("/groups/eng/members").json["items"][0]
    assert (listed["expires_at"], listed["expired"]) == (None, False)
    token = eng.post("/users/alice/tokens", {}, as_="alice").json
    assert token["expires_at"] is None
    assert eng.get("/users/alice/tokens", as_="alice").json["items"][0]["token"] is None
    item = eng.get("/users/alice/groups").json["items"][0]
    assert {"role", "via", "expires_at"} <= item.keys()
    eng.member("/groups/eng/groups/backend", "bob")
    effective = eng.get("/groups/eng/members/bob?effective=true").json
    assert effective["via"] == "/groups/eng/groups/backend"
    assert "via" in effective


def test_response_schemas_require_the_optional_fields(testapp):
    schemas = testapp.get("/openapi.json").json["components"]["schemas"]
    for name, fields in [
        ("UserOut", {"email"}),
        ("MembershipOut", {"expires_at", "expired"}),
        ("TokenOut", {"expires_at", "token"}),
        ("UserGroupOut", {"role", "via", "expires_at", "title", "id"}),
        ("EffectiveMembershipOut", {"via"}),
        ("GroupOut", {"member_count", "expired_count"}),
    ]:
        assert fields <= set(schemas[name]["required"]), name


# 7. Counts of active memberships


def test_member_count_leaves_out_expired_memberships(eng, frozen):
    soon = (START + timedelta(hours=1)).isoformat()
    later = (START + timedelta(hours=2)).isoformat()
    eng.member("/groups/eng", "alice", expires_at=soon)
    eng.member("/groups/eng", "bob", expires_at=later)
    eng.member("/groups/eng", "carol")
    group = eng.get("/groups/eng").json
    assert (group["member_count"], group["expired_count"]) == (3, 0)
    frozen.now = START + timedelta(hours=1)
    group = eng.get("/groups/eng").json
    assert (group["member_count"], group["expired_count"]) == (2, 1)
    eng.patch("/groups/eng/members/alice", {"expires_at": None}, status=200)
    group = eng.get("/groups/eng").json
    assert (group["member_count"], group["expired_count"]) == (3, 0)
    frozen.now = START + timedelta(hours=3)
    group = eng.get("/groups/eng").json
    assert (group["member_count"], group["expired_count"]) == (2, 1)
    eng.delete("/groups/eng/members/bob", status=204)
    group = eng.get("/groups/eng").json
    assert (group["member_count"], group["expired_count"]) == (2, 0)
    bulk = eng.patch(
        "/groups/eng/members",
        [{"op": "replace", "user": "carol", "expires_at": START.isoformat()}],
    )
    assert bulk.json["member_count"] == 1
    assert eng.get("/groups/eng").json["expired_count"] == 1


def test_the_expiry_index_follows_moves_and_user_deletion(eng, frozen):
    eng.member("/groups/eng/groups/backend", "alice", expires_at=START.isoformat())
    eng.member("/groups/eng/groups/backend", "bob")
    eng.post("/groups/eng/groups/backend/move", {"to": "/groups"}, status=200)
    group = eng.get("/groups/backend").json
    assert (group["member_count"], group["expired_count"]) == (1, 1)
    eng.delete("/users/alice", status=204)
    group = eng.get("/groups/backend").json
    assert (group["member_count"], group["expired_count"]) == (1, 0)


def test_a_group_from_before_the_expiry_index_counts_alike_and_gets_one(eng, frozen, app):
    """Trees from earlier releases lack ``expiring``/``by_expiry``: computed until a write."""
    eng.member("/groups/eng", "alice", expires_at=START.isoformat())
    eng.member("/groups/eng", "bob")

    def forget(root):
        members = root.groups["eng"].members
        del members.expiring, members.by_expiry  # back to the class defaults (None)

    with_root(database(app.registry), forget)
    group = eng.get("/groups/eng").json
    assert (group["member_count"], group["expired_count"]) == (1, 1)
    eng.member("/groups/eng", "carol", expires_at=(START + timedelta(hours=1)).isoformat())
    members = with_root(database(app.registry), lambda root: root.groups["eng"].members)
    assert members.expiring is not None
    frozen.now = START + timedelta(hours=1)
    group = eng.get("/groups/eng").json
    assert (group["member_count"], group["expired_count"]) == (1, 2)
