"""JWT bearer tokens from the operator's identity provider (an OIDC resource server).

``Verifier.verify(token)`` answers the token's claims, or raises
``InvalidToken`` (the token is refused: 401, with a description that says
why and nothing secret) or ``IssuerUnavailable`` (the issuer's keys cannot be
fetched and none cached fits: 503). PyJWT does the checking: the signature by
the key the token's ``kid`` names, an algorithm from the allow-list (never
``none`` nor ``HS*``: the settings refuse them), exact ``iss``, ``aud``
containing our audience, ``exp``/``nbf``/``iat`` within the leeway.

``KeySet`` holds the issuer's signing keys (fetched with PyJWT's
``PyJWKClient``): fetched when first needed and again after
``jwks_cache_seconds``; a ``kid`` it does not know forces a refetch (key
rotation is picked up without a restart), at most once per
``jwks_refetch_seconds``, which also spaces out attempts while the issuer is
down. A failed fetch keeps the keys already known, so tokens signed with them
keep working through an outage of the issuer.
"""

import base64
import hashlib
import hmac
import json
import logging
import secrets
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import quote, urlencode, urlsplit

import jwt
from jwt import PyJWK, PyJWKClient
from jwt.exceptions import PyJWKClientError, PyJWKSetError

from ..domain.identities import linked_user
from ..model import Root, User
from ..paths import is_client_id, is_valid_name
from ..scopes import ADMIN, from_claims
from ..settings import Settings, idp_url_problem

log = logging.getLogger(__name__)

TIMEOUT = 5.0  # seconds for one fetch of the discovery document or the key set
USER_AGENT = "membership (OIDC resource server)"
TYPES = frozenset({"jwt", "at+jwt", "application/at+jwt"})
VERIFIED_MAX = 4096  # verified tokens remembered per process


class InvalidToken(Exception):
    """The token is refused; ``str()`` says why (RFC 6750 ``error_description``)."""


class IssuerUnavailable(Exception):
    """The issuer's keys cannot be fetched, and none known fits the token."""


def looks_like_jwt(value: str) -> bool:
    """A Bearer value with three dot-separated parts is a JWT (a PAT has no dots)."""
    return value.count(".") == 2


