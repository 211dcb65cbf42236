"""Memberships: ``/groups/<g>/members`` and ``/groups/<g>/members/<user>``.

``GET .../members/<user>`` is the membership check other services call on
every request: 200 or 404, nothing to parse on the hot path.
"""

from pyramid.httpexceptions import HTTPForbidden
from pyramid.request import Request
from pyramid.view import view_config, view_defaults

from .. import clock
from ..exceptions import AlreadyExists, FieldError, InvalidInput, NotFoundError
from ..http import check_if_match, collection, created, no_content, read_body, read_query, url
from ..memberships import effective_member_ids, effective_membership
from ..paging import decode_cursor, take
from ..permissions import Permission
from ..resources import Members, Membership, NonMember
from ..schemas import (
    BulkMembers,
    MemberCheckQuery,
    MembershipCreate,
    MembershipPatch,
    MembersQuery,
)


def membership_body(
    request: Request, membership: Membership, group_path: str | None = None
) -> dict:
    """A membership's body; listings pass ``group_path`` once instead of per item."""
    group_path = group_path or membership.__parent__.__parent__.path
    body = {
        "user": membership.user,
        "role": membership.role,
        "added_by": membership.added_by,
        "added_at": clock.rfc3339(membership.added_at),
        "links": {
            "self": url(request, group_path, "members", membership.user),
            "user": url(request, "/users/" + membership.user),
            "group": url(request, group_path),
        },
    }
    if membership.expires_at is not None:
        body["expires_at"] = clock.rfc3339(membership.expires_at)
        body["expired"] = membership.is_expired()
    return body


def require_grant(request: Request, members: Members, *roles: str | None) -> None:
    """Granting, changing or removing ``owner`` needs ``grant-owner`` (managers lack it)."""
    if "owner" in roles and not request.has_permission(Permission.GRANT_OWNER, members):
        raise HTTPForbidden("only owners may grant, change or remove the owner role")


def not_a_member(request: Request, userid: str, group_path: str) -> NotFoundError:
    return NotFoundError(f"{userid} is not a member of {group_path}").with_status(404)


@view_defaults(context=Members, renderer="json")
class MembersView:
    def __init__(self, context: Members, request: Request) -> None:
        self.context = context
        self.request = request

    @view_config(request_method="POST", permission=Permission.MANAGE_MEMBERS)
    def add(self) -> dict:
        data = read_body(self.request, MembershipCreate)
        require_grant(self.request, self.context, data.role)
        membership = self.context.add_member(
            data.user,
            data.role,
            added_by=self.request.authenticated_userid,
            expires_at=data.expires_at,
        )
        body = membership_body(self.request, membership)
        created(self.request, body["links"]["self"])
        return body

    @view_config(request_method="GET", permission=Permission.VIEW)
    def list(self) -> dict:
        query = read_query(self.request, MembersQuery)
        after = decode_cursor(query.cursor)
        members = self.context
        if query.effective:
            ids, more = take(
                effective_member_ids(
                    self.request.root, members.group, prefix=query.prefix, after=after
                ),
                query.limit,
            )
            items = [
                {"user": userid, "links": {"user": url(self.request, "/users/" + userid)}}
                for userid in ids
            ]
            return collection(
                self.request, items, more=more, last_key=ids[-1] if ids else None, query=query
            )
        ids = members.user_ids(role=query.role, prefix=query.prefix, after=after)
        rows = ((userid, members.get(userid)) for userid in ids)
        if not self.request.has_permission(Permission.MANAGE_MEMBERS, members):
            now = clock.now()
            rows = (row for row in rows if not row[1].is_expired(now))
        page, more = take(rows, query.limit)
        group_path = members.group.path
        items = [membership_body(self.request, m, group_path) for _, m in page]
        return collection(
            self.request, items, more=more, last_key=page[-1][0] if page else None, query=query
        )

    @view_config(request_method="PATCH", permission=Permission.MANAGE_MEMBERS)
    def bulk(self) -> dict:
        """Apply a list of add/remove/replace operations, all or nothing."""
        operations = read_body(self.request, BulkMembers)
        members = self.context
        actor = self.request.authenticated_userid
        may_grant_owner = self.request.has_permission(Permission.GRANT_OWNER, members)
        counts = {"add": 0, "remove": 0, "replace": 0}
        for position, op in enumerate(operations):
            current = members.get(op.user)
            touches_owner = op.role == "owner" and op.op != "remove"
            touches_owner |= current is not None and current.role == "owner"
            if touches_owner and not may_grant_owner:
                raise _bulk_error(position, "role", "only owners may grant or remove owner", 403)
            try:
                if op.op == "add":
                    if current is not None:
                        raise AlreadyExists(f"{op.user} is already a member")
                    members.add_member(op.user, op.role, added_by=actor, expires_at=op.expires_at)
                elif op.op == "remove":
                    if current is None:
                        raise InvalidInput.field("user", f"{op.user} is not a member")
                    members.remove_member(op.user)
                elif current is None:
                    members.add_member(op.user, op.role, added_by=actor, expires_at=op.expires_at)
                else:
                    members.change_member(op.user, role=op.role, expires_at=op.expires_at)
            except (AlreadyExists, InvalidInput, NotFoundError) as exc:
                field = exc.errors[0].field if exc.errors else "user"
                raise _bulk_error(position, field, exc.detail, exc.status) from None
            counts[op.op] += 1
        return {"applied": sum(counts.values()), **counts, "member_count": len(members)}


