"""``POST /checks``: up to 1,000 membership and permission questions in one request.

Parse the questions, answer them with ``domain.checks.answer_checks`` (one
read transaction, nothing written), present the answers in the order asked.
A question the caller may not ask is a ``{"error": "forbidden"}`` item in its
place; a malformed one is a 400 naming ``items.<i>.<field>`` before anything
is answered.
"""

from pyramid.request import Request
from pyramid.view import view_config

from ...domain import checks
from ...model import Checks
from ...paths import user_principal
from ...permissions import CHECK
from ..http import etag_of, read_body
from ..problems import FieldError, InvalidInput, ValidationFailed
from ..schemas import CHECK_KINDS, ChecksIn, MembershipCheckIn


def read_questions(request: Request) -> list[checks.Question]:
    """The body's questions; a bad one is a 400 naming ``items.<i>.<field>`` and ``item``."""
    try:
        data = read_body(request, ChecksIn)
    except ValidationFailed as exc:  # schema errors are 400 here, as for ACL entries
        errors = [FieldError(_field_name(e.field), e.message) for e in exc.errors]
        detail = "; ".join(f"{e.field}: {e.message}" for e in errors[:5])
        extra = {}
        position = _position(errors[0].field) if errors else None
        if position is not None:
            extra["item"] = position
            detail = f"item {position} is invalid, nothing was answered: {detail}"
        raise InvalidInput(detail, errors, **extra) from None
    questions: list[checks.Question] = []
    for position, item in enumerate(data.items):
        if isinstance(item, MembershipCheckIn):
            questions.append(checks.MembershipQuestion(item.user, item.group, item.effective))
            continue
        if (item.principal is None) == (item.user is None):
            field = f"items.{position}.principal"
            raise InvalidInput(
                f"item {position} is invalid, nothing was answered: {field}: "
                "give principal or user, not both",
                [FieldError(field, "give principal or user, not both")],
                item=position,
            )
        principal = item.principal if item.user is None else user_principal(item.user)
        questions.append(checks.PermissionQuestion(principal, str(item.permission), item.path))
    return questions


def _field_name(field: str) -> str:
    """``items.3.membership.group`` -> ``items.3.group``: the union's tag is never sent."""
    parts = field.split(".")
    if len(parts) > 2 and parts[0] == "items" and parts[2] in CHECK_KINDS:
        del parts[2]
    return ".".join(parts)


def _position(field: str) -> int | None:
    parts = field.split(".")
    if len(parts) > 1 and parts[0] == "items" and parts[1].isdigit():
        return int(parts[1])
    return None


def answer_body(answer: checks.Answer) -> dict:
    if isinstance(answer, checks.MembershipAnswer):
        body: dict = {"member": answer.member, "group": answer.group}
        if answer.member:
            body["direct"] = answer.direct
            if answer.role is not None:
                body["role"] = answer.role
            if answer.via is not None:
                body["via"] = answer.via
        return body
    if isinstance(answer, checks.PermissionAnswer):
        return {"allowed": answer.allowed, "decided_by": answer.decided_by}
    return {"error": answer.error, "field": answer.field, "detail": answer.detail}


@view_config(context=Checks, request_method="POST", permission=CHECK, renderer="json")
def post_checks(context: Checks, request: Request) -> dict:
    """Anyone logged in may ask; each question needs its own permission (see
    ``domain/checks.py``), so one the caller may not ask is a ``forbidden`` item."""
    answers = checks.answer_checks(request.domain, read_questions(request))
    etag_of(request, None)  # answers, not the representation of a resource
    return {"items": [answer_body(answer) for answer in answers]}