class KeySet:
    """The issuer's signing keys by ``kid`` (see the module docstring)."""

    def __init__(
        self,
        jwks_uri: Callable[[], str],
        *,
        cache_seconds: float = 300.0,
        refetch_seconds: float = 30.0,
        timeout: float = TIMEOUT,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._jwks_uri = jwks_uri
        #: Where the key set's URL comes from (a ``Discovery``, for the UI's login too).
        self.source = jwks_uri
        self.cache_seconds = cache_seconds
        self.refetch_seconds = refetch_seconds
        self.timeout = timeout
        self._clock = clock
        self._lock = threading.Lock()
        self._client: PyJWKClient | None = None
        self._keys: dict[str, PyJWK] = {}
        self._fetched_at: float | None = None  # last successful fetch
        self._tried_at: float | None = None  # last attempt, successful or not
        self._failed = False  # whether the last attempt failed
        #: Fetches attempted (for tests and metrics).
        self.fetches = 0

    def key(self, kid: str) -> PyJWK:
        with self._lock:
            now = self._clock()
            refreshed = False
            stale = self._fetched_at is None or now - self._fetched_at >= self.cache_seconds
            if stale and self._may_try(now):
                refreshed = self._refresh(now)
            found = self._keys.get(kid)
            if found is not None:
                return found
            if not refreshed and self._may_try(now):
                self._refresh(now)  # an unknown kid: the issuer may have rotated its keys
                found = self._keys.get(kid)
                if found is not None:
                    return found
            if self._failed:
                raise IssuerUnavailable(
                    "the identity provider's signing keys cannot be fetched; try again later"
                )
            raise InvalidToken("the token is signed with a key the issuer does not publish (kid)")

    def _may_try(self, now: float) -> bool:
        return self._tried_at is None or now - self._tried_at >= self.refetch_seconds

    def _refresh(self, now: float) -> bool:
        """Fetch the key set; on failure keep the known keys. Whether it worked."""
        self._tried_at = now
        self.fetches += 1
        try:
            if self._client is None:
                self._client = PyJWKClient(
                    self._jwks_uri(),
                    cache_jwk_set=False,
                    headers={"User-Agent": USER_AGENT},
                    timeout=self.timeout,
                )
            keys = self._client.get_signing_keys(refresh=True)
        except (IssuerUnavailable, PyJWKClientError, PyJWKSetError, OSError, ValueError) as exc:
            self._failed = True
            log.warning("cannot fetch the identity provider's keys: %s", exc)
            return False
        self._keys = {key.key_id: key for key in keys}
        self._fetched_at = now
        self._failed = False
        return True


class Discovery:
    """The issuer's discovery document, read once (``<issuer>/.well-known/openid-configuration``),
    and the key set's URL: configured, or from that document."""

    def __init__(self, issuer: str, jwks_uri: str = "", timeout: float = TIMEOUT) -> None:
        self.issuer = issuer
        self.configured = jwks_uri
        self.timeout = timeout
        self._document: dict | None = None

    def __call__(self) -> str:
        if self.configured:
            return self.configured
        self.configured = self.endpoint("jwks_uri")
        return self.configured

    def document(self) -> dict:
        """The discovery document (``IssuerUnavailable`` when it cannot be read or names
        another issuer); a failed read is tried again next time."""
        if self._document is not None:
            return self._document
        url = self.issuer.rstrip("/") + "/.well-known/openid-configuration"
        # https, or http on loopback: the settings checked the issuer
        request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})  # noqa: S310
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                document = json.load(response)
        except (OSError, ValueError) as exc:
            raise IssuerUnavailable(f"cannot read {url}: {exc}") from exc
        if not isinstance(document, dict) or document.get("issuer") != self.issuer:
            raise IssuerUnavailable(f"{url} does not describe the issuer {self.issuer}")
        self._document = document
        return document

    def endpoint(self, name: str) -> str:
        """One of the document's URLs (``jwks_uri``, ``token_endpoint``, …): https, or
        http on a loopback address, like the issuer."""
        value = self.document().get(name)
        problem = idp_url_problem(value) if isinstance(value, str) else f"no {name}"
        if problem:
            raise IssuerUnavailable(f"the issuer's discovery document: {name}: {problem}")
        return value


