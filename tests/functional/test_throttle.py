"""Failed logins are throttled per user id and per address, and the lock lets itself go."""

import pytest
from argon2 import PasswordHasher

from membership.settings import load_settings
from membership.web.throttle import Limits, LoginThrottle, Throttled

from .helpers import ADMIN, PASSWORD, basic, bearer


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


def throttle(clock, **limits) -> LoginThrottle:
    return LoginThrottle(Limits(**{"per_user": 3, "per_address": 5, "window": 60, **limits}), clock)


def fail(t: LoginThrottle, user, address, times=1):
    for _ in range(times):
        t.check(user, address)
        t.failed(user, address)


def test_user_is_locked_after_max_failures_and_unlocked_by_time(clock):
    t = throttle(clock)
    fail(t, "alice", "10.0.0.1", times=3)
    with pytest.raises(Throttled) as exc:
        t.check("alice", "10.0.0.9")
    assert exc.value.retry_after == 60
    clock.now += 30
    with pytest.raises(Throttled) as exc:
        t.check("alice", "10.0.0.9")
    assert exc.value.retry_after == 30
    clock.now += 30
    t.check("alice", "10.0.0.9")  # the window slid past the failures


def test_refused_attempts_do_not_extend_the_lock(clock):
    t = throttle(clock)
    fail(t, "alice", None, times=3)
    for _ in range(100):
        clock.now += 0.5
        with pytest.raises(Throttled):
            t.check("alice", None)
    clock.now = 1000.0 + 60
    t.check("alice", None)


def test_address_is_locked_across_user_ids(clock):
    t = throttle(clock)
    for i in range(5):
        fail(t, f"user{i}", "10.0.0.1")
    with pytest.raises(Throttled, match="address"):
        t.check("someone-else", "10.0.0.1")
    t.check("someone-else", "10.0.0.2")


def test_an_address_that_logged_in_before_is_exempt_from_the_user_lock(clock):
    t = throttle(clock)
    t.succeeded("alice", "10.0.0.7")
    fail(t, "alice", "203.0.113.1", times=3)  # the attacker
    with pytest.raises(Throttled):
        t.check("alice", "203.0.113.1")
    t.check("alice", "10.0.0.7")  # the real alice still gets in


def test_memory_is_bounded(clock):
    t = throttle(clock, max_keys=100)
    for i in range(1000):
        t.failed(f"user{i}", f"10.0.{i // 256}.{i % 256}")
        t.succeeded(f"user{i}", f"10.1.{i // 256}.{i % 256}")
    assert len(t.local_failures) <= 100
    assert len(t.local_trust) <= 100
    assert len(t._renewed) <= 100


def test_limits_come_from_settings():
    settings = load_settings(
        {
            "zodbconn.uri": "memory://",
            "membership.throttle.per_user": "4",
            "membership.throttle.window": "9.5",
        },
        environ={},
    )
    limits = Limits.from_settings(settings)
    assert (limits.per_user, limits.window, limits.per_address) == (4, 9.5, Limits.per_address)


THROTTLED = {
    "membership.throttle.per_user": "3",
    "membership.throttle.per_address": "6",
    "membership.throttle.window": "60",
}


@pytest.fixture
def settings(settings):
    return {**settings, **THROTTLED}


def from_(address: str) -> dict:
    return {"REMOTE_ADDR": address}


def get(testapp, path, headers, address):
    return testapp.get(path, headers=headers, extra_environ=from_(address), expect_errors=True)


def test_failed_logins_end_in_429_with_retry_after(api, testapp):
    api.user("alice")
    for _ in range(3):
        assert get(testapp, "/users/alice", basic("alice", "wrong"), "10.0.0.1").status_int == 401
    res = get(testapp, "/users/alice", basic("alice", PASSWORD), "10.0.0.2")
    assert res.status_int == 429
    assert res.content_type == "application/problem+json"
    assert 1 <= int(res.headers["Retry-After"]) <= 60
    assert res.json["errors"][0]["field"] == "Authorization"
    assert "failed logins" in res.json["detail"]


