"""SCIM's error shape (RFC 7644 §3.12): what every 4xx under ``/scim/v2`` answers.

``status`` is a string, ``scimType`` is set where the RFC names one. Domain
errors map onto statuses here, as ``web/errors.py`` maps them for problem+json.
"""

import json

from pyramid.response import Response

from ..domain.errors import (
    AlreadyExists,
    DomainError,
    InvalidValue,
    NotFound,
    NotPermitted,
    Refused,
    Unprocessable,
)

ERROR_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:Error"
MEDIA_TYPE = "application/scim+json"


class ScimProblem(Exception):
    """Raised anywhere below ``/scim/v2``; its exception view answers the SCIM error
    (pyramid_tm aborts the transaction first, so a refused PATCH changes nothing)."""

    def __init__(
        self, status: int, detail: str, scim_type: str | None = None, headers: dict | None = None
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.scim_type = scim_type
        self.headers = headers or {}


def from_domain(exc: DomainError) -> ScimProblem:
    """A domain refusal as SCIM: 409 uniqueness, 400 invalidValue/mutability, 403, 404."""
    if isinstance(exc, AlreadyExists):
        return ScimProblem(409, exc.message, "uniqueness")
    if isinstance(exc, NotFound):
        return ScimProblem(400, exc.message, "invalidValue")
    if isinstance(exc, NotPermitted):
        return ScimProblem(403, exc.message)
    if isinstance(exc, Refused):
        return ScimProblem(400, exc.message, "mutability")
    if isinstance(exc, InvalidValue | Unprocessable):
        return ScimProblem(400, exc.message, "invalidValue")
    return ScimProblem(400, exc.message, "invalidValue")


def scim_json(body: dict, status: int = 200, headers: dict | None = None) -> Response:
    response = Response(
        body=json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode(),
        status=status,
        content_type=MEDIA_TYPE,
        charset=None,
    )
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def error_response(problem: ScimProblem) -> Response:
    body = {"schemas": [ERROR_SCHEMA], "status": str(problem.status), "detail": problem.detail}
    if problem.scim_type:
        body["scimType"] = problem.scim_type
    return scim_json(body, problem.status, problem.headers)
