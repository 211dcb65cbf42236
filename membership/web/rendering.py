"""JSON out: serialised once, compactly, with a content ETag on reads."""

import hashlib
import json
from datetime import datetime
from json.encoder import encode_basestring
from typing import Any

from ..clock import rfc3339


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return rfc3339(value)
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


#: One encoder for every body: ``json.dumps`` with options builds a new one per call.
_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, default=_default)


def dumps(value: Any) -> bytes:
    return _ENCODER.encode(value).encode()


class Encoded(bytes):
    """A body already serialised exactly as ``dumps`` would: the renderer sends it as is.

    For the fixed-shape body of the hot path (the membership check), which a
    view can build by joining strings for a fraction of the generic
    encoder's cost. Everything else the renderer does (Content-Type, the
    ETag over the bytes, ``If-None-Match``) applies unchanged, so a client
    cannot tell the two apart; a unit test holds each such builder equal to
    ``dumps`` of the dict it stands for.
    """

    __slots__ = ()


def json_string(value: str | None) -> str:
    """One JSON value for a string or None, as ``dumps`` writes it (``ensure_ascii`` off)."""
    return "null" if value is None else encode_basestring(value)


#: Request attribute a view sets (``http.etag_of``) when its write answers the ETag of
#: something else than its body, or none (``None``).
ETAG_OF = "membership_etag_of"
_BODY = object()
WRITES = ("POST", "PUT", "PATCH")


def etag_for(representation: Any) -> str:
    """A strong ETag over what a GET would answer, so PATCH/DELETE can honour If-Match."""
    body = representation if isinstance(representation, bytes) else dumps(representation)
    return hashlib.blake2b(body, digest_size=12).hexdigest()


class JSONRenderer:
    """Pyramid renderer named ``json``: bytes straight into the response.

    Successful reads get an ETag and conditional handling, so ``If-None-Match``
    answers 304 without the client downloading the body again. Writes that answer
    the new representation (201, 200) get its ETag too, the one a GET would give,
    so the next conditional change needs no GET first.
    """

    def __init__(self, info) -> None:
        self.info = info

    def __call__(self, value: Any, system: dict) -> bytes:
        body = value if isinstance(value, Encoded) else dumps(value)
        request = system.get("request")
        if request is not None:
            response = request.response
            response.headerlist[:] = [
                (name, value) for name, value in response.headerlist if name != "Content-Type"
            ]
            response.headerlist.append(("Content-Type", "application/json"))
            status = response.status_int
            if request.method in ("GET", "HEAD") and status == 200:
                response.headerlist.append(("ETag", f'"{etag_for(body)}"'))
                if "HTTP_IF_NONE_MATCH" in request.environ:
                    response.conditional_response = True
            elif request.method in WRITES and status in (200, 201):
                representation = getattr(request, ETAG_OF, _BODY)
                if representation is _BODY:
                    representation = body
                if representation is not None:
                    response.headerlist.append(("ETag", f'"{etag_for(representation)}"'))
        return body
