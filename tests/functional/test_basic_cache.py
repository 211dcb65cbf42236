"""A Basic login argon2 accepted is remembered for a while, and forgotten as soon as it
should be: a changed password, a deleted (or deactivated) user. Failures never are."""

import base64
import hashlib

import pytest
from pyramid.interfaces import ISecurityPolicy

from membership import credentials
from membership.credentials import Credentials, VerifiedLogins
from membership.settings import load_settings
from membership.web.db import database

from .conftest import with_root
from .helpers import ADMIN, PASSWORD, basic


@pytest.fixture
def settings(settings, request):
    """``@pytest.mark.parametrize("settings", [{...}], indirect=True)`` adds settings."""
    return {**settings, **getattr(request, "param", {})}


@pytest.fixture
def verifications(monkeypatch) -> list[str | None]:
    """The password hash of every argon2 verification ``Credentials.verify`` runs."""
    calls: list[str | None] = []
    original = Credentials.verify

    def verify(self, password_hash, password):
        calls.append(password_hash)
        return original(self, password_hash, password)

    monkeypatch.setattr(Credentials, "verify", verify)
    return calls


def policy(app):
    return app.registry.getUtility(ISecurityPolicy)


def remembered(app, userid: str, password: str = PASSWORD) -> bool:
    verified = policy(app).verified
    return verified._key(userid, password) in verified._entries


def as_alice(api, password=PASSWORD, address="10.0.0.1"):
    return api.app.get(
        "/users/alice",
        headers=basic("alice", password),
        extra_environ={"REMOTE_ADDR": address},
        expect_errors=True,
    )


@pytest.fixture
def alice(api, verifications):
    api.user("alice")
    verifications.clear()
    return api


def test_the_default_is_sixty_seconds():
    settings = load_settings({"zodbconn.uri": "memory://"}, environ={})
    assert settings.auth_basic_cache_seconds == 60
    env = {"MEMBERSHIP_AUTH_BASIC_CACHE_SECONDS": "0"}
    assert load_settings({"zodbconn.uri": "memory://"}, environ=env).auth_basic_cache_seconds == 0


def test_repeat_basic_requests_run_argon2_once(alice, verifications):
    for _ in range(5):
        assert as_alice(alice).status_int == 200
    assert len(verifications) == 1


def test_a_changed_password_is_refused_on_the_very_next_request(alice, verifications):
    assert as_alice(alice).status_int == 200
    assert as_alice(alice).status_int == 200  # cached
    res = alice.patch("/users/alice", {"password": "brand-new-pass"})  # the admin resets it
    assert res.status_int == 200, res.text
    verifications.clear()
    assert as_alice(alice).status_int == 401  # well within the 60 s
    assert len(verifications) == 1  # the entry did not answer: argon2 did
    assert as_alice(alice, "brand-new-pass").status_int == 200
    assert as_alice(alice, "brand-new-pass").status_int == 200
    assert as_alice(alice).status_int == 401
    assert len(verifications) == 3  # old (no), new (yes, then cached), old again (no)


def test_a_password_the_user_changes_herself_is_refused_at_once(alice):
    assert as_alice(alice).status_int == 200
    change = {"password": "brand-new-pass", "current_password": PASSWORD}
    assert alice.patch("/users/alice", change, as_="alice").status_int == 200
    assert as_alice(alice).status_int == 401


def test_a_deleted_user_is_refused_at_once(app, alice, verifications):
    assert as_alice(alice).status_int == 200
    assert as_alice(alice).status_int == 200
    assert alice.delete("/users/alice").status_int == 204
    assert as_alice(alice).status_int == 401
    # re-created with the same password: a new hash (new salt), so argon2 runs again
    alice.user("alice")
    verifications.clear()
    assert as_alice(alice).status_int == 200
    assert len(verifications) == 1


def test_a_deactivated_user_is_not_answered_from_the_cache(app, alice, verifications):
    """``active`` does not exist yet; once it does, ``active = False`` must not be cached."""
    assert as_alice(alice).status_int == 200
    assert remembered(app, "alice")
    db = database(app.registry)
    with_root(db, lambda root: setattr(root.users["alice"], "active", False))
    verifications.clear()
    as_alice(alice)
    assert len(verifications) == 1  # argon2 again, whatever it answers
    assert not remembered(app, "alice")  # dropped, and nothing stored for an inactive user


