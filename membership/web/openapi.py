"""The OpenAPI 3.1 document, generated from the registered views and the schemas.

Pyramid's introspector says which views exist (context class, view name,
request methods); ``CONTEXT_PATHS`` says where each context class lives in the
URL space; ``OPERATIONS`` says what each view reads and answers, in terms of
the models in ``schemas.py``. Pydantic emits JSON Schema 2020-12, which
OpenAPI 3.1 takes as is.

Traversal lets groups nest to any depth, but an OpenAPI path parameter cannot
span a ``/``. The document therefore lists the group templates at depth 1
(``/groups/{group}``) and depth 2 (``/groups/{group}/groups/{subgroup}``);
deeper groups follow the same pattern, and generated clients can reach them
by following ``links``.

``info.description`` is ``DESCRIPTION``, Markdown for the people who call the
API (``/docs`` renders it); this docstring is for developers. Each operation's
``x-permission`` is the permission its view was registered with, read from the
introspector like the views themselves, and its ``description`` ends with who
holds that permission by default (``_permission_sentence``, from the built-in
ACEs); views registered without one say how they decide in
``DECIDED_IN_VIEW``. The health probes are routes, not traversal views:
``PROBES`` lists them.
"""

from dataclasses import dataclass, field, replace
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter
from pydantic.json_schema import models_json_schema
from pyramid.interfaces import IExceptionResponse
from pyramid.security import NO_PERMISSION_REQUIRED

from ..model import (
    Checks,
    Group,
    Groups,
    Identities,
    LinkedIdentity,
    Members,
    Membership,
    NonMember,
    Root,
    Token,
    Tokens,
    User,
    Users,
)
from ..model.webhooks import Subscription, Webhooks
from ..paths import ADMINS_PATH, NAME_PATTERN
from ..permissions import ROLE_PERMISSIONS, SELF_PERMISSIONS
from ..settings import Settings
from . import schemas

OPENAPI_VERSION = "3.1.0"
REF = "#/components/schemas/{model}"
PROBLEM_JSON = "application/problem+json"
JSON = "application/json"
MERGE_PATCH_JSON = "application/merge-patch+json"

#: Where each context class lives: ``(template, label)`` per documented depth.
#: The label names the operations (``get{label}``), so generated clients get
#: stable method names.
CONTEXT_PATHS: dict[type, list[tuple[str, str]]] = {
    Root: [("/", "")],
    Users: [("/users", "User")],
    User: [("/users/{user}", "User")],
    Tokens: [("/users/{user}/tokens", "Token")],
    Token: [("/users/{user}/tokens/{token}", "Token")],
    Identities: [("/users/{user}/identities", "Identity")],
    LinkedIdentity: [("/users/{user}/identities/{identity}", "Identity")],
    Groups: [
        ("/groups", "Group"),
        ("/groups/{group}/groups", "Subgroup"),
        ("/groups/{group}/groups/{subgroup}/groups", "SubSubgroup"),
    ],
    Group: [("/groups/{group}", "Group"), ("/groups/{group}/groups/{subgroup}", "Subgroup")],
    Members: [
        ("/groups/{group}/members", "GroupMember"),
        ("/groups/{group}/groups/{subgroup}/members", "SubgroupMember"),
    ],
    Membership: [
        ("/groups/{group}/members/{user}", "GroupMember"),
        ("/groups/{group}/groups/{subgroup}/members/{user}", "SubgroupMember"),
    ],
    # Not a stored node: the stand-in for a user who is no direct member. Same URLs.
    NonMember: [
        ("/groups/{group}/members/{user}", "GroupMember"),
        ("/groups/{group}/groups/{subgroup}/members/{user}", "SubgroupMember"),
    ],
    Webhooks: [("/webhooks", "Webhook")],
    Subscription: [("/webhooks/{webhook}", "Webhook")],
    Checks: [("/checks", "Checks")],
}

PATH_PARAMETERS = {
    "user": ("A user id", "admin"),
    "group": ("A top-level group's name", "admins"),
    "subgroup": ("A subgroup's name", "backend"),
    "token": ("A token's id (not its secret)", "0123456789abcdef"),
    "identity": ("A linked identity's number among the user's", "1"),
    "group_id": ("A group's stable id", "0b7c8d46-3f61-4a57-9f5e-2d3c1b0a9e87"),
    "webhook": ("A webhook subscription's id", "0123456789abcdef"),
}
#: Path parameters that are not names.
PATH_PATTERNS = {
    "group_id": r"^[0-9a-f-]{1,64}$",
    "webhook": r"^[0-9a-f]{16}$",
    "identity": r"^[0-9]{1,9}$",
}


@dataclass(frozen=True)
class Operation:
    """What one view reads and answers."""

    operation_id: str  # ``{label}`` is replaced by the context's label
    summary: str
    status: int = 200
    response: type[BaseModel] | None = None
    body: type[BaseModel] | TypeAdapter | None = None
    body_name: str | None = None  # component name of a TypeAdapter body
    query: type[BaseModel] | None = None
    errors: tuple[int, ...] = ()
    if_match: bool = False
    merge_patch: bool = False
    auth: str = "required"  # "optional": anonymous callers too; "none": credentials unused
    media_type: str = JSON
    headers: tuple[str, ...] = ()
    extra: dict = field(default_factory=dict)
    description: str = ""


GET_ERRORS = (400, 401, 403, 404)
WRITE_ERRORS = (400, 401, 403, 404, 413, 415, 422)

