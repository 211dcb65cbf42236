"""One webhook request: the Standard Webhooks message, its signatures, one POST.

Body ``{"type", "timestamp", "data": <the feed item>}``; headers
``webhook-id`` (the item's id, the same on every retry), ``webhook-timestamp``
(this attempt, POSIX seconds) and ``webhook-signature`` (``v1,<base64>`` per
signing secret, space-separated). The POST goes to an address checked just
before (``membership.addresses``), with a timeout, and no redirect is
followed: anything but a 2xx is a failure.
"""

import email.utils
import http.client
import json
import socket
import ssl
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from standardwebhooks.webhooks import Webhook

from .. import addresses

USER_AGENT = "membership-webhooks/0.2"
#: Most of an answer's body that is read (and then ignored).
MAX_ANSWER = 65_536


@dataclass
class Attempt:
    status: int | None
    latency: float
    error: str = ""
    retry_after: float | None = None

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


def message(kind: str, timestamp: str, data: dict) -> bytes:
    body = {"type": kind, "timestamp": timestamp, "data": data}
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()


def signed_headers(msg_id: str, body: bytes, secrets: list[str], when: float) -> dict[str, str]:
    """The Standard Webhooks headers, with one signature per secret."""
    stamp = int(when)
    at = datetime.fromtimestamp(stamp, UTC)
    text = body.decode()
    signatures = " ".join(Webhook(secret).sign(msg_id, at, text) for secret in secrets)
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(stamp),
        "webhook-signature": signatures,
    }


class _Pinned(http.client.HTTPConnection):
    """HTTP to an address chosen (and checked) beforehand, with the URL's host in Host."""

    def __init__(self, host: str, port: int, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self._address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


class _PinnedTLS(http.client.HTTPSConnection):
    def __init__(self, host: str, port: int, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self._address = address

    def connect(self) -> None:
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)


def retry_after(value: str | None, now: float) -> float | None:
    """Seconds from ``Retry-After`` (delta-seconds or an HTTP date), or None."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - now)


class Sender:
    """POSTs one delivery run's messages over one kept-alive connection.

    A run sends up to a chunk of changes to one URL, one after the other; a
    new TCP (and TLS) connection for each was most of what a delivery cost
    the server and the receiver. The URL's address is resolved and checked
    (``membership.addresses``) whenever a connection is opened, as before for
    every message. A connection is not reused after an error, after an
    answer that was not read to its end, or when the receiver asks to close
    it; a kept-alive connection the receiver had already closed is replaced
    once, before any answer was read (delivery is at least once, and the
    ``webhook-id`` lets a receiver drop a repeat).
    """

    def __init__(self) -> None:
        self._conn: http.client.HTTPConnection | None = None
        self._target: tuple | None = None

    def __enter__(self) -> "Sender":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
        self._conn, self._target = None, None

    def post(
        self, url: str, body: bytes, headers: dict[str, str], *, timeout: float, allow_private: bool
    ) -> Attempt:
        """POST ``body`` to ``url``; what happened (never raises for network trouble)."""
        started = time.monotonic()
        try:
            parts = addresses.parse(url)
            target = (parts.scheme, parts.hostname or "", addresses.port_of(parts), timeout)
            reused = self._conn is not None and self._target == target
            if not reused:
                self.close()
                address = addresses.resolve(parts, allow_private=allow_private)[0]
                cls = _PinnedTLS if parts.scheme == "https" else _Pinned
                self._conn = cls(target[1], target[2], address, timeout)
                self._target = target
        except addresses.AddressRefused as exc:
            return Attempt(None, 0.0, f"refused: {exc}")
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        headers = {
            **headers,
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
        }
        try:
            try:
                answer = self._exchange(path, body, headers)
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                if not reused:
                    raise
                self._conn.close()  # the receiver closed it while idle: once more, anew
                answer = self._exchange(path, body, headers)
            answer_body = answer.read(MAX_ANSWER)
            if answer.will_close or not answer.isclosed() or len(answer_body) >= MAX_ANSWER:
                self.close()
        except (OSError, http.client.HTTPException) as exc:
            self.close()
            return Attempt(None, time.monotonic() - started, f"{type(exc).__name__}: {exc}"[:500])
        latency = time.monotonic() - started
        if latency > timeout:
            self.close()
            return Attempt(None, latency, f"no answer within {timeout:g} s")
        error = ""
        if 300 <= answer.status < 400:
            error = f"redirect to {answer.getheader('Location')!r} not followed"
        elif not 200 <= answer.status < 300:
            error = f"HTTP {answer.status}"
        wait = None
        if answer.status in (429, 503):
            wait = retry_after(answer.getheader("Retry-After"), time.time())
        return Attempt(answer.status, latency, error, wait)

    def _exchange(
        self, path: str, body: bytes, headers: dict[str, str]
    ) -> http.client.HTTPResponse:
        self._conn.request("POST", path, body=body, headers=headers)
        return self._conn.getresponse()


def post(
    url: str, body: bytes, headers: dict[str, str], *, timeout: float, allow_private: bool
) -> Attempt:
    """One POST on a connection of its own (the ``/webhooks/{id}/test`` request)."""
    with Sender() as sender:
        return sender.post(url, body, headers, timeout=timeout, allow_private=allow_private)