class Verifier:
    """Checks JWTs of one issuer for one audience."""

    def __init__(
        self,
        issuer: str,
        audience: str,
        algorithms: tuple[str, ...],
        keys: KeySet,
        *,
        leeway: float = 30.0,
    ) -> None:
        self.issuer = issuer
        self.audience = audience
        self.algorithms = list(algorithms)
        self.keys = keys
        self.leeway = leeway
        #: Tokens already verified -> ``(claims, exp)``: a client sends the same token on
        #: every request until it expires, and a hit costs a dict lookup instead of the
        #: parsing and the signature check (the membership check stays as fast as a PAT).
        self._verified: dict[str, tuple[dict, float]] = {}

    @classmethod
    def from_settings(cls, settings: Settings) -> "Verifier | None":
        if not settings.oidc_issuer:
            return None
        keys = KeySet(
            Discovery(settings.oidc_issuer, settings.oidc_jwks_uri),
            cache_seconds=settings.oidc_jwks_cache_seconds,
            refetch_seconds=settings.oidc_jwks_refetch_seconds,
        )
        return cls(
            settings.oidc_issuer,
            settings.oidc_audience,
            settings.oidc_algorithms,
            keys,
            leeway=settings.oidc_leeway,
        )

    def verify(self, token: str) -> dict:
        """The claims of a valid token; ``InvalidToken`` or ``IssuerUnavailable`` otherwise."""
        cached = self._verified.get(token)
        if cached is not None:
            claims, expires = cached
            if time.time() < expires + self.leeway:
                return claims
            self._verified.pop(token, None)
        claims = self._verify(token)
        if len(self._verified) >= VERIFIED_MAX:
            self._verified.pop(next(iter(self._verified), None), None)  # the oldest
        self._verified[token] = (claims, float(claims["exp"]))
        return claims

    def _verify(self, token: str) -> dict:
        try:
            unverified = jwt.decode_complete(token, options={"verify_signature": False})
        except jwt.InvalidTokenError:
            raise InvalidToken("the token is not a well-formed JWT") from None
        header, unverified = unverified["header"], unverified["payload"]
        if header.get("alg") not in self.algorithms:
            raise InvalidToken(
                "the token's signing algorithm (alg) is not accepted; accepted: "
                + " ".join(self.algorithms)
            )
        typ = header.get("typ")
        if typ is not None and (not isinstance(typ, str) or typ.lower() not in TYPES):
            raise InvalidToken("the token's type (typ) is neither JWT nor at+jwt")
        # Before any key is fetched: another issuer's kid must not force a refetch.
        if unverified.get("iss") != self.issuer:
            raise InvalidToken(f"the token is from another issuer; accepted: {self.issuer}")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise InvalidToken("the token names no signing key (kid)")
        key = self.keys.key(kid)
        try:
            return jwt.decode(
                token,
                key=key,
                algorithms=self.algorithms,
                audience=self.audience,
                issuer=self.issuer,
                leeway=self.leeway,
                options={"require": ["exp", "iss", "sub", "aud"], "strict_aud": False},
            )
        except jwt.ExpiredSignatureError:
            raise InvalidToken("the token has expired (exp)") from None
        except jwt.ImmatureSignatureError as exc:
            if "(iat)" in str(exc):
                raise InvalidToken("the token was issued in the future (iat)") from None
            raise InvalidToken("the token is not valid yet (nbf)") from None
        except jwt.InvalidIssuedAtError:
            raise InvalidToken("the token's issue time (iat) is not a number") from None
        except jwt.InvalidAudienceError:
            raise InvalidToken(
                f"the token is for another audience (aud); accepted: {self.audience}"
            ) from None
        except jwt.InvalidIssuerError:
            raise InvalidToken(
                f"the token is from another issuer; accepted: {self.issuer}"
            ) from None
        except jwt.InvalidSignatureError:
            raise InvalidToken("the token's signature does not verify") from None
        except jwt.InvalidAlgorithmError:
            raise InvalidToken("the token's algorithm does not match its key's") from None
        except jwt.MissingRequiredClaimError as exc:
            raise InvalidToken(f"the token lacks the {exc.claim} claim") from None
        except jwt.InvalidTokenError:
            raise InvalidToken("the token is not valid") from None


def user_for(root: Root, claims: dict, username_claim: str = "") -> User | None:
    """The user verified claims name: the identity ``(iss, sub)`` linked to a user, else
    (with ``username_claim`` set) the user whose id that claim holds. For bearer JWTs and
    the admin UI's "Log in with …" alike."""
    user = linked_user(root, claims["iss"], claims["sub"])
    if user is None and username_claim:
        name = claims.get(username_claim)
        user = root.users.get(name) if is_valid_name(name) else None
    return user


@dataclass(frozen=True)
class Caller:
    """Who a valid JWT is: a user (``userid``), or else an OAuth client (``client``)."""

    userid: str | None
    client: str | None
    issuer: str
    subject: str
    scopes: tuple[str, ...]


#: Claims that name the OAuth client of a token with no user behind it, in order:
#: ``azp`` (OIDC; Keycloak, Entra v2), ``client_id`` (RFC 9068), ``cid`` (Okta),
#: ``appid`` (Entra v1).
CLIENT_CLAIMS = ("azp", "client_id", "cid", "appid")


