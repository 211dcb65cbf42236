"""Failed-login throttling: per user id and per client address, moving window.

A key (user ``alice``, address ``203.0.113.9``) that has collected ``max``
failed logins within the last ``window`` seconds is refused with 429 until
the oldest of those failures leaves the window: the lock-out ends by itself,
and attempts refused with 429 are not counted, so hammering does not extend it.

An attacker who knows a user id could keep that user locked out by failing on
purpose once in a while. So an address that logged in successfully as a user
within ``trusted_for`` seconds is exempt from that user's lock (but not from
its own per-address limit), and Bearer tokens are not throttled at all
(``security.py``): the real user always has a way in.

Counting is the ``limits`` library's ``MovingWindowRateLimiter`` over the
storage ``membership.throttle.storage`` names:

* ``memory://`` (the default): ``LocalStorage``, in this process, so each
  worker counts on its own; bounded (``max_keys`` keys, the stalest dropped
  first), no timer thread.
* ``redis://host:port/db``: one count for every worker and every restart.
  The trusted-address exemption lives there too: a success is a hit on a
  1-per-``trusted_for`` item of (user, address), renewed (cleared and hit
  again) at most every ``TRUST_RENEW_SECONDS`` by each process. If Redis stops
  answering, logins keep working: each process counts in its own
  ``LocalStorage`` (fail open), says so once in the log, and tries Redis again
  every ``RETRY_SECONDS``; another line says when Redis is back.
"""

import logging
import math
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from limits import RateLimitItemPerSecond
from limits.errors import StorageError
from limits.storage import MovingWindowSupport, Storage, storage_from_string
from limits.strategies import MovingWindowRateLimiter

from ..metrics import THROTTLE_STORAGE_ERRORS

log = logging.getLogger(__name__)

#: After Redis failed, how long this process counts on its own before asking it again.
RETRY_SECONDS = 5.0
#: How often one process renews a (user, address) trust it keeps seeing succeed.
TRUST_RENEW_SECONDS = 60.0
#: Redis answers in well under a millisecond on a LAN; a login never waits long for it.
REDIS_TIMEOUT = 0.5
#: What a storage that went away raises (wrapped by limits, or straight from the socket).
STORAGE_ERRORS = (StorageError, OSError)

NAMESPACE = "membership-throttle"


class Throttled(Exception):
    """Too many failed logins for this user id or from this address."""

    def __init__(self, retry_after: int, scope: str, kind: str = "") -> None:
        super().__init__(f"too many failed logins {scope}")
        self.retry_after = retry_after
        self.scope = scope
        self.kind = kind  # "user" or "address"


@dataclass(frozen=True)
class Limits:
    per_user: int = 10
    per_address: int = 100
    window: float = 300.0
    trusted_for: float = 86400.0
    max_keys: int = 100_000
    storage: str = "memory://"

    @classmethod
    def from_settings(cls, settings) -> "Limits":
        return cls(
            per_user=settings.throttle_per_user,
            per_address=settings.throttle_per_address,
            window=settings.throttle_window,
            trusted_for=settings.throttle_trusted_for,
            max_keys=settings.throttle_max_keys,
            storage=settings.throttle_storage,
        )