def test_wrong_passwords_are_never_cached_and_still_throttled(app, alice, verifications):
    assert as_alice(alice).status_int == 200  # a good login first: it is cached
    for _ in range(3):
        assert as_alice(alice, "wrong-password", address="203.0.113.1").status_int == 401
    assert len(verifications) == 4  # every wrong one ran argon2
    assert remembered(app, "alice") and not remembered(app, "alice", "wrong-password")
    # ten failures lock alice out (membership.throttle.per_user, default 10)...
    for _ in range(7):
        as_alice(alice, "wrong-password", address="203.0.113.1")
    assert as_alice(alice, "wrong-password", address="203.0.113.1").status_int == 429
    # ...and the right password from the attacker's address too, cached or not
    assert as_alice(alice, address="203.0.113.1").status_int == 429
    # the address she logged in from is exempt from the user's lock, as before
    assert as_alice(alice, address="10.0.0.1").status_int == 200


def test_a_cached_success_counts_as_a_success_for_the_throttle(app, alice, monkeypatch):
    assert as_alice(alice).status_int == 200
    throttle = policy(app).throttle
    successes = []
    original = throttle.succeeded
    monkeypatch.setattr(
        throttle,
        "succeeded",
        lambda user, address: successes.append((user, address)) or original(user, address),
    )
    assert as_alice(alice, address="10.0.0.5").status_int == 200
    assert successes == [("alice", "10.0.0.5")]


@pytest.mark.parametrize("settings", [{"membership.auth.basic_cache_seconds": "0"}], indirect=True)
def test_zero_turns_the_cache_off(app, alice, verifications):
    assert policy(app).verified is None
    for _ in range(3):
        assert as_alice(alice).status_int == 200
    assert len(verifications) == 3


def test_an_entry_expires(app, alice, verifications, monkeypatch):
    assert as_alice(alice).status_int == 200
    now = credentials.time.monotonic()
    monkeypatch.setattr(credentials.time, "monotonic", lambda: now + 61)
    assert as_alice(alice).status_int == 200
    assert len(verifications) == 2
    assert as_alice(alice).status_int == 200
    assert len(verifications) == 2  # and cached again from then on


def test_the_cache_keeps_neither_the_password_nor_a_plain_hash_of_it(app, alice):
    password = PASSWORD
    assert as_alice(alice, password).status_int == 200
    verified = policy(app).verified
    key = verified._key("alice", password)
    _expires, fingerprint = verified._entries[key]
    pairs = [
        password,
        f"alice:{password}",
        f"alice\0{password}",
        f"alice{password}",
        base64.b64encode(f"alice:{password}".encode()).decode(),
    ]
    plain = set()
    for text in pairs:
        data = text.encode()
        plain.add(data)
        for name in ("md5", "sha1", "sha256", "sha512", "blake2b"):
            digest = hashlib.new(name, data)
            plain.update({digest.digest(), digest.hexdigest().encode()})
    assert len(key) == 32  # an HMAC-SHA256
    for stored in (key + fingerprint, *(k + fp for k, (_, fp) in verified._entries.items())):
        assert not any(p in stored for p in plain)
    assert password.encode() not in stored and b"alice" not in stored
    user_hash = with_root(database(app.registry), lambda root: root.users["alice"].password_hash)
    assert user_hash.encode() not in stored
    assert fingerprint != hashlib.sha256(user_hash.encode()).digest()


def test_two_processes_do_not_share_keys():
    """The HMAC secret is per process (per policy): a key means nothing elsewhere."""
    a, b = VerifiedLogins(60), VerifiedLogins(60)
    assert a._key("alice", PASSWORD) != b._key("alice", PASSWORD)


def test_the_cache_is_bounded_oldest_first():
    cache = VerifiedLogins(60, max_entries=100)
    for i in range(1000):
        cache.store(f"user{i}", "password", "$argon2id$hash")
    assert len(cache) == 100
    assert not cache.hit("user0", "password", "$argon2id$hash")
    assert cache.hit("user999", "password", "$argon2id$hash")


def test_the_admins_own_logins_are_cached_too(api, verifications):
    """The admin's own Basic login (every ``api`` call) is cached like anyone's."""
    verifications.clear()
    for _ in range(3):
        assert api.get("/users").status_int == 200
    assert len(verifications) <= 1
    assert api.get("/users", as_=basic(ADMIN, "wrong-password")).status_int == 401
