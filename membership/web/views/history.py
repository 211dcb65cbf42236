"""The audit log over HTTP: ``/history`` (everything), ``/groups/{g}/history`` (that
subtree, at any depth) and ``/users/{id}/history`` (events about that user).

All need ``view-history`` on the node: owners of a group and the user
themself by default, admins everywhere. Newest first, cursor-paged, with
``?actor=``, ``?action=`` and ``?since=``; ``/history`` also takes ``?path=``
(a group or user path, including ones deleted since) and ``?object=`` (a
group's id). A group's or user's own history is that of the object: one
created later under a reused name starts empty.
"""

from pyramid.request import Request
from pyramid.view import view_config

from ...domain.queries import history_sources as node_sources
from ...model import Group, Root, User, history, node_at
from ...permissions import Permission
from ..http import collection, decode_cursor, read_query, url
from ..problems import InvalidInput
from ..schemas import HistoryQuery, RootHistoryQuery


def event_body(request: Request, event: history.Event) -> dict:
    body = event.as_dict()
    body["links"] = {"target": url(request, event.target)}
    return body


def history_page(request: Request, sources, query: HistoryQuery, path: str | None = None) -> dict:
    cursor = decode_cursor(query.cursor)
    before = None if cursor is None else history.parse_id(cursor)
    if cursor is not None and before is None:
        raise InvalidInput.field("cursor", "not a cursor this service issued")
    events, more, last = history.page(
        request.root.history,
        limit=query.limit,
        sources=sources,
        actor=query.actor,
        action=query.action,
        path=path,
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
    log = context.history
    path = query.path
    if query.object is not None:
        # Every filter narrows: with ``?path=`` too, the object's events filed under
        # that path when they happened (read from the object's index, filtered).
        sources = log.object_sources(query.object)
    elif path is not None:
        current = getattr(node_at(context, path), "history_key", None)
        sources = log.path_sources(path, current)
    else:
        sources = None
    return history_page(request, sources, query, path)


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
    sources = node_sources(request.root.history, context)
    return history_page(request, sources, read_query(request, HistoryQuery))
