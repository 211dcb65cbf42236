"""A group's page: details, members (direct and effective), subgroups; and its forms.

Each form posts to a view named after what it does (``add-member``,
``change-member``, ...) on the group, with the permission the API's view
for the same change has (``POST …/members``: ``manage-members``, ``PATCH``
the group: ``edit``, ``…/move`` and ``DELETE``: ``delete``, ``POST
…/groups``: ``create-group``), and calls the same domain function.
"""

from datetime import datetime

from pyramid.response import Response

from ...domain import groups as rules
from ...domain import members as member_rules
from ...domain.errors import BulkOperationFailed, DomainError, InvalidValue
from ...domain.queries import (
    effective_member_ids,
    effective_membership,
    member_counts,
    member_rows,
)
from ...model import Group, Root
from ...paging import take
from ...paths import is_valid_name, name_problem
from ...permissions import ROLES, Permission
from ...web.schemas import GroupCreate, GroupMove, GroupPatch, MembershipCreate
from ..common import (
    PAGE_SIZE,
    Form,
    check,
    decode_cursor,
    done,
    encode_cursor,
    failed,
    form_values,
    parse_time,
    render,
    status_of,
    ui_path,
    ui_view,
)
from .tree import home, may_view

#: Most lines a pasted list may have (the API takes 100,000 operations; a page, fewer).
BULK_LINES = 10_000
SUBGROUPS_SHOWN = 100
SUGGESTIONS = 10


def members_listing(request, group: Group) -> dict:
    """``GET …/members`` as the page shows it: direct (``?role=``) or effective (with
    ``via``), ``?prefix=``, a page after ``?cursor=``."""
    params = request.GET
    view = "effective" if params.get("view") == "effective" else "direct"
    role = params.get("role") if params.get("role") in ROLES else ""
    prefix = params.get("prefix", "").strip()[:64]
    if prefix and not all(c.isalnum() or c in "._-" for c in prefix):
        prefix = ""
    after = decode_cursor(params.get("cursor"))
    members = group.members
    rows: list = []
    if view == "effective":
        visible = may_view(request)
        ids, more = take(
            effective_member_ids(request.root, group, prefix=prefix, after=after, may_view=visible),
            PAGE_SIZE,
        )
        for userid in ids:
            row = effective_membership(request.root, group.path, userid, visible)
            rows.append(
                {"user": userid, "direct": row is None or row.direct, "via": row and row.via}
            )
        last = ids[-1] if ids else None
    else:
        page, more = take(
            member_rows(
                members,
                role=role or None,
                prefix=prefix,
                after=after,
                with_expired=bool(request.has_permission(Permission.MANAGE_MEMBERS, members)),
            ),
            PAGE_SIZE,
        )
        rows = [{"user": userid, "membership": membership} for userid, membership in page]
        last = page[-1][0] if page else None
    next_url = None
    if more and last is not None:
        next_url = ui_path(
            request, group, view=view, role=role, prefix=prefix, cursor=encode_cursor(last)
        )
        next_url += "#members"
    return {
        "view": view,
        "role": role,
        "prefix": prefix,
        "rows": rows,
        "next_url": next_url,
        "paged": after is not None,
    }


def subgroups_of(request, group: Group) -> tuple[list, bool]:
    visible = may_view(request)
    found, more = [], False
    for name in group.groups.keys():
        child = group.groups[name]
        if not visible(child):
            continue
        if len(found) == SUBGROUPS_SHOWN:
            more = True
            break
        found.append((child, member_counts(child)[0]))
    return found, more


def input_time(value: datetime | None) -> str:
    """A stored instant as a ``datetime-local`` input shows it (UTC)."""
    return value.strftime("%Y-%m-%dT%H:%M") if value is not None else ""


@ui_view(Group, permission=Permission.VIEW)
def group_page(context: Group, request, status: int = 200, form: Form | None = None) -> Response:
    active, expired = member_counts(context)
    subgroups, more_subgroups = subgroups_of(request, context)
    parent = context.__parent__.__parent__
    return render(
        request,
        "group.jinja2",
        status=status,
        form=form,
        group=context,
        parent=parent if isinstance(parent, Group) else None,
        member_count=active,
        expired_count=expired,
        members=members_listing(request, context),
        subgroups=subgroups,
        more_subgroups=more_subgroups,
        roles=ROLES,
        input_time=input_time,
    )


def _again(context, request):
    return lambda **kw: group_page(context, request, **kw)


def _members_url(request, group: Group) -> str:
    return ui_path(request, group) + "#members"


