"""The login throttle's storages: in process (bounded), Redis (shared), and failing open.

The Redis tests use the machine's Redis at 127.0.0.1:6379 (database 15, keys
under a random prefix) and skip with the reason when it does not answer.
"""

import logging
import secrets
import socket

import pytest
from limits.storage import RedisStorage

from membership.web import throttle as throttle_module
from membership.web.metrics import THROTTLE_STORAGE_ERRORS
from membership.web.throttle import Limits, LocalStorage, LoginThrottle, Throttled, redacted

REDIS_URL = "redis://127.0.0.1:6379/15"
LIMITS = Limits(per_user=3, per_address=5, window=60, trusted_for=3600)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def fail(t: LoginThrottle, user, address, times=1):
    for _ in range(times):
        t.check(user, address)
        t.failed(user, address)


def test_local_storage_is_a_moving_window_for_limits():
    clock = Clock()
    storage = LocalStorage(max_keys=10, clock=clock)
    assert storage.acquire_entry("k", 2, 60)
    clock.now += 10
    assert storage.acquire_entry("k", 2, 60)
    assert not storage.acquire_entry("k", 2, 60)  # full: refused, and not recorded
    assert storage.get_moving_window("k", 2, 60) == (1000.0, 2)
    clock.now = 1060.0  # the first entry leaves the window
    assert storage.get_moving_window("k", 2, 60) == (1010.0, 1)
    assert storage.acquire_entry("k", 2, 60)
    storage.clear("k")
    assert storage.get_moving_window("k", 2, 60) == (1060.0, 0)


def test_local_storage_forgets_the_stalest_keys_first():
    clock = Clock()
    storage = LocalStorage(max_keys=3, clock=clock)
    for key in "abcd":
        storage.acquire_entry(key, 5, 60)
    assert len(storage) == 3
    assert storage.get_moving_window("a", 5, 60)[1] == 0
    assert storage.get_moving_window("d", 5, 60)[1] == 1


def test_storage_uri_passwords_stay_out_of_the_log():
    assert redacted("redis://:s3cret@10.0.0.5:6379/0") == "redis://:***@10.0.0.5:6379/0"
    assert redacted("redis://user:s3cret@host/1") == "redis://user:***@host/1"
    assert redacted("redis://127.0.0.1:6379/0") == "redis://127.0.0.1:6379/0"


# -- failing open


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # nothing listens there once the socket closes


def test_a_storage_that_does_not_answer_fails_open_and_says_so_once(caplog, monkeypatch):
    clock = Clock()
    t = LoginThrottle(
        Limits(**{**LIMITS.__dict__, "storage": f"redis://127.0.0.1:{closed_port()}/0"}), clock
    )
    errors_before = THROTTLE_STORAGE_ERRORS._value.get()
    with caplog.at_level(logging.WARNING, logger="membership.web.throttle"):
        fail(t, "alice", "10.0.0.1", times=3)  # logins keep working...
        with pytest.raises(Throttled):  # ... and this process still counts them
            t.check("alice", "10.0.0.2")
        monkeypatch.setattr(throttle_module, "RETRY_SECONDS", 0.0)  # ask Redis on every call
        for _ in range(5):
            with pytest.raises(Throttled):
                t.check("alice", "10.0.0.2")
    lines = [r.getMessage() for r in caplog.records if r.name == "membership.web.throttle"]
    assert len(lines) == 1, lines
    assert "does not answer" in lines[0] and "counting failed logins in this process" in lines[0]
    assert THROTTLE_STORAGE_ERRORS._value.get() > errors_before


class Flaky(LocalStorage):
    """A shared storage that can be switched off and on."""

    down = False

    def get_moving_window(self, key, limit, expiry):
        if self.down:
            raise ConnectionRefusedError("down")
        return super().get_moving_window(key, limit, expiry)

    def acquire_entry(self, key, limit, expiry, amount=1):
        if self.down:
            raise ConnectionRefusedError("down")
        return super().acquire_entry(key, limit, expiry, amount)


