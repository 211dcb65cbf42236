"""``/scim/v2``: one route, one view that dispatches on the path, SCIM in and out.

Every change calls the same domain functions as the REST API (so the audit
log names the token's user, and the same events fire); every answer is
``application/scim+json``; every refusal is a SCIM Error.
"""

import json
from typing import Any

from pydantic import ValidationError
from pyramid.request import Request
from pyramid.response import Response
from scim2_models import (
    Context as ScimContext,
)
from scim2_models import (
    Error,
    Meta,
    PatchOp,
    ResponseParameters,
    SCIMException,
    ScimFilter,
    ScimPolicy,
)

from ..domain import groups as group_rules
from ..domain import members as member_rules
from ..domain import users as user_rules
from ..domain.errors import DomainError
from ..domain.groups import group_by_id
from ..domain.queries import member_counts, member_rows
from ..model import Group as GroupNode
from ..model import Root, group_at
from ..model import User as UserNode
from ..paths import ADMINS_PATH, numbered_name, slugify
from ..web.rendering import etag_for
from ..web.views.groups import group_body
from ..web.views.users import user_body
from . import listing
from .errors import ScimProblem, error_response, from_domain, scim_json
from .models import DEFAULT_PAGE, MAX_PAGE, POLICY, Email, Group, Member, Name, User

LIST_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
SEARCH_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:SearchRequest"
PATCH_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
SCIM_SOURCE = "scim"


def _not_found(request: Request) -> ScimProblem:
    return ScimProblem(404, f"nothing at {request.path}")


def _method_not_allowed(request: Request, allowed: str) -> ScimProblem:
    return ScimProblem(
        405, f"{request.method} is not allowed on {request.path}", headers={"Allow": allowed}
    )


