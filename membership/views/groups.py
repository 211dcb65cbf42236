"""Groups at any depth: ``/groups``, ``/groups/<g>``, ``/groups/<g>/groups``, ..."""

from pyramid.httpexceptions import HTTPForbidden
from pyramid.request import Request
from pyramid.view import view_config, view_defaults

from .. import clock
from ..exceptions import FieldError, InvalidInput, NotFoundError
from ..http import (
    check_if_match,
    container_page,
    created,
    no_content,
    read_body,
    url,
)
from ..permissions import Permission
from ..resources import Group, Groups, group_at
from ..schemas import GroupCreate, GroupMove, GroupPatch


def group_body(request: Request, group: Group) -> dict:
    path = group.path
    parent = group.__parent__.__parent__
    links = {
        "self": url(request, path),
        "members": url(request, path, "members"),
        "groups": url(request, path, "groups"),
        "acl": url(request, path, "acl"),
        "history": url(request, path, "history"),
    }
    if isinstance(parent, Group):
        links["parent"] = url(request, parent)
    return {
        "name": group.name,
        "path": path,
        "title": group.title,
        "description": group.description,
        "member_count": len(group.members),
        "created": clock.rfc3339(group.created),
        "modified": clock.rfc3339(group.modified),
        "links": links,
    }


@view_defaults(context=Groups, renderer="json")
class GroupsView:
    def __init__(self, context: Groups, request: Request) -> None:
        self.context = context
        self.request = request

    @view_config(request_method="POST", permission=Permission.CREATE_GROUP)
    def create(self) -> dict:
        """Create a group; a creator who would not own it through inheritance becomes its owner."""
        data = read_body(self.request, GroupCreate)
        group = self.context.add_group(data.name, title=data.title, description=data.description)
        userid = self.request.authenticated_userid
        if not self.request.has_permission(Permission.EDIT, group):
            group.members.add_member(userid, "owner", added_by=userid)
        body = group_body(self.request, group)
        created(self.request, body["links"]["self"])
        return body

    @view_config(request_method="GET", permission=Permission.VIEW)
    def list(self) -> dict:
        return container_page(self.request, self.context, group_body)


@view_defaults(context=Group, renderer="json")
class GroupView:
    def __init__(self, context: Group, request: Request) -> None:
        self.context = context
        self.request = request

    @view_config(request_method="GET", permission=Permission.VIEW)
    def get(self) -> dict:
        return group_body(self.request, self.context)

    @view_config(request_method="PATCH", permission=Permission.EDIT)
    def patch(self) -> dict:
        data = read_body(self.request, GroupPatch)  # malformed is 4xx, whatever If-Match says
        check_if_match(self.request, group_body(self.request, self.context))
        changes = {}
        for field in data.model_fields_set:
            value = getattr(data, field)
            if value is None:
                raise InvalidInput.field(field, "may be empty but not null")
            changes[field] = value
        self.context.update(**changes)
        return group_body(self.request, self.context)

    @view_config(request_method="DELETE", permission=Permission.DELETE)
    def delete(self):
        check_if_match(self.request, group_body(self.request, self.context))
        self.context.__parent__.remove_group(self.context.name)
        return no_content(self.request)

    @view_config(name="move", request_method="POST", permission=Permission.DELETE)
    def move(self) -> dict:
        """Move this group (and its subtree) under another group, or to the top level.

        Needs ``delete`` here and ``create-group`` where it lands.
        """
        data = read_body(self.request, GroupMove)
        root = self.request.root
        if data.to == "/groups":
            destination = root.groups
        else:
            parent = group_at(root, data.to)
            if parent is None:
                raise NotFoundError(f"no group at {data.to}", [FieldError("to", "no such group")])
            destination = parent.groups
        if not self.request.has_permission(Permission.CREATE_GROUP, destination):
            raise HTTPForbidden(f"not allowed to create groups under {data.to}")
        group = self.context.__parent__.move_group(self.context.name, destination)
        group.touch()
        body = group_body(self.request, group)
        self.request.response.location = body["links"]["self"]
        return body