DUPLICATE = "A duplicate is a 409 whose `errors` name the field: `%s`."
MERGE_PATCH = (
    "JSON merge patch (RFC 7396): an absent field stays as it is; null removes an optional "
    'field (it reads as null, or "" for text); null on a required one is a 422 naming it. '
    "The answer's ETag is the new one: send it as If-Match for the next change."
)

#: ``(context, view name, method)`` -> what the view does. A registered view
#: missing here is still listed (minimally) and fails ``test_openapi``.
OPERATIONS: dict[tuple[type, str, str], Operation] = {
    (Root, "", "GET"): Operation(
        "getServiceDocument",
        "The service document: version, links, the caller's identity and principals",
        response=schemas.ServiceDocument,
        errors=(401,),
        auth="optional",
    ),
    (Root, "openapi.json", "GET"): Operation(
        "getOpenAPI", "This document", auth="none", extra={"raw": True}
    ),
    (Root, "docs", "GET"): Operation(
        "getDocs", "This document as a page for humans", auth="none", media_type="text/html"
    ),
    (Users, "", "GET"): Operation(
        "list{label}s",
        "List users",
        response=schemas.UserPage,
        query=schemas.ListQuery,
        errors=GET_ERRORS,
        headers=("Link",),
    ),
    (Users, "", "POST"): Operation(
        "create{label}",
        "Create a user",
        status=201,
        response=schemas.UserOut,
        body=schemas.UserCreate,
        errors=(*WRITE_ERRORS, 409),
        headers=("ETag",),
        description=DUPLICATE % "id or user_name (whatever its case)",
    ),
    (User, "", "GET"): Operation(
        "get{label}", "Read a user", response=schemas.UserOut, errors=GET_ERRORS
    ),
    (User, "", "PATCH"): Operation(
        "update{label}",
        "Change a user (JSON merge patch)",
        response=schemas.UserOut,
        body=schemas.UserPatch,
        errors=(*WRITE_ERRORS, 409, 412),
        if_match=True,
        merge_patch=True,
        headers=("ETag",),
        description=MERGE_PATCH,
    ),
    (User, "", "DELETE"): Operation(
        "delete{label}",
        "Delete a user with their memberships and tokens",
        status=204,
        errors=(400, 401, 403, 404, 409, 412),
        if_match=True,
    ),
    (User, "groups", "GET"): Operation(
        "list{label}Groups",
        "A user's groups, direct and inherited",
        response=schemas.UserGroupPage,
        query=schemas.UserGroupsQuery,
        errors=GET_ERRORS,
        headers=("Link",),
    ),
    (Tokens, "", "GET"): Operation(
        "list{label}s",
        "A user's personal access tokens (never their secrets)",
        response=schemas.TokenList,
        errors=GET_ERRORS,
    ),
    (Tokens, "", "POST"): Operation(
        "create{label}",
        "Create a personal access token; the secret is in this answer only",
        status=201,
        response=schemas.TokenOut,
        body=schemas.TokenCreate,
        errors=WRITE_ERRORS,
        headers=("ETag",),
        description="The ETag is that of the token's record as GET shows it (without the secret).",
    ),
    (Token, "", "GET"): Operation(
        "get{label}", "Read a token's record", response=schemas.TokenOut, errors=GET_ERRORS
    ),
    (Token, "", "DELETE"): Operation(
        "revoke{label}", "Revoke a token", status=204, errors=(400, 401, 403, 404)
    ),
    (Identities, "", "GET"): Operation(
        "list{label}s",
        "The identity provider's (issuer, subject) pairs linked to this user",
        response=schemas.LinkedIdentityList,
        errors=GET_ERRORS,
    ),
    (Identities, "", "POST"): Operation(
        "link{label}",
        "Link an (issuer, subject) pair: that provider's JWTs with this iss and sub act "
        "as this user",
        status=201,
        response=schemas.LinkedIdentityOut,
        body=schemas.LinkedIdentityCreate,
        errors=(*WRITE_ERRORS, 409),
        headers=("ETag",),
        description="A pair names one user at most: linking it again is a 409 naming "
        "`subject`. `issuer` and `subject` are compared exactly, as the token says them.",
    ),
    (LinkedIdentity, "", "GET"): Operation(
        "get{label}",
        "Read a linked identity",
        response=schemas.LinkedIdentityOut,
        errors=GET_ERRORS,
    ),
    (LinkedIdentity, "", "DELETE"): Operation(
        "unlink{label}",
        "Unlink an identity: its tokens no longer act as this user",
        status=204,
        errors=(400, 401, 403, 404),
    ),
    (Groups, "", "GET"): Operation(
        "list{label}s",
        "List groups",
        response=schemas.GroupPage,
        query=schemas.ListQuery,
        errors=GET_ERRORS,
        headers=("Link",),
    ),
    (Groups, "", "POST"): Operation(
        "create{label}",
        "Create a group",
        status=201,
        response=schemas.GroupOut,
        body=schemas.GroupCreate,
        errors=(*WRITE_ERRORS, 409),
        headers=("ETag",),
        description=DUPLICATE % "name",
    ),
    (Groups, "@id", "GET"): Operation(
        "findGroupById",
        "Redirect (307) to the group with this stable id, wherever it has moved",
        status=307,
        errors=GET_ERRORS,
        headers=("Location",),
        extra={"only": ("/groups",), "subpath": "/{group_id}"},
    ),
    (Group, "", "GET"): Operation(
        "get{label}", "Read a group", response=schemas.GroupOut, errors=GET_ERRORS
    ),
    (Group, "", "PATCH"): Operation(
        "update{label}",
        "Change a group's title or description (JSON merge patch)",
        response=schemas.GroupOut,
        body=schemas.GroupPatch,
        errors=(*WRITE_ERRORS, 412),
        if_match=True,
        merge_patch=True,
        headers=("ETag",),
        description=MERGE_PATCH,
    ),
    (Group, "", "DELETE"): Operation(
        "delete{label}",
        "Delete a group, its subgroups and every membership in them",
        status=204,
        errors=(400, 401, 403, 404, 409, 412),
        if_match=True,
    ),
    (Group, "move", "POST"): Operation(
        "move{label}",
        "Move this group and its subtree under another group (or to the top level)",
        response=schemas.GroupOut,
        body=schemas.GroupMove,
        errors=(*WRITE_ERRORS, 409),
        headers=("Location", "ETag"),
        description=DUPLICATE % "to",
    ),
    (Members, "", "GET"): Operation(
        "list{label}s",
        "List members (?role=, ?prefix=, ?effective=true)",
        response=schemas.MemberPage,
        query=schemas.MembersQuery,
        errors=GET_ERRORS,
        headers=("Link",),
        description="`role` filters direct memberships: with `effective=true` it is a 400 "
        "naming `role`, never silently ignored.",
    ),
    (Members, "", "POST"): Operation(
        "add{label}",
        "Add a member",
        status=201,
        response=schemas.MembershipOut,
        body=schemas.MembershipCreate,
        errors=(*WRITE_ERRORS, 409),
        headers=("ETag",),
        description=DUPLICATE % "user",
    ),
    (Members, "", "PATCH"): Operation(
        "change{label}s",
        "Bulk changes: a list of add/remove/replace, all or nothing",
        response=schemas.BulkResult,
        body=schemas.BulkMembers,
        body_name="BulkMembers",
        errors=(*WRITE_ERRORS, 409),
        description="A failing item is named by `operation` (its index) and `errors` "
        '(`"field": "3.user"`), whether the schema or the rules refuse it; nothing is applied. '
        "Removing a non-member and adding an unknown user are 422, a duplicate add 409.",
    ),
    (Membership, "", "GET"): Operation(
        "check{label}",
        "The membership check: 200 for a member, 404 otherwise",
        response=schemas.MembershipOut,
        query=schemas.MemberCheckQuery,
        errors=GET_ERRORS,
        extra={"alternatives": [schemas.EffectiveMembershipOut]},
        description="A 404 says why in its problem `type` (no need to parse `detail`): "
        + "; ".join(f"`{uri}`: {meaning}" for uri, meaning in schemas.PROBLEM_TYPES.items())
        + ".",
    ),
    (Membership, "", "PATCH"): Operation(
        "update{label}",
        "Change a member's role or expiry (JSON merge patch)",
        response=schemas.MembershipOut,
        body=schemas.MembershipPatch,
        errors=(*WRITE_ERRORS, 409, 412),
        if_match=True,
        merge_patch=True,
        headers=("ETag",),
        description=MERGE_PATCH,
    ),
    (Membership, "", "DELETE"): Operation(
        "remove{label}",
        "Remove a member",
        status=204,
        errors=(400, 401, 403, 404, 409, 412),
        if_match=True,
    ),
}


