"""JWT bearer tokens from a real issuer: an HTTP server on loopback publishing OIDC
discovery and a JWKS of keys made here (RSA and EC), tokens signed with PyJWT."""

import base64
import hashlib
import hmac
import json
import time

import jwt
import pytest
import transaction

from membership.web import oidc
from membership.web.db import ROOT_KEY, database
from membership.web.oidc import Discovery, InvalidToken, IssuerUnavailable, KeySet, Verifier
from tests.oidc_issuer import AUDIENCE, Issuer

from .conftest import with_root
from .helpers import bearer


@pytest.fixture
def issuer():
    issuer = Issuer()
    issuer.add_key("rsa1", "RSA")
    issuer.add_key("ec1", "EC")
    yield issuer
    issuer.stop()


@pytest.fixture
def settings(settings, issuer):
    return {
        **settings,
        "membership.oidc.issuer": issuer.url,
        "membership.oidc.audience": AUDIENCE,
        "membership.oidc.username_claim": "preferred_username",
        "membership.oidc.jwks_refetch_seconds": "0",
    }


def refused(res, mentions: str) -> None:
    """A 401 problem with an RFC 6750 challenge whose description mentions ``mentions``."""
    assert res.status_int == 401, res.text
    assert res.content_type == "application/problem+json"
    challenge = res.headers["WWW-Authenticate"]
    assert challenge.startswith('Bearer realm="membership", error="invalid_token"'), challenge
    assert "error_description=" in challenge and mentions in challenge, challenge
    assert mentions in res.json["detail"]


# Who a valid token is


def test_a_linked_identity_acts_as_its_user(api, issuer):
    api.user("alice")
    res = api.post("/users/alice/identities", {"issuer": issuer.url, "subject": "a-123"})
    assert res.status_int == 201, res.text
    assert res.json["subject"] == "a-123" and res.json["id"] == "1"
    token = issuer.token(sub="a-123")
    identity = api.get("/", as_=bearer(token)).json["identity"]
    assert identity["user"] == "alice"
    assert identity["authenticated_by"] == "jwt"
    assert identity["issuer"] == issuer.url and identity["subject"] == "a-123"
    assert "user:alice" in identity["principals"]
    assert api.get("/users/alice", as_=bearer(token)).status_int == 200
    assert api.get("/users/admin", as_=bearer(token)).status_int == 403


def test_a_linked_identity_wins_over_the_username_claim(api, issuer):
    api.user("alice")
    api.user("bob")
    api.post("/users/alice/identities", {"issuer": issuer.url, "subject": "a-123"}, status=201)
    token = issuer.token(sub="a-123", preferred_username="bob")
    assert api.get("/", as_=bearer(token)).json["identity"]["user"] == "alice"


def test_the_username_claim_names_a_user(api, issuer):
    api.user("bob")
    token = issuer.token(kid="ec1", sub="b-9", preferred_username="bob")
    identity = api.get("/", as_=bearer(token)).json["identity"]
    assert identity["user"] == "bob" and identity["subject"] == "b-9"
    assert api.get("/users/bob", as_=bearer(token)).status_int == 200


def test_a_client_credentials_token_is_a_client_principal(api, issuer):
    api.group("/groups/eng")
    api.user("alice")
    api.member("/groups/eng", "alice")
    token = issuer.token(sub="svc-uuid", azp="reporting")
    identity = api.get("/", as_=bearer(token)).json["identity"]
    assert identity["user"] is None and identity["client"] == "reporting"
    assert set(identity["principals"]) == {
        "system.Everyone",
        "system.Authenticated",
        "client:reporting",
    }
    assert api.get("/groups/eng/members/alice", as_=bearer(token)).status_int == 403
    ace = {"action": "Allow", "principal": "client:reporting", "permissions": ["view"]}
    assert api.patch("/groups/eng/acl", {"add": [ace]}).status_int == 200
    assert api.get("/groups/eng/members/alice", as_=bearer(token)).status_int == 200
    assert api.get("/groups/eng/members/nobody", as_=bearer(token)).status_int == 404
    # RFC 9068's client_id works too
    other = issuer.token(sub="x", client_id="reporting")
    assert api.get("/groups/eng", as_=bearer(other)).status_int == 200


