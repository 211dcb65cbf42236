"""Linked identities and client principals in the domain; the OIDC settings' checks."""

import pytest

from membership.domain.errors import AlreadyExists, InvalidValue
from membership.domain.identities import link_identity, linked_user, unlink_identity
from membership.domain.tokens import create_token
from membership.domain.users import create_user, delete_user
from membership.paths import Principal, client_principal, parse_principal
from membership.scopes import from_claims
from membership.settings import SettingsError, load_settings

from .conftest import script

ISSUER = "https://sso.example.com/realms/acme"


def test_link_find_and_unlink(root):
    ctx = script(root)
    alice = create_user(ctx, "alice", password="x" * 12)
    identity = link_identity(ctx, alice, ISSUER, "a-1")
    assert identity.id == "1" and identity.user is alice
    assert linked_user(root, ISSUER, "a-1") is alice
    assert linked_user(root, ISSUER, "a-2") is None
    assert linked_user(root, ISSUER + "/", "a-1") is None  # exact issuer only
    with pytest.raises(AlreadyExists):
        link_identity(ctx, alice, ISSUER, "a-1")
    second = link_identity(ctx, alice, "https://login.example.net/t/v2.0", "a-1")
    assert second.id == "2"
    assert [i.id for i in alice.identities.values()] == ["1", "2"]
    unlink_identity(ctx, alice, "1")
    assert linked_user(root, ISSUER, "a-1") is None
    assert (ISSUER, "a-1") not in root.identity_index
    assert [i.id for i in alice.identities.values()] == ["2"]


def test_numbers_are_not_reused_and_sort_as_numbers(root):
    ctx = script(root)
    alice = create_user(ctx, "alice", password="x" * 12)
    for n in range(11):
        link_identity(ctx, alice, ISSUER, f"s-{n}")
    unlink_identity(ctx, alice, "11")
    assert link_identity(ctx, alice, ISSUER, "again").id == "12"
    assert [i.id for i in alice.identities.values()][-3:] == ["9", "10", "12"]


def test_a_deleted_user_leaves_no_working_link(root):
    ctx = script(root)
    alice = create_user(ctx, "alice", password="x" * 12)
    link_identity(ctx, alice, ISSUER, "a-1")
    delete_user(ctx, alice)
    assert linked_user(root, ISSUER, "a-1") is None
    bob = create_user(ctx, "bob", password="x" * 12)
    assert link_identity(ctx, bob, ISSUER, "a-1").id == "1"  # the stale entry is replaced
    assert linked_user(root, ISSUER, "a-1") is bob


def test_a_tree_from_before_identities_gets_its_index_with_the_first_link(root):
    root.identity_index = None
    assert linked_user(root, ISSUER, "a-1") is None
    alice = create_user(script(root), "alice", password="x" * 12)
    link_identity(script(root), alice, ISSUER, "a-1")
    assert linked_user(root, ISSUER, "a-1") is alice


def test_token_scopes_are_checked_and_normalized(root):
    ctx = script(root)
    alice = create_user(ctx, "alice", password="x" * 12)
    token, _ = create_token(ctx, alice, scopes=["acl", "read", "acl"])
    assert token.scopes == ("read", "acl")
    assert token.fields()["scopes"] == ["read", "acl"]
    plain, _ = create_token(ctx, alice)
    assert plain.scopes is None and "scopes" not in plain.fields()
    for bad in (["root"], []):
        with pytest.raises(InvalidValue):
            create_token(ctx, alice, scopes=bad)


@pytest.mark.parametrize(
    "text, parsed",
    [
        ("client:reporting", Principal("client", "reporting")),
        ("client:0oa1B2c3d4E5f6G7h8i9", Principal("client", "0oa1B2c3d4E5f6G7h8i9")),
        (
            "client:6731de76-14a6-49ae-97bc-6eba6914391e",
            Principal("client", "6731de76-14a6-49ae-97bc-6eba6914391e"),
        ),
        ("client:svc@clients", Principal("client", "svc@clients")),
        ("client:", None),
        ("client:-x", None),
        ("client:a b", None),
        ("client:a/b", None),
        ("client:a#owner", None),
        ("client:" + "x" * 129, None),
    ],
)
def test_client_principals(text, parsed):
    assert parse_principal(text) == parsed


def test_client_principal_round_trips():
    assert parse_principal(client_principal("reporting")) == Principal("client", "reporting")


@pytest.mark.parametrize(
    "claims, prefix, scopes",
    [
        ({}, "", None),
        ({"scope": "read write"}, "", ("read", "write")),
        ({"scope": "openid profile"}, "", ()),
        ({"scope": "membership:acl membership:read openid"}, "membership:", ("read", "acl")),
        ({"scope": "read"}, "membership:", ()),
        ({"scp": ["membership:write", 7]}, "membership:", ("write",)),
        ({"scp": "admin"}, "", ("admin",)),
        ({"scope": 42}, "", ()),
    ],
)
def test_scopes_from_claims(claims, prefix, scopes):
    assert from_claims(claims, prefix) == scopes


BASE = {"zodbconn.uri": "memory://"}
JWKS = "membership.oidc.jwks_uri"
ALGORITHMS = "membership.oidc.algorithms"


@pytest.mark.parametrize(
    "extra, key, mentions",
    [
        ({"membership.oidc.issuer": ISSUER}, "membership.oidc.issuer", "audience"),
        (
            {"membership.oidc.issuer": "http://sso.example.com", "membership.oidc.audience": "a"},
            "membership.oidc.issuer",
            "https",
        ),
        (
            {"membership.oidc.jwks_uri": "ftp://sso.example.com/k"},
            "membership.oidc.jwks_uri",
            "https",
        ),
        (
            {"membership.oidc.algorithms": "RS256 none"},
            "membership.oidc.algorithms",
            "'none' is refused",
        ),
        ({"membership.oidc.algorithms": "HS256"}, "membership.oidc.algorithms", "HS"),
        ({"membership.oidc.algorithms": "hs512"}, "membership.oidc.algorithms", "refused"),
        ({"membership.oidc.algorithms": "RS257"}, "membership.oidc.algorithms", "unknown"),
        ({"membership.oidc.default_scopes": "root"}, "membership.oidc.default_scopes", "unknown"),
        ({"membership.oidc.leeway": "-1"}, "membership.oidc.leeway", "at least 0"),
    ],
)
def test_oidc_settings_refused_at_start(extra, key, mentions):
    with pytest.raises(SettingsError) as caught:
        load_settings({**BASE, **extra}, environ={})
    assert caught.value.name.startswith(key)
    assert mentions in caught.value.problem


@pytest.mark.parametrize(
    "issuer", [ISSUER, "http://127.0.0.1:8080/realms/x", "http://localhost:9000", "http://[::1]:1"]
)
def test_oidc_settings_accepted(issuer):
    settings = load_settings(
        {**BASE, "membership.oidc.issuer": issuer, "membership.oidc.audience": "membership"},
        environ={},
    )
    assert settings.oidc_issuer == issuer
    assert settings.oidc_algorithms == ("RS256", "ES256", "EdDSA")
    assert settings.oidc_leeway == 30 and settings.oidc_default_scopes == ("admin",)


def test_oidc_settings_from_the_environment():
    environ = {
        "MEMBERSHIP_OIDC_ISSUER": ISSUER,
        "MEMBERSHIP_OIDC_AUDIENCE": "membership",
        "MEMBERSHIP_OIDC_ALGORITHMS": "ES256 PS256",
    }
    settings = load_settings(BASE, environ=environ)
    assert settings.oidc_algorithms == ("ES256", "PS256")
