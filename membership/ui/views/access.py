"""A node's access page: its ACL (local, built-in, effective), the local entries' forms,
and "why?": may this principal do that here, and which entry decided.

Reading needs ``view`` (``GET …/acl``), changing ``manage-acl`` (``PATCH
…/acl``), asking about someone else ``manage-acl`` too (``GET
…/permissions?principal=``), exactly as the API; the guard rails are the
domain's (``domain/acl.py``), their messages shown next to the field.
"""

from pyramid.response import Response

from ...domain import acl
from ...domain.errors import DomainError, InvalidValue
from ...model import Group, Root, User
from ...permissions import Permission
from ..common import Form, done, failed, render, ui_path, ui_view

ACL_NODES = (Root, Group, User)
PERMISSIONS = [str(p) for p in Permission]
#: Where the domain's subjects go on the add form.
ADD_FIELDS = {
    "add.0.action": "action",
    "add.0.principal": "principal",
    "add.0.permissions": "permissions",
}


def on_acl_nodes(**settings):
    def decorate(func):
        for context in ACL_NODES:
            func = ui_view(context, depth=1, **settings)(func)
        return func

    return decorate


def why(request, node) -> dict:
    """``GET …/permissions?principal=`` for one permission (or all): the decision and the
    entry that made it, or the error in words next to the field."""
    params = request.GET
    me = request.authenticated_userid
    asked = "principal" in params or "permission" in params
    principal = params.get("principal", "").strip() or f"user:{me}"
    permission = params.get("permission", "").strip()
    answer: dict = {"principal": principal, "permission": permission, "asked": asked}
    if not asked:
        return answer
    errors = {}
    if permission and permission not in PERMISSIONS:
        errors["permission"] = f"no permission {permission!r}"
    if principal != f"user:{me}" and not request.has_permission(Permission.MANAGE_ACL, node):
        errors["principal"] = (
            "only holders of manage-acl here may ask about others; leave it empty to ask "
            "about yourself"
        )
    if not errors:
        try:
            principals = acl.principals_of(request.root, principal, node)
        except InvalidValue as exc:
            errors["principal"] = exc.subject_message
    answer["errors"] = errors
    if errors:
        return answer
    answer["principals"] = principals
    asked_for = [permission] if permission else PERMISSIONS
    answer["rows"] = [(each, *acl.decide(node, principals, each)) for each in asked_for]
    return answer


@on_acl_nodes(name="access", permission=Permission.VIEW)
def access_page(context, request, status: int = 200, form: Form | None = None) -> Response:
    answer = why(request, context)
    if status == 200 and answer.get("errors"):
        status = 403 if "manage-acl" in answer["errors"].get("principal", "") else 400
    named = sorted({entry["principal"] for entry in acl.effective_entries(context)})
    return render(
        request,
        "access.jinja2",
        status=status,
        form=form,
        node=context,
        local=[acl.ace_dict(ace) for ace in context.local_acl],
        builtin=[acl.ace_dict(ace) for ace in context.builtin_acl()],
        effective=acl.effective_entries(context),
        why=answer,
        permissions=PERMISSIONS,
        principals=named,
    )


def _again(context, request):
    return lambda **kw: access_page(context, request, **kw)


def _access_url(request, node) -> str:
    return ui_path(request, node, "access") + "#acl"


@on_acl_nodes(name="acl-add", method="POST", permission=Permission.MANAGE_ACL)
def add_entry(context, request):
    """``PATCH …/acl`` with ``{"add": [entry]}``."""
    post = request.POST
    values = {
        "action": post.get("action", "").strip(),
        "principal": post.get("principal", "").strip(),
        "permissions": post.getall("permissions"),
    }
    form = Form("acl-add", values)
    try:
        add = acl.parse_entries(
            request.root, [(values["action"], values["principal"], values["permissions"])], "add"
        )
        key = acl.same_ace_key(add[0])
        if key in {acl.same_ace_key(ace) for ace in context.local_acl}:
            raise InvalidValue("add.0: this entry is there already", subject="add.0")
        new = acl.apply_patch(context.local_acl, add, [])
        acl.set_acl(
            request.domain,
            context,
            new,
            lambda ace: "add.0.permissions" if acl.same_ace_key(ace) == key else "entries",
        )
    except DomainError as exc:
        return failed(request, exc, form, _again(context, request), ADD_FIELDS)
    return done(request, "Entry added.", _access_url(request, context), "acl")


@on_acl_nodes(name="acl-remove", method="POST", permission=Permission.MANAGE_ACL)
def remove_entry(context, request):
    """``PATCH …/acl`` with ``{"remove": [entry]}``: the entry the form names, exactly."""
    post = request.POST
    entry = (post.get("action", ""), post.get("principal", ""), post.getall("permissions"))
    form = Form("acl-remove", {"principal": entry[1]})
    try:
        remove = acl.loose_entries([entry])
        new = acl.apply_patch(context.local_acl, [], remove)
        acl.set_acl(request.domain, context, new, lambda ace: "remove.0")
    except DomainError as exc:
        return failed(request, exc, form, _again(context, request))
    return done(request, "Entry removed.", _access_url(request, context), "acl")
