"""Errors the web layer raises itself (malformed input, preconditions); ``errors.py``
answers them, and domain errors, as problem+json naming the field at fault."""

from dataclasses import dataclass
from http import HTTPStatus


@dataclass
class FieldError:
    field: str
    message: str

    def as_dict(self) -> dict:
        return {"field": self.field, "message": self.message}


class MembershipError(Exception):
    """Base: a request that cannot be carried out as asked, with its HTTP status."""

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


class PreconditionFailed(MembershipError):
    status = 412
    title = "Precondition failed"


class UnsupportedMediaType(MembershipError):
    status = 415
    title = "Unsupported Media Type"