def _bulk_error(position: int, field: str, message: str, status: int) -> InvalidInput:
    return InvalidInput(
        f"operation {position} failed, nothing was applied: {message}",
        [FieldError(f"{position}.{field}", message)],
        operation=position,
    ).with_status(status)


@view_defaults(context=Membership, renderer="json")
class MembershipView:
    def __init__(self, context: Membership, request: Request) -> None:
        self.context = context
        self.request = request

    @view_config(request_method="GET", permission=Permission.VIEW)
    def get(self) -> dict:
        membership = self.context
        if membership.is_expired():
            group_path = membership.__parent__.group.path
            raise not_a_member(self.request, membership.user, group_path)
        body = membership_body(self.request, membership)
        if self.request.GET and read_query(self.request, MemberCheckQuery).effective:
            body["direct"] = True
        return body

    @view_config(request_method="PATCH", permission=Permission.MANAGE_MEMBERS)
    def patch(self) -> dict:
        members = self.context.__parent__
        data = read_body(self.request, MembershipPatch)  # malformed is 4xx, whatever If-Match says
        check_if_match(self.request, membership_body(self.request, self.context))
        require_grant(self.request, members, self.context.role, data.role)
        changes = {}
        if "role" in data.model_fields_set:
            if data.role is None:
                raise InvalidInput.field("role", "may not be null")
            changes["role"] = data.role
        if "expires_at" in data.model_fields_set:
            changes["expires_at"] = data.expires_at
        membership = members.change_member(self.context.user, **changes)
        return membership_body(self.request, membership)

    @view_config(request_method="DELETE", permission=Permission.MANAGE_MEMBERS)
    def delete(self):
        members = self.context.__parent__
        check_if_match(self.request, membership_body(self.request, self.context))
        require_grant(self.request, members, self.context.role)
        members.remove_member(self.context.user)
        return no_content(self.request)


@view_config(context=NonMember, request_method="GET", permission=Permission.VIEW, renderer="json")
def check_effective(context: NonMember, request: Request) -> dict:
    """Without ``?effective=true`` a 404; with it, 200 for a member through a subgroup."""
    query = read_query(request, MemberCheckQuery)
    group = context.__parent__.group
    if query.effective:
        row = effective_membership(request.root, group.path, context.user)
        if row is not None:
            return {
                "user": context.user,
                "group": group.path,
                "direct": row.direct,
                "via": row.via,
                "links": {
                    "user": url(request, "/users/" + context.user),
                    "group": url(request, group),
                    "via": url(request, row.via, "members", context.user),
                },
            }
    raise not_a_member(request, context.user, group.path)


@view_config(context=NonMember, permission=Permission.VIEW)
def no_such_membership(context: NonMember, request: Request):
    raise not_a_member(request, context.user, context.__parent__.group.path)