def test_client_principals_are_validated_as_ace_principals(api):
    api.group("/groups/eng")
    for bad in ("client:", "client:has space", "client:a/b", "client:" + "x" * 200):
        ace = {"action": "Allow", "principal": bad, "permissions": ["view"]}
        assert api.patch("/groups/eng/acl", {"add": [ace]}).status_int == 400, bad
    ace = {"action": "Allow", "principal": "client:0oa1B2c3@ok", "permissions": ["view"]}
    assert api.patch("/groups/eng/acl", {"add": [ace]}).status_int == 200
    res = api.get("/groups/eng/permissions?principal=client:0oa1B2c3@ok")
    assert "view" in res.json["allowed"]


def test_a_token_naming_no_user_and_no_client_is_refused(api, issuer):
    refused(api.get("/", as_=bearer(issuer.token(sub="nobody"))), "no client")
    token = issuer.token(sub="n", preferred_username="ghost")  # no such user, no azp
    refused(api.get("/groups", as_=bearer(token)), "no user")


def test_a_deactivated_user_is_refused(api, app, issuer):
    api.user("bob")
    token = issuer.token(preferred_username="bob")
    assert api.get("/users/bob", as_=bearer(token)).status_int == 200

    def deactivate(root):
        root.users["bob"].active = False

    with_root(database(app.registry), deactivate)
    refused(api.get("/users/bob", as_=bearer(token)), "deactivated")


def test_personal_access_tokens_still_work_beside_jwts(api):
    api.user("alice")
    secret = api.token("alice")
    identity = api.get("/", as_=bearer(secret)).json["identity"]
    assert identity["authenticated_by"] == "token" and identity["issuer"] is None


# Refused tokens: RFC 6750 invalid_token, saying which check failed


def test_expired(api, issuer):
    now = int(time.time())
    token = issuer.token(preferred_username="admin", iat=now - 900, exp=now - 120)
    refused(api.get("/", as_=bearer(token)), "expired")


def test_expiry_within_the_leeway_is_accepted(api, issuer):
    now = int(time.time())
    token = issuer.token(preferred_username="admin", exp=now - 10)
    assert api.get("/", as_=bearer(token)).json["identity"]["user"] == "admin"


def test_not_yet_valid(api, issuer):
    now = int(time.time())
    token = issuer.token(preferred_username="admin", nbf=now + 600, exp=now + 900)
    refused(api.get("/", as_=bearer(token)), "not valid yet")


def test_issued_in_the_future(api, issuer):
    now = int(time.time())
    token = issuer.token(preferred_username="admin", iat=now + 600, exp=now + 900)
    refused(api.get("/", as_=bearer(token)), "(iat)")


def test_wrong_audience(api, issuer):
    token = issuer.token(preferred_username="admin", aud="another-api")
    refused(api.get("/users", as_=bearer(token)), "another audience")


def test_audience_among_several(api, issuer):
    token = issuer.token(preferred_username="admin", aud=["another-api", AUDIENCE])
    assert api.get("/users", as_=bearer(token)).status_int == 200


def test_wrong_issuer(api, issuer):
    token = issuer.token(preferred_username="admin", iss="https://idp.example.org")
    refused(api.get("/users", as_=bearer(token)), "another issuer")
    assert issuer.fetched == []  # refused before any key was fetched


def test_missing_exp(api, issuer):
    refused(api.get("/", as_=bearer(issuer.token(preferred_username="admin", exp=None))), "exp")


def test_alg_none(api, issuer):
    token = jwt.encode(issuer.claims(preferred_username="admin"), None, algorithm="none")
    assert token.count(".") == 2
    refused(api.get("/users", as_=bearer(token)), "algorithm")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def test_hs256_signed_with_the_public_key_as_secret(api, issuer):
    """The classic confusion attack: HMAC keyed with the (public) RSA key."""
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": "rsa1"}).encode())
    payload = _b64(json.dumps(issuer.claims(preferred_username="admin")).encode())
    signing_input = f"{header}.{payload}".encode()
    for secret in (issuer.public_pem("rsa1"), json.dumps(issuer.jwks()["keys"][0]).encode()):
        signature = _b64(hmac.new(secret, signing_input, hashlib.sha256).digest())
        refused(api.get("/users", as_=bearer(f"{header}.{payload}.{signature}")), "algorithm")


def test_bad_signature(api, issuer):
    """Signed by a key the issuer does not publish, under the kid of one it does."""
    issuer.add_key("impostor", "RSA", publish=False)
    private, _ = issuer.keys["impostor"]
    claims = issuer.claims(preferred_username="admin")
    headers = {"kid": "rsa1", "typ": "at+jwt"}
    forged = jwt.encode(claims, private, algorithm="RS256", headers=headers)
    refused(api.get("/users", as_=bearer(forged)), "signature")


