"""The active flag on the user page: admins deactivate and reactivate (the domain's
``set_active``, as ``PATCH /users/{id} {"active"}``); nobody else may; an inactive user
cannot log in, and their open session ends."""

import html

import pytest

from .helpers import PASSWORD
from .test_ui import Browser, text

pytestmark = pytest.mark.no_spec_check


@pytest.fixture
def settings(settings):
    return {**settings, "membership.ui.insecure_cookies": "true"}


@pytest.fixture
def people(api):
    for userid in ("alice", "bob"):
        api.user(userid)
    api.group("/groups/eng")
    api.member("/groups/eng", "alice", "owner")
    api.member("/groups/eng", "bob")
    return api


def words(res) -> str:
    return html.unescape(text(res))


def test_an_admin_deactivates_and_reactivates_a_user(app, people):
    admin, bob = Browser(app, "admin"), Browser(app, "bob")
    page = admin.get("/ui/users/bob")
    assert "active" in page.html.select_one("#profile dl").get_text()
    res = admin.submit("/ui/users/bob", "set-active", {}).follow()
    assert "Deactivated: cannot log in any more; memberships are kept." in words(res)
    assert people.get("/users/bob").json["active"] is False
    assert "inactive" in admin.get("/ui/users").html.select_one("tbody").get_text()
    # bob's open session ends, and he cannot log in again
    assert "/ui/login" in bob.get("/ui/", status=303).location
    res = bob.login("bob", status=403)
    assert "Unknown user or wrong password." in words(res)
    # memberships are kept: reactivated, bob is back in eng
    res = admin.submit("/ui/users/bob", "set-active", {}).follow()
    assert "Activated." in words(res)
    assert people.get("/users/bob").json["active"] is True
    assert Browser(app, "bob").get("/ui/groups/eng").status_int == 200


@pytest.mark.parametrize("userid", ["alice", "bob"])
def test_nobody_else_may_change_it_not_even_on_themselves(app, people, userid):
    browser = Browser(app, userid)
    page = browser.get(f"/ui/users/{userid}")
    assert page.html.select_one('form[action$="/set-active"]') is None
    token = browser.token()
    res = browser.app.post(
        f"/ui/users/{userid}/set-active", {"active": "false", "csrf_token": token}, status=403
    )
    assert "provision" in words(res) or "Not allowed" in words(res)
    assert people.get(f"/users/{userid}").json["active"] is True
    # the API says the same
    res = people.patch(f"/users/{userid}", {"active": False}, as_=userid)
    assert res.status_int == 403


def test_the_last_admin_cannot_be_deactivated(app, people):
    admin = Browser(app, "admin")
    res = admin.submit("/ui/users/admin", "set-active", {}, status=409)
    assert "the last admin cannot be deactivated" in words(res)
    assert people.get("/users/admin").json["active"] is True


def test_reactivating_does_not_bring_the_old_session_back(app, people):
    """Deactivation ends bob's session for good: a reactivation within the session's
    lifetime leaves it refused (the session generation moved on); a fresh login works."""
    admin, bob = Browser(app, "admin"), Browser(app, "bob")
    assert bob.get("/ui/groups/eng").status_int == 200
    admin.submit("/ui/users/bob", "set-active", {}).follow()  # deactivated
    admin.submit("/ui/users/bob", "set-active", {}).follow()  # and active again
    assert people.get("/users/bob").json["active"] is True
    assert "/ui/login" in bob.get("/ui/groups/eng", status=303).location
    bob.login("bob")
    assert bob.get("/ui/groups/eng").status_int == 200


def test_a_password_change_ends_the_other_sessions_but_not_a_fresh_login(app, people):
    laptop, phone = Browser(app, "bob"), Browser(app, "bob")
    people.patch("/users/bob", {"password": "another-password-1"}, status=200)
    for browser in (laptop, phone):
        assert "/ui/login" in browser.get("/ui/groups/eng", status=303).location
    laptop.login("bob", "another-password-1")
    assert laptop.get("/ui/groups/eng").status_int == 200
    assert "/ui/login" in phone.get("/ui/groups/eng", status=303).location


def test_changing_your_own_password_keeps_your_session_and_ends_the_others(app, people):
    laptop, phone = Browser(app, "bob"), Browser(app, "bob")
    fields = {"password": "another-password-1", "password_again": "another-password-1"}
    laptop.submit("/ui/users/bob", "password", {**fields, "current_password": PASSWORD})
    assert laptop.get("/ui/groups/eng").status_int == 200
    assert "/ui/login" in phone.get("/ui/groups/eng", status=303).location


def test_an_unrelated_change_keeps_the_session(app, people):
    bob = Browser(app, "bob")
    people.patch("/users/bob", {"display_name": "Bob B."}, status=200)
    assert bob.get("/ui/groups/eng").status_int == 200


def test_a_user_made_again_under_the_same_id_does_not_inherit_the_session(app, people):
    bob = Browser(app, "bob")
    people.delete("/users/bob", status=204)
    people.user("bob")
    assert "/ui/login" in bob.get("/ui/", status=303).location
