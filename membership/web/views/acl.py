"""Per-node ACLs over HTTP: ``/acl``, ``/groups/{g}/acl``, ``/users/{id}/acl``, and
``…/permissions`` ("why can or can't alice do this here?").

Reading an ACL needs ``view`` on the node; changing it, ``manage-acl``. The
rules (validation, guard rails, explanations) live in ``domain/acl.py``.
"""

from pyramid.httpexceptions import HTTPForbidden
from pyramid.request import Request
from pyramid.view import view_config

from ...domain import acl
from ...model import Group, Root, User
from ...permissions import Permission
from ..http import check_if_match, read_body, read_query, url
from ..problems import InvalidInput, ValidationFailed
from ..schemas import AclPatch, AclPut, PermissionsQuery

#: The nodes that carry local ACEs.
ACL_NODES = (Root, Group, User)


def on_acl_nodes(**settings):
    """``view_config`` for each kind of node that has an ACL."""

    def decorate(func):
        for context in ACL_NODES:
            func = view_config(context=context, renderer="json", **settings)(func)
        return func

    return decorate


def acl_body(request: Request, node) -> dict:
    path = node.path
    return {
        "path": path,
        "entries": [acl.ace_dict(ace) for ace in node.local_acl],
        "builtin": [acl.ace_dict(ace) for ace in node.builtin_acl()],
        "effective": acl.effective_entries(node),
        "links": {
            "self": url(request, path, "acl"),
            "node": url(request, path),
            "permissions": url(request, path, "permissions"),
        },
    }


def read_acl_body(request: Request, schema):
    """``read_body``, but a bad entry is a 400 naming it (``entries.2.action``), not a 422."""
    try:
        return read_body(request, schema)
    except ValidationFailed as exc:
        raise InvalidInput(exc.detail, exc.errors) from None


def tuples(entries) -> list[tuple]:
    return [(entry.action, entry.principal, entry.permissions) for entry in entries]


@on_acl_nodes(name="acl", request_method="GET", permission=Permission.VIEW)
def get_acl(context, request: Request) -> dict:
    return acl_body(request, context)


@on_acl_nodes(name="acl", request_method="PUT", permission=Permission.MANAGE_ACL)
def put_acl(context, request: Request) -> dict:
    """Replace the local ACEs (built-in ones stay whatever is sent)."""
    data = read_acl_body(request, AclPut)  # malformed is a 400, whatever If-Match says
    check_if_match(request, acl_body(request, context))
    new = acl.parse_entries(request.root, tuples(data.entries), "entries")
    positions = {acl.same_ace_key(ace): i for i, ace in enumerate(new)}

    def field_of(ace) -> str:
        position = positions.get(acl.same_ace_key(ace))
        return "entries" if position is None else f"entries.{position}.permissions"

    acl.set_acl(request.domain, context, new, field_of)
    return acl_body(request, context)


@on_acl_nodes(name="acl", request_method="PATCH", permission=Permission.MANAGE_ACL)
def patch_acl(context, request: Request) -> dict:
    """``{"remove": [ACE…], "add": [ACE…]}``: removals (exact matches) first, then additions."""
    data = read_acl_body(request, AclPatch)
    check_if_match(request, acl_body(request, context))
    if not data.add and not data.remove:
        raise InvalidInput.field("body", "give ACEs to add and/or remove")
    add = acl.parse_entries(request.root, tuples(data.add), "add")
    remove = acl.loose_entries(tuples(data.remove))
    new = acl.apply_patch(context.local_acl, add, remove)
    names = {acl.same_ace_key(ace): f"add.{i}.permissions" for i, ace in enumerate(add)}
    names.update({acl.same_ace_key(ace): f"remove.{i}" for i, ace in enumerate(remove)})
    acl.set_acl(
        request.domain, context, new, lambda ace: names.get(acl.same_ace_key(ace), "entries")
    )
    return acl_body(request, context)


@on_acl_nodes(name="permissions", request_method="GET")
def permissions(context, request: Request) -> dict:
    """Which permissions a principal has here, and the ACE that decided each.

    Anyone authenticated may ask about themself (the default); asking about
    another principal needs ``manage-acl`` on the node, and tells only what
    bears on this node.
    """
    if request.authenticated_userid is None:
        raise HTTPForbidden()
    me = request.actor.principal  # user:<id>, or client:<id> for an OAuth client's JWT
    query = read_query(request, PermissionsQuery)
    principal = query.principal or me
    if principal != me:
        allowed = request.has_permission(Permission.MANAGE_ACL, context)
        if not allowed:
            raise HTTPForbidden(
                "only holders of manage-acl here may ask about other principals", result=allowed
            )
    principals = acl.principals_of(request.root, principal, context)
    rows = acl.explain(context, principals)
    path = context.path
    return {
        "path": path,
        "principal": principal,
        "principals": principals,
        "allowed": [row["permission"] for row in rows if row["allowed"]],
        "permissions": rows,
        "links": {
            "self": url(request, path, "permissions", query={"principal": principal}),
            "acl": url(request, path, "acl"),
        },
    }