#: Views on ``NonMember`` answer on the same URLs as ``Membership``.
def _acl_and_history_operations() -> dict:
    """The same ACL, permissions and history views sit on the root, groups and users."""
    operations = {}
    for context in (Root, Group, User):
        operations[(context, "acl", "GET")] = Operation(
            "get{label}Acl",
            "This node's local ACEs, its built-in ones, and every ACE that applies here",
            response=schemas.AclOut,
            errors=GET_ERRORS,
        )
        operations[(context, "acl", "PUT")] = Operation(
            "replace{label}Acl",
            "Replace this node's local ACEs (built-in ones stay)",
            response=schemas.AclOut,
            body=schemas.AclPut,
            errors=(*WRITE_ERRORS, 409, 412),
            if_match=True,
            headers=("ETag",),
        )
        operations[(context, "acl", "PATCH")] = Operation(
            "patch{label}Acl",
            "Remove some local ACEs (exact matches), then append others",
            response=schemas.AclOut,
            body=schemas.AclPatch,
            errors=(*WRITE_ERRORS, 409, 412),
            if_match=True,
            headers=("ETag",),
        )
        operations[(context, "permissions", "GET")] = Operation(
            "explain{label}Permissions",
            "Which permissions a principal has here, and the ACE that decided each",
            response=schemas.PermissionsOut,
            query=schemas.PermissionsQuery,
            errors=GET_ERRORS,
        )
        operations[(context, "changes", "GET")] = Operation(
            "list{label}Changes",
            "Changes in commit order after a cursor (?after=, ?types=, ?limit=, ?wait= long-poll)",
            response=schemas.ChangesPage,
            query=schemas.ChangesQuery,
            errors=(*GET_ERRORS, 410),
        )
        operations[(context, "history", "GET")] = Operation(
            "list{label}History",
            "Audit events, newest first (?actor=, ?action=, ?since=)",
            response=schemas.HistoryPage,
            query=schemas.RootHistoryQuery if context is Root else schemas.HistoryQuery,
            errors=GET_ERRORS,
            headers=("Link",),
        )
    return operations


OPERATIONS.update(_acl_and_history_operations())

