"""Who is asking, and what principals they carry.

Pyramid 2 ``SecurityPolicy``: HTTP Basic (argon2id) or Bearer tokens for
identity, the user -> groups index for principals, ``ACLHelper`` against the
``__acl__`` of the traversed nodes for decisions. The identity is computed
once per request: Pyramid asks for it more than once, and argon2 is slow on
purpose.
"""

from dataclasses import dataclass, field

from pyramid.authentication import extract_http_basic_credentials
from pyramid.authorization import ACLHelper, Everyone
from pyramid.request import Request
from transaction.interfaces import NoTransaction

from ..credentials import Credentials, token_digest
from ..domain.queries import principals_for
from ..paths import is_valid_name
from .db import find_app_root
from .throttle import Limits, LoginThrottle, Throttled

IDENTITY = "membership.identity"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
AUTH_FAILED = "membership.auth_failed"
THROTTLED = "membership.throttled"  # the Throttled refusal, when the login was not even tried


@dataclass(frozen=True)
class Identity:
    userid: str
    method: str  # "basic" or "token"
    principals: tuple[str, ...] = field(default=())


class SecurityPolicy:
    def __init__(
        self,
        credentials: Credentials,
        realm: str = "membership",
        throttle: LoginThrottle | None = None,
    ) -> None:
        self.credentials = credentials
        self.throttle = throttle or LoginThrottle(Limits())
        self.realm = realm
        self.acl = ACLHelper()

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
        return self.acl.permits(context, principals, permission)

    def remember(self, request: Request, userid: str, **kw) -> list:
        return []

    def forget(self, request: Request, **kw) -> list:
        return []

    def _authenticate(self, request: Request) -> Identity | None:
        header = request.headers.get("Authorization")
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
            userid = self._check_bearer(root, value.strip())
            if userid is None:
                request.environ[AUTH_FAILED] = "token"
                return None
            return Identity(userid, "token", tuple(principals_for(root, userid)))
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

    def _check_basic(self, root, userid: str | None, password: str | None) -> str | None:
        if userid is None or password is None:
            return None
        user = root.users.get(userid) if is_valid_name(userid) else None
        password_hash = user.password_hash if user is not None else None
        if self.credentials.verify(password_hash, password) and user is not None:
            return userid
        return None

    def _check_bearer(self, root, secret: str) -> str | None:
        if not secret or len(secret) > 256:
            return None
        found = root.token_digests.get(token_digest(secret))
        if found is None:
            return None
        userid, token_id = found
        user = root.users.get(userid)
        if user is None:
            return None
        try:
            token = user.tokens[token_id]
        except KeyError:
            return None
        return None if token.is_expired() else userid


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
    """The tree's root, also for exception views raised before traversal finished."""
    root = getattr(request, "root", None)
    if root is None:
        root = find_app_root(request)
    return root


def includeme(config) -> None:
    settings = config.registry.membership_settings
    credentials = Credentials.from_settings(settings)
    config.registry.credentials = credentials
    throttle = LoginThrottle(Limits.from_settings(settings))
    config.registry.login_throttle = throttle
    config.set_security_policy(SecurityPolicy(credentials, throttle=throttle))
