"""The user fields SCIM needs, through the REST API: userName (unique whatever its
case), active, externalId, names and emails; audited, indexed, and what an
inactive user can no longer do."""

import pytest

from membership.web.db import database

from .conftest import with_root
from .helpers import PASSWORD, basic, bearer
from .test_ui import Browser


def test_new_fields_are_shown_with_their_defaults(api):
    body = api.user("alice", display_name="Alice", email="alice@example.org")
    assert body["user_name"] == "alice"  # default: the id
    assert body["active"] is True
    assert body["external_id"] is None
    assert (body["given_name"], body["family_name"]) == (None, None)
    assert body["emails"] == [{"value": "alice@example.org", "type": "work", "primary": True}]


def test_create_with_every_field(api):
    emails = [
        {"value": "a@home.example", "type": "home"},
        {"value": "Alice@Work.example", "type": "work", "primary": True},
    ]
    body = api.user(
        "alice",
        user_name="Alice.Smith@Example.com",
        external_id="00u1",
        given_name="Alice",
        family_name="Smith",
        emails=emails,
    )
    assert body["user_name"] == "Alice.Smith@Example.com"
    assert body["email"] == "Alice@Work.example"  # the primary one
    assert body["emails"][0] == {"value": "a@home.example", "type": "home", "primary": False}
    assert (body["given_name"], body["family_name"], body["external_id"]) == (
        "Alice",
        "Smith",
        "00u1",
    )


def test_user_name_is_unique_whatever_its_case(api):
    api.user("alice", user_name="Alice@Example.com")
    res = api.post(
        "/users", {"id": "alice2", "password": PASSWORD, "user_name": "alice@example.COM"}
    )
    assert res.status_int == 409
    assert res.json["errors"][0]["field"] == "user_name"
    # an id taken as someone's userName is refused as a userName too
    api.user("bob")
    res = api.patch("/users/bob", {"user_name": "ALICE@example.com"})
    assert res.status_int == 409
    # a user may change the case of their own
    assert api.patch("/users/alice", {"user_name": "alice@example.com"}).status_int == 200


def test_user_name_freed_by_a_change_or_a_deletion_can_be_taken(api):
    api.user("alice", user_name="first")
    api.patch("/users/alice", {"user_name": "second"}, status=200)
    api.user("bob", user_name="FIRST")
    api.delete("/users/bob", status=204)
    api.user("carol", user_name="first")
    assert api.patch("/users/carol", {"user_name": None}).json["user_name"] == "carol"


def test_email_changes_the_primary_entry_and_keeps_the_others(api):
    api.user(
        "alice",
        emails=[
            {"value": "a@work.example", "primary": True},
            {"value": "a@b.example", "type": "home"},
        ],
    )
    body = api.patch("/users/alice", {"email": "new@work.example"}).json
    assert body["email"] == "new@work.example"
    assert [e["value"] for e in body["emails"]] == ["new@work.example", "a@b.example"]
    body = api.patch("/users/alice", {"emails": None}).json
    assert (body["email"], body["emails"]) == (None, [])


def test_two_primary_emails_are_refused(api):
    emails = [{"value": "a@x.example", "primary": True}, {"value": "b@x.example", "primary": True}]
    res = api.post("/users", {"id": "alice", "emails": emails})
    assert res.status_int == 400
    assert res.json["errors"][0]["field"] == "emails"


def test_changes_are_audited(api):
    api.user("alice")
    api.patch("/users/alice", {"user_name": "Alice", "external_id": "x1", "active": False})
    events = api.get("/users/alice/history").json["items"]
    changed = [e for e in events if e["action"] == "user.changed"][-1]
    assert changed["after"] == {"user_name": "Alice", "external_id": "x1", "active": False}
    assert changed["before"] == {"user_name": "alice", "external_id": None, "active": True}
    assert changed["actor"] == "admin"


# active


@pytest.fixture
def settings(settings):
    # WebTest speaks http: the UI's Secure cookie would never come back (test_ui.py).
    return {**settings, "membership.ui.insecure_cookies": "true"}


@pytest.fixture
def alice(api):
    api.user("alice")
    api.group("/groups/eng")
    api.member("/groups/eng", "alice")
    return api.token("alice")


def test_an_inactive_user_cannot_authenticate_by_basic_or_token(api, alice):
    assert api.get("/groups/eng", as_="alice").status_int == 200
    assert api.get("/groups/eng", as_=bearer(alice)).status_int == 200
    assert api.patch("/users/alice", {"active": False}).json["active"] is False
    assert api.get("/groups/eng", as_="alice").status_int == 401
    assert api.get("/groups/eng", as_=bearer(alice)).status_int == 401


def test_reactivation_restores_the_memberships(api, alice):
    api.patch("/users/alice", {"active": False}, status=200)
    # the membership is kept while inactive
    assert api.get("/groups/eng/members/alice").status_int == 200
    api.patch("/users/alice", {"active": True}, status=200)
    assert api.get("/groups/eng", as_=bearer(alice)).status_int == 200
    paths = [g["path"] for g in api.get("/users/alice/groups", as_="alice").json["items"]]
    assert paths == ["/groups/eng"]


def test_an_inactive_user_carries_no_principals(app, api, alice):
    from membership.domain.queries import principals_for

    api.patch("/users/alice", {"active": False}, status=200)
    principals = with_root(database(app.registry), lambda root: principals_for(root, "alice"))
    assert principals == ["system.Everyone"]


@pytest.mark.no_spec_check  # the UI's pages are not part of the API document
def test_an_inactive_user_loses_the_ui_session(app, api, alice):
    browser = Browser(app, "alice")
    browser.get("/ui/")
    api.patch("/users/alice", {"active": False}, status=200)
    assert browser.app.get("/ui/", status="*").status_int in (302, 303)
    assert browser.login("alice", status="*").status_int != 303  # no session for them


def test_a_user_cannot_deactivate_or_reactivate_themselves(api, alice):
    res = api.patch("/users/alice", {"active": False}, as_="alice")
    assert res.status_int == 403
    assert api.get("/users/alice").json["active"] is True


def test_the_last_admin_cannot_be_deactivated(api):
    res = api.patch("/users/admin", {"active": False})
    assert res.status_int == 409
    assert basic("admin")  # still logs in
    assert api.get("/users/admin").json["active"] is True


def test_active_cannot_be_null(api, alice):
    assert api.patch("/users/alice", {"active": None}).status_int in (400, 422)