def test_unknown_users_are_throttled_like_real_ones(testapp):
    """Otherwise the 429 itself would tell which user ids exist."""
    for _ in range(3):
        assert get(testapp, "/", basic("ghost", "wrong"), "10.0.0.1").status_int == 401
    assert get(testapp, "/", basic("ghost", "wrong"), "10.0.0.2").status_int == 429


def test_a_locked_out_user_still_gets_in_from_a_known_address_and_with_tokens(api, testapp):
    api.user("alice")
    token = api.token("alice")
    assert get(testapp, "/users/alice", basic("alice"), "10.0.0.7").status_int == 200
    for _ in range(3):
        get(testapp, "/users/alice", basic("alice", "guess"), "203.0.113.1")
    assert get(testapp, "/users/alice", basic("alice"), "203.0.113.1").status_int == 429
    assert get(testapp, "/users/alice", basic("alice"), "10.0.0.7").status_int == 200
    assert get(testapp, "/users/alice", bearer(token), "203.0.113.9").status_int == 200


def test_one_address_failing_for_many_users_is_throttled(api, testapp):
    for i in range(6):
        get(testapp, "/", basic(f"user{i}", "wrong"), "198.51.100.1")
    assert get(testapp, "/", basic(ADMIN), "198.51.100.1").status_int == 429
    assert get(testapp, "/", basic(ADMIN), "198.51.100.2").status_int == 200


def test_bearer_tokens_are_not_throttled(api, testapp):
    """Tokens cannot be guessed; a client stuck on a revoked one must not lock out its
    neighbours behind the same address, and a valid token works from a locked address."""
    token = api.token(ADMIN)
    for _ in range(20):
        assert get(testapp, "/", bearer("mbr_nope"), "198.51.100.3").status_int == 401
    assert get(testapp, "/", basic(ADMIN), "198.51.100.3").status_int == 200
    for i in range(6):
        get(testapp, "/", basic(f"user{i}", "wrong"), "198.51.100.3")
    assert get(testapp, "/", basic(ADMIN), "198.51.100.3").status_int == 429
    assert get(testapp, "/", bearer(token), "198.51.100.3").status_int == 200


def test_unknown_user_and_wrong_password_cost_the_same(api, monkeypatch):
    """Both run exactly one argon2 verification (against a dummy hash for the unknown user)."""
    api.user("alice")
    hashes = []
    original = PasswordHasher.verify

    def verify(self, hash_, password):
        hashes.append(hash_)
        return original(self, hash_, password)

    monkeypatch.setattr(PasswordHasher, "verify", verify)
    assert api.get("/users", as_=basic("alice", "wrong-password")).status_int == 401
    assert api.get("/users", as_=basic("nobody", "wrong-password")).status_int == 401
    assert api.get("/users", as_=basic("Not A Slug", "wrong-password")).status_int == 401
    assert len(hashes) == 3
    assert all(h.startswith("$argon2id$") for h in hashes)
    # the same parameters for the dummy as for real hashes: the same work
    assert len({h.split("$")[3] for h in hashes}) == 1


def test_x_forwarded_for_does_not_choose_the_address(api, testapp):
    """Only waitress (trusted_proxy settings) may rewrite the client address: a forged
    X-Forwarded-For neither escapes the address limit nor borrows a trusted address."""
    api.user("alice")
    assert get(testapp, "/users/alice", basic("alice"), "10.0.0.7").status_int == 200
    for i in range(6):
        headers = {**basic("alice", "guess"), "X-Forwarded-For": f"10.9.9.{i}"}
        get(testapp, "/users/alice", headers, "203.0.113.1")
    forged = {**basic("alice"), "X-Forwarded-For": "10.0.0.7"}
    assert get(testapp, "/users/alice", forged, "203.0.113.1").status_int == 429
