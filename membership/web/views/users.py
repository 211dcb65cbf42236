"""Users: ``/users`` and ``/users/<id>``, and a user's groups."""

from pyramid.request import Request
from pyramid.view import view_config, view_defaults

from ... import clock
from ...domain import users
from ...domain.queries import groups_of
from ...model import User, Users
from ...model.users import email_dicts
from ...permissions import Permission
from ..http import (
    check_if_match,
    collection,
    container_page,
    created,
    decode_cursor,
    merge_value,
    no_content,
    read_body,
    read_query,
    url,
)
from ..schemas import UserCreate, UserGroupsQuery, UserPatch


def user_body(request: Request, user: User) -> dict:
    return {
        "id": user.id,
        "display_name": user.display_name,
        "email": user.email,
        "user_name": user.login_name,
        "active": user.active is not False,
        "external_id": user.external_id,
        "given_name": user.given_name,
        "family_name": user.family_name,
        "emails": email_dicts(user.emails),
        "created": clock.rfc3339(user.created),
        "modified": clock.rfc3339(user.modified),
        "links": {
            "self": url(request, user),
            "groups": url(request, user, "groups"),
            "tokens": url(request, user, "tokens"),
            "acl": url(request, user, "acl"),
            "history": url(request, user, "history"),
        },
    }


def _emails(entries):
    """Schema entries as the domain's ``(value, type, primary)``; ``...`` passes."""
    if entries is ...:
        return entries
    return [(entry.value, entry.type, entry.primary) for entry in entries]


@view_defaults(context=Users, renderer="json")
class UsersView:
    def __init__(self, context: Users, request: Request) -> None:
        self.context = context
        self.request = request

    @view_config(request_method="POST", permission=Permission.CREATE_USER)
    def create(self) -> dict:
        data = read_body(self.request, UserCreate)
        user = users.create_user(
            self.request.domain,
            data.id,
            password=data.password,
            display_name=data.display_name,
            email=data.email,
            user_name=data.user_name,
            active=data.active,
            external_id=data.external_id,
            given_name=data.given_name,
            family_name=data.family_name,
            emails=None if data.emails is None else _emails(data.emails),
        )
        body = user_body(self.request, user)
        created(self.request, body["links"]["self"])
        return body

    @view_config(request_method="GET", permission=Permission.VIEW)
    def list(self) -> dict:
        return container_page(self.request, self.context, user_body)


@view_defaults(context=User, renderer="json")
class UserView:
    def __init__(self, context: User, request: Request) -> None:
        self.context = context
        self.request = request

    @view_config(request_method="GET", permission=Permission.VIEW)
    def get(self) -> dict:
        return user_body(self.request, self.context)

    @view_config(request_method="PATCH", permission=Permission.EDIT)
    def patch(self) -> dict:
        data = read_body(self.request, UserPatch)  # a malformed body is 4xx, whatever If-Match says
        check_if_match(self.request, user_body(self.request, self.context))
        users.update_user(
            self.request.domain,
            self.context,
            display_name=merge_value(data, "display_name", removed="", absent=None),
            email=merge_value(data, "email", removed=None, absent=...),
            password=data.password,
            current_password=data.current_password,
            revoke_tokens=data.revoke_tokens,
            user_name=merge_value(data, "user_name", removed=None, absent=...),
            active=data.active if "active" in data.model_fields_set else ...,
            external_id=merge_value(data, "external_id", removed=None, absent=...),
            given_name=merge_value(data, "given_name", removed=None, absent=...),
            family_name=merge_value(data, "family_name", removed=None, absent=...),
            emails=_emails(merge_value(data, "emails", removed=[], absent=...)),
        )
        return user_body(self.request, self.context)

    @view_config(request_method="DELETE", permission=Permission.DELETE)
    def delete(self):
        check_if_match(self.request, user_body(self.request, self.context))
        users.delete_user(self.request.domain, self.context)
        return no_content(self.request)

    @view_config(name="groups", request_method="GET", permission=Permission.VIEW)
    def groups(self) -> dict:
        query = read_query(self.request, UserGroupsQuery)
        actor = self.request.actor
        rows, more = groups_of(
            self.request.root,
            self.context.id,
            direct_only=query.direct,
            prefix=query.prefix,
            after=decode_cursor(query.cursor),
            limit=query.limit,
            may_view=lambda group: actor.may(Permission.VIEW, group),
        )
        items = []
        userid = self.context.id
        for row in rows:
            group = row.group
            links = {
                "self": url(self.request, row.path),
                "membership": url(self.request, row.path, "members", userid)
                if row.direct
                else None,
            }
            items.append(
                {
                    "path": row.path,
                    "id": group.id,
                    "title": group.title,
                    "direct": row.direct,
                    "role": row.role,
                    "via": row.via,
                    "expires_at": clock.rfc3339(row.expires_at),
                    "links": links,
                }
            )
        return collection(
            self.request, items, more=more, last_key=rows[-1].path if rows else None, query=query
        )