OPERATIONS[(Checks, "", "POST")] = Operation(
    "answer{label}",
    "Batch checks: up to 1,000 membership and permission questions, answered in order",
    response=schemas.ChecksOut,
    body=schemas.ChecksIn,
    errors=(400, 401, 403, 413, 415),
    description="One read of the tree answers every question; nothing is written. An item "
    'is `{"user", "group", "effective"?}` (is the user a member of the group, given by path '
    'or by id; `effective`: through a subgroup counts too) or `{"principal" | "user", '
    '"permission", "path"}` (does the principal hold the permission on the node at `path`; '
    "`decided_by` is the ACE that decided). A question you may not ask is answered "
    '`{"error": "forbidden"}` in its place (a membership question needs `view` on the '
    "group; a permission question about yourself `view` on the node, about anyone else "
    '`manage-acl` there); an unknown group, node or user is `{"error": "not_found"}`; a '
    "group asked for by id that you may not view is `not_found` too. A malformed item, or "
    "more than 1,000, is a 400 whose `errors` name `items.<i>.<field>` and whose `item` is "
    "the index. A token with the `read` scope may call it.",
)


def _webhook_operations() -> dict:
    """``/webhooks``: subscriptions, delivered by the dispatcher (``membership.dispatch``)."""
    return {
        (Webhooks, "", "GET"): Operation(
            "list{label}s",
            "Your webhook subscriptions (admins: all of them)",
            response=schemas.WebhookList,
            errors=GET_ERRORS,
        ),
        (Webhooks, "", "POST"): Operation(
            "create{label}",
            "Subscribe a URL to the changes of a group, a user or everything; the signing "
            "secret is in this answer only",
            status=201,
            response=schemas.WebhookOut,
            body=schemas.WebhookCreate,
            errors=WRITE_ERRORS,
            description="Admins may subscribe to anything; anyone else needs view-history "
            "on `path`. A URL whose host resolves to a loopback, private or link-local "
            "address is a 422 (unless membership.webhooks.allow_private). Delivery starts "
            "with the changes committed after this one.",
        ),
        (Subscription, "", "GET"): Operation(
            "get{label}",
            "A subscription and its delivery state",
            response=schemas.WebhookOut,
            errors=GET_ERRORS,
        ),
        (Subscription, "", "PATCH"): Operation(
            "update{label}",
            "Change the URL, types, description; pause or resume (active); replay (cursor)",
            response=schemas.WebhookOut,
            body=schemas.WebhookPatch,
            errors=(*WRITE_ERRORS, 410),
            merge_patch=True,
        ),
        (Subscription, "", "DELETE"): Operation(
            "delete{label}", "Delete a subscription", status=204, errors=(400, 401, 403, 404)
        ),
        (Subscription, "test", "POST"): Operation(
            "test{label}",
            "Send one signed webhook.test message now and answer what the receiver said",
            response=schemas.WebhookTestOut,
            errors=(400, 401, 403, 404),
        ),
        (Subscription, "rotate-secret", "POST"): Operation(
            "rotate{label}Secret",
            "A new signing secret (in this answer only); the old one keeps signing beside "
            "it for 24 hours",
            response=schemas.WebhookOut,
            errors=(400, 401, 403, 404),
        ),
        (Subscription, "deliveries", "GET"): Operation(
            "list{label}Deliveries",
            "Recent delivery attempts, newest first: event, status, latency, error, next try",
            response=schemas.DeliveryList,
            errors=GET_ERRORS,
        ),
    }


OPERATIONS.update(_webhook_operations())


def _options_operations() -> dict:
    """``OPTIONS`` wherever some other method is described (``views/options.py``)."""
    operations = {}
    for (context, name, _), described in list(OPERATIONS.items()):
        if (context, name, "OPTIONS") in operations:
            continue
        get = OPERATIONS.get((context, name, "GET"))
        auth = get.auth if get is not None else "required"
        camel = "".join(part.title() for part in name.replace("@", "").split("."))
        operations[(context, name, "OPTIONS")] = Operation(
            f"options{context.__name__}{camel}{{label}}",
            "The methods this URL answers, in Allow",
            status=204,
            errors=() if auth == "none" else (401, 403, 404),
            auth=auth,
            headers=("Allow",),
            extra={k: v for k, v in described.extra.items() if k in ("only", "subpath")},
            description="Asks what GET asks here: credentials (unless GET needs none) "
            "and GET's permission.",
        )
    return operations


OPERATIONS.update(_options_operations())

ALIASES = {NonMember: Membership}

