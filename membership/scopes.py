"""Token scopes: what a personal access token or a JWT may be used for.

A scope only ever narrows: the security policy first asks the ACLs whether the
caller holds the permission, then whether the token's scopes cover the
request (``needed_scope``: the permission and the HTTP method). Basic logins,
the admin UI's session and tokens without scopes carry ``None``: no narrowing.

| scope | allows |
| --- | --- |
| ``read`` | GET, HEAD, OPTIONS: reads, the membership check, the change feed; ``POST /checks`` |
| ``write`` | ``read``, plus changes to users, groups, members and webhooks |
| ``acl`` | ``read``, plus ACL changes |
| ``provision`` | the SCIM endpoints only (permission ``provision``) |
| ``admin`` | everything the user may do, tokens and linked identities included |
"""

from collections.abc import Iterable

READ = "read"
WRITE = "write"
ACL = "acl"
PROVISION = "provision"
ADMIN = "admin"

#: Every scope, in the order they are shown.
SCOPES: tuple[str, ...] = (READ, WRITE, ACL, PROVISION, ADMIN)

#: What each scope covers besides itself (``admin`` covers everything).
IMPLIES: dict[str, frozenset[str]] = {
    READ: frozenset(),
    WRITE: frozenset({READ}),
    ACL: frozenset({READ}),
    PROVISION: frozenset(),
    ADMIN: frozenset(SCOPES),
}

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

#: The SCIM endpoints' permission: whatever the method, only ``provision`` (or
#: ``admin``) covers it, and ``provision`` covers nothing else.
PROVISION_PERMISSION = "provision"

#: Permissions whose changes need a scope other than ``write``. Any other
#: permission's change (``edit``, ``delete``, ``manage-members``, ``grant-owner``,
#: ``create-group``, ``create-user``, and ``view`` on ``POST /webhooks``) is ``write``.
CHANGE_SCOPES: dict[str, str] = {
    "manage-acl": ACL,
    # A narrowed token must not mint a broader one, nor bind an identity to an account.
    "manage-tokens": ADMIN,
    "manage-identities": ADMIN,
}
WRITE_PERMISSIONS = frozenset(
    {
        "view",
        "view-history",
        "edit",
        "delete",
        "manage-members",
        "grant-owner",
        "create-group",
        "create-user",
    }
)


#: Permissions of views that only read, whatever their method (``POST /checks``
#: carries its questions in a body): ``read`` covers them.
READ_ONLY_PERMISSIONS = frozenset({"check"})


def needed_scope(permission: str, method: str) -> str:
    """The scope a request needs for ``permission`` (the view's) with ``method``."""
    permission = str(permission)
    if permission == PROVISION_PERMISSION:
        return PROVISION
    if method in SAFE_METHODS or permission in READ_ONLY_PERMISSIONS:
        return READ
    if permission in CHANGE_SCOPES:
        return CHANGE_SCOPES[permission]
    if permission in WRITE_PERMISSIONS:
        return WRITE
    return ADMIN  # a permission this table does not know yet: only the unnarrowed


def covers(scopes: Iterable[str] | None, needed: str) -> bool:
    """Whether a token with ``scopes`` (None: unnarrowed) may do what needs ``needed``."""
    if scopes is None:
        return True
    return any(scope == needed or needed in IMPLIES.get(scope, ()) for scope in scopes)


def normalized(scopes: Iterable[str]) -> tuple[str, ...]:
    """Known scopes, each once, in ``SCOPES`` order (unknown names are dropped)."""
    given = set(scopes)
    return tuple(scope for scope in SCOPES if scope in given)


def from_claims(claims: dict, prefix: str = "") -> tuple[str, ...] | None:
    """Our scopes in a JWT's ``scope`` (a space-separated string, RFC 9068) or ``scp``
    (Entra: a string, Okta: a list) claim, with ``prefix`` removed; names without
    the prefix, and names we do not know, are ignored. None: the token has no such
    claim at all."""
    raw = claims.get("scope", claims.get("scp"))
    if raw is None:
        return None
    names = raw.split() if isinstance(raw, str) else raw if isinstance(raw, list) else []
    ours = []
    for name in names:
        if isinstance(name, str) and name.startswith(prefix):
            ours.append(name[len(prefix) :])
    return normalized(ours)
