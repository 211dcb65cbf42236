"""Why the rules refuse something: in words, with the argument at fault, no HTTP.

Front ends map each class to their own answer (``web/errors.py`` has the
table for problem+json). ``subject`` names the argument of the domain call
that is at fault (``user``, ``role``, ``to``, ``entries.2.principal``); the
domain's argument names are the API's vocabulary, so a front end can show
it next to the field it came from.
"""


class DomainError(Exception):
    def __init__(
        self,
        message: str,
        *,
        subject: str | None = None,
        subject_message: str | None = None,
        **facts,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.subject = subject
        self._subject_message = subject_message
        self.facts = facts

    @property
    def subject_message(self) -> str:
        """What is wrong with ``subject``, in words that fit next to it."""
        if self._subject_message:
            return self._subject_message
        prefix = f"{self.subject}: "
        return self.message[len(prefix) :] if self.message.startswith(prefix) else self.message


class InvalidValue(DomainError):
    """A value the rules do not accept (a malformed name, a principal not in canonical form)."""


class Unprocessable(DomainError):
    """Well-formed, but the rules cannot carry it out (too deep, contradicting operations)."""


class NotFound(DomainError):
    """Something the call refers to does not exist (a user to add, a destination)."""


class AlreadyExists(DomainError):
    """A name that is taken."""


class Refused(DomainError):
    """A change the rules refuse whoever asks (the last admin, /groups/admins itself)."""


class NotPermitted(DomainError):
    """The actor lacks a permission the change needs; ``facts["permission"]`` names it."""


class BulkOperationFailed(DomainError):
    """One operation of an all-or-nothing batch failed; nothing was applied."""

    def __init__(self, position: int, cause: DomainError) -> None:
        super().__init__(
            f"operation {position} failed, nothing was applied: {cause.message}",
            subject=f"{position}.{cause.subject or 'user'}",
            subject_message=cause.subject_message,
            operation=position,
        )
        self.position = position
        self.cause = cause
