"""The service's notion of now, replaceable in tests (expiry at the boundary)."""

from collections.abc import Callable
from datetime import UTC, datetime

_now: Callable[[], datetime] = lambda: datetime.now(UTC)  # noqa: E731


def now() -> datetime:
    """Current time, timezone-aware UTC."""
    return _now()


def set_clock(func: Callable[[], datetime] | None) -> None:
    """Replace the clock (``None`` restores the real one); for tests and scripts."""
    global _now
    _now = func or (lambda: datetime.now(UTC))


def rfc3339(value: datetime | None) -> str | None:
    """RFC 3339 in UTC with a ``Z`` suffix, as every body shows timestamps."""
    if value is None:
        return None
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