@ui_view(Group, name="edit", method="POST", permission=Permission.EDIT)
def edit_group(context: Group, request):
    """``PATCH /groups/{g}`` with ``title`` and ``description``."""
    values = form_values(request, "title", "description")
    try:
        check(GroupPatch, **values)
        rules.update_group(
            request.domain, context, title=values["title"], description=values["description"]
        )
    except DomainError as exc:
        return failed(request, exc, Form("edit", values), _again(context, request))
    return done(request, "Saved.", ui_path(request, context), "details")


@ui_view(Group, name="add-member", method="POST", permission=Permission.MANAGE_MEMBERS)
def add_member(context: Group, request):
    """``POST /groups/{g}/members``: ``user``, ``role``, optional ``expires_at``."""
    values = form_values(request, "user", "role", "expires_at")
    values["role"] = values["role"] or "member"
    try:
        expires_at = parse_time(values["expires_at"], "expires_at")
        check(MembershipCreate, user=values["user"], role=values["role"], expires_at=expires_at)
        member_rules.add_member(
            request.domain, context, values["user"], values["role"], expires_at=expires_at
        )
    except DomainError as exc:
        return failed(request, exc, Form("add-member", values), _again(context, request))
    return done(
        request,
        f"{values['user']} added as {values['role']}.",
        _members_url(request, context),
        "members",
    )


@ui_view(Group, name="change-member", method="POST", permission=Permission.MANAGE_MEMBERS)
def change_member(context: Group, request):
    """``PATCH /groups/{g}/members/{user}``: ``role`` and ``expires_at`` (empty: never)."""
    values = form_values(request, "user", "role", "expires_at")
    form = Form("change-member:" + values["user"], values)
    try:
        if values["role"] not in ROLES:
            raise InvalidValue(f"role: must be one of {', '.join(ROLES)}", subject="role")
        expires_at = parse_time(values["expires_at"], "expires_at")
        membership = context.members.membership(values["user"])
        # An unchanged expiry is left alone (a datetime-local input drops the seconds).
        unchanged = membership is not None and values["expires_at"] == input_time(
            membership.expires_at
        )
        member_rules.change_member(
            request.domain,
            context,
            values["user"],
            role=values["role"],
            expires_at=... if unchanged else expires_at,
        )
    except DomainError as exc:
        return failed(request, exc, form, _again(context, request))
    return done(
        request,
        f"{values['user']} is now {values['role']}.",
        _members_url(request, context),
        "members",
    )


@ui_view(Group, name="remove-member", method="POST", permission=Permission.MANAGE_MEMBERS)
def remove_member(context: Group, request):
    """``DELETE /groups/{g}/members/{user}``."""
    values = form_values(request, "user")
    try:
        member_rules.remove_member(request.domain, context, values["user"])
    except DomainError as exc:
        form = Form("change-member:" + values["user"], values)
        return failed(request, exc, form, _again(context, request))
    return done(request, f"{values['user']} removed.", _members_url(request, context), "members")


def bulk_problems(request, group: Group, ids: list[str]) -> list[tuple[int, str, str]]:
    """Every line that cannot be added, in words (the domain decides again on apply)."""
    problems, seen = [], {}
    users = request.root.users
    for number, userid in enumerate(ids, 1):
        if not is_valid_name(userid):
            problems.append((number, userid, name_problem(userid) or "not a user id"))
        elif userid in seen:
            problems.append((number, userid, f"repeats line {seen[userid]}"))
        elif userid not in users:
            problems.append((number, userid, "no such user"))
        elif userid in group.members._items:
            problems.append((number, userid, "already a member"))
        seen.setdefault(userid, number)
    return problems


@ui_view(Group, name="bulk-add", method="POST", permission=Permission.MANAGE_MEMBERS)
def bulk_add(context: Group, request):
    """``PATCH /groups/{g}/members`` with one ``add`` per pasted line: all or nothing."""
    text = request.POST.get("ids", "")
    role = request.POST.get("role", "").strip() or "member"
    form = Form("bulk-add", {"ids": text, "role": role})
    lines = [line.strip() for line in text.splitlines()]
    numbered = [(n, line) for n, line in enumerate(lines, 1) if line]
    if not numbered:
        form.errors["ids"] = "paste at least one user id, one per line"
        return group_page(context, request, status=400, form=form)
    if len(numbered) > BULK_LINES:
        form.errors["ids"] = f"at most {BULK_LINES} lines at a time"
        return group_page(context, request, status=400, form=form)
    ids = [line for _, line in numbered]
    problems = bulk_problems(request, context, ids)
    if problems:
        request.tm.doom()
        form.lines = [(numbered[i - 1][0], userid, why) for i, userid, why in problems]
        form.errors["ids"] = (
            f"{len(problems)} of {len(ids)} lines cannot be added; nothing was applied"
        )
        return group_page(context, request, status=422, form=form)
    operations = [member_rules.Operation("add", userid, role) for userid in ids]
    try:
        if role not in ROLES:
            raise InvalidValue(f"role: must be one of {', '.join(ROLES)}", subject="role")
        counts = member_rules.apply_batch(request.domain, context, operations)
    except BulkOperationFailed as exc:
        request.tm.doom()
        line, userid = numbered[exc.position]
        if exc.cause.subject == "role":
            form.errors["role"] = exc.cause.subject_message
        else:
            form.lines = [(line, userid, exc.cause.subject_message)]
        form.errors["ids"] = "nothing was applied"
        return group_page(context, request, status=status_of(exc), form=form)
    except DomainError as exc:
        return failed(request, exc, form, _again(context, request))
    return done(
        request,
        f"{counts['add']} members added as {role}.",
        _members_url(request, context),
        "members",
    )


