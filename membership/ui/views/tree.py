"""``/ui/``: the tree of groups the caller may see, search; ``/ui/users``: the users."""

from dataclasses import dataclass, field

from ...domain import users as user_rules
from ...domain.errors import DomainError
from ...domain.queries import effective_groups, member_counts
from ...model import Group, Root, Users, group_at
from ...paging import page_keys
from ...paths import ancestor_paths
from ...permissions import Permission
from ...web.schemas import UserCreate
from ..common import (
    PAGE_SIZE,
    Form,
    check,
    decode_cursor,
    done,
    encode_cursor,
    failed,
    form_values,
    render,
    ui_path,
    ui_view,
)

#: How much of the tree one page shows: levels, subgroups per group, groups in all.
TREE_DEPTH = 3
TREE_CHILDREN = 25
TREE_NODES = 300
#: Groups a search looks at before it answers with what it found.
SEARCH_SCAN = 5000
SEARCH_RESULTS = 20


@dataclass
class TreeNode:
    group: Group
    members: int
    children: list["TreeNode"] = field(default_factory=list)
    more: bool = False


def may_view(request):
    return lambda group: bool(request.has_permission(Permission.VIEW, group))


def tree_roots(request) -> list[Group]:
    """Top-level groups for whoever may list them (``GET /groups``); else the groups the
    caller is in (``GET /users/{me}/groups``), each shown once under its highest one."""
    root = request.root
    visible = may_view(request)
    if request.has_permission(Permission.VIEW, root.groups):
        keys, _ = page_keys(root.groups, limit=TREE_NODES)
        return [g for g in (root.groups[k] for k in keys) if visible(g)]
    rows = effective_groups(root, request.authenticated_userid, visible)
    paths = set(rows)
    tops = [p for p in sorted(paths) if not any(a in paths for a in ancestor_paths(p))]
    return [g for g in (group_at(root, p) for p in tops) if g is not None]


def build_tree(request) -> list[TreeNode]:
    visible = may_view(request)
    budget = [TREE_NODES]

    def node(group: Group, level: int) -> TreeNode:
        budget[0] -= 1
        item = TreeNode(group, member_counts(group)[0])
        if level >= TREE_DEPTH:
            item.more = len(group.groups) > 0
            return item
        for name in group.groups.keys():
            child = group.groups[name]
            if not visible(child):
                continue
            if len(item.children) == TREE_CHILDREN or budget[0] <= 0:
                item.more = True
                break
            item.children.append(node(child, level + 1))
        return item

    return [node(group, 1) for group in tree_roots(request) if budget[0] > 0]


def search(request, query: str) -> dict:
    """Users whose id starts with ``query`` (for those who may list users) and visible
    groups whose name or title does, found by a bounded walk of the visible tree."""
    root = request.root
    found: dict = {"users": [], "groups": [], "partial": False}
    if request.has_permission(Permission.VIEW, root.users):
        keys, _ = page_keys(root.users, prefix=query, limit=SEARCH_RESULTS)
        found["users"] = [root.users[k] for k in keys]
    visible = may_view(request)
    needle = query.lower()
    queue = list(tree_roots(request))
    scanned = 0
    while queue and len(found["groups"]) < SEARCH_RESULTS:
        group = queue.pop(0)
        scanned += 1
        if scanned > SEARCH_SCAN:
            found["partial"] = True
            break
        if group.name.startswith(needle) or group.title.lower().startswith(needle):
            found["groups"].append(group)
        queue.extend(g for g in group.groups._items.values() if visible(g))
    return found


@ui_view(Root)
def home(context: Root, request, status: int = 200, form: Form | None = None):
    query = request.GET.get("q", "").strip()[:64]
    return render(
        request,
        "home.jinja2",
        status=status,
        form=form,
        tree=build_tree(request),
        query=query,
        results=search(request, query) if query else None,
        may_list_groups=request.has_permission(Permission.VIEW, context.groups),
    )


@ui_view(Users, permission=Permission.VIEW)
def users_page(context: Users, request, status: int = 200, form: Form | None = None):
    """``GET /users``: a page of users by id, ``?prefix=``, cursor-paged."""
    prefix = request.GET.get("prefix", "").strip()[:64]
    after = decode_cursor(request.GET.get("cursor"))
    keys, more = page_keys(context, prefix=prefix, after=after, limit=PAGE_SIZE)
    next_url = (
        ui_path(request, context, prefix=prefix, cursor=encode_cursor(keys[-1]))
        if more and keys
        else None
    )
    return render(
        request,
        "users.jinja2",
        status=status,
        form=form,
        users=[context[k] for k in keys],
        prefix=prefix,
        next_url=next_url,
        may_create=request.has_permission(Permission.CREATE_USER, context),
    )


@ui_view(Root, name="new-user", method="POST", permission=Permission.CREATE_USER)
def new_user(context: Root, request):
    """``POST /users``."""
    values = form_values(request, "id", "display_name", "email")
    password = request.POST.get("password", "")
    try:
        check(
            UserCreate,
            id=values["id"],
            password=password or None,
            display_name=values["display_name"],
            email=values["email"] or None,
        )
        user = user_rules.create_user(
            request.domain,
            values["id"],
            password=password or None,
            display_name=values["display_name"],
            email=values["email"] or None,
        )
    except DomainError as exc:
        return failed(
            request,
            exc,
            Form("new-user", values),
            lambda **kw: users_page(context.users, request, **kw),
        )
    return done(request, f"User {user.id} created.", ui_path(request, user))
