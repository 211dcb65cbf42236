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

import json
import logging
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass

import jwt
from jwt import PyJWK, PyJWKClient
from jwt.exceptions import PyJWKClientError, PyJWKSetError

from ..domain.identities import linked_user
from ..model import Root
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
    """The key set's URL: configured, or read once from the issuer's discovery document."""

    def __init__(self, issuer: str, jwks_uri: str = "", timeout: float = TIMEOUT) -> None:
        self.issuer = issuer
        self.configured = jwks_uri
        self.timeout = timeout

    def __call__(self) -> str:
        if self.configured:
            return self.configured
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
        jwks_uri = document.get("jwks_uri")
        problem = idp_url_problem(jwks_uri) if isinstance(jwks_uri, str) else "no jwks_uri"
        if problem:
            raise IssuerUnavailable(f"{url}: jwks_uri: {problem}")
        self.configured = jwks_uri
        return jwks_uri


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
        user = linked_user(root, issuer, subject)
        if user is None and self.username_claim:
            name = claims.get(self.username_claim)
            user = root.users.get(name) if is_valid_name(name) else None
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