class Scim:
    def __init__(self, request: Request) -> None:
        self.request = request
        self.root: Root = request.root
        registry = request.registry
        self.settings = registry.membership_settings
        self.provider = registry.scim_provider
        self.base = request.application_url + "/scim/v2"

    # ---- dispatch ----------------------------------------------------------

    def __call__(self) -> Response:
        parts = [part for part in self.request.matchdict.get("subpath", ()) if part != ""]
        method = self.request.method
        try:
            with POLICY:
                return self.dispatch(parts, method)
        except ValidationError as exc:
            errors = Error.from_validation_errors(exc)
            first = errors[0] if errors else Error(status=400, detail=str(exc))
            raise ScimProblem(
                first.status or 400, first.detail or "invalid", first.scim_type or "invalidValue"
            ) from None
        except SCIMException as exc:
            raise ScimProblem(exc.status, exc.detail, exc.scim_type or None) from None
        except DomainError as exc:
            raise from_domain(exc) from None

    def dispatch(self, parts: list[str], method: str) -> Response:
        if not parts:
            raise _not_found(self.request)
        head, rest = parts[0], parts[1:]
        if head == "ServiceProviderConfig" and not rest:
            self._only(method, "GET")
            return self.answer(
                self.provider.config.model_dump(scim_ctx=ScimContext.RESOURCE_QUERY_RESPONSE)
                | {
                    "meta": {
                        "resourceType": "ServiceProviderConfig",
                        "location": self.base + "/ServiceProviderConfig",
                    }
                }
            )
        if head == "Schemas":
            return self.discovery(method, rest, self.provider.schemas, "Schema", "Schemas")
        if head == "ResourceTypes":
            return self.discovery(
                method, rest, self.provider.resource_types, "ResourceType", "ResourceTypes"
            )
        if head == ".search" and not rest:
            self._only(method, "POST")
            return self.search(("Users", "Groups"))
        if head == "Me" and not rest:
            self._only(method, "GET")
            user = self.root.users.get(self.request.authenticated_userid or "")
            if user is None:
                raise ScimProblem(404, "this token names no user (an OAuth client has no /Me)")
            return self.user_get(user)
        if head in ("Users", "Groups"):
            if not rest:
                if method == "GET":
                    return self.list_get(head)
                self._only(method, "GET, POST")
                return self.user_create() if head == "Users" else self.group_create()
            if rest == [".search"]:
                self._only(method, "POST")
                return self.search((head,))
            if len(rest) == 1:
                if head == "Users":
                    user = self.find_user(rest[0])
                    return self.on_user(method, user)
                group = self.find_group(rest[0])
                return self.on_group(method, group)
        raise _not_found(self.request)

    def _only(self, method: str, allowed: str) -> None:
        if method not in [m.strip() for m in allowed.split(",")]:
            raise _method_not_allowed(self.request, allowed)

    # ---- bodies and answers --------------------------------------------------

    def body(self) -> dict:
        request = self.request
        media = (request.content_type or "").lower()
        if media not in ("application/scim+json", "application/json", ""):
            raise ScimProblem(415, f"send application/scim+json, not {media}", "invalidSyntax")
        try:
            data = json.loads(request.body or b"null")
        except (ValueError, UnicodeDecodeError):
            raise ScimProblem(400, "the body is not JSON", "invalidSyntax") from None
        if not isinstance(data, dict):
            raise ScimProblem(400, "the body must be a JSON object", "invalidSyntax")
        return data

    def answer(
        self, body: dict, status: int = 200, etag: str | None = None, location: str | None = None
    ) -> Response:
        headers = {}
        if etag:
            headers["ETag"] = etag
        if location:
            headers["Location"] = location
        return scim_json(body, status, headers)

    def params(self, model: type) -> ResponseParameters:
        get = self.request.GET
        raw = {}
        if "attributes" in get:
            raw["attributes"] = get["attributes"]
        if "excludedAttributes" in get:
            raw["excludedAttributes"] = get["excludedAttributes"]
        return ResponseParameters[model].model_validate(raw)

    def check_if_match(self, etag: str) -> None:
        if_match = self.request.if_match
        if self.request.headers.get("If-Match") and etag.strip('"') not in if_match:
            raise ScimProblem(412, "the resource changed since you read it (If-Match)")

    def conditional(self, etag: str) -> bool:
        return (
            bool(self.request.headers.get("If-None-Match"))
            and etag.strip('"') in self.request.if_none_match
        )

    # ---- discovery -----------------------------------------------------------

    def discovery(self, method: str, rest: list[str], items, kind: str, endpoint: str) -> Response:
        self._only(method, "GET")
        dumped = []
        for item in items:
            body = item.model_dump(scim_ctx=ScimContext.RESOURCE_QUERY_RESPONSE)
            body["meta"] = {
                "resourceType": kind,
                "location": f"{self.base}/{endpoint}/{body['id']}",
            }
            dumped.append(body)
        if not rest:
            return self.answer(
                {
                    "schemas": [LIST_SCHEMA],
                    "totalResults": len(dumped),
                    "startIndex": 1,
                    "itemsPerPage": len(dumped),
                    "Resources": dumped,
                }
            )
        if len(rest) == 1:
            for body in dumped:
                if body["id"] == rest[0]:
                    return self.answer(body)
        raise _not_found(self.request)

    # ---- users ---------------------------------------------------------------

    def find_user(self, userid: str) -> UserNode:
        user = self.root.users.get(userid)
        if user is None:
            raise ScimProblem(404, f"no user {userid!r}")
        return user

    def user_etag(self, user: UserNode) -> str:
        return f'"{etag_for(user_body(self.request, user))}"'

    def user_resource(self, user: UserNode) -> User:
        name = None
        if user.given_name is not None or user.family_name is not None:
            name = Name(given_name=user.given_name, family_name=user.family_name)
        emails = [Email(value=v, type=t, primary=p) for v, t, p in user.emails] or None
        return User(
            id=user.id,
            external_id=user.external_id,
            user_name=user.login_name,
            name=name,
            display_name=user.display_name or None,
            active=user.active,
            emails=emails,
            meta=Meta(
                resource_type="User",
                created=user.created,
                last_modified=user.modified,
                location=f"{self.base}/Users/{user.id}",
                version=self.user_etag(user),
            ),
        )

    def user_dump(self, user: UserNode, params: ResponseParameters | None = None) -> dict:
        return self.user_resource(user).model_dump(
            scim_ctx=ScimContext.RESOURCE_QUERY_RESPONSE, response_parameters=params
        )

    def user_get(self, user: UserNode) -> Response:
        etag = self.user_etag(user)
        if self.conditional(etag):
            return Response(status=304, headers={"ETag": etag})
        return self.answer(self.user_dump(user, self.params(User)), etag=etag)

    def on_user(self, method: str, user: UserNode) -> Response:
        if method == "GET":
            return self.user_get(user)
        self._only(method, "GET, PUT, PATCH, DELETE")
        if method == "DELETE":
            self.check_if_match(self.user_etag(user))
            user_rules.delete_user(self.request.domain, user)
            return Response(status=204)
        if method == "PUT":
            resource = User.model_validate(
                self.body(), scim_ctx=ScimContext.RESOURCE_REPLACEMENT_REQUEST
            )
            self.check_if_match(self.user_etag(user))
            self.apply_user(user, resource, replace=True)
        else:
            patch = PatchOp[User].model_validate(
                self.body(), scim_ctx=ScimContext.RESOURCE_PATCH_REQUEST
            )
            self.check_if_match(self.user_etag(user))
            resource = self.user_resource(user)
            patch.patch(resource)
            self.apply_user(user, resource, replace=False)
        return self.answer(self.user_dump(user), etag=self.user_etag(user))

    def user_fields(self, resource: User) -> dict:
        name = resource.name
        emails = [(e.value, e.type, bool(e.primary)) for e in resource.emails or () if e.value]
        return {
            "display_name": resource.display_name or "",
            "external_id": resource.external_id,
            "given_name": name.given_name if name else None,
            "family_name": name.family_name if name else None,
            "emails": emails,
        }

    def apply_user(self, user: UserNode, resource: User, *, replace: bool) -> None:
        if resource.id is not None and resource.id != user.id:
            raise ScimProblem(400, "id is immutable", "mutability")
        if not resource.user_name:
            raise ScimProblem(400, "userName is required", "invalidValue")
        fields = self.user_fields(resource)
        active = resource.active  # absent after a PUT or a remove: unset, counts as active
        user_rules.update_user(
            self.request.domain,
            user,
            user_name=resource.user_name,
            active=active,
            **fields,
        )

    def user_create(self) -> Response:
        resource = User.model_validate(self.body(), scim_ctx=ScimContext.RESOURCE_CREATION_REQUEST)
        if not resource.user_name:
            raise ScimProblem(400, "userName is required", "invalidValue")
        if user_rules.user_by_name(self.root, resource.user_name) is not None:
            raise ScimProblem(409, f"userName {resource.user_name!r} is taken", "uniqueness")
        userid = user_rules.new_user_id(self.root, resource.user_name, self.settings.scim_user_ids)
        user = user_rules.create_user(
            self.request.domain,
            userid,
            user_name=resource.user_name,
            active=True if resource.active is None else resource.active,
            **self.user_fields(resource),
        )
        etag = self.user_etag(user)
        return self.answer(self.user_dump(user), 201, etag, f"{self.base}/Users/{user.id}")

    # ---- groups --------------------------------------------------------------

    def container(self):
        path = self.settings.scim_groups_parent
        if path == "/groups":
            return self.root.groups
        parent = group_at(self.root, path)
        if parent is None:
            raise ScimProblem(500, f"membership.scim.groups_parent {path} does not exist")
        return parent.groups

    def is_scim_group(self, group: GroupNode | None) -> bool:
        return (
            group is not None and group.__parent__ is self.container() and group.path != ADMINS_PATH
        )

    def find_group(self, group_id: str) -> GroupNode:
        group = group_by_id(self.root, group_id)
        if not self.is_scim_group(group):
            raise ScimProblem(404, f"no group {group_id!r}")
        return group

    def group_etag(self, group: GroupNode) -> str:
        return f'"{etag_for(group_body(self.request, group))}"'

    def is_large(self, group: GroupNode) -> bool:
        return member_counts(group)[0] > self.settings.scim_max_inline_members

    def members_of(self, group: GroupNode) -> list:
        """The group's direct, unexpired memberships as SCIM members (every source:
        who is in the group, whoever added them)."""
        return [
            Member(value=userid, type="User", ref=f"{self.base}/Users/{userid}")
            for userid, _ in self.memberships(group)
        ]

    @staticmethod
    def memberships(group: GroupNode):
        return member_rows(group.members, role=None, prefix="", after=None, with_expired=False)

    def group_resource(self, group: GroupNode, with_members: bool) -> Group:
        return Group(
            id=group.id,
            external_id=group.external_id,
            display_name=group.title,
            members=(self.members_of(group) or None) if with_members else None,
            meta=Meta(
                resource_type="Group",
                created=group.created,
                last_modified=group.modified,
                location=f"{self.base}/Groups/{group.id}",
                version=self.group_etag(group),
            ),
        )

    def wants_members(self, group: GroupNode, params: ResponseParameters | None) -> bool:
        if params is not None and params.excluded_attributes:
            if any(str(p).lower().startswith("members") for p in params.excluded_attributes):
                return False
        if not self.is_large(group):
            return True
        return bool(
            params
            and params.attributes
            and any(str(p).lower().startswith("members") for p in params.attributes)
        )

    def group_dump(self, group: GroupNode, params: ResponseParameters | None = None) -> dict:
        resource = self.group_resource(group, self.wants_members(group, params))
        return resource.model_dump(
            scim_ctx=ScimContext.RESOURCE_QUERY_RESPONSE, response_parameters=params
        )

    def on_group(self, method: str, group: GroupNode) -> Response:
        if method == "GET":
            etag = self.group_etag(group)
            if self.conditional(etag):
                return Response(status=304, headers={"ETag": etag})
            return self.answer(self.group_dump(group, self.params(Group)), etag=etag)
        self._only(method, "GET, PUT, PATCH, DELETE")
        if method == "DELETE":
            self.check_if_match(self.group_etag(group))
            group_rules.delete_group(self.request.domain, group)
            return Response(status=204)
        if method == "PUT":
            resource = Group.model_validate(
                self.body(), scim_ctx=ScimContext.RESOURCE_REPLACEMENT_REQUEST
            )
            self.check_if_match(self.group_etag(group))
            self.rename(group, resource.display_name, resource.external_id)
            self.replace_members(group, self.member_ids(resource.members or []))
            return self.answer(self.group_dump(group), etag=self.group_etag(group))
        body = self.body()
        PatchOp[Group].model_validate(body, scim_ctx=ScimContext.RESOURCE_PATCH_REQUEST)
        self.check_if_match(self.group_etag(group))
        self.patch_group(group, body.get("Operations") or [])
        if self.is_large(group):
            return Response(status=204, headers={"ETag": self.group_etag(group)})
        return self.answer(self.group_dump(group), etag=self.group_etag(group))

    def member_ids(self, members: list) -> list[str]:
        ids = []
        for member in members:
            value = (
                member.get("value") if isinstance(member, dict) else getattr(member, "value", None)
            )
            kind = member.get("type") if isinstance(member, dict) else getattr(member, "type", None)
            if kind is not None and str(kind).lower() != "user":
                raise ScimProblem(
                    400, f"member {value!r}: only users can be members (type User)", "invalidValue"
                )
            if not isinstance(value, str) or not value:
                raise ScimProblem(400, "a member needs a value (the user's id)", "invalidValue")
            if self.root.users.get(value) is None:
                if group_by_id(self.root, value) is not None:
                    raise ScimProblem(
                        400,
                        f"member {value!r} is a group: only users can be members",
                        "invalidValue",
                    )
                # A user the identity provider has not provisioned (yet, or out of
                # scope): skipped, so one such id does not block the rest of a batch.
                continue
            ids.append(value)
        return list(dict.fromkeys(ids))

    def add_members(self, group: GroupNode, ids: list[str]) -> None:
        ctx = self.request.domain
        for userid in ids:
            if group.members.get(userid) is None:  # already a member: nothing to do
                member_rules.add_member(ctx, group, userid, source=SCIM_SOURCE)

    def remove_members(self, group: GroupNode, ids: list[str]) -> None:
        ctx = self.request.domain
        for userid in ids:
            if group.members.get(userid) is not None:  # absent: nothing to do
                member_rules.remove_member(ctx, group, userid)

    def scim_member_ids(self, group: GroupNode) -> list[str]:
        return [
            userid
            for userid, membership in self.memberships(group)
            if membership.source == SCIM_SOURCE
        ]

    def replace_members(self, group: GroupNode, ids: list[str]) -> None:
        """Make the SCIM-sourced members ``ids``: memberships granted locally stay."""
        wanted = set(ids)
        self.remove_members(group, [u for u in self.scim_member_ids(group) if u not in wanted])
        self.add_members(group, ids)

    def rename(self, group: GroupNode, display_name: str | None, external_id: Any = ...) -> None:
        if display_name is not None and display_name != group.title:
            self.check_title_free(display_name, group)
        group_rules.update_group(
            self.request.domain, group, title=display_name, external_id=external_id
        )

    def check_title_free(self, display_name: str, group: GroupNode | None = None) -> None:
        for other_id in self.root.directory.groups_by_title(display_name):
            other = group_by_id(self.root, other_id)
            if other is not group and self.is_scim_group(other):
                raise ScimProblem(409, f"a group named {display_name!r} exists", "uniqueness")

    def patch_group(self, group: GroupNode, operations: list) -> None:
        """Member operations go straight to the domain (O(changed members), whatever
        the group's size); everything else is applied by scim2-models to the group
        without its members, then stored through the same domain call as the API."""
        rest = []
        for operation in operations:
            op = str(operation.get("op", "")).lower()
            path = operation.get("path")
            value = operation.get("value")
            if path is None and isinstance(value, dict):
                value = dict(value)
                members = next((k for k in value if k.lower() == "members"), None)
                if members is not None:
                    self.member_operation(group, op, "members", value.pop(members))
                if value:
                    rest.append({"op": op, "value": value})
                continue
            if isinstance(path, str) and path.strip().lower().startswith("members"):
                self.member_operation(group, op, path.strip(), value)
                continue
            rest.append({**operation, "op": op})
        if rest:
            resource = self.group_resource(group, with_members=False)
            patch = PatchOp[Group].model_validate(
                {"schemas": [PATCH_SCHEMA], "Operations": rest},
                scim_ctx=ScimContext.RESOURCE_PATCH_REQUEST,
            )
            patch.patch(resource)
            if resource.id != group.id:
                raise ScimProblem(400, "id is immutable", "mutability")
            if not resource.display_name:
                raise ScimProblem(400, "displayName is required", "invalidValue")
            self.rename(group, resource.display_name, resource.external_id)

    def member_operation(self, group: GroupNode, op: str, path: str, value: Any) -> None:
        values = value if isinstance(value, list) else [value] if isinstance(value, dict) else []
        if path.lower() == "members":
            if op == "add":
                self.add_members(group, self.member_ids(values))
            elif op == "replace":
                self.replace_members(group, self.member_ids(values))
            elif op == "remove":
                if value is None:
                    self.replace_members(group, [])
                else:
                    self.remove_members(
                        group,
                        [m.get("value") for m in values if isinstance(m, dict) and m.get("value")],
                    )
            else:
                raise ScimProblem(400, f"unknown op {op!r}", "invalidSyntax")
            return
        # members[...] with a filter: value eq (or several joined by or) directly,
        # anything else by evaluating the filter on each SCIM member
        from scim2_models import Path

        parsed = Path[Group](path)
        node = parsed.ast
        ids = listing.candidates(node, {"members.value": lambda v: [v]})
        if ids is None:
            ids = [
                m.value
                for m in self.members_of(group)
                if ScimFilter[Group](f"members[{node.val_filter!s}]").match(
                    Group(display_name="x", members=[m])
                )
            ]
        if op == "remove":
            if getattr(node, "sub_attr", None):
                raise ScimProblem(400, f"{path}: member attributes cannot be removed", "mutability")
            self.remove_members(group, ids)
        elif op in ("add", "replace"):
            self.add_members(group, self.member_ids([{"value": i} for i in ids]))
        else:
            raise ScimProblem(400, f"unknown op {op!r}", "invalidSyntax")

    def group_create(self) -> Response:
        resource = Group.model_validate(self.body(), scim_ctx=ScimContext.RESOURCE_CREATION_REQUEST)
        if not resource.display_name:
            raise ScimProblem(400, "displayName is required", "invalidValue")
        self.check_title_free(resource.display_name)
        ids = self.member_ids(resource.members or [])
        container = self.container()
        base = slugify(resource.display_name, fallback="group")
        name, number = base, 1
        while name in container:
            number += 1
            name = numbered_name(base, number)
        group = group_rules.create_group(
            self.request.domain,
            container,
            name,
            title=resource.display_name,
            external_id=resource.external_id,
            make_owner=False,
        )
        self.add_members(group, ids)
        return self.answer(
            self.group_dump(group), 201, self.group_etag(group), f"{self.base}/Groups/{group.id}"
        )

    # ---- lists and searches --------------------------------------------------

    def list_get(self, kind: str) -> Response:
        get = self.request.GET
        query = {
            key: get[key]
            for key in (
                "filter",
                "startIndex",
                "count",
                "cursor",
                "attributes",
                "excludedAttributes",
                "sortBy",
                "sortOrder",
            )
            if key in get
        }
        return self.listing((kind,), query)

    def search(self, kinds: tuple[str, ...]) -> Response:
        body = self.body()
        return self.listing(kinds, body)

    def listing(self, kinds: tuple[str, ...], query: dict) -> Response:
        def number(name: str, default: int) -> int:
            raw = query.get(name, default)
            try:
                return int(raw)
            except (TypeError, ValueError):
                raise ScimProblem(400, f"{name} must be an integer", "invalidValue") from None

        if query.get("sortBy"):
            raise ScimProblem(
                400, "sorting is not supported (ServiceProviderConfig: sort)", "invalidValue"
            )
        start = max(1, number("startIndex", 1))
        count = min(max(0, number("count", DEFAULT_PAGE)), MAX_PAGE)
        cursor = query.get("cursor")
        filter_text = query.get("filter")
        attributes = {k: query[k] for k in ("attributes", "excludedAttributes") if k in query}
        if filter_text and len(kinds) > 1:
            self.check_filter_for_any(filter_text)
        results: list[dict] = []
        total = 0
        next_cursor = None
        for kind in kinds:
            model = User if kind == "Users" else Group
            params = ResponseParameters[model].model_validate(attributes) if attributes else None
            ids, kind_total, kind_cursor = self.select(
                kind, model, filter_text, start, count, cursor, root_search=len(kinds) > 1
            )
            total += kind_total
            next_cursor = next_cursor or kind_cursor
            for ident in ids:
                if len(results) >= count:
                    break
                if kind == "Users":
                    results.append(self.user_dump(self.root.users[ident], params))
                else:
                    results.append(self.group_dump(group_by_id(self.root, ident), params))
        body = {
            "schemas": [LIST_SCHEMA],
            "totalResults": total,
            "itemsPerPage": len(results),
            "startIndex": start,
            "Resources": results,
        }
        if cursor is not None:
            body.pop("startIndex")
            if next_cursor:
                body["nextCursor"] = next_cursor
        if count == 0:
            body["Resources"] = []
        return self.answer(body)

    def select(self, kind: str, model, filter_text, start, count, cursor, root_search=False):
        """``(ids of the page, totalResults, next cursor)``. Under ``/.search`` (both
        kinds) an attribute of the other kind is simply no match (RFC 7644 §3.4.3)."""
        if filter_text:
            try:
                parsed = ScimFilter[model](filter_text)
                node = parsed.ast
                if not root_search:  # an attribute we do not publish is an error here
                    with ScimPolicy():
                        parsed._validate_semantics(strict=True)
            except (SCIMException, ValueError) as exc:
                raise ScimProblem(400, f"filter: {exc}", "invalidFilter") from None
            found = listing.candidates(node, self.lookups(kind))
            if found is None:
                found = self.scan(kind)
            matched = [i for i in found if self.matches(kind, i, parsed)]
            matched.sort()
            if cursor is not None:
                after = listing.decode_cursor(cursor) if cursor else None
                rest = [i for i in matched if after is None or i > after]
                page = rest[:count]
                return (
                    page,
                    len(matched),
                    (listing.encode_cursor(page[-1]) if len(rest) > count and page else None),
                )
            return matched[start - 1 : start - 1 + count], len(matched), None
        keys_after = self.keys_after(kind)
        total = self.total(kind)
        if cursor is not None:
            page, nxt = listing.cursor_page(keys_after, cursor, count)
            return self.ids_of(kind, page), total, nxt
        # Per collection, not per database state: checkpoints outlive commits (listing.py).
        jar = self.root._p_jar
        walk = (
            kind,
            self.settings.scim_groups_parent,
            listing.database_number(jar.db() if jar is not None else None),
        )
        page = listing.index_page(keys_after, walk, start, count)
        return self.ids_of(kind, page), total, None

    def check_filter_for_any(self, filter_text: str) -> None:
        """``/.search``: the filter must name attributes of Users or of Groups."""
        problems = []
        for model in (User, Group):
            try:
                with ScimPolicy():
                    ScimFilter[model](filter_text)._validate_semantics(strict=True)
                return
            except (SCIMException, ValueError) as exc:
                problems.append(str(exc))
        raise ScimProblem(400, f"filter: {problems[0]}", "invalidFilter")

    def lookups(self, kind: str) -> dict:
        directory = self.root.directory
        if kind == "Users":

            def by_name(value):
                user = user_rules.user_by_name(self.root, value)
                return [] if user is None else [user.id]

            return {
                "username": by_name,
                "id": lambda v: [v] if v in self.root.users else [],
                "externalid": directory.users_by_external_id,
                "emails.value": directory.users_by_email,
                "emails": directory.users_by_email,
            }

        def by_member(userid):
            ids = []
            for entry in self.root.index.entries(userid):
                group = group_at(self.root, entry.path)
                if self.is_scim_group(group):
                    ids.append(group.id)
            return ids

        return {
            "displayname": directory.groups_by_title,
            "id": lambda v: [v],
            "externalid": directory.groups_by_external_id,
            "members.value": by_member,
            "members": by_member,
        }

    def scan(self, kind: str) -> list[str]:
        bound = self.settings.scim_max_filter_scan
        if self.total(kind) > bound:
            raise ScimProblem(
                400,
                f"this filter has no index and would examine more than {bound} resources "
                "(membership.scim.max_filter_scan): filter on userName, externalId, id, emails, "
                "displayName or members instead",
                "tooMany",
            )
        return self.ids_of(kind, list(self.keys_after(kind)(None)))

    def matches(self, kind: str, ident: str, parsed) -> bool:
        if kind == "Users":
            user = self.root.users.get(ident)
            return user is not None and parsed.match(self.user_resource(user))
        group = group_by_id(self.root, ident)
        return self.is_scim_group(group) and parsed.match(
            self.group_resource(group, not self.is_large(group) or "members" in str(parsed).lower())
        )

    def keys_after(self, kind: str):
        if kind == "Users":
            users = self.root.users
            return lambda after: iter(
                users.keys(min=after, excludemin=after is not None) if after else users.keys()
            )
        container = self.container()
        skip = "admins" if container is self.root.groups else None

        def groups_after(after):
            keys = container.keys(min=after, excludemin=True) if after else container.keys()
            return (key for key in keys if key != skip)

        return groups_after

    def total(self, kind: str) -> int:
        if kind == "Users":
            return len(self.root.users)
        container = self.container()
        skip = container is self.root.groups and "admins" in container
        return len(container) - (1 if skip else 0)

    def ids_of(self, kind: str, keys: list[str]) -> list[str]:
        if kind == "Users":
            return keys
        container = self.container()
        return [container.get(key).id for key in keys]


def scim_view(request: Request) -> Response:
    return Scim(request)()


def scim_error_view(exc: ScimProblem, request: Request) -> Response:
    return error_response(exc)


def scim_forbidden_view(exc, request: Request) -> Response:
    if request.authenticated_userid is None:
        return error_response(
            ScimProblem(
                401,
                "a Bearer token of a user holding provision is needed",
                headers={"WWW-Authenticate": 'Bearer realm="membership"'},
            )
        )
    scope = getattr(getattr(exc, "result", None), "scope", None)
    if scope is not None:
        return error_response(
            ScimProblem(
                403,
                f"this token lacks the {scope} scope",
                headers={"WWW-Authenticate": f'Bearer error="insufficient_scope", scope="{scope}"'},
            )
        )
    return error_response(ScimProblem(403, "provisioning needs the provision permission on /"))