#: ``info.description``: for the people calling the API (Markdown; ``/docs`` shows it).
DESCRIPTION = """\
A self-hosted group-membership service: users, groups nested to any depth, memberships
with a role (`member`, `manager` or `owner`) and an optional expiry, per-node access
control lists, personal access tokens and an audit log. Other services ask it *who is in
this group*, *which groups is this user in* and *may this principal do that here*.

## Authentication

- **HTTP Basic** (`basicAuth`): a user id and password.
- **Bearer tokens** (`bearerAuth`): `Authorization: Bearer <token>`, with a personal
  access token from `POST /users/{user}/tokens` (its secret is shown once), or, where
  the operator configured an identity provider, a JWT access token it issued: it acts
  as the user its `(iss, sub)` is linked to (`/users/{user}/identities`), or as the
  OAuth client it names (principal `client:<id>`). A refused JWT is a 401 with
  `WWW-Authenticate: Bearer error="invalid_token", error_description="…"`; when the
  provider's keys cannot be fetched, 503.
- **Scopes**: a token may be narrowed to `read` (GET, HEAD, OPTIONS), `write` (read
  plus changes to users, groups, members, webhooks), `acl` (read plus ACL changes),
  `provision` (SCIM only) or `admin` (everything its user may do: the default). A
  JWT's `scope`/`scp` claim names them too. A request its scopes do not cover is a 403
  with `WWW-Authenticate: Bearer error="insufficient_scope", scope="…"` and `scope` in
  the body.

No credentials, or credentials not accepted: 401. Authenticated but not allowed: 403.
Each operation names the permission it needs in `x-permission` and in its description.
The service document (`GET /`), this document, `/docs` and the health probes need no
credentials.

## Conventions

- Bodies are JSON (`application/json`); the merge-patch operations also take
  `application/merge-patch+json`. Unknown body fields are errors.
- Resources carry `links` (`self` and related URLs): follow them instead of building URLs.
- Errors are `application/problem+json` (RFC 9457, schema `Problem`); `errors` names
  the fields at fault.
- Reads send an `ETag`: `If-None-Match` answers 304; writes that take `If-Match`
  answer 412 when the resource changed in between.
- Lists are paged with `?limit=` and an opaque `?cursor=`: follow `next` (or the
  `Link: <…>; rel="next"` header) until it is absent.

## Group paths

Groups nest: `/groups/eng/groups/backend/groups/…`. A path parameter cannot contain
`/`, so this document lists two depths, `/groups/{group}` and
`/groups/{group}/groups/{subgroup}`; deeper groups answer the same operations under
the same suffixes.

A group's `id` never changes, moves included: `GET /groups/@id/{id}` redirects (307)
to its current URL.

More (installation, configuration, access control, deployment): `README.md` in the
source tree.
"""

#: Who holds every permission everywhere (the admins ACE comes first on every node).
ADMINS = f"the admins (members of `{ADMINS_PATH}`)"

_ABOUT_SELF = (
    "Needs no registered permission, only credentials: anyone may ask about themself "
    "(the default); asking about another principal (`?principal=`) needs `manage-acl` here."
)

#: Views registered without a permission because they decide inside; each says how.
#: Keyed like ``OPERATIONS``. ``test_docs`` fails for a permission-less view that
#: needs credentials and is missing here.
DECIDED_IN_VIEW: dict[tuple[type, str, str], str] = {
    (Root, "", "GET"): (
        "Needs no permission and no credentials: an anonymous caller gets an empty "
        "identity. Credentials that are sent must be valid: they are refused, not ignored."
    ),
    (Groups, "@id", "GET"): (
        "Needs no permission itself, only credentials; it answers 404 unless the caller "
        "has `view` on the group, as its current URL does."
    ),
    **{(context, "permissions", "GET"): _ABOUT_SELF for context in (Root, Group, User)},
}

_OWNER_ROLE = (
    "Granting, changing or removing the `owner` role also needs `grant-owner` "
    "(by default owners and the admins)."
)
_ACL_GUARDS = (
    "Each permission an added ACE grants must be one the caller holds here, and no change "
    "may take `manage-acl` here away from the caller."
)

#: What the service checks beyond the view's permission, by operation (keyed like
#: ``OPERATIONS``): appended to the permission sentence.
ALSO_CHECKED: dict[tuple[type, str, str], str] = {
    (Group, "move", "POST"): (
        "Also needs `create-group` where it lands and, under a group, `manage-members` "
        "there (its members become members of the new parent)."
    ),
    (User, "", "PATCH"): (
        "Changing your own password also needs `current_password` "
        "(admins reset other users' passwords without it)."
    ),
    (Members, "", "POST"): _OWNER_ROLE,
    (Members, "", "PATCH"): _OWNER_ROLE,
    (Membership, "", "PATCH"): _OWNER_ROLE,
    (Membership, "", "DELETE"): _OWNER_ROLE,
    **{
        (context, "acl", method): _ACL_GUARDS
        for context in (Root, Group, User)
        for method in ("PUT", "PATCH")
    },
}


class Health(BaseModel):
    """A health probe's answer: its status and nothing else."""

    model_config = ConfigDict(extra="forbid")

    status: Literal["ok"]


class FeedHealth(BaseModel):
    """The change feed's upkeep (``GET /health``)."""

    model_config = ConfigDict(extra="forbid")

    status: Literal["ok", "degraded"]
    unsealed_batches: int = Field(description="Batches waiting to be sealed (counted up to 1,000)")
    unsealed_batches_capped: bool = Field(description="True: there are more than counted")
    oldest_unsealed_seconds: float = Field(description="Age of the oldest; 0: none waits")
    detail: str | None = Field(None, description="When degraded: what is wrong and what to run")


class ServiceHealth(BaseModel):
    """``GET /health``: ``ok``, or ``degraded`` with a ``detail`` naming the fix."""

    model_config = ConfigDict(extra="forbid")

    status: Literal["ok", "degraded"]
    feed: FeedHealth
    detail: str | None = None


#: The health probes (``views/health.py``): routes, not traversal views, so they are
#: listed here; each is documented when its route is registered.
PROBES: dict[str, Operation] = {
    "/healthz": Operation(
        "getHealth",
        "Liveness: the process is up and serving (never touches the storage)",
        response=Health,
        auth="none",
    ),
    "/health": Operation(
        "getServiceHealth",
        "Upkeep: ok, or degraded (change-feed batches wait to be sealed: no dispatcher "
        "runs) with what to do; 200 either way",
        response=ServiceHealth,
        auth="none",
    ),
    "/readyz": Operation(
        "getReadiness",
        "Readiness: the storage is reachable and the tree is initialized",
        response=Health,
        auth="none",
        extra={
            "status_text": {
                503: "Not ready: the storage cannot be reached or the tree is not "
                "initialized (the reason goes to the log); Retry-After",
            },
        },
    ),
}

#: Answers any request may get, whatever the operation.
COMMON_ERRORS = (400, 429, 500, 503)