class JWTAuthentication:
    """A valid JWT -> the user it names, or its client (``Caller``)."""

    def __init__(
        self,
        verifier: Verifier,
        *,
        username_claim: str = "",
        scope_prefix: str = "",
        default_scopes: tuple[str, ...] = (ADMIN,),
    ) -> None:
        self.verifier = verifier
        self.username_claim = username_claim
        self.scope_prefix = scope_prefix
        self.default_scopes = default_scopes

    @classmethod
    def from_settings(cls, settings: Settings) -> "JWTAuthentication | None":
        verifier = Verifier.from_settings(settings)
        if verifier is None:
            return None
        return cls(
            verifier,
            username_claim=settings.oidc_username_claim,
            scope_prefix=settings.oidc_scope_prefix,
            default_scopes=settings.oidc_default_scopes,
        )

    def authenticate(self, root: Root, token: str) -> Caller:
        """``InvalidToken`` or ``IssuerUnavailable`` unless the token is valid and names
        an active user (a linked identity, else ``username_claim``) or a client."""
        claims = self.verifier.verify(token)
        issuer, subject = claims["iss"], claims["sub"]
        if not isinstance(subject, str) or not subject:
            raise InvalidToken("the token's subject (sub) is not a string")
        scopes = from_claims(claims, self.scope_prefix) or self.default_scopes
        user = user_for(root, claims, self.username_claim)
        if user is not None:
            if getattr(user, "active", True) is False:
                raise InvalidToken("the token's user is deactivated")
            return Caller(user.id, None, issuer, subject, scopes)
        client = next((claims[c] for c in CLIENT_CLAIMS if claims.get(c)), None)
        if not is_client_id(client):
            raise InvalidToken(
                "the token names no user of this service and no client (azp or client_id)"
            )
        return Caller(None, client, issuer, subject, scopes)


# "Log in with <IdP>": the admin UI as an OpenID Connect relying party.


class LoginFailed(Exception):
    """A login at the identity provider did not work; ``str()`` says why, in words."""


@dataclass(frozen=True)
class Flow:
    """One login in progress: what the callback must find again (kept by the UI in a
    signed cookie, never sent anywhere else but the ``verifier`` to the token endpoint)."""

    state: str
    nonce: str
    verifier: str
    redirect_uri: str


