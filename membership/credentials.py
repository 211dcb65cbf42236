"""Passwords (argon2id) and personal access tokens (random, stored as SHA-256)."""

import hashlib
import secrets

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


def new_token() -> tuple[str, str, str]:
    """A fresh ``(token id, secret, digest of the secret)``."""
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    return secrets.token_hex(8), secret, token_digest(secret)


def token_digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()
