"""A real OpenID Connect provider on loopback, for the tests: discovery, a JWKS of keys
made here (RSA and EC), tokens signed with PyJWT; and, for the admin UI's "Log in with
…", an auto-approving authorization endpoint and a token endpoint that checks PKCE.

The authorization endpoint logs in ``login_subject`` (with ``login_claims``) without
asking and redirects back with a one-time code; the token endpoint checks the code,
the redirect URI, the client (and its secret, if one is set) and the PKCE verifier
against the challenge, as a real provider does, and refuses with RFC 6749 errors.
"""

import base64
import hashlib
import html
import json
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode, urlsplit

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

AUDIENCE = "membership-api"

_KEYS: dict[tuple[str, str], tuple[object, str]] = {}


def private_key(kid: str, kind: str) -> tuple[object, str]:
    """A key pair made here, once per test run (``(private key, alg)``)."""
    if (kid, kind) not in _KEYS:
        if kind == "RSA":
            key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            _KEYS[kid, kind] = (key, "RS256")
        else:
            _KEYS[kid, kind] = (ec.generate_private_key(ec.SECP256R1()), "ES256")
    return _KEYS[kid, kind]


class Issuer:
    """An identity provider on 127.0.0.1 (or ``host``): ``/.well-known/openid-configuration``,
    ``/jwks`` (the public halves of the keys it was told to publish), ``/authorize`` and
    ``/token``."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.keys: dict[str, tuple[object, str]] = {}  # kid -> (private key, alg)
        self.published: list[str] = []
        self.fetched: list[str] = []  # paths asked for, in order
        #: The authorization code flow: the client, who logs in, the codes handed out.
        self.client_id = "membership-ui"
        self.client_secret: str | None = None
        self.login_subject = "sub-1"
        self.login_claims: dict = {}
        self.signing_kid = "rsa1"
        self.nonce_override: str | None = None  # sign this nonce instead of the one asked
        #: Answer /authorize with a page whose "Approve" link goes back (a person's click
        #: at the provider's site, as in a browser), instead of redirecting at once.
        self.interactive = False
        self.codes: dict[str, dict] = {}
        self.token_requests: list[dict] = []  # the token endpoint's form posts
        self.refusals: list[str] = []  # the token endpoint's error codes, in order
        issuer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                issuer.fetched.append(self.path)
                path, _, query = self.path.partition("?")
                if path == "/.well-known/openid-configuration":
                    self.json(200, issuer.discovery())
                elif path == "/jwks":
                    self.json(200, issuer.jwks())
                elif path == "/authorize" and issuer.interactive:
                    back = html.escape(issuer.authorize(parse_qs(query)))
                    page = f'<!doctype html><title>IdP</title><a href="{back}">Approve</a>'
                    data = page.encode()
                    self.send_response(200)
                    self.send_header("Content-Type", "text/html; charset=utf-8")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                elif path == "/authorize":
                    self.send_response(302)
                    self.send_header("Location", issuer.authorize(parse_qs(query)))
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                else:
                    self.send_error(404)

            def do_POST(self) -> None:
                issuer.fetched.append(self.path)
                if self.path != "/token":
                    self.send_error(404)
                    return
                length = int(self.headers.get("Content-Length") or 0)
                form = parse_qs(self.rfile.read(length).decode())
                status, body = issuer.exchange(form, self.headers.get("Authorization", ""))
                self.json(status, body)

            def json(self, status: int, body: dict) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://{host}:{self.server.server_address[1]}"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()
        self.running = True

    # discovery and keys

    def discovery(self) -> dict:
        return {
            "issuer": self.url,
            "jwks_uri": self.url + "/jwks",
            "authorization_endpoint": self.url + "/authorize",
            "token_endpoint": self.url + "/token",
            "response_types_supported": ["code"],
            "code_challenge_methods_supported": ["S256"],
            "id_token_signing_alg_values_supported": ["RS256", "ES256"],
        }

    def add_key(self, kid: str, kind: str = "RSA", *, publish: bool = True) -> None:
        self.keys[kid] = private_key(kid, kind)
        if publish:
            self.published.append(kid)

    def publish(self, kid: str) -> None:
        self.published.append(kid)

    def jwks(self) -> dict:
        keys = []
        for kid in self.published:
            private, alg = self.keys[kid]
            algorithm = RSAAlgorithm if alg == "RS256" else ECAlgorithm
            jwk = json.loads(algorithm.to_jwk(private.public_key()))
            keys.append({**jwk, "kid": kid, "use": "sig", "alg": alg})
        return {"keys": keys}

    def public_pem(self, kid: str) -> bytes:
        return (
            self.keys[kid][0]
            .public_key()
            .public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )

    def claims(self, **claims) -> dict:
        now = int(time.time())
        base = {"iss": self.url, "aud": AUDIENCE, "sub": "sub-1", "iat": now, "exp": now + 300}
        base.update(claims)
        return {name: value for name, value in base.items() if value is not None}

    def token(self, kid: str = "rsa1", typ: str = "at+jwt", **claims) -> str:
        private, alg = self.keys[kid]
        headers = {"kid": kid, "typ": typ}
        return jwt.encode(self.claims(**claims), private, algorithm=alg, headers=headers)

    # the authorization code flow

    def authorize(self, params: dict[str, list[str]]) -> str:
        """Log ``login_subject`` in without asking: the redirect back, with a code."""
        one = {name: values[0] for name, values in params.items()}
        redirect_uri = one["redirect_uri"]
        if one.get("client_id") != self.client_id or one.get("response_type") != "code":
            answer = {"error": "unauthorized_client", "state": one.get("state", "")}
        else:
            code = secrets.token_urlsafe(16)
            self.codes[code] = {
                "redirect_uri": redirect_uri,
                "challenge": one.get("code_challenge"),
                "method": one.get("code_challenge_method"),
                "nonce": one.get("nonce"),
                "scope": one.get("scope", ""),
                "subject": self.login_subject,
            }
            answer = {"code": code, "state": one.get("state", "")}
        separator = "&" if urlsplit(redirect_uri).query else "?"
        return redirect_uri + separator + urlencode(answer)

    def exchange(self, form: dict[str, list[str]], authorization: str) -> tuple[int, dict]:
        """The token endpoint: one use per code, the same redirect URI, PKCE S256."""
        one = {name: values[0] for name, values in form.items()}
        self.token_requests.append(one)
        client = one.get("client_id")
        if authorization.startswith("Basic "):
            pair = base64.b64decode(authorization[6:]).decode()
            client, _, secret = pair.partition(":")
            if self.client_secret is None or secret != self.client_secret:
                return self.refuse(401, "invalid_client", "wrong client secret")
        elif self.client_secret is not None:
            return self.refuse(401, "invalid_client", "client authentication required")
        if client != self.client_id:
            return self.refuse(401, "invalid_client", "unknown client")
        if one.get("grant_type") != "authorization_code":
            return self.refuse(400, "unsupported_grant_type", "")
        grant = self.codes.pop(one.get("code", ""), None)
        if grant is None:
            return self.refuse(400, "invalid_grant", "unknown or used code")
        if one.get("redirect_uri") != grant["redirect_uri"]:
            return self.refuse(400, "invalid_grant", "redirect_uri differs")
        verifier = one.get("code_verifier", "")
        digest = hashlib.sha256(verifier.encode()).digest()
        challenge = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
        if grant["method"] != "S256" or challenge != grant["challenge"]:
            return self.refuse(400, "invalid_grant", "PKCE verification failed")
        nonce = self.nonce_override if self.nonce_override is not None else grant["nonce"]
        private, alg = self.keys[self.signing_kid]
        claims = self.claims(
            aud=self.client_id, sub=grant["subject"], nonce=nonce, azp=self.client_id
        )
        claims.update(self.login_claims)
        id_token = jwt.encode(
            claims, private, algorithm=alg, headers={"kid": self.signing_kid, "typ": "JWT"}
        )
        access = self.token(sub=grant["subject"])
        body = {"access_token": access, "token_type": "Bearer", "expires_in": 300}
        return 200, {**body, "id_token": id_token}

    def refuse(self, status: int, error: str, description: str) -> tuple[int, dict]:
        self.refusals.append(error)
        return status, {"error": error, "error_description": description}

    def stop(self) -> None:
        if self.running:
            self.server.shutdown()
            self.server.server_close()
            self.running = False