def pkce_challenge(verifier: str) -> str:
    """RFC 7636 ``S256``: base64url(SHA-256(verifier)), unpadded."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


class LoginClient:
    """The authorization code flow with PKCE (``S256``), ``state`` and ``nonce``.

    ``start`` answers the URL of the issuer's authorization endpoint and the
    flow's secrets; ``finish`` exchanges the code at the token endpoint (with the
    PKCE verifier, and the client secret by HTTP Basic for a confidential
    client) and answers the ID token's claims, checked by the same ``Verifier``
    and key set as bearer JWTs (signature by ``kid``, exact ``iss``, ``aud`` =
    the client id, ``exp`` within the leeway), then the nonce. The endpoints
    come from the issuer's discovery document (https, or http on loopback).
    """

    SCOPE = "openid profile email"

    def __init__(
        self,
        discovery: Discovery,
        keys: KeySet,
        client_id: str,
        client_secret: str = "",
        *,
        algorithms: tuple[str, ...] = ("RS256", "ES256", "EdDSA"),
        leeway: float = 30.0,
        timeout: float = TIMEOUT,
    ) -> None:
        self.discovery = discovery
        self.client_id = client_id
        self.client_secret = client_secret
        self.timeout = timeout
        self.id_tokens = Verifier(discovery.issuer, client_id, algorithms, keys, leeway=leeway)

    @classmethod
    def from_settings(
        cls, settings: Settings, jwt_auth: "JWTAuthentication | None"
    ) -> "LoginClient | None":
        """The UI's client, sharing the bearer JWTs' discovery document and key cache."""
        if not settings.ui_oidc_client_id or jwt_auth is None:
            return None
        keys = jwt_auth.verifier.keys
        source = keys.source
        discovery = source if isinstance(source, Discovery) else Discovery(settings.oidc_issuer)
        return cls(
            discovery,
            keys,
            settings.ui_oidc_client_id,
            settings.ui_oidc_client_secret,
            algorithms=settings.oidc_algorithms,
            leeway=settings.oidc_leeway,
        )

    def start(self, redirect_uri: str) -> tuple[str, Flow]:
        """Where to send the browser, and the flow to keep until the callback."""
        url = self.discovery.endpoint("authorization_endpoint")
        methods = self.discovery.document().get("code_challenge_methods_supported")
        if isinstance(methods, list) and "S256" not in methods:
            raise IssuerUnavailable("the identity provider does not support PKCE with S256")
        flow = Flow(
            state=secrets.token_urlsafe(32),
            nonce=secrets.token_urlsafe(32),
            verifier=secrets.token_urlsafe(48),  # 64 characters: RFC 7636 wants 43-128
            redirect_uri=redirect_uri,
        )
        params = {
            "response_type": "code",
            "client_id": self.client_id,
            "redirect_uri": redirect_uri,
            "scope": self.SCOPE,
            "state": flow.state,
            "nonce": flow.nonce,
            "code_challenge": pkce_challenge(flow.verifier),
            "code_challenge_method": "S256",
        }
        separator = "&" if urlsplit(url).query else "?"
        return url + separator + urlencode(params), flow

    def finish(self, flow: Flow, code: str) -> dict:
        """The verified claims of the ID token the code is exchanged for.

        ``LoginFailed`` when the issuer refuses the code (a PKCE mismatch among
        others) or the ID token does not verify or carries another nonce;
        ``IssuerUnavailable`` when the issuer cannot be reached.
        """
        url = self.discovery.endpoint("token_endpoint")
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": flow.redirect_uri,
            "code_verifier": flow.verifier,
            "client_id": self.client_id,
        }
        headers = {
            "User-Agent": USER_AGENT,
            "Accept": "application/json",
            "Content-Type": "application/x-www-form-urlencoded",
        }
        if self.client_secret:  # client_secret_basic (RFC 6749 2.3.1: form-encoded parts)
            pair = f"{quote(self.client_id, safe='')}:{quote(self.client_secret, safe='')}"
            headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode()
        request = urllib.request.Request(  # noqa: S310 (checked like the issuer)
            url, data=urlencode(form).encode(), headers=headers, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                answer = json.load(response)
        except urllib.error.HTTPError as exc:
            raise LoginFailed(_token_error(exc)) from None
        except (OSError, ValueError) as exc:
            raise IssuerUnavailable(f"cannot exchange the code at {url}: {exc}") from exc
        id_token = answer.get("id_token") if isinstance(answer, dict) else None
        if not isinstance(id_token, str):
            raise LoginFailed("the identity provider answered without an ID token")
        try:
            claims = self.id_tokens.verify(id_token)
        except InvalidToken as exc:
            raise LoginFailed(f"the ID token is refused: {exc}") from None
        nonce = claims.get("nonce")
        if not isinstance(nonce, str) or not hmac.compare_digest(nonce, flow.nonce):
            raise LoginFailed("the ID token's nonce does not match this login")
        audience = claims.get("aud")
        if isinstance(audience, list) and len(audience) > 1:
            if claims.get("azp") != self.client_id:  # OIDC Core 3.1.3.7
                raise LoginFailed("the ID token was issued to another client (azp)")
        if not isinstance(claims.get("sub"), str) or not claims["sub"]:
            raise LoginFailed("the ID token's subject (sub) is not a string")
        return claims


def _token_error(exc: urllib.error.HTTPError) -> str:
    """The token endpoint's refusal in words (RFC 6749 5.2 ``error``, its description)."""
    try:
        body = json.loads(exc.read(4096) or b"{}")
    except (OSError, ValueError):
        body = {}
    if not isinstance(body, dict):
        body = {}
    error = str(body.get("error") or f"HTTP {exc.code}")[:60]
    description = str(body.get("error_description") or "")[:200]
    text = f"the identity provider refused the login code ({error}"
    return text + (f": {description})" if description else ")")
