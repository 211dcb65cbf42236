"""Names, paths and principals: built and parsed here and nowhere else.

A group's canonical path is its traversal path (``/groups/eng/groups/backend``);
principals name a user (``user:alice``), a group (``group:/groups/eng``), a
role held directly in one (``group:/groups/eng#owner``) or an OAuth client
that calls with a token of its own (``client:reporting``). Everything here
works on strings alone, so the per-request principal computation and the
index need no object loads.
"""

import re
import unicodedata
from dataclasses import dataclass

from .permissions import ROLES

NAME_PATTERN = r"^[a-z0-9][a-z0-9._-]{0,63}$"
_NAME = re.compile(NAME_PATTERN)

ROOT_PATH = "/"
USERS_PATH = "/users"
GROUPS_PATH = "/groups"
ADMINS_PATH = "/groups/admins"

EVERYONE = "system.Everyone"
AUTHENTICATED = "system.Authenticated"
SYSTEM_PRINCIPALS = (EVERYONE, AUTHENTICATED)
ADMINS_PRINCIPAL = "group:" + ADMINS_PATH

#: Names a view uses on some container (``/groups/eng/members/export`` must reach
#: the view, never a member called ``export``). Nothing may be created under
#: them; ``tests/functional/test_traversal.py`` checks every registered view
#: name on a container is listed here.
RESERVED_NAMES = frozenset(
    {
        "acl",
        "changes",
        "checks",
        "export",
        "groups",
        "history",
        "identities",
        "members",
        "move",
        "permissions",
        "tokens",
        "webhooks",
    }
)


def is_valid_name(name: object) -> bool:
    """True for a lowercase slug: what user ids and group names must be.

    Checked before any container lookup, so ``..``, ``@@x``, ``%2F``, NUL and
    unicode look-alikes never reach a BTree.
    """
    return isinstance(name, str) and _NAME.fullmatch(name) is not None


NAME_RULE = "1-64 characters of a-z, 0-9, '.', '_' or '-', starting with a letter or digit"


def name_problem(name: str) -> str | None:
    """Why ``name`` cannot name a new user or group, or None."""
    if not is_valid_name(name):
        return f"must be {NAME_RULE}"
    if name in RESERVED_NAMES:
        return f"{name!r} is reserved (a view of its container uses it)"
    return None


def slugify(text: str, fallback: str = "x") -> str:
    """A valid name made from free text (a SCIM ``userName`` or ``displayName``):
    lowercased, accents dropped, runs of other characters as one ``-``, trimmed to
    fit; ``fallback`` when nothing of ``text`` is left."""
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    slug = re.sub(r"[^a-z0-9._-]+", "-", plain).strip("-._")[:64].rstrip("-._")
    return slug if is_valid_name(slug) and slug not in RESERVED_NAMES else fallback


def numbered_name(base: str, number: int) -> str:
    """``base`` with ``-<number>`` appended, still a valid name (``base`` is cut to fit)."""
    suffix = f"-{number}"
    return base[: 64 - len(suffix)].rstrip("-._") + suffix


def group_path(*names: str) -> str:
    """``group_path("eng", "backend")`` -> ``/groups/eng/groups/backend``."""
    return "".join(f"{GROUPS_PATH}/{name}" for name in names)


def group_names(path: str) -> list[str] | None:
    """The names along a canonical group path, or None if ``path`` is not one."""
    if not isinstance(path, str) or not path.startswith(GROUPS_PATH + "/"):
        return None
    parts = path.split("/")[1:]
    if len(parts) % 2:
        return None
    names = parts[1::2]
    if any(kind != "groups" for kind in parts[::2]) or not all(map(is_valid_name, names)):
        return None
    return names


def is_group_path(path: str) -> bool:
    return group_names(path) is not None


def depth(path: str) -> int:
    """Nesting level of a canonical group path: 1 for a top-level group."""
    return path.count("/") // 2