def test_the_token_type_must_be_jwt_or_at_jwt(api, issuer):
    token = issuer.token(typ="JWT", sub="x", azp="c")
    assert api.get("/users", as_=bearer(token)).status_int == 403  # accepted, not allowed
    refused(api.get("/users", as_=bearer(issuer.token(typ="dpop+jwt", azp="c"))), "typ")


def test_garbage_with_three_parts(api):
    refused(api.get("/users", as_=bearer("a.b.c")), "well-formed")
    refused(api.get("/", as_=bearer("e30.e30.")), "algorithm")  # {} header: no alg


def test_descriptions_never_echo_the_token(api, issuer):
    token = issuer.token(preferred_username="admin", aud='evil"\r\nX-Injected: 1')
    res = api.get("/users", as_=bearer(token))
    refused(res, "another audience")
    assert "X-Injected" not in res.headers and "evil" not in res.headers["WWW-Authenticate"]


# Keys: discovery, cache, rotation, outage


def test_keys_come_from_discovery_and_are_cached(api, issuer):
    token = issuer.token(preferred_username="admin")
    for _ in range(3):
        assert api.get("/users", as_=bearer(token)).status_int == 200
    assert issuer.fetched == ["/.well-known/openid-configuration", "/jwks"]
    ec_token = issuer.token(kid="ec1", preferred_username="admin")
    assert api.get("/users", as_=bearer(ec_token)).status_int == 200
    assert issuer.fetched.count("/jwks") == 1


def test_an_unknown_kid_then_key_rotation_is_picked_up_without_restart(api, issuer):
    assert api.get("/users", as_=bearer(issuer.token(preferred_username="admin"))).status_int == 200
    issuer.add_key("rsa2", "RSA", publish=False)
    rotated = issuer.token(kid="rsa2", preferred_username="admin")
    refused(api.get("/users", as_=bearer(rotated)), "does not publish")
    issuer.publish("rsa2")  # the issuer rotates
    assert api.get("/users", as_=bearer(rotated)).status_int == 200
    assert issuer.fetched.count("/jwks") == 3  # first use, the refused kid, the rotation


def test_the_issuer_down_is_503_and_cached_keys_still_work(api, issuer):
    token = issuer.token(preferred_username="admin")
    assert api.get("/users", as_=bearer(token)).status_int == 200
    issuer.add_key("rsa2", "RSA")
    unseen = issuer.token(kid="rsa2", preferred_username="admin")
    issuer.stop()
    assert api.get("/users", as_=bearer(token)).status_int == 200  # a token seen before
    fresh = issuer.token(kid="ec1", preferred_username="admin", jti="new")
    assert api.get("/users", as_=bearer(fresh)).status_int == 200  # a cached key
    res = api.get("/users", as_=bearer(unseen))
    assert res.status_int == 503, res.text
    assert res.content_type == "application/problem+json"
    assert res.headers["Retry-After"]
    assert "identity provider" in res.json["detail"]
    assert api.get("/", as_=bearer(unseen)).status_int == 503


def test_the_issuer_down_from_the_start_is_503(api, issuer):
    token = issuer.token(preferred_username="admin")
    issuer.stop()
    res = api.get("/groups", as_=bearer(token))
    assert res.status_int == 503 and res.content_type == "application/problem+json"
    # Basic and PATs do not depend on the issuer
    assert api.get("/groups").status_int == 200


# Linked identities: the API


def test_identities_are_linked_and_unlinked_by_admins_and_read_by_their_user(api, issuer):
    api.user("alice")
    api.user("bob")
    body = {"issuer": issuer.url, "subject": "a-1"}
    assert api.post("/users/alice/identities", body, as_="alice").status_int == 403
    created = api.post("/users/alice/identities", body, status=201)
    assert created.location.endswith("/users/alice/identities/1")
    again = api.post("/users/bob/identities", body)
    assert again.status_int == 409 and again.json["errors"][0]["field"] == "subject"
    mine = api.get("/users/alice/identities", as_="alice")
    assert [(i["issuer"], i["subject"]) for i in mine.json["items"]] == [(issuer.url, "a-1")]
    assert api.get("/users/alice/identities/1", as_="alice").json["subject"] == "a-1"
    assert api.get("/users/alice/identities", as_="bob").status_int == 403
    assert api.delete("/users/alice/identities/1", as_="alice").status_int == 403
    token = issuer.token(sub="a-1")
    assert api.get("/", as_=bearer(token)).json["identity"]["user"] == "alice"
    assert api.delete("/users/alice/identities/1").status_int == 204
    assert api.get("/users/alice/identities/1").status_int == 404
    refused(api.get("/", as_=bearer(token)), "no user")  # no azp: nobody
    # now free for bob
    assert api.post("/users/bob/identities", body).json["id"] == "1"
    assert api.get("/", as_=bearer(token)).json["identity"]["user"] == "bob"
    actions = [e["action"] for e in api.get("/users/alice/history").json["items"]]
    assert {"identity.linked", "identity.unlinked"} <= set(actions)


