"""Who is asking, and what principals they carry.

Pyramid 2 ``SecurityPolicy``: HTTP Basic (argon2id) or Bearer tokens for
identity, the user -> groups index for principals, ``ACLHelper`` against the
``__acl__`` of the traversed nodes for decisions. The identity is computed
once per request: Pyramid asks for it more than once, and argon2 is slow on
purpose. A Basic login argon2 accepted is remembered for
``membership.auth.basic_cache_seconds`` (``VerifiedLogins``), so a client
that sends the same credentials on every request pays argon2 once; a hit is
still checked against the user's current password hash, and still goes
through the login throttle like any success.

A Bearer value with three dot-separated parts is a JWT from the operator's
identity provider when ``membership.oidc.issuer`` is set (``oidc.py``): it
names a linked user, a user by ``membership.oidc.username_claim``, or an
OAuth client (principals ``client:<id>`` and ``system.Authenticated``).

Scopes (``membership/scopes.py``) only narrow: ``permits`` asks the ACLs
first, then whether the credentials' scopes cover the permission with this
method, and answers ``ScopeDenied`` (403 ``insufficient_scope``) if not.
"""

from dataclasses import dataclass, field
from typing import Protocol

from pyramid.authentication import extract_http_basic_credentials
from pyramid.authorization import ACLHelper, Everyone
from pyramid.request import Request
from pyramid.security import Denied
from transaction.interfaces import NoTransaction

from ..credentials import Credentials, VerifiedLogins, token_digest
from ..domain.queries import principals_for
from ..model import Root
from ..paths import AUTHENTICATED, EVERYONE, client_principal, is_valid_name
from ..scopes import covers, needed_scope
from .db import find_app_root
from .oidc import InvalidToken, IssuerUnavailable, JWTAuthentication, looks_like_jwt
from .throttle import Limits, LoginThrottle, Throttled

IDENTITY = "membership.identity"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
AUTH_FAILED = "membership.auth_failed"
THROTTLED = "membership.throttled"  # the Throttled refusal, when the login was not even tried
JWT_REFUSED = "membership.token_error"  # why a JWT was refused (RFC 6750 error_description)
ISSUER_UNAVAILABLE = "membership.issuer_unavailable"  # the IdP's keys could not be fetched


@dataclass(frozen=True)
class Identity:
    userid: str  # a user id, or ``client:<id>`` for a JWT with no user behind it
    method: str  # "basic", "token", "jwt" or "session" (the admin UI, under /ui/ only)
    principals: tuple[str, ...] = field(default=())
    #: What the credentials may be used for (``membership.scopes``); None: not narrowed.
    scopes: tuple[str, ...] | None = None
    #: A JWT's ``iss`` and ``sub``, and the OAuth client of one that names no user.
    issuer: str | None = None
    subject: str | None = None
    client: str | None = None


class Sessions(Protocol):
    """Cookie sessions a front end keeps (``membership/ui/session.py``), plugged in by
    that front end's ``includeme``: the web layer knows nothing of the UI but this."""

    def applies(self, request: Request) -> bool:
        """Whether the request is the front end's (and so is judged by its session only)."""

    def userid(self, request: Request, root: Root) -> str | None:
        """The user the request's session belongs to, if it is still valid."""


class ScopeDenied(Denied):
    """The ACLs allow it, the credentials' scopes do not: 403 ``insufficient_scope``."""

    def __new__(cls, scope: str, permission: str, method: str) -> "ScopeDenied":
        inst = super().__new__(
            cls, "%s with permission %s needs the %s scope", method, permission, scope
        )
        inst.scope = scope
        inst.permission = permission
        return inst


