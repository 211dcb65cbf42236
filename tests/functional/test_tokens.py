"""Personal access tokens: shown once, stored hashed, usable as Bearer, revocable, expiring."""

from datetime import UTC, datetime, timedelta

import transaction

from membership import clock
from membership.credentials import token_digest
from membership.web.db import ROOT_KEY, database

from .helpers import bearer


def test_token_is_returned_once_and_authenticates(api):
    api.user("alice")
    res = api.post("/users/alice/tokens", {"name": "ci"}, as_="alice")
    assert res.status_int == 201
    secret = res.json["token"]
    assert api.get("/", as_=bearer(secret)).json["identity"]["user"] == "alice"
    listing = api.get("/users/alice/tokens", as_="alice")
    assert secret not in listing.text
    assert [t["name"] for t in listing.json["items"]] == ["ci"]
    assert secret not in api.get(res.location, as_="alice").text


def test_only_the_digest_is_stored(api, app):
    api.user("alice")
    secret = api.token("alice")
    conn = database(app.registry).open()
    try:
        root = conn.root()[ROOT_KEY]
        assert token_digest(secret) in root.token_digests
        (token,) = root.users["alice"].tokens.values()
        assert secret not in repr(vars(token))
    finally:
        transaction.abort()
        conn.close()


def test_revoked_token_stops_working(api):
    api.user("alice")
    res = api.post("/users/alice/tokens", {}, as_="alice")
    secret = res.json["token"]
    assert api.delete(res.location, as_="alice").status_int == 204
    assert api.get("/users/alice", as_=bearer(secret)).status_int == 401


def test_expired_token_stops_working_at_its_instant(api):
    api.user("alice")
    start = datetime(2030, 1, 1, tzinfo=UTC)
    clock.set_clock(lambda: start)
    try:
        expires = (start + timedelta(hours=1)).isoformat()
        secret = api.post("/users/alice/tokens", {"expires_at": expires}, as_="alice").json["token"]
        assert api.get("/users/alice", as_=bearer(secret)).status_int == 200
        clock.set_clock(lambda: start + timedelta(hours=1))
        assert api.get("/users/alice", as_=bearer(secret)).status_int == 401
    finally:
        clock.set_clock(None)


def test_others_cannot_mint_tokens_for_a_user_but_admin_can(api):
    api.user("alice")
    api.user("bob")
    assert api.post("/users/alice/tokens", {}, as_="bob").status_int == 403
    assert api.get("/users/alice/tokens", as_="bob").status_int == 403
    assert api.post("/users/alice/tokens", {}).status_int == 201


def test_garbage_bearer_is_401(api):
    assert api.get("/users", as_=bearer("mbr_nonsense")).status_int == 401
    assert api.get("/users", as_=bearer("x" * 5000)).status_int == 401


def test_deleting_user_kills_their_tokens(api):
    api.user("alice")
    secret = api.token("alice")
    api.delete("/users/alice", status=204)
    api.user("alice")
    assert api.get("/users/alice", as_=bearer(secret)).status_int == 401


def test_reads_with_a_token_write_nothing(api, app):
    """The membership check is called on every request of other services: no commit."""
    api.user("alice")
    api.group("/groups/eng")
    api.member("/groups/eng", "alice")
    secret = api.token("alice")
    db = database(app.registry)
    before = db.lastTransaction()
    for path in ["/groups/eng/members/alice", "/users/alice/groups", "/", "/groups/eng"]:
        assert api.get(path, as_=bearer(secret)).status_int == 200
    assert db.lastTransaction() == before


def test_bearer_authentication_marks_nothing_changed(api, app):
    """Even where a transaction would commit (a write request), checking a token must not
    make the token itself part of it."""
    from membership.web.security import SecurityPolicy

    api.user("alice")
    secret = api.token("alice")
    policy = SecurityPolicy(app.registry.credentials)
    conn = database(app.registry).open()
    try:
        assert policy._check_bearer(conn.root()[ROOT_KEY], secret) == "alice"
        assert conn._registered_objects == []
    finally:
        transaction.abort()
        conn.close()
