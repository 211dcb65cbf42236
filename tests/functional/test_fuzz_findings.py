"""What schemathesis (``test_fuzz.py``) and the hostile-input tests found, kept as plain tests.

Each test is the reduced example that failed once, and names what was wrong.
"""

from .helpers import ADMIN, basic

LONG_ETAG = "0" * 1100


def test_over_long_if_none_match_on_any_get_is_a_documented_400(api, testapp):
    """Found: ``GET /`` with a 1 KB+ If-None-Match; 400 was not in the document for ``/``."""
    res = testapp.get("/", headers={"If-None-Match": LONG_ETAG}, status=400)
    assert res.json["errors"] == [
        {"field": "If-None-Match", "message": "longer than 1024 characters"}
    ]
    assert api.get("/users/admin/tokens", headers={"If-None-Match": LONG_ETAG}).status_int == 400


def test_over_long_if_match_is_400_not_412(api):
    """Found: a schema-violating If-Match (over maxLength) answered 412 instead of 400."""
    res = api.patch(
        "/users/admin", {"display_name": None, "email": None}, headers={"If-Match": LONG_ETAG}
    )
    assert res.status_int == 400
    assert res.json["errors"][0]["field"] == "If-Match"


def test_a_malformed_patch_is_4xx_whatever_its_if_match(api, testapp):
    """Found: PATCH without a body but with a stale If-Match answered 412, not 400."""
    api.group("/groups/y")
    api.group("/groups/y/groups/0")
    res = testapp.patch(
        "/groups/y/groups/0",
        headers={**basic(ADMIN), "If-Match": "6", "Content-Type": "application/json"},
        expect_errors=True,
    )
    assert res.status_int == 400
    assert res.json["errors"][0]["field"] == "body"
    res = api.patch("/groups/y", {"title": 5}, headers={"If-Match": "6"})
    assert res.status_int == 422
    assert api.patch("/groups/y", {"title": "ok"}, headers={"If-Match": "6"}).status_int == 412


def test_adding_an_unknown_user_is_422_naming_the_field(api):
    """Found: ``{"user": "0"}`` answered 400 "Invalid input", the README promised 422."""
    res = api.post("/groups/admins/members", {"user": "0", "role": "member"})
    assert res.status_int == 422
    assert res.json["errors"] == [{"field": "user", "message": "no such user"}]
    res = api.patch(
        "/groups/admins/members",
        [{"op": "add", "user": "0", "expires_at": "2000-01-01T00:00:00Z"}],
    )
    assert res.status_int == 422
    assert res.json["operation"] == 0
    assert res.json["errors"][0]["field"] == "0.user"


def test_unknown_and_nameless_query_parameters_are_ignored(api):
    """Found while fuzzing ``GET /users?=false``: ignored by design, not a 500 or a 400."""
    assert api.get("/users?=false").status_int == 200
    assert api.get("/users?limt=5&&&").status_int == 200


def test_non_utf8_paths_are_400_not_500(api):
    """Found: ``/users/%FF%FE`` crashed the 500 handler itself (it logged ``request.path``)."""
    res = api.get("/users/%FF%FE")
    assert res.status_int == 400
    assert res.json["errors"] == [{"field": "path", "message": "is not UTF-8"}]


def test_dot_segments_never_name_another_resource(api):
    """Found: ``DELETE /groups/eng/groups/..`` deleted ``/groups/eng`` (traversal folds ``..``)."""
    api.group("/groups/eng")
    assert api.delete("/groups/eng/groups/..").status_int == 400
    assert api.delete("/groups/eng/groups/%2E%2E").status_int == 400
    assert api.get("/groups/eng").status_int == 200