class SecurityPolicy:
    def __init__(
        self,
        credentials: Credentials,
        realm: str = "membership",
        throttle: LoginThrottle | None = None,
        basic_cache_seconds: float = 0,
        jwt: JWTAuthentication | None = None,
    ) -> None:
        self.credentials = credentials
        #: JWT bearer tokens (None: ``membership.oidc.issuer`` unset, JWTs are refused).
        self.jwt = jwt
        self.throttle = throttle or LoginThrottle(Limits())
        #: Verified Basic logins (None: argon2 on every request).
        self.verified = VerifiedLogins(basic_cache_seconds) if basic_cache_seconds > 0 else None
        self.realm = realm
        self.acl = ACLHelper()
        #: A front end's cookie sessions (set by ``membership.ui``'s includeme), or None.
        self.sessions: Sessions | None = None

    def identity(self, request: Request) -> Identity | None:
        cached = request.environ.get(IDENTITY, False)
        if cached is False:
            cached = self._authenticate(request)
            request.environ[IDENTITY] = cached
        if cached is not None and request.method not in SAFE_METHODS:
            credit_transaction(request, cached.userid)
        return cached

    def authenticated_userid(self, request: Request) -> str | None:
        identity = self.identity(request)
        return identity.userid if identity else None

    def permits(self, request: Request, context, permission: str):
        identity = self.identity(request)
        principals = identity.principals if identity else (Everyone,)
        allowed = self.acl.permits(context, principals, permission)
        if allowed and identity is not None and identity.scopes is not None:
            needed = needed_scope(permission, request.method)
            if not covers(identity.scopes, needed):
                return ScopeDenied(needed, str(permission), request.method)
        return allowed

    def remember(self, request: Request, userid: str, **kw) -> list:
        return []

    def forget(self, request: Request, **kw) -> list:
        return []

    def _authenticate(self, request: Request) -> Identity | None:
        sessions = self.sessions
        if sessions is not None and sessions.applies(request):
            return self._authenticate_session(request, sessions)
        header = request.environ.get("HTTP_AUTHORIZATION")  # not WebOb's header view
        if not header:
            return None
        scheme, _, value = header.partition(" ")
        scheme = scheme.lower()
        root = _root_of(request)
        if root is None:
            return None
        if scheme == "bearer":
            # Not throttled: a 256-bit token cannot be guessed, and counting a stale
            # token's failures would lock out every client behind the same address.
            value = value.strip()
            if self.jwt is not None and looks_like_jwt(value):
                return self._authenticate_jwt(request, root, value)
            found = self._bearer_token(root, value)
            if found is None:
                request.environ[AUTH_FAILED] = "token"
                return None
            userid, scopes = found
            return Identity(userid, "token", tuple(principals_for(root, userid)), scopes)
        if scheme != "basic":
            request.environ[AUTH_FAILED] = scheme
            return None
        # REMOTE_ADDR, not webob's client_addr: that one believes any X-Forwarded-For.
        address = request.remote_addr
        claimed, password = _basic_credentials(request)
        try:
            self.throttle.check(claimed, address)
        except Throttled as exc:
            # Not raised from here: pyramid_tm asks for the identity outside the
            # exception views. The forbidden view answers 429 for it instead.
            request.environ[THROTTLED] = exc
            request.environ[AUTH_FAILED] = "basic"
            return None
        userid = self._check_basic(root, claimed, password)
        if userid is None:
            self.throttle.failed(claimed, address)
            request.environ[AUTH_FAILED] = "basic"
            return None
        self.throttle.succeeded(userid, address)
        return Identity(userid, "basic", tuple(principals_for(root, userid)))

    def _authenticate_session(self, request: Request, sessions: "Sessions") -> Identity | None:
        """A front end's own cookie sessions (the admin UI's, under ``/ui/``): there they
        are the only credentials (no header, so no Basic challenge either)."""
        root = _root_of(request)
        userid = None if root is None else sessions.userid(request, root)
        if userid is None:
            return None
        return Identity(userid, "session", tuple(principals_for(root, userid)))

    def _check_basic(self, root, userid: str | None, password: str | None) -> str | None:
        if userid is None or password is None:
            return None
        user = root.users.get(userid) if is_valid_name(userid) else None
        password_hash = user.password_hash if user is not None else None
        verified = self.verified
        if verified is not None and user is not None:
            if user.active is False:
                verified.forget(userid, password)
            elif verified.hit(userid, password, password_hash):
                return userid  # one dict and one BTree lookup, no argon2
        if self.credentials.verify(password_hash, password) and user is not None:
            if user.active is False:  # argon2 ran all the same: no timing tells it apart
                return None
            if verified is not None and password_hash:
                verified.store(userid, password, password_hash)
            return userid
        return None

    def _authenticate_jwt(self, request: Request, root, token: str) -> Identity | None:
        """A JWT from the identity provider (not throttled, as for PATs: a refusal
        costs no argon2, and a valid signature cannot be guessed)."""
        assert self.jwt is not None
        try:
            caller = self.jwt.authenticate(root, token)
        except IssuerUnavailable:
            request.environ[ISSUER_UNAVAILABLE] = True
            request.environ[AUTH_FAILED] = "jwt"
            return None
        except InvalidToken as exc:
            request.environ[JWT_REFUSED] = str(exc)
            request.environ[AUTH_FAILED] = "jwt"
            return None
        facts = {"issuer": caller.issuer, "subject": caller.subject}
        if caller.userid is not None:
            principals = tuple(principals_for(root, caller.userid))
            return Identity(caller.userid, "jwt", principals, caller.scopes, **facts)
        principal = client_principal(caller.client)
        principals = (EVERYONE, AUTHENTICATED, principal)
        return Identity(principal, "jwt", principals, caller.scopes, client=caller.client, **facts)

    def _check_bearer(self, root, secret: str) -> str | None:
        found = self._bearer_token(root, secret)
        return None if found is None else found[0]

    def _bearer_token(self, root, secret: str) -> tuple[str, tuple[str, ...] | None] | None:
        """``(userid, scopes)`` of a valid personal access token, or None."""
        if not secret or len(secret) > 256:
            return None
        found = root.token_digests.get(token_digest(secret))
        if found is None:
            return None
        userid, token_id = found
        user = root.users.get(userid)
        if user is None or user.active is False:
            return None
        try:
            token = user.tokens[token_id]
        except KeyError:
            return None
        return None if token.is_expired() else (userid, token.scopes)


