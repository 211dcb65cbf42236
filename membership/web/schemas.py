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
    Field,
    StringConstraints,
    TypeAdapter,
)

from ..paths import NAME_PATTERN
from ..permissions import Permission

Name = Annotated[str, StringConstraints(pattern=NAME_PATTERN)]
Role = Literal["member", "manager", "owner"]
Password = Annotated[str, StringConstraints(min_length=8, max_length=1024)]
Text = Annotated[str, StringConstraints(max_length=1000)]
ShortText = Annotated[str, StringConstraints(max_length=200)]
Email = Annotated[str, StringConstraints(max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")]

MAX_BULK_OPERATIONS = 100_000


class Input(BaseModel):
    """Request bodies: unknown fields are errors, and no silent type coercion."""

    model_config = ConfigDict(extra="forbid", strict=True)


class UserCreate(Input):
    id: Name
    password: Password | None = None
    display_name: ShortText = ""
    email: Email | None = None


class UserPatch(Input):
    display_name: ShortText | None = None
    email: Email | None = None
    password: Password | None = None
    current_password: Annotated[str, StringConstraints(max_length=1024)] | None = Field(
        None, description="Your current password: needed to change your own (not for admins)"
    )
    revoke_tokens: bool = Field(False, description="Also revoke every token of the user")


class GroupCreate(Input):
    name: Name
    title: ShortText = ""
    description: Text = ""


class GroupPatch(Input):
    title: ShortText | None = None
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
    role: Role | None = None
    expires_at: AwareDatetime | None = None


class MemberOperation(Input):
    op: Literal["add", "remove", "replace"]
    user: Name
    role: Role = "member"
    expires_at: AwareDatetime | None = None


BulkMembers = TypeAdapter(Annotated[list[MemberOperation], Field(max_length=MAX_BULK_OPERATIONS)])


class TokenCreate(Input):
    name: ShortText = ""
    expires_at: AwareDatetime | None = None


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
    role: Role | None = Field(None, description="Only members with this role")
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


class Links(BaseModel):
    model_config = ConfigDict(extra="allow")
    self: str


class UserOut(BaseModel):
    id: str
    display_name: str
    email: str | None
    created: datetime
    modified: datetime
    links: Links


class GroupOut(BaseModel):
    name: str
    path: str
    title: str
    description: str
    member_count: int
    created: datetime
    modified: datetime
    links: Links


class MembershipOut(BaseModel):
    user: str
    role: Role
    expires_at: datetime | None = None
    expired: bool = False
    added_by: str | None
    added_at: datetime
    direct: bool | None = Field(None, description="Present (true) when asked with ?effective=true")
    links: Links


class EffectiveMembershipOut(BaseModel):
    """``GET .../members/<user>?effective=true`` for a member through a subgroup."""

    user: str
    group: str
    direct: bool
    via: str | None
    links: dict[str, str]


class EffectiveMemberOut(BaseModel):
    """An item of ``GET .../members?effective=true``: who, not how."""

    user: str
    links: dict[str, str]


class UserGroupOut(BaseModel):
    path: str
    role: Role | None = None
    direct: bool
    via: str | None = None
    expires_at: datetime | None = None
    links: Links


class TokenOut(BaseModel):
    id: str
    name: str
    created: datetime
    expires_at: datetime | None = None
    expired: bool = False
    token: str | None = Field(None, description="The secret; present only in the 201 answer")
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
    member_count: int


class Identity(BaseModel):
    user: str | None
    authenticated_by: str | None
    principals: list[str]


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

    type: str
    title: str
    status: int
    detail: str
    errors: list[ProblemError] = []
    request_id: str | None = Field(None, description="Set on 500s: quote it when reporting")
    operation: int | None = Field(None, description="Bulk changes: the failing item")


# Access control lists (``/…/acl``, ``/…/permissions``).

MAX_ACES = 100
AceAction = Literal["Allow", "Deny"]
Principal = Annotated[
    str,
    StringConstraints(min_length=1, max_length=4200),
    Field(
        description="system.Everyone, system.Authenticated, user:<id>, group:<path> "
        "or group:<path>#<member|manager|owner>"
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


class HistoryQuery(BaseModel):
    model_config = ConfigDict(extra="ignore")

    limit: int = Field(100, ge=1, le=1000)
    cursor: Annotated[str, StringConstraints(max_length=512)] | None = None
    actor: (
        Annotated[
            str,
            StringConstraints(pattern=r"^[a-z0-9][a-z0-9._:-]{0,199}$"),
            Field(description="a user id, or system:<script> for console scripts"),
        ]
        | None
    ) = None
    action: Annotated[str, StringConstraints(pattern=r"^[a-z]+(\.[a-z]+)?$")] | None = Field(
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
    actor: str = Field(description="user id, or system:<script> for console scripts")
    action: str
    target: str
    before: dict | None
    after: dict | None
    links: dict


class HistoryPage(BaseModel):
    """``GET …/history``: a page of events, newest first."""

    items: list[EventOut]
    next: str | None = Field(None, description="the next page; absent on the last one")
