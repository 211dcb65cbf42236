"""The change feed over HTTP: ``/changes`` (everything, admins), ``/groups/{g}/changes``
(that subtree) and ``/users/{id}/changes`` (that user and their memberships),
with ``view-history`` on the node.

``?after=<cursor>`` resumes (``after=now``: no items, the current cursor),
``?types=membership.*,group.created`` filters, ``?limit=`` pages and
``?wait=N`` long-polls: with nothing new, the answer waits up to N seconds
for a commit, then reads again.
"""

import json
import time
from collections.abc import Callable, Iterator

from pyramid.request import Request
from pyramid.response import Response
from pyramid.view import view_config
from ZODB import DB
from ZODB.utils import u64

from ...domain import changes
from ...model import Group, Root, User
from ...permissions import Permission
from ..db import database
from ..http import read_query, url
from ..schemas import ChangesQuery

#: How often a long-poll looks for a new commit (a read of the storage's last tid).
POLL_SECONDS = 0.1


def encode(position: changes.Position) -> str:
    return changes.encode_position(position)


def decode(cursor: str) -> changes.Position:
    return changes.decode_position(cursor, "after")


def last_tid(request: Request) -> int:
    return u64(database(request.registry).lastTransaction())


def item_body(change: changes.Change) -> dict:
    return changes.present(change.position, change.item)


def item_filter(query: ChangesQuery, node) -> Callable[[dict], bool]:
    types = [t for t in (query.types or "").split(",") if t]
    accept = changes.type_filter(types)
    if node is None:
        return accept
    key = node.history_key
    return lambda item: key in item["objects"] and accept(item)


def changes_page(request: Request, node) -> dict:
    query = read_query(request, ChangesQuery)
    accept = item_filter(query, node)
    if query.after == "now":
        position = changes.latest(request.root.feed, last_tid(request))
        found: list = []
    else:
        after = None if query.after is None else decode(query.after)
        found, position = changes.read(request.root.feed, after, limit=query.limit, accept=accept)
        deadline = time.monotonic() + query.wait
        seen = last_tid(request)
        while not found and time.monotonic() < deadline:
            time.sleep(POLL_SECONDS)
            now = last_tid(request)
            if now == seen:
                continue
            seen = now
            tm = request.root._p_jar.transaction_manager
            tm.abort()
            tm.begin()  # a new snapshot: the commit that just happened is visible
            found, position = changes.read(
                request.root.feed, after, limit=query.limit, accept=accept
            )
    cursor = encode(position) if position is not None else ""
    params = {"after": cursor, "limit": query.limit}
    if query.types:
        params["types"] = query.types
    path = node.path if node is not None else "/"
    return {
        "items": [item_body(change) for change in found],
        "cursor": cursor,
        "next": url(request, path, "changes", query=params),
    }


@view_config(
    context=Root,
    name="changes",
    request_method="GET",
    accept="application/json",
    permission=Permission.VIEW_HISTORY,
    renderer="json",
)
def all_changes(context: Root, request: Request) -> dict:
    return changes_page(request, None)


@view_config(
    context=Group,
    name="changes",
    request_method="GET",
    accept="application/json",
    permission=Permission.VIEW_HISTORY,
    renderer="json",
)
@view_config(
    context=User,
    name="changes",
    request_method="GET",
    accept="application/json",
    permission=Permission.VIEW_HISTORY,
    renderer="json",
)
def node_changes(context: Group | User, request: Request) -> dict:
    return changes_page(request, context)


# Server-sent events: the same URLs with ``Accept: text/event-stream``.


def sse_event(change: changes.Change) -> bytes:
    body = json.dumps(item_body(change), separators=(",", ":"), ensure_ascii=False)
    cursor = encode(change.position)
    return f"id: {cursor}\nevent: {change.item['type']}\ndata: {body}\n\n".encode()


def stream(
    db: DB,
    after: changes.Position | None,
    accept: Callable[[dict], bool],
    seconds: float,
    clock: Callable[[], float] = time.monotonic,
) -> Iterator[bytes]:
    """Events after ``after`` as they commit (``changes.follow``), for ``seconds``, then
    a ``retry:`` hint; a comment line as the heartbeat."""
    yield b"retry: 2000\n\n"
    try:
        for found in changes.follow(db, after, accept, seconds, clock):
            if found is None:
                yield b": heartbeat\n\n"
                continue
            for change in found:
                yield sse_event(change)
    except changes.Gone:
        yield b"event: gone\ndata: {}\n\n"
        return
    yield b"retry: 1000\n\n"


def stream_response(request: Request, node) -> Response:
    query = read_query(request, ChangesQuery)
    resume = request.headers.get("Last-Event-ID") or query.after
    if resume == "now":
        after = changes.latest(request.root.feed, last_tid(request))
    else:
        after = None if resume is None else decode(resume)
        if after is not None and after.tid < request.root.feed.floor:
            raise changes.Gone(
                "this cursor is older than what the feed still holds", subject="after"
            )
    settings = request.registry.membership_settings
    seconds = settings.changes_stream_seconds
    response = Response(content_type="text/event-stream", charset="utf-8")
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Accel-Buffering"] = "no"
    response.app_iter = stream(database(request.registry), after, item_filter(query, node), seconds)
    return response


@view_config(
    context=Root,
    name="changes",
    request_method="GET",
    accept="text/event-stream",
    permission=Permission.VIEW_HISTORY,
)
def all_changes_stream(context: Root, request: Request) -> Response:
    return stream_response(request, None)


@view_config(
    context=Group,
    name="changes",
    request_method="GET",
    accept="text/event-stream",
    permission=Permission.VIEW_HISTORY,
)
@view_config(
    context=User,
    name="changes",
    request_method="GET",
    accept="text/event-stream",
    permission=Permission.VIEW_HISTORY,
)
def node_changes_stream(context: Group | User, request: Request) -> Response:
    return stream_response(request, context)
