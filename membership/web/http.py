"""What every view does the same way: read a body, read a query, link, page, precondition."""

import base64
import binascii
import json
from collections.abc import Iterable
from typing import Any, TypeVar
from urllib.parse import urlencode

from pydantic import BaseModel, TypeAdapter, ValidationError
from pyramid.request import Request
from pyramid.response import Response
from pyramid.traversal import resource_path

from ..paging import page_keys, prefix_range
from .problems import (
    FieldError,
    InvalidInput,
    PreconditionFailed,
    UnsupportedMediaType,
    ValidationFailed,
)
from .rendering import ETAG_OF, etag_for
from .schemas import ListQuery

Model = TypeVar("Model", bound=BaseModel)

JSON_TYPES = ("application/json", "application/merge-patch+json")


def read_body(request: Request, schema: type[Model] | TypeAdapter) -> Any:
    """The request body validated against ``schema``; problem+json naming the field otherwise."""
    media_type = (request.content_type or "").lower()
    if media_type not in JSON_TYPES and not media_type.endswith("+json"):
        raise UnsupportedMediaType(
            f"send the body as application/json, not {media_type or 'no Content-Type'}",
            [FieldError("Content-Type", "must be application/json")],
        )
    body = request.body
    if not body.strip():
        raise InvalidInput.field("body", "a JSON body is required")
    try:
        if isinstance(schema, TypeAdapter):
            return schema.validate_json(body)
        return schema.model_validate_json(body)
    except ValidationError as exc:
        raise _from_validation(exc, "body") from None


def read_query(request: Request, schema: type[Model]) -> Model:
    params = {}
    for key in schema.model_fields:
        values = request.GET.getall(key)
        if len(values) > 1:
            raise InvalidInput.field(key, "give this parameter once")
        if values:
            params[key] = values[0]
    try:
        return schema.model_validate(params)
    except ValidationError as exc:
        raise _from_validation(exc, "query", status=400) from None


def _from_validation(exc: ValidationError, where: str, status: int | None = None):
    errors = []
    malformed = False
    for error in exc.errors(include_url=False, include_input=False):
        if error["type"] in ("json_invalid", "json_type", "recursion_loop"):
            malformed = True
        field = ".".join(str(part) for part in error["loc"]) or where
        errors.append(FieldError(field, error["msg"]))
    if malformed:
        first = errors[0].message if errors else "not JSON"
        return InvalidInput(f"the {where} is not valid JSON: {first}", [FieldError(where, first)])
    detail = "; ".join(f"{e.field}: {e.message}" for e in errors[:5])
    cls = InvalidInput if status == 400 else ValidationFailed
    extra = {}
    positions = [e["loc"][0] for e in exc.errors() if e["loc"] and isinstance(e["loc"][0], int)]
    if positions:  # an item of a bulk list: name it as the domain's bulk errors do
        extra["operation"] = positions[0]
        detail = f"operation {positions[0]} is invalid, nothing was applied: {detail}"
    return cls(detail, errors, **extra)


def encode_cursor(key: Any) -> str:
    raw = json.dumps(key, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def decode_cursor(cursor: str | None) -> Any:
    if cursor is None:
        return None
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        key = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
    except (ValueError, UnicodeError, binascii.Error) as exc:
        raise InvalidInput.field("cursor", "not a cursor this service issued") from exc
    if not isinstance(key, str):
        raise InvalidInput.field("cursor", "not a cursor this service issued")
    return key


def url(request: Request, resource_or_path: Any, *suffix: str, query: dict | None = None) -> str:
    """Absolute URL of a resource (no trailing slash), optionally of a child or view."""
    if isinstance(resource_or_path, str):
        path = resource_or_path
    else:
        path = getattr(resource_or_path, "path", None) or resource_path(resource_or_path)
    root_url = getattr(request, "base_url", None) or request.application_url
    base = root_url + path.rstrip("/")
    for part in suffix:
        base += "/" + part
    if base == root_url:
        base += "/"
    if query:
        base += "?" + urlencode(query)
    return base


def merge_value(data: BaseModel, field: str, *, removed: Any, absent: Any) -> Any:
    """A JSON merge-patch (RFC 7396) field: ``absent`` when not sent, ``removed`` when
    sent as null (what the field is when unset), else the value sent."""
    if field not in data.model_fields_set:
        return absent
    value = getattr(data, field)
    return removed if value is None else value


def etag_of(request: Request, representation: Any) -> None:
    """This write's answer carries the ETag of ``representation`` (what a GET of the
    resource shows) rather than of its body; ``None``: no ETag (not a representation)."""
    setattr(request, ETAG_OF, representation)


def check_if_match(request: Request, representation: Any) -> None:
    """412 when the client's ``If-Match`` names another version than the current one."""
    if request.if_match and etag_for(representation) not in request.if_match:
        raise PreconditionFailed(
            "the resource changed since you read it (If-Match does not match its ETag)",
            [FieldError("If-Match", "does not match the current ETag")],
        )


def no_content(request: Request) -> Response:
    """``204``: no body, so no Content-Type either."""
    response = request.response
    response.status = 204
    del response.content_type
    return response


def created(request: Request, location: str) -> None:
    request.response.status = 201
    request.response.location = location


#: Children a filtered page looks at before it answers with what it found so far.
SCAN_LIMIT = 10_000


def container_page(request: Request, container, body_of, visible=None) -> dict:
    """``GET`` on a BTree container: a page of ``body_of(request, child)`` after the cursor.

    ``visible(child)`` leaves out children the caller may not see; a page then
    looks at no more than ``SCAN_LIMIT`` children, and may come back short
    with a ``next`` to continue from.
    """
    query = read_query(request, ListQuery)
    after = decode_cursor(query.cursor)
    if visible is None:
        keys, more = page_keys(container, prefix=query.prefix, after=after, limit=query.limit)
        items = [body_of(request, container[key]) for key in keys]
        last = keys[-1] if keys else None
        return collection(request, items, more=more, last_key=last, query=query)
    low, high, exclude = prefix_range(query.prefix, after)
    items, last, more = [], None, False
    for scanned, key in enumerate(container.keys(min=low, max=high, excludemin=exclude)):
        if len(items) == query.limit or scanned == SCAN_LIMIT:
            more = True
            break
        last = key
        child = container[key]
        if visible(child):
            items.append(body_of(request, child))
    return collection(request, items, more=more, last_key=last, query=query)


def collection(
    request: Request,
    items: Iterable[dict],
    *,
    more: bool,
    last_key: str | None,
    query: BaseModel,
) -> dict:
    """A page: ``{"items", "next"?}``, and a ``Link: rel="next"`` header after ``last_key``."""
    body: dict = {"items": list(items)}
    if more and last_key is not None:
        params = {k: v for k, v in request.GET.items() if k != "cursor"}
        params["cursor"] = encode_cursor(last_key)
        params.setdefault("limit", str(query.limit))
        next_url = request.path_url + "?" + urlencode(params)
        body["next"] = next_url
        request.response.headers["Link"] = f'<{next_url}>; rel="next"'
    return body
