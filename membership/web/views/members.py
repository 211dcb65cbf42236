"""Memberships: ``/groups/<g>/members`` and ``/groups/<g>/members/<user>``.

``GET .../members/<user>`` is the membership check other services call on
every request: 200 or 404, nothing to parse on the hot path.
"""

from pyramid.request import Request
from pyramid.view import view_config, view_defaults

from ... import clock
from ...domain import members as rules
from ...domain.queries import (
    effective_member_ids,
    effective_membership,
    member_counts,
    member_rows,
)
from ...model import Members, Membership, NonMember
from ...paging import take
from ...permissions import Permission
from ..http import (
    check_if_match,
    collection,
    created,
    decode_cursor,
    etag_of,
    no_content,
    read_body,
    read_query,
    url,
)
from ..problems import InvalidInput
from ..rendering import Encoded, json_string
from ..schemas import (
    NO_SUCH_USER,
    NOT_A_MEMBER,
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
    expires_at = membership.expires_at
    return {
        "user": membership.user,
        "role": membership.role,
        "expires_at": clock.rfc3339(expires_at),
        "expired": expires_at is not None and membership.is_expired(),
        "added_by": membership.added_by,
        "added_at": clock.rfc3339(membership.added_at),
        "source": membership.source,
        "direct": True,
        "links": {
            "self": url(request, group_path, "members", membership.user),
            "user": url(request, "/users/" + membership.user),
            "group": url(request, group_path),
        },
    }


def membership_json(request: Request, membership: Membership) -> Encoded:
    """``membership_body`` as the bytes ``dumps`` gives for it, built by joins.

    The membership check answers this on every call; the dict and the
    generic encoder were about a tenth of its in-process cost. Same keys,
    same order, same escaping (``tests/unit/test_check_body.py`` holds the
    two equal), so the ETag a GET answers is the one PATCH's ``If-Match``
    compares with ``membership_body``.
    """
    group_path = membership.__parent__.__parent__.path
    expires_at = membership.expires_at
    user = membership.user
    base = request.base_url
    group_url = base + group_path.rstrip("/")
    expired = "true" if expires_at is not None and membership.is_expired() else "false"
    return Encoded(
        (
            f'{{"user":{json_string(user)},"role":{json_string(membership.role)},'
            f'"expires_at":{json_string(clock.rfc3339(expires_at))},"expired":{expired},'
            f'"added_by":{json_string(membership.added_by)},'
            f'"added_at":{json_string(clock.rfc3339(membership.added_at))},'
            f'"source":{json_string(membership.source)},"direct":true,'
            f'"links":{{"self":{json_string(group_url + "/members/" + user)},'
            f'"user":{json_string(base + "/users/" + user)},"group":{json_string(group_url)}}}}}'
        ).encode()
    )


def not_a_member(request: Request, userid: str, group_path: str) -> InvalidInput:
    """404 typed by why: no such user, or a user who is not (or no longer) a member."""
    if userid not in request.root.users:
        return InvalidInput(f"there is no user {userid!r}", type=NO_SUCH_USER).with_status(404)
    return InvalidInput(f"{userid} is not a member of {group_path}", type=NOT_A_MEMBER).with_status(
        404
    )


def may_view(request: Request):
    actor = request.actor
    return lambda group: actor.may(Permission.VIEW, group)


@view_defaults(context=Members, renderer="json")
class MembersView:
    def __init__(self, context: Members, request: Request) -> None:
        self.context = context
        self.request = request

    @view_config(request_method="POST", permission=Permission.MANAGE_MEMBERS)
    def add(self) -> dict:
        data = read_body(self.request, MembershipCreate)
        membership = rules.add_member(
            self.request.domain,
            self.context.group,
            data.user,
            data.role,
            expires_at=data.expires_at,
        )
        body = membership_body(self.request, membership)
        created(self.request, body["links"]["self"])
        return body

    @view_config(request_method="GET", permission=Permission.VIEW)
    def list(self) -> dict:
        query = read_query(self.request, MembersQuery)
        if query.effective and query.role is not None:
            raise InvalidInput.field(
                "role", "role filters direct memberships; not with effective=true"
            )
        after = decode_cursor(query.cursor)
        members = self.context
        if query.effective:
            ids, more = take(
                effective_member_ids(
                    self.request.root,
                    members.group,
                    prefix=query.prefix,
                    after=after,
                    may_view=may_view(self.request),
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
        rows = member_rows(
            members,
            role=query.role,
            prefix=query.prefix,
            after=after,
            with_expired=self.request.actor.may(Permission.MANAGE_MEMBERS, members),
        )
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
        counts = rules.apply_batch(
            self.request.domain,
            self.context.group,
            [rules.Operation(op.op, op.user, op.role, op.expires_at) for op in operations],
        )
        etag_of(self.request, None)  # a summary, not the representation of a resource
        active, _ = member_counts(self.context.group)
        return {"applied": sum(counts.values()), **counts, "member_count": active}


@view_defaults(context=Membership, renderer="json")
class MembershipView:
    def __init__(self, context: Membership, request: Request) -> None:
        self.context = context
        self.request = request

    @view_config(request_method="GET", permission=Permission.VIEW)
    def get(self) -> Encoded:
        membership = self.context
        if self.request.environ.get("QUERY_STRING"):  # parsed only when there is one
            read_query(self.request, MemberCheckQuery)  # a bad ?effective= is still a 400
        if membership.is_expired():
            raise not_a_member(self.request, membership.user, membership.__parent__.group.path)
        return membership_json(self.request, membership)

    @view_config(request_method="PATCH", permission=Permission.MANAGE_MEMBERS)
    def patch(self) -> dict:
        data = read_body(self.request, MembershipPatch)  # malformed is 4xx, whatever If-Match says
        check_if_match(self.request, membership_body(self.request, self.context))
        given = data.model_fields_set
        membership = rules.change_member(
            self.request.domain,
            self.context.__parent__.group,
            self.context.user,
            role=data.role,
            expires_at=data.expires_at if "expires_at" in given else ...,
        )
        return membership_body(self.request, membership)

    @view_config(request_method="DELETE", permission=Permission.MANAGE_MEMBERS)
    def delete(self):
        check_if_match(self.request, membership_body(self.request, self.context))
        rules.remove_member(self.request.domain, self.context.__parent__.group, self.context.user)
        return no_content(self.request)


@view_config(context=NonMember, request_method="GET", permission=Permission.VIEW, renderer="json")
def check_effective(context: NonMember, request: Request) -> dict:
    """Without ``?effective=true`` a 404; with it, 200 for a member through a subgroup
    the caller may view."""
    query = read_query(request, MemberCheckQuery)
    group = context.__parent__.group
    if query.effective:
        row = effective_membership(request.root, group.path, context.user, may_view(request))
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