def ancestor_paths(path: str) -> list[str]:
    """Paths of the groups above ``path``, nearest first.

    ``/groups/eng/groups/backend`` -> ``['/groups/eng']``.
    """
    parts = path.split("/")
    return ["/".join(parts[:end]) for end in range(len(parts) - 2, 2, -2)]


def lineage_paths(path: str) -> list[str]:
    """``path`` and every group path above it, nearest first."""
    return [path, *ancestor_paths(path)]


def is_within(path: str, ancestor: str) -> bool:
    """``path`` is ``ancestor`` or below it (``/groups/a-b`` is not within ``/groups/a``)."""
    return path == ancestor or path.startswith(ancestor + "/")


def rebase(path: str, old: str, new: str) -> str:
    """``path`` after the subtree at ``old`` moved to ``new`` (unchanged if outside it)."""
    return new + path[len(old) :] if is_within(path, old) else path


def user_path(userid: str) -> str:
    return f"{USERS_PATH}/{userid}"


def membership_path(group: str, userid: str) -> str:
    return f"{group}/members/{userid}"


def token_path(userid: str, token_id: str) -> str:
    return f"{USERS_PATH}/{userid}/tokens/{token_id}"


def identity_path(userid: str, number: str) -> str:
    return f"{USERS_PATH}/{userid}/identities/{number}"


def user_principal(userid: str) -> str:
    return f"user:{userid}"


def group_principal(path: str, role: str | None = None) -> str:
    return f"group:{path}" if role is None else f"group:{path}#{role}"


#: An OAuth client's id as an identity provider issues it (Keycloak's client ids,
#: Okta's ``0oa…``, Entra's GUIDs): letters, digits and ``. _ - : @``.
CLIENT_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$"
_CLIENT_ID = re.compile(CLIENT_ID_PATTERN)


def is_client_id(text: object) -> bool:
    return isinstance(text, str) and _CLIENT_ID.fullmatch(text) is not None


def client_principal(client_id: str) -> str:
    """``client:<id>``: what a client-credentials JWT (no user behind it) carries."""
    return f"client:{client_id}"


@dataclass(frozen=True)
class Principal:
    kind: str  # "system", "user", "group" or "client"
    name: str  # the system principal, the user id, the group path or the client id
    role: str | None = None


def parse_principal(text: str) -> Principal | None:
    """A principal in canonical form, or None (``group:/groups/x/`` is not one)."""
    if text in SYSTEM_PRINCIPALS:
        return Principal("system", text)
    kind, colon, rest = text.partition(":")
    if colon and kind == "user" and is_valid_name(rest):
        return Principal("user", rest)
    if colon and kind == "client" and is_client_id(rest):
        return Principal("client", rest)
    if colon and kind == "group":
        path, hash_, role = rest.partition("#")
        if is_group_path(path) and (not hash_ or role in ROLES):
            return Principal("group", path, role if hash_ else None)
    return None


def principal_group_path(principal: str) -> str | None:
    """The group path a ``group:`` principal names, or None."""
    if not principal.startswith("group:"):
        return None
    return principal[len("group:") :].partition("#")[0]


def rebase_principal(principal: str, old: str, new: str) -> str:
    """A ``group:`` principal after the subtree at ``old`` moved to ``new``."""
    path = principal_group_path(principal)
    if path is None or not is_within(path, old):
        return principal
    return "group:" + rebase(path, old, new) + principal[len("group:") + len(path) :]


def history_paths(*paths: str) -> set[str]:
    """The history keys an event about ``paths`` is filed under.

    ``/groups/eng/groups/backend/members/bob`` -> ``/groups/eng``,
    ``/groups/eng/groups/backend``; ``/users/bob/tokens/x`` -> ``/users/bob``.
    The root and containers have no key of their own: the whole log covers them.
    """
    keys = set()
    for path in paths:
        parts = path.strip("/").split("/")
        if len(parts) < 2:
            continue
        if parts[0] == "users":
            keys.add(user_path(parts[1]))
        elif parts[0] == "groups":
            for end in range(2, len(parts) + 1, 2):
                if parts[end - 2] != "groups":
                    break
                keys.add("/" + "/".join(parts[:end]))
    return keys