def test_identity_input_is_validated(api):
    api.user("alice")
    for body in (
        {"issuer": "not a url", "subject": "x"},
        {"issuer": "https://idp.example", "subject": ""},
        {"issuer": "https://idp.example", "subject": "has space"},
        {"issuer": "https://idp.example"},
    ):
        assert api.post("/users/alice/identities", body).status_int == 422, body


def test_a_deleted_users_link_names_nobody(api, app, issuer):
    api.user("alice")
    api.post("/users/alice/identities", {"issuer": issuer.url, "subject": "a-1"}, status=201)
    assert api.delete("/users/alice").status_int == 204
    api.user("alice")  # the same id again: not the same person
    token = issuer.token(sub="a-1")
    refused(api.get("/", as_=bearer(token)), "no user")
    conn = database(app.registry).open()
    try:
        assert (issuer.url, "a-1") in conn.root()[ROOT_KEY].identity_index  # stale, ignored
    finally:
        transaction.abort()
        conn.close()
    assert api.post("/users/alice/identities", {"issuer": issuer.url, "subject": "a-1"}).json
    assert api.get("/", as_=bearer(token)).json["identity"]["user"] == "alice"


def test_refetches_for_unknown_kids_are_rate_limited(issuer):
    now = [1000.0]
    keys = KeySet(
        Discovery(issuer.url), cache_seconds=300, refetch_seconds=30, clock=lambda: now[0]
    )
    assert keys.key("rsa1").key_id == "rsa1"
    for _ in range(5):
        with pytest.raises(InvalidToken):
            keys.key("unknown")
    assert issuer.fetched.count("/jwks") == 1  # the first fetch starts the wait
    now[0] += 30
    with pytest.raises(InvalidToken):
        keys.key("unknown")
    assert issuer.fetched.count("/jwks") == 2
    assert keys.key("ec1").key_id == "ec1"
    now[0] += 300  # the cached set is stale: fetched again on the next use
    keys.key("rsa1")
    assert issuer.fetched.count("/jwks") == 3


def test_an_unreachable_issuer_is_not_asked_on_every_request(issuer):
    now = [1000.0]
    keys = KeySet(Discovery(issuer.url), cache_seconds=60, refetch_seconds=30, clock=lambda: now[0])
    keys.key("rsa1")
    issuer.stop()
    now[0] += 61  # stale, and the issuer is down: the known keys keep working
    assert keys.key("rsa1").key_id == "rsa1"
    attempts = keys.fetches
    for _ in range(5):
        assert keys.key("ec1").key_id == "ec1"
        with pytest.raises(IssuerUnavailable):
            keys.key("unknown")
    assert keys.fetches == attempts  # spaced by refetch_seconds
    now[0] += 30
    with pytest.raises(IssuerUnavailable):
        keys.key("unknown")
    assert keys.fetches == attempts + 1


def test_a_configured_jwks_uri_skips_discovery(issuer):
    keys = KeySet(Discovery(issuer.url, issuer.url + "/jwks"))
    assert keys.key("ec1").key_id == "ec1"
    assert issuer.fetched == ["/jwks"]


def test_discovery_must_name_the_same_issuer(issuer):
    keys = KeySet(Discovery(issuer.url + "/other"))
    with pytest.raises(IssuerUnavailable):
        keys.key("rsa1")


def test_a_verified_token_is_remembered_until_it_expires(issuer, monkeypatch):
    verifier = Verifier(issuer.url, AUDIENCE, ("RS256",), KeySet(Discovery(issuer.url)), leeway=5)
    checked = []
    full = verifier._verify
    monkeypatch.setattr(verifier, "_verify", lambda token: checked.append(token) or full(token))
    now = time.time()
    token = issuer.token(exp=int(now) + 60)
    for _ in range(3):
        assert verifier.verify(token)["sub"] == "sub-1"
    assert len(checked) == 1
    monkeypatch.setattr(oidc.time, "time", lambda: now + 66)  # past exp + leeway
    verifier.verify(token)  # (PyJWT's own clock still says valid)
    assert len(checked) == 2