def _basic_credentials(request: Request) -> tuple[str | None, str | None]:
    """``(userid, password)`` from a Basic credential, ``(None, None)`` if it is garbage."""
    try:
        credentials = extract_http_basic_credentials(request)
    except (UnicodeError, ValueError):
        credentials = None
    if credentials is None:
        return None, None
    # Throttle keys: a non-slug is counted under one key, so junk cannot fill the table.
    userid = credentials.username
    return (userid if is_valid_name(userid) else "?invalid"), credentials.password


def credit_transaction(request: Request, userid: str) -> None:
    """Make ``userid`` the ``user`` of the request's transaction: the audit log's actor.

    Done on every ``identity`` call of a write, not once: the identity is
    cached in the environ, which pyramid_retry reuses for a retried attempt
    with a new transaction. Independent of ``tm.annotate_user`` (which reads
    the storage outside the exception views, so deployments may turn it off).
    """
    tm = getattr(request, "tm", None)
    if tm is None:
        return
    try:
        txn = tm.get()
    except NoTransaction:
        return
    if txn.user != userid:
        txn.user = userid


def effective_principals(request: Request) -> list[str]:
    """The caller's principals, as the ACL check sees them."""
    identity = request.identity
    return list(identity.principals) if identity else [Everyone]


def _root_of(request: Request):
    """The tree's root, also for exception views raised before traversal finished
    and for routes with a root of their own (the health probes)."""
    root = getattr(request, "root", None)
    if not isinstance(root, Root):
        root = find_app_root(request)
    return root


def includeme(config) -> None:
    settings = config.registry.membership_settings
    credentials = Credentials.from_settings(settings)
    config.registry.credentials = credentials
    throttle = LoginThrottle(Limits.from_settings(settings))
    config.registry.login_throttle = throttle
    jwt = JWTAuthentication.from_settings(settings)
    config.registry.jwt_authentication = jwt  # the admin UI's OIDC login shares its keys
    policy = SecurityPolicy(
        credentials,
        throttle=throttle,
        basic_cache_seconds=settings.auth_basic_cache_seconds,
        jwt=jwt,
    )
    config.registry.security_policy = policy  # the UI plugs its sessions in (policy.sessions)
    config.set_security_policy(policy)
