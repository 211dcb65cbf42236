"""Users: create, read, change, delete, and who may do each."""

from .helpers import ADMIN, PASSWORD, basic, bearer


def test_admin_creates_user_and_gets_201_with_location(api):
    res = api.post("/users", {"id": "alice", "password": "s3cret-pass", "display_name": "Alice"})
    assert res.status_int == 201
    assert res.location.endswith("/users/alice")
    assert res.json["id"] == "alice"
    assert res.json["display_name"] == "Alice"
    assert set(res.json["links"]) >= {"self", "groups", "tokens"}
    assert "password" not in res.text and "argon2" not in res.text


def test_duplicate_user_is_409(api):
    api.user("alice")
    res = api.post("/users", {"id": "alice", "password": "another-pass"})
    assert res.status_int == 409
    assert res.content_type == "application/problem+json"


def test_user_can_read_and_edit_self_but_not_others(api):
    api.user("alice")
    api.user("bob")
    assert api.get("/users/alice", as_="alice").status_int == 200
    assert api.get("/users/bob", as_="alice").status_int == 403
    res = api.patch(
        "/users/alice", {"display_name": "Alice A.", "email": "a@example.org"}, as_="alice"
    )
    assert res.status_int == 200
    assert res.json["display_name"] == "Alice A."
    assert api.patch("/users/bob", {"display_name": "x"}, as_="alice").status_int == 403


def test_user_changes_own_password_and_old_one_stops_working(api):
    api.user("alice")
    change = {"password": "brand-new-pass", "current_password": PASSWORD}
    assert api.patch("/users/alice", change, as_="alice").status_int == 200
    assert api.get("/users/alice", as_="alice").status_int == 401
    assert api.get("/users/alice", as_=basic("alice", "brand-new-pass")).status_int == 200


def test_changing_your_own_password_takes_the_current_one(api):
    """A stolen token or session alone cannot take the account over."""
    api.user("alice")
    token = api.token("alice")
    res = api.patch("/users/alice", {"password": "taken-over-1"}, as_=bearer(token))
    assert res.status_int == 400
    assert res.json["errors"][0]["field"] == "current_password"
    wrong = {"password": "taken-over-1", "current_password": "a guess at it"}
    res = api.patch("/users/alice", wrong, as_=bearer(token))
    assert res.status_int == 403
    assert res.json["errors"][0]["field"] == "current_password"
    assert api.get("/users/alice", as_="alice").status_int == 200  # unchanged
    # an admin resets it without knowing it
    assert api.patch("/users/alice", {"password": "reset-by-admin"}).status_int == 200
    assert api.get("/users/alice", as_=basic("alice", "reset-by-admin")).status_int == 200


def test_a_password_change_can_revoke_every_token(api):
    api.user("alice")
    token = api.token("alice")
    change = {"password": "brand-new-pass", "current_password": PASSWORD, "revoke_tokens": True}
    assert api.patch("/users/alice", change, as_=bearer(token)).status_int == 200
    assert api.get("/users/alice", as_=bearer(token)).status_int == 401
    assert api.get("/users/alice/tokens", as_=basic("alice", "brand-new-pass")).json == {
        "items": []
    }


def test_non_admin_cannot_create_list_or_delete_users(api):
    api.user("alice")
    assert api.post("/users", {"id": "eve", "password": "whatever1"}, as_="alice").status_int == 403
    assert api.get("/users", as_="alice").status_int == 403
    assert api.delete("/users/alice", as_="alice").status_int == 403


def test_anonymous_gets_401_with_challenge(api):
    res = api.get("/users", as_=None)
    assert res.status_int == 401
    assert res.headers["WWW-Authenticate"] == 'Basic realm="membership"'


def test_unknown_user_and_wrong_password_answer_the_same(api):
    api.user("alice")
    unknown = api.get("/users/alice", as_=basic("nobody", PASSWORD))
    wrong = api.get("/users/alice", as_=basic("alice", "wrong-password"))
    assert unknown.status_int == wrong.status_int == 401
    assert unknown.json == wrong.json


def test_user_without_password_cannot_log_in(api):
    api.post("/users", {"id": "svc"}, status=201)
    assert api.get("/users/svc", as_=basic("svc", "")).status_int == 401


def test_list_users_pages_with_cursor_and_prefix(api):
    for name in ["ann", "bea", "bob", "cal", "dan"]:
        api.user(name)
    first = api.get("/users?limit=2").json
    assert [u["id"] for u in first["items"]] == ["admin", "ann"]
    second = api.get(first["next"]).json
    assert [u["id"] for u in second["items"]] == ["bea", "bob"]
    prefixed = api.get("/users?prefix=b").json
    assert [u["id"] for u in prefixed["items"]] == ["bea", "bob"]
    assert "next" not in prefixed


def test_delete_user_removes_memberships_and_index(api):
    api.user("alice")
    api.group("/groups/eng")
    api.member("/groups/eng", "alice")
    assert api.delete("/users/alice").status_int == 204
    assert api.get("/users/alice").status_int == 404
    assert api.get("/groups/eng/members/alice").status_int == 404
    assert api.get("/groups/eng").json["member_count"] == 0
    api.user("alice")  # same id again: no stale membership comes back
    assert api.get("/users/alice/groups").json["items"] == []


def test_last_admin_cannot_be_deleted(api):
    res = api.delete(f"/users/{ADMIN}")
    assert res.status_int == 409
    assert api.get("/").json["identity"]["user"] == ADMIN


def test_etag_and_conditional_requests_on_user(api):
    api.user("alice")
    res = api.get("/users/alice")
    etag = res.headers["ETag"]
    assert api.get("/users/alice", headers={"If-None-Match": etag}).status_int == 304
    stale = api.patch("/users/alice", {"display_name": "A"}, headers={"If-Match": '"nope"'})
    assert stale.status_int == 412
    assert stale.json["errors"][0]["field"] == "If-Match"
    ok = api.patch("/users/alice", {"display_name": "A"}, headers={"If-Match": etag})
    assert ok.status_int == 200
    assert api.delete("/users/alice", headers={"If-Match": etag}).status_int == 412


def test_anonymous_callers_cannot_probe_for_names(api):
    """Existing or not, anonymous gets the same 401: no user or group list by guessing."""
    api.user("alice")
    api.group("/groups/eng")
    answers = [
        api.request(method, path, as_=None)
        for method, path in [
            ("GET", "/users/alice"),
            ("GET", "/users/nobody"),
            ("GET", "/groups/eng"),
            ("GET", "/groups/nothing/members"),
            ("PUT", "/groups/eng"),
            ("GET", "/no/such/thing"),
        ]
    ]
    assert {res.status_int for res in answers} == {401}
    assert len({res.text for res in answers}) == 1
