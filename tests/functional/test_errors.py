"""Bad input gets a clear problem+json naming the field, and changes nothing."""

import pytest

from .helpers import basic


def assert_problem(res, status, field=None):
    assert res.status_int == status, res.text
    assert res.content_type == "application/problem+json"
    body = res.json
    assert body["status"] == status
    assert body["title"] and body["detail"]
    assert "Traceback" not in res.text
    if field is not None:
        assert field in [e["field"] for e in body["errors"]], body


def test_malformed_json_is_400(api, testapp):
    res = testapp.post(
        "/users",
        "{not json",
        headers={**basic("admin"), "Content-Type": "application/json"},
        expect_errors=True,
    )
    assert_problem(res, 400, "body")


def test_non_utf8_json_is_400(testapp):
    res = testapp.post(
        "/users",
        b'{"id": "\xff\xfe"}',
        headers={**basic("admin"), "Content-Type": "application/json"},
        expect_errors=True,
    )
    assert_problem(res, 400)


def test_deeply_nested_json_is_400_not_500(testapp):
    body = "[" * 10_000 + "]" * 10_000
    res = testapp.post(
        "/users",
        body,
        headers={**basic("admin"), "Content-Type": "application/json"},
        expect_errors=True,
    )
    assert res.status_int in (400, 422)
    assert res.content_type == "application/problem+json"


def test_missing_field_and_wrong_type_name_the_field(api):
    assert_problem(api.post("/users", {"password": "longenough"}), 422, "id")
    assert_problem(api.post("/users", {"id": 42, "password": "longenough"}), 422, "id")
    assert_problem(api.post("/users", {"id": "ok", "password": "short"}), 422, "password")
    assert_problem(api.post("/users", {"id": "ok", "extra": 1}), 422, "extra")


def test_wrong_content_type_is_415(testapp):
    res = testapp.post("/users", "id=alice", headers=basic("admin"), expect_errors=True)
    assert_problem(res, 415, "Content-Type")


def test_empty_body_is_400(testapp):
    res = testapp.post(
        "/users",
        "",
        headers={**basic("admin"), "Content-Type": "application/json"},
        expect_errors=True,
    )
    assert_problem(res, 400, "body")


@pytest.mark.parametrize(
    "name", ["Alice", "al/ice", "-x", ".hidden", "a" * 65, "ünï", "a b", "x\u0430"]
)
def test_bad_names_in_bodies_are_rejected(api, name):
    assert_problem(api.post("/users", {"id": name, "password": "longenough"}), 422, "id")
    api.get("/groups/admins", status=200)
    assert_problem(api.post("/groups", {"name": name}), 422, "name")


@pytest.mark.parametrize(
    "path", ["/groups/Eng", "/users/a%20b", "/users/" + "a" * 65, "/groups/a%00b", "/users/x%D0%B0"]
)
def test_bad_names_in_urls_are_400(api, path):
    assert_problem(api.get(path), 400, "path")


@pytest.mark.parametrize(
    "path", ["/groups/%2Fetc", "/groups/a%2Fb", "/groups/..", "/groups/@@x", "/groups//admins/.."]
)
def test_path_tricks_never_reach_a_node(api, path):
    """WSGI decodes %2F and traversal folds '..' and empty segments before names are looked
    up; whatever is left is a plain name lookup that finds nothing or the parent."""
    res = api.get(path)
    assert res.status_int in (200, 400, 404)
    if res.status_int == 200:
        assert (
            res.json.get("path", "/groups") in ("/groups", "/groups/admins") or "items" in res.json
        )
    else:
        assert res.content_type == "application/problem+json"


def test_unknown_method_is_405_with_allow(api):
    api.group("/groups/eng")
    res = api.put("/groups/eng", {"title": "x"})
    assert_problem(res, 405)
    allowed = {m.strip() for m in res.headers["Allow"].split(",")}
    assert {"GET", "PATCH", "DELETE"} <= allowed
    assert "PUT" not in allowed


def test_unknown_path_is_404_problem(api):
    assert_problem(api.get("/nothing/here"), 404)
    assert_problem(api.get("/groups/nope/members"), 404)


def test_body_over_limit_is_413(testapp):
    body = b'{"id": "x", "display_name": "' + b"a" * (1024 * 1024 + 10) + b'"}'
    res = testapp.post(
        "/users",
        body,
        headers={**basic("admin"), "Content-Type": "application/json"},
        expect_errors=True,
    )
    assert_problem(res, 413, "body")


def test_bad_query_parameters(api):
    assert_problem(api.get("/users?limit=0"), 400, "limit")
    assert_problem(api.get("/users?limit=abc"), 400, "limit")
    assert_problem(api.get("/users?limit=5000"), 400, "limit")
    assert_problem(api.get("/users?cursor=%%%"), 400, "cursor")
    assert_problem(api.get("/groups/admins/members?role=king"), 400, "role")


def test_garbage_basic_auth_is_401(api):
    for header in ["Basic !!!notbase64", "Basic " + "QQ==" * 3000, "Digest x", "Basic"]:
        res = api.get("/users", as_={"Authorization": header})
        assert_problem(res, 401)


def test_ten_kilobyte_password_is_401(api):
    assert_problem(api.get("/users", as_=basic("admin", "p" * 10_000)), 401)


def test_failed_request_writes_nothing(api):
    api.group("/groups/eng")
    before = api.get("/groups/eng").json
    api.patch("/groups/eng", {"title": 5})
    api.patch("/groups/eng", {"title": "ok"}, headers={"If-Match": "junk"})
    assert api.get("/groups/eng").json == before


def test_a_403_names_the_permission_in_plain_words(api, testapp):
    api.user("bob")
    api.group("eng")
    res = testapp.get("/groups/eng", headers=basic("bob"), status=403)
    assert res.json["permission"] == "view"
    assert "needs the 'view' permission here" in res.json["detail"]
    assert "Permission." not in res.json["detail"]