@ui_view(Group, name="suggest-users", permission=Permission.MANAGE_MEMBERS)
def suggest_users(context: Group, request):
    """User ids for the add-member field, as you type: from ``/users`` for those who may
    list it, else from the members of this group and the groups above it that the caller
    may see (what ``GET …/members`` would show them)."""
    prefix = request.GET.get("user", "").strip()[:64]
    found: list[str] = []
    if prefix and is_valid_name(prefix):
        users = request.root.users
        if request.has_permission(Permission.VIEW, users):
            found = list(take(users.keys(min=prefix, max=prefix + "\uffff"), SUGGESTIONS)[0])
        else:
            for group in context.lineage():
                members = group.members
                if not request.has_permission(Permission.VIEW, members):
                    continue
                rows = member_rows(
                    members,
                    role=None,
                    prefix=prefix,
                    after=None,
                    with_expired=bool(request.has_permission(Permission.MANAGE_MEMBERS, members)),
                )
                for userid, _ in take(rows, SUGGESTIONS)[0]:
                    if userid not in found:
                        found.append(userid)
            found = sorted(found)[:SUGGESTIONS]
    return render(request, "_suggestions.jinja2", suggestions=found)


@ui_view(Root, name="new-group", method="POST", permission=Permission.CREATE_GROUP)
@ui_view(Group, name="new-subgroup", method="POST", permission=Permission.CREATE_GROUP)
def new_group(context: Root | Group, request):
    """``POST /groups`` (the home page's form) or ``POST /groups/{g}/groups`` (a group's):
    one form, one domain call, under the root or a group."""
    top = isinstance(context, Root)
    values = form_values(request, "name", "title", "description")
    try:
        check(GroupCreate, **values)
        group = rules.create_group(
            request.domain,
            context.groups,
            values["name"],
            title=values["title"],
            description=values["description"],
        )
    except DomainError as exc:
        page = home if top else group_page
        form = Form("new-group" if top else "new-subgroup", values)
        return failed(request, exc, form, lambda **kw: page(context, request, **kw))
    if top:
        return done(request, f"Group {group.path} created.", ui_path(request, group))
    return done(
        request,
        f"Subgroup {group.name} created.",
        ui_path(request, context) + "#subgroups",
        "subgroups",
    )


def _after_leaving(request, group_parent) -> str:
    if isinstance(group_parent, Group):
        return ui_path(request, group_parent) + "#subgroups"
    return ui_path(request, "/")


@ui_view(Group, name="move", method="POST", permission=Permission.DELETE)
def move_group(context: Group, request):
    """``POST /groups/{g}/move``: ``to`` a group's path, or ``/groups``."""
    values = form_values(request, "to", "return_to")
    old_parent = context.__parent__.__parent__
    try:
        check(GroupMove, to=values["to"].rstrip("/") or values["to"])
        group = rules.move_group(request.domain, context, values["to"].rstrip("/") or "/groups")
    except DomainError as exc:
        return failed(request, exc, Form("move", values), _again(context, request))
    if values["return_to"] == "parent":
        return done(
            request,
            f"{group.name} moved to {group.path}.",
            _after_leaving(request, old_parent),
            "subgroups" if isinstance(old_parent, Group) else "",
        )
    return done(request, f"Moved to {group.path}.", ui_path(request, group))


@ui_view(Group, name="delete", method="POST", permission=Permission.DELETE)
def delete_group(context: Group, request):
    """``DELETE /groups/{g}``: the whole subtree; type the group's name to confirm."""
    values = form_values(request, "confirm")
    form = Form("delete", values)
    if values["confirm"] != context.name:
        form.errors["confirm"] = f"type {context.name} to confirm"
        return group_page(context, request, status=400, form=form)
    parent, path = context.__parent__.__parent__, context.path
    try:
        rules.delete_group(request.domain, context)
    except DomainError as exc:
        return failed(request, exc, form, _again(context, request))
    queue = "subgroups" if isinstance(parent, Group) else ""
    return done(request, f"Group {path} deleted.", _after_leaving(request, parent), queue)
