"""Passwords (argon2id) and personal access tokens (random, stored as SHA-256)."""

import hashlib
import hmac
import os
import secrets
import threading
import time
from collections import OrderedDict

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

TOKEN_PREFIX = "mbr_"  # noqa: S105 (a marker, not a secret)
#: Longer passwords are refused before hashing: argon2 would take them, but
#: nobody types 1 KiB, and a 10 KB header should cost the server nothing.
MAX_PASSWORD_LENGTH = 1024


class Credentials:
    """Hashing policy of one app; argon2 costs come from the ini so tests can lower them."""

    def __init__(self, time_cost: int = 3, memory_cost: int = 65536, parallelism: int = 4):
        self.hasher = PasswordHasher(
            time_cost=time_cost, memory_cost=memory_cost, parallelism=parallelism
        )
        # Verified against when the user does not exist, so that unknown user
        # and wrong password cost the same time.
        self._dummy_hash = self.hasher.hash(secrets.token_urlsafe(16))

    @classmethod
    def from_settings(cls, settings) -> "Credentials":
        return cls(
            time_cost=settings.argon2_time_cost,
            memory_cost=settings.argon2_memory_cost,
            parallelism=settings.argon2_parallelism,
        )

    def hash_password(self, password: str) -> str:
        return self.hasher.hash(password)

    def verify(self, password_hash: str | None, password: str) -> bool:
        """Constant-effort check: always runs one argon2 verification."""
        if len(password) > MAX_PASSWORD_LENGTH:
            return False
        try:
            return self.hasher.verify(password_hash or self._dummy_hash, password) and bool(
                password_hash
            )
        except (VerificationError, InvalidHashError):
            return False


class VerifiedLogins:
    """Basic logins argon2 accepted, remembered for ``ttl`` seconds in this process.

    Keyed by HMAC-SHA256 of user id and password under a random per-process
    secret, so neither the password nor a plain hash of it is kept. Each
    entry holds its expiry (monotonic) and a keyed fingerprint of the user's
    password hash at the time: ``hit`` is only true while the user's current
    hash still has that fingerprint, so a changed password (or a deleted and
    re-created user) misses at once, without waiting for the expiry. Only
    successes are stored. At most ``max_entries`` entries, the oldest dropped
    first; safe across the server's threads.
    """

    def __init__(self, ttl: float, max_entries: int = 10_000) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self._secret = os.urandom(32)
        self._entries: OrderedDict[bytes, tuple[float, bytes]] = OrderedDict()
        self._lock = threading.Lock()

    def _key(self, userid: str, password: str) -> bytes:
        # A user id is a slug (no NUL), so the two parts cannot run into each other.
        message = userid.encode() + b"\0" + password.encode("utf-8", "surrogatepass")
        return hmac.digest(self._secret, message, hashlib.sha256)

    def _fingerprint(self, password_hash: str) -> bytes:
        return hmac.digest(self._secret, password_hash.encode(), hashlib.sha256)

    def hit(self, userid: str, password: str, password_hash: str | None) -> bool:
        """True if this user id and password were verified against ``password_hash``
        within the last ``ttl`` seconds. A stale or mismatched entry is dropped."""
        if not password_hash or len(password) > MAX_PASSWORD_LENGTH:
            return False
        key, current = self._key(userid, password), self._fingerprint(password_hash)
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return False
            expires, fingerprint = entry
            if time.monotonic() < expires and hmac.compare_digest(fingerprint, current):
                return True
            del self._entries[key]
            return False

    def store(self, userid: str, password: str, password_hash: str) -> None:
        """Remember that argon2 accepted ``password`` for ``userid`` against ``password_hash``."""
        key = self._key(userid, password)
        now = time.monotonic()
        entry = (now + self.ttl, self._fingerprint(password_hash))
        with self._lock:
            self._entries.pop(key, None)
            self._entries[key] = entry  # at the end: the newest
            # One ttl for all: insertion order is expiry order, so the expired lead.
            entries = self._entries
            while len(entries) > self.max_entries or next(iter(entries.values()))[0] <= now:
                entries.popitem(last=False)

    def forget(self, userid: str, password: str) -> None:
        with self._lock:
            self._entries.pop(self._key(userid, password), None)

    def __len__(self) -> int:
        return len(self._entries)


def new_token() -> tuple[str, str, str]:
    """A fresh ``(token id, secret, digest of the secret)``."""
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    return secrets.token_hex(8), secret, token_digest(secret)


def token_digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()
