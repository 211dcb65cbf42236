"""The audit log over HTTP: ``/history`` (everything), ``/groups/{g}/history`` (that
subtree, at any depth) and ``/users/{id}/history`` (events about that user).

All need ``view-history`` on the node: owners of a group and the user
themself by default, admins everywhere. Newest first, cursor-paged, with
``?actor=``, ``?action=`` and ``?since=``; ``/history`` also takes ``?path=``
(a group or user path, including ones deleted since).
"""

from pyramid.request import Request
from pyramid.view import view_config

from .. import history
from ..exceptions import InvalidInput
from ..http import collection, read_query, url
from ..paging import decode_cursor
from ..permissions import Permission
from ..resources import Group, Root, User
from ..schemas import HistoryQuery, RootHistoryQuery


def event_body(request: Request, event: history.Event) -> dict:
    body = event.as_dict()
    body["links"] = {"target": url(request, event.target)}
    return body


def history_page(request: Request, path: str | None, query: HistoryQuery) -> dict:
    cursor = decode_cursor(query.cursor)
    before = None if cursor is None else history.parse_id(cursor)
    if cursor is not None and before is None:
        raise InvalidInput.field("cursor", "not a cursor this service issued")
    events, more, last = history.page(
        request.root.history,
        limit=query.limit,
        path=path,
        actor=query.actor,
        action=query.action,
        since=query.since,
        before=before,
    )
    items = [event_body(request, event) for event in events]
    last_key = None if last is None else history.public_id(last)
    return collection(request, items, more=more, last_key=last_key, query=query)


@view_config(
    context=Root,
    name="history",
    request_method="GET",
    permission=Permission.VIEW_HISTORY,
    renderer="json",
)
def all_history(context: Root, request: Request) -> dict:
    query = read_query(request, RootHistoryQuery)
    return history_page(request, query.path, query)


@view_config(
    context=Group,
    name="history",
    request_method="GET",
    permission=Permission.VIEW_HISTORY,
    renderer="json",
)
@view_config(
    context=User,
    name="history",
    request_method="GET",
    permission=Permission.VIEW_HISTORY,
    renderer="json",
)
def node_history(context: Group | User, request: Request) -> dict:
    return history_page(request, context.path, read_query(request, HistoryQuery))
