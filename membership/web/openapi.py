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
"""

from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, TypeAdapter
from pydantic.json_schema import models_json_schema
from pyramid.interfaces import IExceptionResponse

from ..model import (
    Group,
    Groups,
    Members,
    Membership,
    NonMember,
    Root,
    Token,
    Tokens,
    User,
    Users,
)
from ..paths import NAME_PATTERN
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
}

PATH_PARAMETERS = {
    "user": ("A user id", "admin"),
    "group": ("A top-level group's name", "admins"),
    "subgroup": ("A subgroup's name", "backend"),
    "token": ("A token's id (not its secret)", "0123456789abcdef"),
    "group_id": ("A group's stable id", "0b7c8d46-3f61-4a57-9f5e-2d3c1b0a9e87"),
}
#: Path parameters that are not names.
PATH_PATTERNS = {"group_id": r"^[0-9a-f-]{1,64}$"}


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


GET_ERRORS = (400, 401, 403, 404)
WRITE_ERRORS = (400, 401, 403, 404, 413, 415, 422)

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
    ),
    (User, "", "GET"): Operation(
        "get{label}", "Read a user", response=schemas.UserOut, errors=GET_ERRORS
    ),
    (User, "", "PATCH"): Operation(
        "update{label}",
        "Change a user (JSON merge patch)",
        response=schemas.UserOut,
        body=schemas.UserPatch,
        errors=(*WRITE_ERRORS, 412),
        if_match=True,
        merge_patch=True,
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
    ),
    (Token, "", "GET"): Operation(
        "get{label}", "Read a token's record", response=schemas.TokenOut, errors=GET_ERRORS
    ),
    (Token, "", "DELETE"): Operation(
        "revoke{label}", "Revoke a token", status=204, errors=(400, 401, 403, 404)
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
        headers=("Location",),
    ),
    (Members, "", "GET"): Operation(
        "list{label}s",
        "List members (?role=, ?prefix=, ?effective=true)",
        response=schemas.MemberPage,
        query=schemas.MembersQuery,
        errors=GET_ERRORS,
        headers=("Link",),
    ),
    (Members, "", "POST"): Operation(
        "add{label}",
        "Add a member",
        status=201,
        response=schemas.MembershipOut,
        body=schemas.MembershipCreate,
        errors=(*WRITE_ERRORS, 409),
    ),
    (Members, "", "PATCH"): Operation(
        "change{label}s",
        "Bulk changes: a list of add/remove/replace, all or nothing",
        response=schemas.BulkResult,
        body=schemas.BulkMembers,
        body_name="BulkMembers",
        errors=(*WRITE_ERRORS, 409),
    ),
    (Membership, "", "GET"): Operation(
        "check{label}",
        "The membership check: 200 for a member, 404 otherwise",
        response=schemas.MembershipOut,
        query=schemas.MemberCheckQuery,
        errors=GET_ERRORS,
        extra={"alternatives": [schemas.EffectiveMembershipOut]},
    ),
    (Membership, "", "PATCH"): Operation(
        "update{label}",
        "Change a member's role or expiry (JSON merge patch)",
        response=schemas.MembershipOut,
        body=schemas.MembershipPatch,
        errors=(*WRITE_ERRORS, 409, 412),
        if_match=True,
        merge_patch=True,
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
        )
        operations[(context, "acl", "PATCH")] = Operation(
            "patch{label}Acl",
            "Remove some local ACEs (exact matches), then append others",
            response=schemas.AclOut,
            body=schemas.AclPatch,
            errors=(*WRITE_ERRORS, 409, 412),
            if_match=True,
        )
        operations[(context, "permissions", "GET")] = Operation(
            "explain{label}Permissions",
            "Which permissions a principal has here, and the ACE that decided each",
            response=schemas.PermissionsOut,
            query=schemas.PermissionsQuery,
            errors=GET_ERRORS,
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

ALIASES = {NonMember: Membership}

#: Answers any request may get, whatever the operation.
COMMON_ERRORS = (400, 429, 500, 503)

STATUS_TEXT = {
    200: "OK",
    201: "Created (the new resource; its URL in Location)",
    204: "No Content",
    304: "Not Modified (If-None-Match matched the ETag)",
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
    503: "Not initialized, or a write that kept conflicting; Retry-After",
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
    "WWW-Authenticate": {"description": 'Basic realm="membership"', "schema": {"type": "string"}},
    "Allow": {"description": "Methods this URL answers", "schema": {"type": "string"}},
}


def registered_views(registry) -> list[tuple[type, str, tuple[str, ...] | None]]:
    """``(context, name, methods)`` of every non-exception view (``None``: any method)."""
    views = []
    for intr in registry.introspector.get_category("views") or []:
        view = intr["introspectable"]
        context = view["context"]
        if not isinstance(context, type) or view.get("exception_only"):
            continue  # no context, an interface (Pyramid's own exception response view)
        if issubclass(context, BaseException) or IExceptionResponse.implementedBy(context):
            continue
        methods = view["request_methods"]
        if isinstance(methods, str):
            methods = (methods,)
        views.append((context, view["name"] or "", tuple(methods) if methods else None))
    return views


def build_openapi(registry, *, version: str = "0") -> dict:
    """The OpenAPI 3.1 document of the views registered in ``registry``."""
    components = _Components()
    settings = getattr(registry, "membership_settings", None)
    if settings is not None:
        components.max_etag_header = settings.max_etag_header
    paths: dict[str, dict] = {}
    for context, name, methods in sorted(
        registered_views(registry), key=lambda v: (v[0].__name__, v[1], v[2] or ())
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
                entry[method.lower()] = _operation(components, operation, path, label, method)
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": "membership",
            "version": version,
            "summary": "Users, groups at any depth, memberships and personal access tokens",
            "description": __doc__.split("\n\n", 1)[1].strip(),
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
                    "description": "A personal access token from POST /users/{user}/tokens",
                },
            },
        }


def _error_headers(status: int) -> dict:
    headers = {"X-Request-ID": {"$ref": "#/components/headers/X-Request-ID"}}
    if status == 401:
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
