"""Request and response schemas: the one place that says what a body may hold.

Views validate with these and nothing else parses JSON by hand; the same
models produce the OpenAPI document. Pydantic v2 because it validates JSON in
one pass in Rust (malformed, non-UTF-8 and absurdly deep input included) and
emits JSON Schema 2020-12, which OpenAPI 3.1 uses as is.
"""

import re
from datetime import datetime
from typing import Annotated, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    StringConstraints,
    Tag,
    TypeAdapter,
)
from pydantic_core import PydanticCustomError

from ..domain import identities as _identities  # noqa: F401  (its events: recorded actions)
from ..domain.events import DomainEvent
from ..paths import NAME_PATTERN
from ..permissions import Permission
from ..scopes import SCOPES

Name = Annotated[str, StringConstraints(pattern=NAME_PATTERN)]
Role = Literal["member", "manager", "owner"]
Password = Annotated[str, StringConstraints(min_length=8, max_length=1024)]
Text = Annotated[str, StringConstraints(max_length=1000)]
ShortText = Annotated[str, StringConstraints(max_length=200)]
Email = Annotated[str, StringConstraints(max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")]

MAX_BULK_OPERATIONS = 100_000

#: ``type`` of the problems a client may tell apart without reading ``detail``;
#: every other problem is ``about:blank`` (its status says it all).
PROBLEM_BASE = "urn:membership:problem:"
NOT_A_MEMBER = PROBLEM_BASE + "not-a-member"
NO_SUCH_USER = PROBLEM_BASE + "no-such-user"
NO_SUCH_GROUP = PROBLEM_BASE + "no-such-group"
PROBLEM_TYPES = {
    NOT_A_MEMBER: "404: the user exists but is not a member (or the membership has expired)",
    NO_SUCH_USER: "404: there is no user with that id",
    NO_SUCH_GROUP: "404: there is no group at that path",
}


def _not_null(value: object) -> object:
    if value is None:
        raise PydanticCustomError(
            "not_null", "required: it cannot be removed (null removes optional fields only)"
        )
    return value


def _no_default(schema: dict) -> None:
    schema.pop("default", None)


#: A merge-patch field the resource cannot be without: absent leaves it, null is a 422.
NotNull = BeforeValidator(_not_null)


def keep():
    """Default of a ``NotNull`` merge-patch field: absent leaves the field as it is."""
    return Field(None, json_schema_extra=_no_default)


class Input(BaseModel):
    """Request bodies: unknown fields are errors, and no silent type coercion."""

    model_config = ConfigDict(extra="forbid", strict=True)


UserName = Annotated[str, StringConstraints(min_length=1, max_length=256, pattern=r"\S")]
ExternalId = Annotated[str, StringConstraints(min_length=1, max_length=256)]


class EmailEntry(Input):
    """One of a user's emails (SCIM ``emails``); ``email`` is the primary one's value."""

    value: Email
    type: Annotated[str, StringConstraints(max_length=50)] | None = "work"
    primary: bool = False


class UserCreate(Input):
    id: Name
    password: Password | None = None
    display_name: ShortText = ""
    email: Email | None = None
    user_name: UserName | None = Field(
        None, description="Unique whatever its case (SCIM userName); default: the id"
    )
    active: bool = Field(True, description="false: cannot log in, no principals (needs provision)")
    external_id: ExternalId | None = Field(None, description="The identity provider's id")
    given_name: ShortText | None = None
    family_name: ShortText | None = None
    emails: list[EmailEntry] | None = Field(
        None, max_length=20, description="Every email; `email` becomes the primary one's value"
    )


class UserPatch(Input):
    """JSON merge patch (RFC 7396): absent leaves a field, null removes an optional one
    (``display_name`` becomes "", ``email`` null); ``password`` cannot be null."""

    display_name: ShortText | None = None
    email: Email | None = None
    user_name: UserName | None = Field(None, description="null: back to the id")
    active: Annotated[bool, NotNull] = keep()
    external_id: ExternalId | None = None
    given_name: ShortText | None = None
    family_name: ShortText | None = None
    emails: list[EmailEntry] | None = Field(None, max_length=20, description="null: none")
    password: Annotated[Password, NotNull] = keep()
    current_password: Annotated[str, StringConstraints(max_length=1024)] | None = Field(
        None, description="Your current password: needed to change your own (not for admins)"
    )
    revoke_tokens: bool = Field(False, description="Also revoke every token of the user")


class GroupCreate(Input):
    name: Name
    title: ShortText = ""
    description: Text = ""


class GroupPatch(Input):
    """JSON merge patch: null removes ``description`` (it becomes ""); ``title`` cannot be null."""

    title: Annotated[ShortText, NotNull] = keep()
    description: Text | None = None


GroupPath = Annotated[
    str,
    StringConstraints(
        pattern=r"^/groups(/[a-z0-9][a-z0-9._-]{0,63}(/groups/[a-z0-9][a-z0-9._-]{0,63})*)?$",
        max_length=4096,
    ),
]


class GroupMove(Input):
    to: GroupPath = Field(description="the new parent group's path, or /groups for top level")


class MembershipCreate(Input):
    user: Name
    role: Role = "member"
    expires_at: AwareDatetime | None = None


class MembershipPatch(Input):
    """JSON merge patch: null removes ``expires_at`` (never expires); ``role`` cannot be null."""

    role: Annotated[Role, NotNull] = keep()
    expires_at: AwareDatetime | None = None


class MemberOperation(Input):
    op: Literal["add", "remove", "replace"]
    user: Name
    role: Role = "member"
    expires_at: AwareDatetime | None = None


BulkMembers = TypeAdapter(Annotated[list[MemberOperation], Field(max_length=MAX_BULK_OPERATIONS)])


Scope = Literal[SCOPES]


class TokenCreate(Input):
    name: ShortText = ""
    expires_at: AwareDatetime | None = None
    scopes: Annotated[list[Scope], Field(min_length=1, max_length=len(SCOPES))] | None = Field(
        None,
        description="What the token may be used for: read (GET, HEAD, OPTIONS: reads, the "
        "membership check, the feed), write (read plus changes to users, groups, members "
        "and webhooks), acl (read plus ACL changes), provision (SCIM only), admin "
        "(everything you may do). Absent: admin. A scope only narrows your permissions.",
    )


class ListQuery(BaseModel):
    """Query string of every collection; strings arrive as text, so no strict mode here."""

    model_config = ConfigDict(extra="ignore")

    limit: int = Field(100, ge=1, le=1000, description="Items per page")
    cursor: Annotated[str, StringConstraints(max_length=512)] | None = Field(
        None, description="Opaque: where the previous page ended (follow `next`)"
    )
    prefix: Annotated[str, StringConstraints(pattern=r"^[a-z0-9._-]{0,64}$")] = Field(
        "", description="Only names that start with this"
    )


class MembersQuery(ListQuery):
    role: Role | None = Field(
        None, description="Only members with this role (direct ones: not with effective=true)"
    )
    effective: bool = Field(
        False, description="Also members through subgroups (ids only, no roles)"
    )


class MemberCheckQuery(BaseModel):
    model_config = ConfigDict(extra="ignore")

    effective: bool = Field(False, description="Also answer 200 for members through a subgroup")


class UserGroupsQuery(ListQuery):
    direct: bool = Field(False, description="Only direct memberships")
    prefix: Annotated[str, StringConstraints(pattern=r"^[a-z0-9/._-]{0,1024}$")] = Field(
        "", description="Only group paths that start with this, e.g. /groups/eng"
    )


# Response shapes (documentation and response validation in tests).
#
# One rule for every resource body: optional fields are always present, as null
# when unset (``email``, ``expires_at``, ``via``...), never left out.


class Links(BaseModel):
    model_config = ConfigDict(extra="allow")
    self: str


class EmailOut(BaseModel):
    value: str
    type: str | None
    primary: bool


class UserOut(BaseModel):
    id: str
    display_name: str
    email: str | None
    user_name: str = Field(description="Unique whatever its case (SCIM userName)")
    active: bool
    external_id: str | None
    given_name: str | None
    family_name: str | None
    emails: list[EmailOut]
    created: datetime
    modified: datetime
    links: Links


class GroupOut(BaseModel):
    id: str = Field(description="Immutable, kept across moves: GET /groups/@id/{id} finds it")
    name: str
    path: str
    title: str
    description: str
    member_count: int = Field(
        description="Active direct memberships: an expired membership that is not purged "
        "yet is not a member, and counts in expired_count instead"
    )
    expired_count: int = Field(
        description="Direct memberships that have expired and are not purged yet "
        "(purge_expired_memberships deletes them)"
    )
    created: datetime
    modified: datetime
    links: Links


class MembershipOut(BaseModel):
    user: str
    role: Role
    expires_at: datetime | None = Field(description="When it ends; null: never")
    expired: bool = Field(
        description="expires_at has passed (only those who manage members see these)"
    )
    added_by: str | None
    added_at: datetime
    source: str | None = Field(
        description="Where it came from when not the REST API or the UI: `scim` (an identity "
        "provider; a SCIM replace of the group's members changes only these) or `import`"
    )
    direct: bool = Field(description="Always true: a membership resource is a direct one")
    links: Links


class EffectiveMembershipOut(BaseModel):
    """``GET .../members/<user>?effective=true`` for a member through a subgroup."""

    user: str
    group: str
    direct: bool
    via: str | None = Field(description="The direct membership's group that brings it")
    links: dict[str, str]


class EffectiveMemberOut(BaseModel):
    """An item of ``GET .../members?effective=true``: who, not how."""

    user: str
    links: dict[str, str]


class UserGroupLinks(Links):
    membership: str | None = Field(
        description="The direct membership (…/members/{user}); null for inherited ones"
    )


class UserGroupOut(BaseModel):
    path: str
    id: str = Field(description="The group's stable id")
    title: str
    direct: bool
    role: Role | None = Field(description="The direct membership's role; null for inherited")
    via: str | None = Field(
        description="Inherited: the direct membership's group that brings it; null for direct"
    )
    expires_at: datetime | None = Field(description="When the direct membership ends; null: never")
    links: UserGroupLinks


class TokenOut(BaseModel):
    id: str
    name: str
    created: datetime
    expires_at: datetime | None = Field(description="null: never expires")
    expired: bool
    token: str | None = Field(description="The secret: only in the 201 answer, null otherwise")
    scopes: list[Scope] = Field(description="What the token may be used for")
    links: Links


class Page(BaseModel):
    next: str | None = Field(None, description="The next page; absent on the last page")


class UserPage(Page):
    items: list[UserOut]


class GroupPage(Page):
    items: list[GroupOut]


class MemberPage(Page):
    items: list[MembershipOut | EffectiveMemberOut]


class UserGroupPage(Page):
    items: list[UserGroupOut]


class TokenList(BaseModel):
    items: list[TokenOut]


class BulkResult(BaseModel):
    applied: int
    add: int
    remove: int
    replace: int
    member_count: int = Field(description="Active direct memberships after the change")


class Identity(BaseModel):
    user: str | None
    authenticated_by: str | None = Field(
        description="basic, token (a personal access token), jwt (the identity provider's "
        "bearer token), session (the admin UI); null: anonymous"
    )
    principals: list[str]
    client: str | None = Field(
        None, description="a JWT with no user behind it: the OAuth client it names"
    )
    issuer: str | None = Field(None, description="a JWT's issuer (iss)")
    subject: str | None = Field(None, description="a JWT's subject (sub)")
    scopes: list[Scope] | None = Field(
        None, description="what the credentials may be used for; null: not narrowed"
    )


class ServiceDocument(BaseModel):
    service: str
    version: str
    identity: Identity
    links: Links


class ProblemError(BaseModel):
    field: str
    message: str


class Problem(BaseModel):
    """RFC 9457 problem details; every 4xx and 5xx answer has this shape."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(
        description="about:blank, or one of these, for problems a client tells apart "
        "without reading detail: "
        + "; ".join(f"{uri} ({meaning})" for uri, meaning in PROBLEM_TYPES.items())
    )
    title: str
    status: int
    detail: str
    errors: list[ProblemError] = []
    request_id: str | None = Field(None, description="Set on 500s: quote it when reporting")
    operation: int | None = Field(None, description="Bulk changes: the failing item")
    permission: str | None = Field(
        None, description="403: the permission the caller lacks here, when one decided"
    )


# Access control lists (``/…/acl``, ``/…/permissions``).

MAX_ACES = 100
AceAction = Literal["Allow", "Deny"]
Principal = Annotated[
    str,
    StringConstraints(min_length=1, max_length=4200),
    Field(
        description="system.Everyone, system.Authenticated, user:<id>, group:<path>, "
        "group:<path>#<member|manager|owner> or client:<id> (an OAuth client calling with "
        "a JWT of its own)"
    ),
]


class AceIn(Input):
    """One access control entry as clients write it."""

    action: AceAction
    principal: Principal
    permissions: Annotated[list[Permission], Field(min_length=1, max_length=len(Permission))]


class AclPut(Input):
    """``PUT /…/acl``: the node's local ACEs, in order, replacing the current ones."""

    entries: Annotated[list[AceIn], Field(max_length=MAX_ACES)]


class AclPatch(Input):
    """``PATCH /…/acl``: remove these local ACEs (exact matches), then append these."""

    add: Annotated[list[AceIn], Field(max_length=MAX_ACES)] = []
    remove: Annotated[list[AceIn], Field(max_length=MAX_ACES)] = []


class AceOut(BaseModel):
    action: AceAction
    principal: str
    permissions: list[str] = Field(description='permission names; ["*"] is every permission')


class EffectiveAceOut(AceOut):
    node: str = Field(description="path of the node the ACE sits on ('/' is the root)")
    builtin: bool = Field(description="derived from roles or the admins group; not editable")


class AclOut(BaseModel):
    path: str
    entries: list[AceOut] = Field(description="the local, editable ACEs")
    builtin: list[AceOut] = Field(description="this node's built-in ACEs (checked first)")
    effective: list[EffectiveAceOut] = Field(
        description="every ACE that applies here, in the order they are checked"
    )
    links: Links


class PermissionsQuery(BaseModel):
    model_config = ConfigDict(extra="ignore")

    principal: Annotated[str, StringConstraints(min_length=1, max_length=4200)] | None = None


class PermissionDecision(BaseModel):
    permission: Permission
    allowed: bool
    decided_by: EffectiveAceOut | None = Field(
        description="the first matching ACE; null when none matched (denied by default)"
    )


class PermissionsOut(BaseModel):
    path: str
    principal: str
    principals: list[str] = Field(description="the principals the check was made with")
    allowed: list[Permission]
    permissions: list[PermissionDecision]
    links: Links


# Audit history (``/history``, ``/groups/{g}/history``, ``/users/{id}/history``).


_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")


def _rfc3339_text(value: object) -> object:
    """Query strings arrive as text; only an RFC 3339 date-time is one (not ``0.5``)."""
    if isinstance(value, str) and not _RFC3339.match(value):
        raise ValueError("must be an RFC 3339 date-time, e.g. 2026-11-24T12:00:00Z")
    return value


QueryDateTime = Annotated[AwareDatetime, BeforeValidator(_rfc3339_text)]


def _recorded_actions() -> tuple[str, ...]:
    """Every action a domain event records (``membership.created``), then every kind
    (``membership``): what ``?action=`` may name."""
    actions, classes = set(), [DomainEvent]
    while classes:
        cls = classes.pop()
        classes.extend(cls.__subclasses__())
        if cls.action:
            actions.add(cls.action)
    kinds = {action.split(".")[0] for action in actions}
    return (*sorted(actions), *sorted(kinds - actions))


#: What ``?action=`` may name; anything else is a 400 naming ``action``, never ignored.
HistoryAction = Literal[_recorded_actions()]


class HistoryQuery(BaseModel):
    model_config = ConfigDict(extra="ignore")

    limit: int = Field(100, ge=1, le=1000)
    cursor: Annotated[str, StringConstraints(max_length=512)] | None = None
    actor: (
        Annotated[
            str,
            StringConstraints(
                pattern=r"^(client:[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}|[a-z0-9][a-z0-9._:-]{0,199})$"
            ),
            Field(
                description="a user id, client:<id> for an OAuth client, or system:<script> "
                "for console scripts"
            ),
        ]
        | None
    ) = None
    action: HistoryAction | None = Field(
        None, description="an action (membership.created) or a kind (membership)"
    )
    since: QueryDateTime | None = Field(None, description="only events at or after this time")


class RootHistoryQuery(HistoryQuery):
    path: (
        Annotated[
            str,
            StringConstraints(
                pattern=r"^/(users/[a-z0-9][a-z0-9._-]{0,63}|groups/[a-z0-9][a-z0-9._-]{0,63}"
                r"(/groups/[a-z0-9][a-z0-9._-]{0,63})*)$",
                max_length=4096,
            ),
        ]
        | None
    ) = Field(None, description="only events filed under this group or user path")
    object: Annotated[str, StringConstraints(pattern=r"^[0-9a-f-]{1,64}$")] | None = Field(
        None, description="only events about the group with this id (also after it is gone)"
    )


class EventOut(BaseModel):
    id: str
    time: datetime
    actor: str = Field(
        description="user id, client:<id> for an OAuth client, or system:<script> for "
        "console scripts"
    )
    action: str
    target: str
    before: dict | None
    after: dict | None
    links: dict


class HistoryPage(BaseModel):
    """``GET …/history``: a page of events, newest first."""

    items: list[EventOut]
    next: str | None = Field(None, description="the next page; absent on the last one")


class ChangesQuery(BaseModel):
    """Query of the change feed (strings arrive as text, so no strict mode)."""

    model_config = ConfigDict(extra="ignore")

    after: Annotated[str, StringConstraints(pattern=r"^(now|[0-9a-f]{24})$")] | None = Field(
        None, description="resume after this cursor; `now`: no items, the current cursor"
    )
    types: Annotated[str, StringConstraints(pattern=r"^[a-z.*,]{1,500}$")] | None = Field(
        None, description="comma-separated event types, `*` globs: `membership.*,group.created`"
    )
    limit: int = Field(100, ge=1, le=1000, description="Items per page")
    wait: int = Field(
        0, ge=0, le=30, description="Long-poll: with nothing new, wait up to this many seconds"
    )


class ChangeOut(BaseModel):
    id: str = Field(description="the event's id: the same on every delivery")
    cursor: str = Field(description="resume after this item")
    type: str
    time: datetime
    actor: str
    target: str
    groups: list[str] = Field(description="every group path at and above the target")
    data: dict = Field(description="before/after, as in the audit log")


class ChangesPage(BaseModel):
    items: list[ChangeOut]
    cursor: str = Field(description="resume here (`after=`)")
    next: str = Field(description="the URL to poll next")


# Webhooks (``/webhooks``, ``/webhooks/{id}``).

EventType = Annotated[
    str,
    StringConstraints(pattern=r"^[a-z*][a-z.*]{0,99}$"),
    Field(description="an event type (`membership.created`) or a glob (`membership.*`)"),
]
WebhookUrl = Annotated[
    str,
    StringConstraints(min_length=1, max_length=2048),
    Field(description="http(s) URL the signed POSTs go to; redirects are not followed"),
]
FeedPath = Annotated[
    str,
    StringConstraints(
        pattern=r"^(/|/users/[a-z0-9][a-z0-9._-]{0,63}|/groups/[a-z0-9][a-z0-9._-]{0,63}"
        r"(/groups/[a-z0-9][a-z0-9._-]{0,63})*)$",
        max_length=4096,
    ),
    Field(description="the group (its subtree) or user whose changes to send; `/`: all"),
]


class WebhookCreate(Input):
    url: WebhookUrl
    types: Annotated[list[EventType], Field(max_length=50)] = Field(
        [], description="only these event types (globs allowed); empty: every type"
    )
    path: FeedPath | None = None
    description: Text = ""


class WebhookPatch(Input):
    url: WebhookUrl | None = None
    types: Annotated[list[EventType], Field(max_length=50)] | None = None
    description: Text | None = None
    active: bool | None = Field(None, description="false pauses; true resumes a disabled one")
    cursor: Annotated[str, StringConstraints(pattern=r"^(now|[0-9a-f]{24})$")] | None = Field(
        None, description="deliver again from after this cursor (`now`: skip to the present)"
    )


class WebhookOut(BaseModel):
    id: str
    url: str
    types: list[str]
    path: str
    description: str
    active: bool
    disabled_reason: str | None = Field(None, description="why it was disabled, if it was")
    owner: str
    created: datetime
    modified: datetime
    cursor: str = Field(description="the last change the receiver acknowledged")
    failing_since: datetime | None = None
    attempts: int = Field(description="failed attempts in a row")
    next_attempt: datetime | None = None
    last_error: str | None = None
    secret: str | None = Field(
        None, description="the signing secret; only in the answer that created or rotated it"
    )
    links: Links


class WebhookList(BaseModel):
    items: list[WebhookOut]


class DeliveryOut(BaseModel):
    event: str = Field(description="the change's id (`webhook-id`)")
    type: str
    time: datetime
    attempt: int
    status: int | None = Field(description="the receiver's HTTP status; null: no answer")
    latency_ms: float
    error: str
    next_attempt: datetime | None = None


class DeliveryList(BaseModel):
    items: list[DeliveryOut] = Field(description="recent attempts, newest first")


class WebhookTestOut(BaseModel):
    ok: bool
    status: int | None
    latency_ms: float
    error: str
    id: str = Field(description="the test message's `webhook-id`")


# Linked identities (``/users/{id}/identities``).


class LinkedIdentityCreate(Input):
    issuer: Annotated[str, StringConstraints(pattern=r"^https?://\S+$", max_length=1000)] = Field(
        description="the identity provider's issuer, exactly as its tokens' iss says"
    )
    subject: Annotated[str, StringConstraints(pattern=r"^\S+$", max_length=255)] = Field(
        description="the user's subject at that provider, exactly as its tokens' sub says"
    )


class LinkedIdentityOut(BaseModel):
    id: str = Field(description="its number among the user's identities")
    issuer: str
    subject: str
    created: datetime
    links: Links


class LinkedIdentityList(BaseModel):
    items: list[LinkedIdentityOut]


# Batch checks (``POST /checks``).

MAX_CHECKS = 1000
GroupRef = Annotated[
    str,
    StringConstraints(min_length=1, max_length=4200),
    Field(description="a group's path (/groups/eng/groups/backend) or its stable id"),
]
NodePath = Annotated[
    str,
    StringConstraints(min_length=1, max_length=4200),
    Field(description="/, /users/<id> or a group's path"),
]


class MembershipCheckIn(Input):
    """Is ``user`` a member of ``group``?"""

    user: Name
    group: GroupRef
    effective: bool = Field(False, description="a member through a subgroup counts too")


class PermissionCheckIn(Input):
    """Does ``principal`` (or ``user``, for ``user:<id>``) hold ``permission`` at ``path``?"""

    principal: Principal | None = None
    user: Name | None = Field(None, description="instead of principal: user:<this id>")
    permission: Permission
    path: NodePath


#: The member of the union an item is, told by its fields (a tag never sent).
CHECK_KINDS = ("membership", "permission")


def _check_kind(item: object) -> str | None:
    if not isinstance(item, dict):
        return None
    if item.keys() & {"permission", "path", "principal"}:
        return "permission"
    return "membership"


CheckIn = Annotated[
    Annotated[MembershipCheckIn, Tag("membership")]
    | Annotated[PermissionCheckIn, Tag("permission")],
    Discriminator(
        _check_kind,
        custom_error_type="check_item",
        custom_error_message='an object: {"user", "group", "effective"?} or '
        '{"principal" | "user", "permission", "path"}',
    ),
]


class ChecksIn(Input):
    items: Annotated[list[CheckIn], Field(min_length=1, max_length=MAX_CHECKS)] = Field(
        description=f"1 to {MAX_CHECKS} questions, answered in this order"
    )


class MembershipCheckOut(BaseModel):
    member: bool
    group: str = Field(description="the group's path (also when asked by id)")
    direct: bool | None = Field(None, description="a member of the group itself")
    role: Role | None = Field(None, description="the role held directly in the group")
    via: str | None = Field(
        None, description="for a member through a subgroup: the nearest group they are in"
    )


class PermissionCheckOut(BaseModel):
    allowed: bool
    decided_by: EffectiveAceOut | None = Field(
        description="the first matching ACE; null when none matched (denied by default)"
    )


class CheckError(BaseModel):
    error: Literal["forbidden", "not_found"] = Field(
        description="forbidden: you may not ask about this group or node; not_found: no "
        "such group, node or user"
    )
    field: str = Field(description="the question's field at fault: group, user or path")
    detail: str


class ChecksOut(BaseModel):
    items: list[MembershipCheckOut | PermissionCheckOut | CheckError] = Field(
        description="one answer per question, in the order asked"
    )