class LocalStorage(Storage, MovingWindowSupport):
    """Moving windows in this process, for ``MovingWindowRateLimiter``.

    Unlike limits' own ``memory://`` storage it is bounded (at most
    ``max_keys`` keys, the least recently hit dropped first), starts no timer
    thread, and reads an injectable clock.
    """

    def __init__(self, max_keys: int = 100_000, clock: Callable[[], float] = time.monotonic):
        super().__init__(None)
        self.max_keys = max_keys
        self.clock = clock
        self._events: OrderedDict[str, deque[float]] = OrderedDict()  # oldest first
        self._lock = threading.Lock()

    @property
    def base_exceptions(self) -> type[Exception]:
        return ValueError

    def __len__(self) -> int:
        return len(self._events)

    def _current(self, key: str, expiry: float, now: float) -> deque[float] | None:
        times = self._events.get(key)
        if times is None:
            return None
        horizon = now - expiry
        while times and times[0] <= horizon:
            times.popleft()
        if not times:
            del self._events[key]
            return None
        return times

    def acquire_entry(self, key: str, limit: int, expiry: int, amount: int = 1) -> bool:
        if amount > limit:
            return False
        now = self.clock()
        with self._lock:
            times = self._current(key, expiry, now)
            if times is None:
                times = self._events[key] = deque()
            elif len(times) + amount > limit:
                return False  # refused: not recorded, so it does not extend the window
            else:
                self._events.move_to_end(key)
            times.extend([now] * amount)
            while len(self._events) > self.max_keys:
                self._events.popitem(last=False)
            return True

    def get_moving_window(self, key: str, limit: int, expiry: int) -> tuple[float, int]:
        now = self.clock()
        with self._lock:
            times = self._current(key, expiry, now)
            return (now, 0) if times is None else (times[0], len(times))

    def clear(self, key: str) -> None:
        with self._lock:
            self._events.pop(key, None)

    def reset(self) -> int | None:
        with self._lock:
            count = len(self._events)
            self._events.clear()
            return count

    def check(self) -> bool:
        return True

    # Fixed-window counters: not used by a moving window.
    def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        raise NotImplementedError("LocalStorage keeps moving windows only")

    def get(self, key: str) -> int:
        raise NotImplementedError("LocalStorage keeps moving windows only")

    def get_expiry(self, key: str) -> float:
        raise NotImplementedError("LocalStorage keeps moving windows only")


@dataclass(frozen=True)
class _Backend:
    """Where failures and trusts are counted, and the clock its timestamps use."""

    failures: MovingWindowRateLimiter
    trust: MovingWindowRateLimiter
    clock: Callable[[], float]


def _item(amount: int, seconds: float) -> RateLimitItemPerSecond:
    return RateLimitItemPerSecond(amount, max(1, math.ceil(seconds)), namespace=NAMESPACE)


def redacted(uri: str) -> str:
    """``uri`` fit for a log line: without its password."""
    parts = urlsplit(uri)
    if parts.password is None:
        return uri
    netloc = parts.netloc.rpartition("@")[2]
    user = f"{parts.username}:" if parts.username else ":"
    return urlunsplit(parts._replace(netloc=f"{user}***@{netloc}"))