STATUS_TEXT = {
    200: "OK",
    201: "Created (the new resource; its URL in Location)",
    204: "No Content",
    304: "Not Modified (If-None-Match matched the ETag)",
    410: "Gone: the cursor is older than what the service still holds; resync",
    307: "Temporary Redirect: the resource's current URL is in Location",
    400: "Malformed request: bad JSON, a bad query parameter, a bad name in the URL",
    401: "No credentials, or credentials not accepted",
    403: "Authenticated, but not allowed",
    404: "Nothing there (also: the membership check for a non-member)",
    409: "Already exists, or a change the service refuses (it would lock the admins out)",
    412: "If-Match does not match the current ETag",
    413: "Body larger than membership.max_body_bytes",
    415: "Body not sent as application/json",
    422: "Well-formed JSON that breaks the schema; errors name the fields",
    429: "Too many failed logins; Retry-After says when to try again",
    500: "The server failed; the body carries a request_id to quote",
    503: "Not initialized, a write that kept conflicting, or the identity provider's keys "
    "cannot be fetched to check a JWT; Retry-After",
}

HEADERS = {
    "X-Request-ID": {
        "description": "This request's id, as in the access log (echoes a sane incoming one)",
        "schema": {"type": "string"},
    },
    "ETag": {"description": "Version of the representation", "schema": {"type": "string"}},
    "Location": {"description": "URL of the new resource", "schema": {"type": "string"}},
    "Link": {"description": 'The next page: `<url>; rel="next"`', "schema": {"type": "string"}},
    "Retry-After": {"description": "Seconds to wait", "schema": {"type": "string"}},
    "WWW-Authenticate": {
        "description": 'Basic realm="membership"; for a refused JWT (401) or a token '
        'without the scope needed (403), an RFC 6750 Bearer challenge: error="invalid_token" '
        'or error="insufficient_scope"',
        "schema": {"type": "string"},
    },
    "Allow": {"description": "Methods this URL answers", "schema": {"type": "string"}},
}


def registered_views(registry) -> list[tuple[type, str, tuple[str, ...] | None]]:
    """``(context, name, methods)`` of every non-exception view (``None``: any method)."""
    return [(context, name, methods) for context, name, methods, _ in traversal_views(registry)]


def traversal_views(registry) -> list[tuple[type, str, tuple[str, ...] | None, str | None]]:
    """``(context, name, methods, permission)`` of every non-exception traversal view.

    ``permission`` is the one the view was registered with (``None``: none, or
    ``NO_PERMISSION_REQUIRED``).
    """
    views = []
    for view, permission in _views(registry):
        context = view["context"]
        if not isinstance(context, type) or view.get("exception_only"):
            continue  # no context, an interface (Pyramid's own exception response view)
        if view.get("route_name"):
            continue  # a route's view: the probes (PROBES) or the admin UI's pages (/ui/)
        if issubclass(context, BaseException) or IExceptionResponse.implementedBy(context):
            continue
        views.append((context, view["name"] or "", _methods(view), permission))
    return views


def route_views(registry) -> dict[str, tuple[tuple[str, ...] | None, str | None]]:
    """Route pattern -> ``(methods, permission)`` of the view on that route."""
    routes = registry.introspector.get_category("routes") or []
    patterns = {r["introspectable"]["name"]: r["introspectable"]["pattern"] for r in routes}
    return {
        patterns[view["route_name"]]: (_methods(view), permission)
        for view, permission in _views(registry)
        if view["route_name"] in patterns
    }


def _views(registry):
    """``(view introspectable, permission)`` of every registered view."""
    for entry in registry.introspector.get_category("views") or []:
        view = entry["introspectable"]
        permission = view.get("permission")
        if permission is None:  # Pyramid 2 keeps it in a related introspectable
            related = [r for r in entry["related"] if r.category_name == "permissions"]
            permission = related[0]["value"] if related else None
        if permission == NO_PERMISSION_REQUIRED:
            permission = None
        yield view, None if permission is None else str(permission)


def _methods(view) -> tuple[str, ...] | None:
    methods = view["request_methods"]
    if isinstance(methods, str):
        methods = (methods,)
    return tuple(methods) if methods else None


def _permission_sentence(key: tuple, permission: str | None, path: str, auth: str) -> str:
    """Who may call an operation, for its description: the view's permission and,
    from the built-in ACEs, who holds it by default."""
    if permission is None:
        sentence = DECIDED_IN_VIEW.get(key) or (
            "Needs no credentials and no permission." if auth == "none" else "Needs no permission."
        )
    else:
        holders = None
        if path.startswith("/groups/{group}"):
            where = "the group"
            roles = [role for role, granted in ROLE_PERMISSIONS.items() if permission in granted]
            if len(roles) == len(ROLE_PERMISSIONS):
                holders = "its members of any role (also of a group above it or of a subgroup)"
            elif roles:  # not all three: one or two
                listed = " and ".join(f"{role}s" for role in roles)
                holders = f"its {listed} (also of a group above it)"
        elif path.startswith("/users/{user}"):
            where = "the user"
            if permission in SELF_PERMISSIONS:
                holders = "the user themself"
        elif path == "/checks":
            where = "`/checks`"
            holders = "everyone logged in"
        else:
            where = "the root (`/`)"
        who = f"{holders} and {ADMINS}" if holders else f"only {ADMINS}"
        sentence = (
            f"Needs `{permission}` on {where}: by default {who}; ACEs can grant it to others."
        )
    also = ALSO_CHECKED.get(key)
    return f"{sentence} {also}" if also else sentence


