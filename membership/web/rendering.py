"""JSON out: serialised once, compactly, with a content ETag on reads."""

import hashlib
import json
from datetime import datetime
from typing import Any

from ..clock import rfc3339


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return rfc3339(value)
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=_default).encode()


def etag_for(representation: Any) -> str:
    """A strong ETag over what a GET would answer, so PATCH/DELETE can honour If-Match."""
    body = representation if isinstance(representation, bytes) else dumps(representation)
    return hashlib.blake2b(body, digest_size=12).hexdigest()


class JSONRenderer:
    """Pyramid renderer named ``json``: bytes straight into the response.

    Successful reads get an ETag and conditional handling, so ``If-None-Match``
    answers 304 without the client downloading the body again.
    """

    def __init__(self, info) -> None:
        self.info = info

    def __call__(self, value: Any, system: dict) -> bytes:
        body = dumps(value)
        request = system.get("request")
        if request is not None:
            response = request.response
            response.headerlist[:] = [
                (name, value) for name, value in response.headerlist if name != "Content-Type"
            ]
            response.headerlist.append(("Content-Type", "application/json"))
            if request.method in ("GET", "HEAD") and response.status_int == 200:
                response.headerlist.append(("ETag", f'"{etag_for(body)}"'))
                if "HTTP_IF_NONE_MATCH" in request.environ:
                    response.conditional_response = True
        return body