class LoginThrottle:
    def __init__(
        self,
        limits: Limits,
        clock: Callable[[], float] = time.monotonic,
        *,
        storage: Storage | None = None,
    ) -> None:
        """``storage``: a shared one (tests); by default the one ``limits.storage`` names."""
        self.limits = limits
        self.clock = clock
        self._user = _item(limits.per_user, limits.window) if limits.per_user > 0 else None
        self._address = _item(limits.per_address, limits.window) if limits.per_address > 0 else None
        self._trusted = _item(1, limits.trusted_for) if limits.trusted_for > 0 else None
        self.local_failures = LocalStorage(limits.max_keys, clock)
        self.local_trust = LocalStorage(limits.max_keys, clock)
        self.local = _Backend(
            MovingWindowRateLimiter(self.local_failures),
            MovingWindowRateLimiter(self.local_trust),
            clock,
        )
        self.storage_name = "memory://"
        if storage is None and not limits.storage.startswith("memory://"):
            self.storage_name = redacted(limits.storage)
            storage = storage_from_string(
                limits.storage,
                wrap_exceptions=True,
                socket_timeout=REDIS_TIMEOUT,
                socket_connect_timeout=REDIS_TIMEOUT,
            )
        elif storage is not None:
            self.storage_name = type(storage).__name__
        self.shared: _Backend | None = None
        if storage is not None:
            limiter = MovingWindowRateLimiter(storage)
            # Redis entries carry time.time(); a LocalStorage given here, its own clock.
            self.shared = _Backend(limiter, limiter, getattr(storage, "clock", time.time))
        self._retry_at = 0.0  # time.monotonic() from which the shared storage is asked again
        self._shared_down = False
        self._renewed: OrderedDict[tuple[str, str], float] = OrderedDict()
        self._state_lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings) -> "LoginThrottle":
        return cls(Limits.from_settings(settings))

    # -- the three questions security.py asks

    def check(self, userid: str | None, address: str | None) -> None:
        """Raise ``Throttled`` if this attempt must not even be tried."""
        if address and self._address is not None:
            wait = self._run(lambda b: self._wait(b, self._address, "address", address))
            if wait:
                raise Throttled(wait, "from this address", "address")
        if userid and self._user is not None:
            wait = self._run(lambda b: self._wait(b, self._user, "user", userid))
            if wait and not self._is_trusted(userid, address):
                raise Throttled(wait, "for this user", "user")

    def failed(self, userid: str | None, address: str | None) -> None:
        def record(backend: _Backend) -> None:
            if address and self._address is not None:
                backend.failures.hit(self._address, "address", address)
            if userid and self._user is not None:
                backend.failures.hit(self._user, "user", userid)

        self._run(record)

    def succeeded(self, userid: str, address: str | None) -> None:
        """Trust ``address`` for ``userid`` (renewed at most every TRUST_RENEW_SECONDS here)."""
        trusted = self._trusted
        if not address or trusted is None:
            return
        key = (userid, address)
        now = self.clock()
        with self._state_lock:
            renewed = self._renewed.get(key)
            if renewed is not None and now - renewed < self._renew_every():
                return
            self._renewed[key] = now
            self._renewed.move_to_end(key)
            while len(self._renewed) > self.limits.max_keys:
                self._renewed.popitem(last=False)

        def trust(backend: _Backend) -> None:
            backend.trust.storage.clear(trusted.key_for("trusted", userid, address))
            backend.trust.hit(trusted, "trusted", userid, address)

        self._run(trust)

    # -- internals

    def _renew_every(self) -> float:
        return min(TRUST_RENEW_SECONDS, self.limits.trusted_for / 10)

    def _is_trusted(self, userid: str, address: str | None) -> bool:
        trusted = self._trusted
        if not address or trusted is None:
            return False
        return self._run(
            lambda b: b.trust.get_window_stats(trusted, "trusted", userid, address).remaining <= 0
        )

    @staticmethod
    def _wait(backend: _Backend, item, *identifiers: str) -> int:
        """Seconds until the key may fail again (0: now)."""
        stats = backend.failures.get_window_stats(item, *identifiers)
        if stats.remaining > 0:
            return 0
        return max(1, math.ceil(stats.reset_time - backend.clock()))

    def _run(self, operation):
        """``operation(backend)`` on the shared storage, or on this process's own when the
        shared one is absent or failing (fail open)."""
        shared = self.shared
        if shared is not None and (not self._shared_down or time.monotonic() >= self._retry_at):
            try:
                result = operation(shared)
            except STORAGE_ERRORS as exc:
                self._shared_failed(exc)
            else:
                if self._shared_down:
                    self._shared_back()
                return result
        return operation(self.local)

    def _shared_failed(self, exc: Exception) -> None:
        THROTTLE_STORAGE_ERRORS.inc()
        with self._state_lock:
            self._retry_at = time.monotonic() + RETRY_SECONDS
            if self._shared_down:
                return
            self._shared_down = True
        cause = exc.__cause__ or exc
        log.warning(
            "login throttle: %s does not answer (%s: %s); counting failed logins in this "
            "process until it does (asking again every %gs)",
            self.storage_name,
            type(cause).__name__,
            cause,
            RETRY_SECONDS,
        )

    def _shared_back(self) -> None:
        with self._state_lock:
            if not self._shared_down:
                return
            self._shared_down = False
        log.warning(
            "login throttle: %s answers again; counting failed logins there", self.storage_name
        )