def _options_sentence(key: tuple, get_permission: str | None, path: str) -> str:
    """``OPTIONS`` registers no permission: it asks what ``GET`` asks on the same URL
    (credentials, unless ``GET`` needs none, and ``GET``'s permission if any)."""
    get_key = (*key[:2], "GET")
    get = OPERATIONS.get(get_key)
    auth = get.auth if get is not None else "required"
    if get_permission is not None:
        return "Asks what `GET` asks here. " + _permission_sentence(
            get_key, get_permission, path, auth
        )
    return {
        "none": "Needs no credentials and no permission.",
        "optional": "Needs no credentials and no permission (credentials sent must be valid).",
    }.get(auth, "Needs credentials, and no permission.")


def _with_permission(
    out: dict,
    op: Operation,
    key: tuple,
    permission: str | None,
    path: str,
    sentence: str | None = None,
) -> dict:
    """``x-permission`` and the permission sentence, after any description of ``op``."""
    own = out.get("description") or getattr(op, "description", None)
    sentence = sentence or _permission_sentence(key, permission, path, op.auth)
    out["description"] = f"{own.rstrip()}\n\n{sentence}" if own else sentence
    out["x-permission"] = permission
    return out


def _probe(components: "_Components", op: Operation, path: str) -> dict:
    """A health probe: ``op`` without conditional requests (no ETag), with its own 503."""
    out = _operation(components, replace(op, response=None), path, "", "GET")
    out["tags"] = ["health"]
    responses = out["responses"]
    responses["200"]["content"] = {JSON: {"schema": components.ref(op.response, "serialization")}}
    for status, text in op.extra.get("status_text", {}).items():
        responses[str(status)] = {
            "description": text,
            "headers": _error_headers(status),
            "content": {PROBLEM_JSON: {"schema": {"$ref": REF.format(model="Problem")}}},
        }
        components.statuses.add(status)
    return out


def build_openapi(registry, *, version: str = "0") -> dict:
    """The OpenAPI 3.1 document of the views registered in ``registry``."""
    components = _Components()
    settings = getattr(registry, "membership_settings", None)
    if settings is not None:
        components.max_etag_header = settings.max_etag_header
    paths: dict[str, dict] = {}
    views = traversal_views(registry)
    #: The permission of each GET view, which its OPTIONS asks for too (``views/options.py``).
    gets = {(ALIASES.get(c, c), n): p for c, n, methods, p in views if "GET" in (methods or ())}
    for context, name, methods, permission in sorted(
        views, key=lambda v: (v[0].__name__, v[1], v[2] or ())
    ):
        if methods is None:
            continue  # catch-all views (NonMember): their URLs are documented by others
        key_context = ALIASES.get(context, context)
        for method in methods:
            if method == "HEAD":
                continue
            operation = OPERATIONS.get((key_context, name, method))
            if operation is None:  # listed, loosely; test_openapi asks for a description
                operation = Operation(
                    f"{method.lower()}{key_context.__name__}{name.title()}{{label}}",
                    "(not described yet)",
                    errors=(*WRITE_ERRORS, 409, 412),
                    extra={"raw": True},
                )
            for template, label in CONTEXT_PATHS.get(context, []):
                only = operation.extra.get("only")
                if only is not None and template not in only:
                    continue
                path = template if not name else template.rstrip("/") + "/" + name
                path += operation.extra.get("subpath", "")
                entry = paths.setdefault(path, {})
                if method.lower() in entry:
                    continue
                out = _operation(components, operation, path, label, method)
                key = (key_context, name, method)
                sentence = None
                if method == "OPTIONS" and permission is None:
                    sentence = _options_sentence(key, gets.get(key[:2]), path)
                entry[method.lower()] = _with_permission(
                    out, operation, key, permission, path, sentence
                )
    routes = route_views(registry)
    for path, operation in PROBES.items():
        if path in routes:
            out = _probe(components, operation, path)
            key = (None, path, "GET")
            paths[path] = {"get": _with_permission(out, operation, key, routes[path][1], path)}
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": "membership",
            "version": version,
            "summary": "Users, groups at any depth, memberships and personal access tokens",
            "description": DESCRIPTION,
        },
        "jsonSchemaDialect": "https://spec.openapis.org/oas/3.1/dialect/base",
        "servers": [{"url": "/"}],
        "security": [{"basicAuth": []}, {"bearerAuth": []}],
        "paths": dict(sorted(paths.items())),
        "components": components.render(),
    }


