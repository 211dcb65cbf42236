"""Failed-login throttling: per user id and per client address, sliding window, in process.

A key (``user:alice``, ``addr:203.0.113.9``) that has collected ``max`` failed
logins within the last ``window`` seconds is refused with 429 until the oldest
of those failures leaves the window: the lock-out ends by itself, and attempts
refused with 429 are not counted, so hammering does not extend it.

An attacker who knows a user id could keep that user locked out by failing on
purpose once in a while. So an address that logged in successfully as a user
within ``trusted_for`` seconds is exempt from that user's lock (but not from
its own per-address limit), and Bearer tokens are not throttled at all
(``security.py``): the real user always has a way in.

State is per process (each worker counts on its own) and bounded: at most
``max_keys`` keys are tracked, the stalest dropped first.
"""

import math
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass


class Throttled(Exception):
    """Too many failed logins for this user id or from this address."""

    def __init__(self, retry_after: int, scope: str) -> None:
        super().__init__(f"too many failed logins {scope}")
        self.retry_after = retry_after
        self.scope = scope


@dataclass(frozen=True)
class Limits:
    per_user: int = 10
    per_address: int = 100
    window: float = 300.0
    trusted_for: float = 86400.0
    max_keys: int = 100_000

    @classmethod
    def from_settings(cls, settings) -> "Limits":
        return cls(
            per_user=settings.throttle_per_user,
            per_address=settings.throttle_per_address,
            window=settings.throttle_window,
            trusted_for=settings.throttle_trusted_for,
            max_keys=settings.throttle_max_keys,
        )


class LoginThrottle:
    def __init__(self, limits: Limits, clock: Callable[[], float] = time.monotonic) -> None:
        self.limits = limits
        self.clock = clock
        self._failures: OrderedDict[str, deque] = OrderedDict()
        self._trusted: OrderedDict[tuple[str, str], float] = OrderedDict()
        self._lock = threading.Lock()

    def check(self, userid: str | None, address: str | None) -> None:
        """Raise ``Throttled`` if this attempt must not even be tried."""
        now = self.clock()
        with self._lock:
            if address:
                wait = self._wait(f"addr:{address}", self.limits.per_address, now)
                if wait:
                    raise Throttled(wait, "from this address")
            if userid and not self._is_trusted(userid, address, now):
                wait = self._wait(f"user:{userid}", self.limits.per_user, now)
                if wait:
                    raise Throttled(wait, "for this user")

    def failed(self, userid: str | None, address: str | None) -> None:
        now = self.clock()
        with self._lock:
            if address:
                self._record(f"addr:{address}", now)
            if userid:
                self._record(f"user:{userid}", now)

    def succeeded(self, userid: str, address: str | None) -> None:
        if not address or self.limits.trusted_for <= 0:
            return
        with self._lock:
            key = (userid, address)
            self._trusted[key] = self.clock()
            self._trusted.move_to_end(key)
            while len(self._trusted) > self.limits.max_keys:
                self._trusted.popitem(last=False)

    def _is_trusted(self, userid: str, address: str | None, now: float) -> bool:
        seen = self._trusted.get((userid, address)) if address else None
        return seen is not None and now - seen < self.limits.trusted_for

    def _wait(self, key: str, limit: int, now: float) -> int:
        """Seconds until ``key`` may try again (0: now)."""
        times = self._failures.get(key)
        if times is None or limit <= 0:
            return 0
        horizon = now - self.limits.window
        while times and times[0] <= horizon:
            times.popleft()
        if not times:
            del self._failures[key]
            return 0
        if len(times) < limit:
            return 0
        return max(1, math.ceil(times[-limit] + self.limits.window - now))

    def _record(self, key: str, now: float) -> None:
        times = self._failures.get(key)
        if times is None:
            times = self._failures[key] = deque()
        times.append(now)
        horizon = now - self.limits.window
        while times and times[0] <= horizon:
            times.popleft()
        # The window only ever needs the newest failures up to the largest limit.
        while len(times) > max(self.limits.per_user, self.limits.per_address, 1):
            times.popleft()
        self._failures.move_to_end(key)
        while len(self._failures) > self.limits.max_keys:
            self._failures.popitem(last=False)
