"""A JWT's ``scope``/``scp`` claim narrows it like a scoped token's scopes."""

import pytest

from membership.scopes import SCOPES
from tests.oidc_issuer import AUDIENCE, Issuer

from .helpers import bearer
from .test_scopes import ALLOWED, NEEDED, OPERATIONS, insufficient


@pytest.fixture
def issuer():
    issuer = Issuer()
    issuer.add_key("rsa1", "RSA")
    yield issuer
    issuer.stop()


@pytest.fixture
def default_scopes() -> str:
    return "admin"


@pytest.fixture
def settings(settings, issuer, default_scopes):
    return {
        **settings,
        "membership.oidc.default_scopes": default_scopes,
        "membership.oidc.issuer": issuer.url,
        "membership.oidc.audience": AUDIENCE,
        "membership.oidc.username_claim": "preferred_username",
        "membership.oidc.scope_prefix": "membership:",
    }


@pytest.fixture
def world(api):
    api.group("/groups/eng")
    api.user("bob")
    api.user("carol")
    api.member("/groups/eng", "bob")
    return api


@pytest.mark.parametrize("operation", list(OPERATIONS))
@pytest.mark.parametrize("scope", SCOPES)
def test_the_scope_matrix_with_jwts(world, issuer, scope, operation):
    method, path, body, status = OPERATIONS[operation]
    token = issuer.token(preferred_username="admin", scope=f"openid email membership:{scope}")
    res = world.request(method, path, body, as_=bearer(token))
    if operation in ALLOWED[scope]:
        assert res.status_int == status, res.text
    else:
        insufficient(res, NEEDED[operation])


def test_okta_and_entra_style_scp_claims(world, issuer):
    okta = issuer.token(preferred_username="admin", scp=["openid", "membership:read"])
    assert world.get("/groups/eng", as_=bearer(okta)).status_int == 200
    insufficient(world.post("/groups", {"name": "x"}, as_=bearer(okta)), "write")
    entra = issuer.token(preferred_username="admin", scp="membership:write membership:acl")
    identity = world.get("/", as_=bearer(entra)).json["identity"]
    assert identity["scopes"] == ["write", "acl"]


def test_names_without_the_prefix_do_not_count(world, issuer):
    token = issuer.token(preferred_username="admin", scope="read membership:read write")
    assert world.get("/", as_=bearer(token)).json["identity"]["scopes"] == ["read"]


@pytest.mark.parametrize("claim", [None, "openid profile"])
def test_no_scope_of_ours_means_the_default_scopes(world, issuer, claim):
    token = issuer.token(preferred_username="admin", scope=claim)
    assert world.get("/", as_=bearer(token)).json["identity"]["scopes"] == ["admin"]
    assert world.post("/groups/eng/members", {"user": "carol"}, as_=bearer(token)).status_int == 201


@pytest.mark.parametrize("default_scopes", ["read", ""])
def test_the_default_scopes_are_a_setting(world, issuer, default_scopes):
    token = bearer(issuer.token(preferred_username="admin", scope="openid"))
    res = world.get("/users", as_=token)
    if default_scopes:
        assert res.status_int == 200
    else:
        insufficient(res, "read")  # such a token may do nothing
    insufficient(world.post("/groups", {"name": "x"}, as_=token), "write")
