"""Groups at any depth: ``/groups``, ``/groups/<g>``, ``/groups/<g>/groups``, ...,
and ``/groups/@id/<id>``, which finds a group by its stable id."""

from pyramid.httpexceptions import HTTPForbidden, HTTPNotFound
from pyramid.request import Request
from pyramid.view import view_config, view_defaults

from ... import clock
from ...domain import groups
from ...domain.queries import member_counts
from ...model import Group, Groups
from ...permissions import Permission
from ..http import (
    check_if_match,
    container_page,
    created,
    merge_value,
    no_content,
    read_body,
    url,
)
from ..problems import InvalidInput
from ..schemas import GroupCreate, GroupMove, GroupPatch
from .options import allow_answer


def group_body(request: Request, group: Group) -> dict:
    path = group.path
    parent = group.__parent__.__parent__
    links = {
        "self": url(request, path),
        "members": url(request, path, "members"),
        "groups": url(request, path, "groups"),
        "acl": url(request, path, "acl"),
        "history": url(request, path, "history"),
        "by_id": url(request, "/groups/@id", group.id),
    }
    if isinstance(parent, Group):
        links["parent"] = url(request, parent)
    active, expired = member_counts(group)
    return {
        "id": group.id,
        "name": group.name,
        "path": path,
        "title": group.title,
        "description": group.description,
        "member_count": active,
        "expired_count": expired,
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
        data = read_body(self.request, GroupCreate)
        group = groups.create_group(
            self.request.domain,
            self.context,
            data.name,
            title=data.title,
            description=data.description,
        )
        body = group_body(self.request, group)
        created(self.request, body["links"]["self"])
        return body

    @view_config(request_method="GET", permission=Permission.VIEW)
    def list(self) -> dict:
        actor = self.request.actor
        return container_page(
            self.request,
            self.context,
            group_body,
            visible=lambda group: actor.may(Permission.VIEW, group),
        )


def _found_by_id(request: Request) -> Group:
    """The group ``/groups/@id/<id>`` names, for a caller who may view it."""
    if request.authenticated_userid is None:
        raise HTTPForbidden()
    if len(request.subpath) != 1:
        raise InvalidInput.field("path", "use /groups/@id/<group id>")
    group = groups.group_by_id(request.root, request.subpath[0])
    if group is None or not request.actor.may(Permission.VIEW, group):
        raise HTTPNotFound()
    return group


@view_config(context=Groups, name="@id", request_method="GET")
def group_by_id(context: Groups, request: Request):
    """307 to the group's current URL: a link that survives moves. Anyone authenticated
    may follow it; the target checks ``view`` as usual, so an id reveals nothing."""
    location = url(request, _found_by_id(request))
    if request.query_string:
        location += "?" + request.query_string
    response = request.response
    response.status = 307
    response.location = location
    del response.content_type
    return response


@view_config(context=Groups, name="@id", request_method="OPTIONS")
def group_by_id_options(context: Groups, request: Request):
    """``OPTIONS`` asks what ``GET`` asks here, the id included (``views/options.py``)."""
    _found_by_id(request)
    return allow_answer(request)


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
        groups.update_group(
            self.request.domain,
            self.context,
            title=data.title,
            description=merge_value(data, "description", removed="", absent=None),
        )
        return group_body(self.request, self.context)

    @view_config(request_method="DELETE", permission=Permission.DELETE)
    def delete(self):
        check_if_match(self.request, group_body(self.request, self.context))
        groups.delete_group(self.request.domain, self.context)
        return no_content(self.request)

    @view_config(name="move", request_method="POST", permission=Permission.DELETE)
    def move(self) -> dict:
        """Move this group (and its subtree) under another group, or to the top level.

        Needs ``delete`` here; the domain checks what it needs where it lands.
        """
        data = read_body(self.request, GroupMove)
        group = groups.move_group(self.request.domain, self.context, data.to)
        body = group_body(self.request, group)
        self.request.response.location = body["links"]["self"]
        return body
