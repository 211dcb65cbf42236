"""Small HTTP servers the bench runs in its own process, on 127.0.0.1.

- ``Issuer``: an OIDC identity provider publishing discovery and a JWKS (one
  RSA key made here), signing tokens with PyJWT, as the JWT tests' issuer does
  (``tests/functional/test_jwt.py``). The server under test fetches the JWKS
  once and caches it: the measured checks exercise signature verification and
  claim checks, not the issuer.
- ``Receiver``: a webhook receiver that answers every POST ``204`` at once and
  counts them, with the time of the first and the last.
"""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

AUDIENCE = "membership-bench"


class _Quiet(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: a delivery need not open a connection

    def log_message(self, *args) -> None:
        pass


class _Loopback:
    def __init__(self, handler: type) -> None:
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True
        )
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


class Issuer(_Loopback):
    """``/.well-known/openid-configuration`` and ``/jwks`` for one RSA key (``kid`` bench)."""

    def __init__(self) -> None:
        import jwt  # PyJWT: a dependency of membership itself (JWT bearer tokens)
        from cryptography.hazmat.primitives.asymmetric import rsa
        from jwt.algorithms import RSAAlgorithm

        self._jwt = jwt
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        jwk = json.loads(RSAAlgorithm.to_jwk(self.key.public_key()))
        jwks = {"keys": [{**jwk, "kid": "bench", "use": "sig", "alg": "RS256"}]}
        issuer = self

        class Handler(_Quiet):
            def do_GET(self) -> None:
                if self.path == "/.well-known/openid-configuration":
                    body = {"issuer": issuer.url, "jwks_uri": issuer.url + "/jwks"}
                elif self.path == "/jwks":
                    body = jwks
                else:
                    self.send_error(404)
                    return
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        super().__init__(Handler)

    def settings(self) -> dict[str, str]:
        """The app settings that make the server accept this issuer's tokens."""
        return {
            "membership.oidc.issuer": self.url,
            "membership.oidc.audience": AUDIENCE,
            "membership.oidc.username_claim": "preferred_username",
        }

    def token(self, username: str, lifetime: float = 3600) -> str:
        """An access token naming ``username`` (valid for the whole run)."""
        now = int(time.time())
        claims = {
            "iss": self.url,
            "aud": AUDIENCE,
            "sub": f"bench-{username}",
            "preferred_username": username,
            "iat": now,
            "exp": now + int(lifetime),
        }
        headers = {"kid": "bench", "typ": "at+jwt"}
        return self._jwt.encode(claims, self.key, algorithm="RS256", headers=headers)


class Receiver(_Loopback):
    """Counts webhook POSTs (answered 204 at once)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.count = 0
        self.first: float | None = None
        self.last: float | None = None
        receiver = self

        class Handler(_Quiet):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                now = time.monotonic()
                with receiver.lock:  # counted before the answer: a 2xx was a delivery
                    receiver.count += 1
                    receiver.first = receiver.first or now
                    receiver.last = now
                self.send_response(204)
                self.send_header("Content-Length", "0")
                self.end_headers()

        super().__init__(Handler)

    def reset(self) -> None:
        with self.lock:
            self.count, self.first, self.last = 0, None, None