def _operation(components: "_Components", op: Operation, path: str, label: str, method: str):
    out: dict[str, Any] = {
        "operationId": op.operation_id.format(label=label),
        "summary": op.summary,
        "tags": [path.strip("/").split("/")[0] or "service"],
    }
    if op.description:
        out["description"] = op.description
    if op.auth == "optional":
        out["security"] = [{}, {"basicAuth": []}, {"bearerAuth": []}]
    elif op.auth == "none":
        out["security"] = []
    parameters = [_path_parameter(name) for name in _placeholders(path)]
    if op.query is not None:
        parameters += _query_parameters(op.query)
    if op.if_match:
        parameters.append(
            {
                "name": "If-Match",
                "in": "header",
                "required": False,
                "description": "Only change the resource if its ETag is one of these",
                "schema": {"type": "string", "maxLength": components.max_etag_header},
            }
        )
    if method == "GET" and op.response is not None:
        parameters.append(
            {
                "name": "If-None-Match",
                "in": "header",
                "required": False,
                "description": "Answer 304 if the ETag is one of these",
                "schema": {"type": "string", "maxLength": components.max_etag_header},
            }
        )
    if parameters:
        out["parameters"] = parameters
    if op.body is not None:
        schema = components.ref(op.body, "validation", name=op.body_name)
        content = {JSON: {"schema": schema}}
        if op.merge_patch:
            content[MERGE_PATCH_JSON] = {"schema": schema}
        out["requestBody"] = {"required": True, "content": content}
    responses: dict[str, Any] = {}
    success: dict[str, Any] = {"description": STATUS_TEXT.get(op.status, "OK")}
    headers = {"X-Request-ID": {"$ref": "#/components/headers/X-Request-ID"}}
    if op.status == 201:
        headers["Location"] = {"$ref": "#/components/headers/Location"}
    if method == "GET" and op.response is not None:
        headers["ETag"] = {"$ref": "#/components/headers/ETag"}
    for name in op.headers:
        headers[name] = {"$ref": f"#/components/headers/{name}"}
    success["headers"] = headers
    if op.response is not None:
        schema = components.ref(op.response, "serialization")
        alternatives = op.extra.get("alternatives")
        if alternatives:
            schema = {
                "anyOf": [schema, *(components.ref(m, "serialization") for m in alternatives)]
            }
        success["content"] = {op.media_type: {"schema": schema}}
    elif op.extra.get("raw"):
        success["content"] = {JSON: {"schema": {"type": "object"}}}
    elif op.media_type != JSON:
        success["content"] = {op.media_type: {"schema": {"type": "string"}}}
    responses[str(op.status)] = success
    if method == "GET" and op.response is not None:
        responses["304"] = {
            "description": STATUS_TEXT[304],
            "headers": {"ETag": {"$ref": "#/components/headers/ETag"}},
        }
    for status in sorted({*op.errors, *COMMON_ERRORS}):
        responses[str(status)] = {"$ref": f"#/components/responses/{status}"}
        components.statuses.add(status)
    out["responses"] = responses
    return out


def _placeholders(path: str) -> list[str]:
    return [part[1:-1] for part in path.split("/") if part.startswith("{")]


def _path_parameter(name: str) -> dict:
    description, example = PATH_PARAMETERS[name]
    return {
        "name": name,
        "in": "path",
        "required": True,
        "description": description,
        "schema": {
            "type": "string",
            "pattern": PATH_PATTERNS.get(name, NAME_PATTERN),
            "maxLength": 64,
        },
        "example": example,
    }


def _query_parameters(model: type[BaseModel]) -> list[dict]:
    schema = model.model_json_schema(ref_template=REF)
    params = []
    for name, prop in schema.get("properties", {}).items():
        prop = {k: v for k, v in prop.items() if k not in ("title", "description")}
        options = prop.pop("anyOf", None)
        if options:  # ``str | None``: a query string cannot say null, leaving it out does
            prop.update(next(o for o in options if o.get("type") != "null"))
            if prop.get("default", ...) is None:
                del prop["default"]
        params.append(
            {
                "name": name,
                "in": "query",
                "required": name in schema.get("required", ()),
                "description": model.model_fields[name].description or name,
                "schema": prop,
            }
        )
    return params


class _Components:
    """Collects the schemas the operations refer to, then renders ``components``."""

    def __init__(self) -> None:
        self.max_etag_header = Settings.model_fields["max_etag_header"].default
        self.models: dict[tuple[type[BaseModel], str], None] = {}
        self.adapters: dict[str, TypeAdapter] = {}
        self.statuses: set[int] = set()

    def ref(self, model, mode: str, name: str | None = None) -> dict:
        if isinstance(model, TypeAdapter):
            self.adapters[name] = model
            return {"$ref": REF.format(model=name)}
        self.models[(model, mode)] = None
        return {"$ref": REF.format(model=model.__name__)}

    def render(self) -> dict:
        self.models[(schemas.Problem, "serialization")] = None
        inputs = [(model, mode) for model, mode in self.models]
        _, top = models_json_schema(inputs, ref_template=REF)
        defined: dict = dict(top.get("$defs", {}))
        for name, adapter in self.adapters.items():
            schema = adapter.json_schema(ref_template=REF)
            defined.update(schema.pop("$defs", {}))
            defined[name] = schema
        responses = {
            str(status): {
                "description": STATUS_TEXT[status],
                "headers": _error_headers(status),
                "content": {PROBLEM_JSON: {"schema": {"$ref": REF.format(model="Problem")}}},
            }
            for status in sorted(self.statuses)
        }
        return {
            "schemas": dict(sorted(defined.items())),
            "responses": responses,
            "headers": HEADERS,
            "securitySchemes": {
                "basicAuth": {
                    "type": "http",
                    "scheme": "basic",
                    "description": "User id and password (argon2id; slow on purpose)",
                },
                "bearerAuth": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "A personal access token from POST /users/{user}/tokens, "
                    "or a JWT access token from the operator's identity provider",
                },
            },
        }


def _error_headers(status: int) -> dict:
    headers = {"X-Request-ID": {"$ref": "#/components/headers/X-Request-ID"}}
    if status in (401, 403):
        headers["WWW-Authenticate"] = {"$ref": "#/components/headers/WWW-Authenticate"}
    if status in (429, 503):
        headers["Retry-After"] = {"$ref": "#/components/headers/Retry-After"}
    return headers


def openapi_for(registry) -> dict:
    """The document for this app, built once."""
    document = getattr(registry, "_membership_openapi", None)
    if document is None:
        from .views.root import VERSION

        document = build_openapi(registry, version=VERSION)
        registry._membership_openapi = document
    return document