def test_the_shared_storage_is_used_again_once_it_is_back(caplog, monkeypatch):
    monkeypatch.setattr(throttle_module, "RETRY_SECONDS", 0.0)
    clock = Clock()
    shared = Flaky(clock=clock)
    t = LoginThrottle(LIMITS, clock, storage=shared)
    with caplog.at_level(logging.WARNING, logger="membership.web.throttle"):
        shared.down = True
        fail(t, "alice", "10.0.0.1")  # counted in the process
        shared.down = False
        fail(t, "alice", "10.0.0.1")  # counted in the shared storage again
    assert len(shared) == 2  # user:alice and address:10.0.0.1, once each
    messages = [r.getMessage() for r in caplog.records if r.name == "membership.web.throttle"]
    assert len(messages) == 2
    assert "does not answer" in messages[0] and "answers again" in messages[1]


def test_trust_is_renewed_but_not_on_every_request():
    clock = Clock()
    shared = LocalStorage(clock=clock)
    calls = []
    original = shared.acquire_entry

    def counting(key, limit, expiry, amount=1):
        calls.append(key)
        return original(key, limit, expiry, amount)

    shared.acquire_entry = counting
    t = LoginThrottle(LIMITS, clock, storage=shared)
    for _ in range(100):
        t.succeeded("alice", "10.0.0.7")
    assert len(calls) == 1
    clock.now += throttle_module.TRUST_RENEW_SECONDS
    t.succeeded("alice", "10.0.0.7")
    assert len(calls) == 2


def test_trust_lasts_trusted_for_after_the_last_renewal():
    clock = Clock()
    t = LoginThrottle(LIMITS, clock, storage=LocalStorage(clock=clock))
    t.succeeded("alice", "10.0.0.7")
    fail(t, "alice", "203.0.113.1", times=3)
    clock.now += 3000
    t.succeeded("alice", "10.0.0.7")  # renewed: trusted until 4000 + 3600
    clock.now += 1000  # 400 s past the first success's trusted_for
    for _ in range(3):
        t.failed("alice", "203.0.113.1")
    with pytest.raises(Throttled):
        t.check("alice", "203.0.113.1")
    t.check("alice", "10.0.0.7")


# -- Redis: one count for every process


@pytest.fixture
def redis_prefix():
    """A key prefix of this test's own in the machine's Redis; its keys go afterwards."""
    try:
        import redis

        client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1)
        client.ping()
    except Exception as exc:
        pytest.skip(f"no Redis at {REDIS_URL}: {exc}")
    prefix = f"membership-test-{secrets.token_hex(4)}"
    yield prefix
    for key in client.scan_iter(f"{prefix}*"):
        client.delete(key)
    client.close()


def redis_throttle(prefix: str) -> LoginThrottle:
    storage = RedisStorage(REDIS_URL, key_prefix=prefix, wrap_exceptions=True)
    return LoginThrottle(LIMITS, storage=storage)


def test_with_redis_two_processes_share_the_counts_and_a_restart_forgets_nothing(redis_prefix):
    worker1, worker2 = redis_throttle(redis_prefix), redis_throttle(redis_prefix)
    fail(worker1, "alice", "10.0.0.1")
    fail(worker2, "alice", "10.0.0.2")
    fail(worker1, "alice", "10.0.0.3")
    with pytest.raises(Throttled) as exc:
        worker2.check("alice", "10.0.0.4")  # 3 failures across two workers: the user limit
    assert 55 <= exc.value.retry_after <= 60 and exc.value.kind == "user"
    restarted = redis_throttle(redis_prefix)  # a new process: the count is still there
    with pytest.raises(Throttled):
        restarted.check("alice", "10.0.0.4")
    for i in range(5):
        fail(worker1 if i % 2 else worker2, f"user{i}", "198.51.100.1")
    with pytest.raises(Throttled) as exc:
        restarted.check("bob", "198.51.100.1")
    assert exc.value.kind == "address"


def test_with_redis_a_trusted_address_is_trusted_by_every_process(redis_prefix):
    worker1, worker2 = redis_throttle(redis_prefix), redis_throttle(redis_prefix)
    worker1.succeeded("alice", "10.0.0.7")
    fail(worker2, "alice", "203.0.113.1", times=3)
    with pytest.raises(Throttled):
        worker1.check("alice", "203.0.113.1")
    worker2.check("alice", "10.0.0.7")  # the real alice, on the other worker
