"""A small keep-alive JSON client for the set-up steps (not for measuring)."""

import base64
import http.client
import json
from urllib.parse import urlsplit

from bench.servers import HOST, BenchError


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


class Client:
    def __init__(self, port: int, auth: str | None = None, timeout: float = 600.0):
        self.port = port
        self.auth = auth
        self.timeout = timeout
        self._conn: http.client.HTTPConnection | None = None

    def request(self, method, path, body=None, *, expect=(200,), ctype="application/json"):
        """Send one request; answer ``(status, parsed JSON or None, headers)``.

        A status outside ``expect`` is a ``BenchError`` naming the request.
        """
        if path.startswith("http"):
            path = urlsplit(path)._replace(scheme="", netloc="").geturl()
        headers = {"Accept": "application/json"}
        if self.auth:
            headers["Authorization"] = self.auth
        data = None
        if body is not None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            headers["Content-Type"] = ctype
        for attempt in (1, 2):
            if self._conn is None:
                self._conn = http.client.HTTPConnection(HOST, self.port, timeout=self.timeout)
            try:
                self._conn.request(method, path, body=data, headers=headers)
                resp = self._conn.getresponse()
                raw = resp.read()
                break
            except (ConnectionError, http.client.HTTPException):
                # The server closed an idle keep-alive connection: reconnect once.
                self.close()
                if attempt == 2:
                    raise
        if resp.getheader("Connection", "").lower() == "close":
            self.close()
        parsed = None
        if raw and "json" in resp.getheader("Content-Type", ""):
            parsed = json.loads(raw)
        if resp.status not in expect:
            raise BenchError(f"{method} {path} answered {resp.status}: {raw[:500]!r}")
        return resp.status, parsed, resp.headers

    def get(self, path, **kw):
        return self.request("GET", path, **kw)[1]

    def post(self, path, body, **kw):
        kw.setdefault("expect", (201,))
        return self.request("POST", path, body, **kw)[1]

    def close(self):
        if self._conn is not None:
            self._conn.close()
            self._conn = None
