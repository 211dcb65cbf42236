"""The active flag on the user page: admins deactivate and reactivate (the domain's
``set_active``, as ``PATCH /users/{id} {"active"}``); nobody else may; an inactive user
cannot log in, and their open session ends."""

import html

import pytest

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
