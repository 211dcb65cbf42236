"""Who may provision: Bearer tokens of users holding ``provision`` on the root."""

import pytest

from .conftest import USER, Scim, scim_error


@pytest.fixture
def provisioner(api) -> str:
    """A service user granted provision by an ACE on / (not an admin)."""
    api.user("svc")
    entry = {"action": "Allow", "principal": "user:svc", "permissions": ["provision"]}
    api.put("/acl", {"entries": [entry]}, status=200)
    return api.token("svc")


def test_no_token_is_401_with_a_bearer_challenge(testapp):
    res = Scim(testapp, None).get("/Users")
    scim_error(res, 401)
    assert res.headers["WWW-Authenticate"].startswith("Bearer")


def test_a_wrong_token_is_401(testapp):
    scim_error(Scim(testapp, "not-a-token").get("/Users"), 401)


def test_unknown_paths_without_a_token_are_401_too(testapp):
    scim_error(Scim(testapp, None).get("/Nowhere"), 401)


def test_admins_may_provision(scim):
    assert scim.get("/Users").status_int == 200


def test_a_user_granted_provision_on_the_root_may(testapp, provisioner):
    svc = Scim(testapp, provisioner)
    created = svc.user("dana@example.com")
    assert created["userName"] == "dana@example.com"
    assert svc.get("/Users").status_int == 200


def test_changes_are_audited_with_the_tokens_user_as_actor(testapp, api, provisioner):
    Scim(testapp, provisioner).user("dana@example.com")
    events = api.get("/users/dana-example.com/history").json["items"]
    created = [e for e in events if e["action"] == "user.created"]
    assert created and created[0]["actor"] == "svc"


def test_a_user_without_provision_is_403(testapp, api):
    api.user("bob")
    res = Scim(testapp, api.token("bob")).get("/Users")
    scim_error(res, 403)
    res = Scim(testapp, api.token("bob")).post("/Users", {"schemas": [USER], "userName": "x"})
    scim_error(res, 403)
    assert api.get("/users/x").status_int == 404


def test_a_token_scoped_without_provision_is_403_insufficient_scope(testapp, api):
    token = api.post("/users/admin/tokens", {"scopes": ["write"]}, status=201).json["token"]
    res = Scim(testapp, token).get("/Users")
    scim_error(res, 403)
    assert 'error="insufficient_scope"' in res.headers["WWW-Authenticate"]


def test_a_token_scoped_to_provision_may_provision_and_nothing_else(testapp, api):
    token = api.post("/users/admin/tokens", {"scopes": ["provision"]}, status=201).json["token"]
    assert Scim(testapp, token).get("/Users").status_int == 200
    assert api.get("/groups", as_={"Authorization": f"Bearer {token}"}).status_int == 403


def test_an_inactive_provisioning_user_is_401(testapp, api, provisioner):
    api.patch("/users/svc", {"active": False}, status=200)
    scim_error(Scim(testapp, provisioner).get("/Users"), 401)
    api.patch("/users/svc", {"active": True}, status=200)
    assert Scim(testapp, provisioner).get("/Users").status_int == 200
