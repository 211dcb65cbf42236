"""Domain errors raised by the tree and the views; ``errors.py`` turns them into problem+json.

They carry what a client needs to fix its request (the field at fault), and no
HTTP machinery, so scripts can catch them too.
"""

from dataclasses import dataclass
from http import HTTPStatus


@dataclass
class FieldError:
    field: str
    message: str

    def as_dict(self) -> dict:
        return {"field": self.field, "message": self.message}


class MembershipError(Exception):
    """Base: a request that cannot be carried out as asked."""

    status = 400
    title = "Bad Request"

    def __init__(self, detail: str, errors: list[FieldError] | None = None, **extra):
        super().__init__(detail)
        self.detail = detail
        self.errors = errors or []
        self.extra = extra

    def with_status(self, status: int) -> "MembershipError":
        """The same error answered with another status (and that status's title)."""
        self.status = status
        self.title = HTTPStatus(status).phrase
        return self


class InvalidInput(MembershipError):
    """The request names something that can't exist or carries a malformed value."""

    status = 400
    title = "Invalid input"

    @classmethod
    def field(cls, field: str, message: str, detail: str | None = None) -> "InvalidInput":
        return cls(detail or f"{field}: {message}", [FieldError(field, message)])


class ValidationFailed(MembershipError):
    """Well-formed JSON that breaks the schema of the operation."""

    status = 422
    title = "Validation failed"


class AlreadyExists(MembershipError):
    status = 409
    title = "Already exists"


class Refused(MembershipError):
    """A change the tree refuses whoever asks (it would lock the admins out, say)."""

    status = 409
    title = "Conflict"


class NotFoundError(MembershipError):
    """Something a request body refers to does not exist (a user to add, say)."""

    status = 422
    title = "Unknown reference"


class PreconditionFailed(MembershipError):
    status = 412
    title = "Precondition failed"
