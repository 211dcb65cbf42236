"""A node's history: the audit log of a group's subtree, a user, or everything (root),
newest first, with before/after and filters by actor, action and time.

Needs ``view-history``, as ``GET …/history`` does; reads the same index ranges.
"""

import json
import re
from collections.abc import Iterator
from typing import get_args

from pyramid.response import Response

from ...domain import changes as feed
from ...domain.errors import DomainError
from ...domain.queries import history_sources
from ...model import Group, Root, User, history
from ...paths import is_group_path
from ...permissions import Permission
from ...web.schemas import HistoryAction, HistoryQuery
from ..common import (
    PAGE_SIZE,
    UI,
    Form,
    check,
    parse_time,
    render,
    render_fragment,
    status_of,
    ui_path,
    ui_view,
    with_page_headers,
)

#: The action filter's choices: ``(value, label)``; a kind (``membership``) means all its actions.
ACTIONS = [
    (action, action if "." in action else f"any {action}.*") for action in get_args(HistoryAction)
]
RFC3339 = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z")


def shown(value) -> str:
    """A before/after value in words: ACEs as ``Allow user:bob view``, the rest compact."""
    if value is None:
        return "—"
    if value == "":
        return "(empty)"
    if isinstance(value, str) and RFC3339.fullmatch(value):
        return UI.time(value)
    if isinstance(value, list) and all(
        isinstance(v, dict) and {"action", "principal", "permissions"} <= set(v) for v in value
    ):
        if not value:
            return "(none)"
        return "; ".join(
            f"{v['action']} {v['principal']} {', '.join(v['permissions'])}" for v in value
        )
    if isinstance(value, str | int | float | bool):
        return str(value)
    return json.dumps(value, ensure_ascii=False, separators=(", ", ": "))


def changes(before: dict | None, after: dict | None) -> list[tuple[str, str, str]]:
    """``(field, before, after)`` of an event, in the order its fields first appear."""
    before, after = before or {}, after or {}
    return [
        (
            name,
            shown(before[name]) if name in before else "",
            shown(after[name]) if name in after else "",
        )
        for name in dict.fromkeys([*before, *after])
    ]


def event_row(event: history.Event) -> dict:
    """An audit event as one row of the page."""
    return {
        "time": event.time,
        "actor": event.actor,
        "action": event.action,
        "target": event.target,
        "changes": changes(event.before, event.after),
        "link": target_path(event.target),
    }


def change_row(item: dict) -> dict:
    """A change from the feed as the same row (the feed item carries the same facts)."""
    data = item.get("data") or {}
    return {
        "time": item["time"],
        "actor": item["actor"],
        "action": item["type"],
        "target": item["target"],
        "changes": changes(data.get("before"), data.get("after")),
        "link": target_path(item["target"]),
    }


def target_path(target: str) -> str | None:
    """The page an event's target is on: its group or user (a membership's: the group)."""
    parts = target.split("/")
    if len(parts) >= 5 and parts[-2] in ("members", "tokens"):
        target = "/".join(parts[:-2])
    if is_group_path(target) or (target.startswith("/users/") and target.count("/") == 2):
        return target
    return None


def _page(request, node, status: int = 200, form: Form | None = None) -> Response:
    params = request.GET
    values = {key: params.get(key, "").strip()[:200] for key in ("actor", "action", "since")}
    events, more, next_url, live_url = [], False, None, None
    before = history.parse_id(params.get("cursor", "")) if params.get("cursor") else None
    try:
        check(HistoryQuery, actor=values["actor"] or None, action=values["action"] or None)
        since = parse_time(values["since"], "since")
    except DomainError as exc:
        form = Form("filter", values)
        form.add_error(exc)
        status = 400
    else:
        sources = None if isinstance(node, Root) else history_sources(request.root.history, node)
        events, more, last = history.page(
            request.root.history,
            limit=PAGE_SIZE,
            sources=sources,
            actor=values["actor"] or None,
            action=values["action"] or None,
            since=since,
            before=before,
        )
        if more and last is not None:
            next_url = ui_path(request, node, "history", **values, cursor=history.public_id(last))
        if before is None and since is None:
            # The newest page goes on live: what commits after this snapshot, same filters.
            position = feed.snapshot_position(request.root.feed)
            live_url = ui_path(
                request,
                node,
                "history-live",
                actor=values["actor"],
                action=values["action"],
                after=feed.encode_position(position),
            )
    return render(
        request,
        "history.jinja2",
        status=status,
        form=form,
        node=node,
        events=[event_row(event) for event in events],
        live_url=live_url,
        values=values,
        actions=[("", "any action"), *ACTIONS],
        next_url=next_url,
        paged=before is not None,
    )


@ui_view(Root, name="history", permission=Permission.VIEW_HISTORY)
@ui_view(Group, name="history", permission=Permission.VIEW_HISTORY)
@ui_view(User, name="history", permission=Permission.VIEW_HISTORY)
def history_page(context, request) -> Response:
    return _page(request, context)


def _live_filter(node, actor: str | None, action: str | None):
    """The page's own selection, on feed items: the node's subtree (or everything, on the
    root: ``view-history`` there is an admin's) and the page's actor and action filters."""
    key = None if isinstance(node, Root) else node.history_key

    def accept(item: dict) -> bool:
        if key is not None and key not in item["objects"]:
            return False
        if actor is not None and item["actor"] != actor:
            return False
        kind = item["type"]
        return action is None or kind == action or kind.startswith(action + ".")

    return accept


def live_events(request, db, after, accept, seconds: float) -> Iterator[bytes]:
    """Server-sent events: each change that commits, as the page's row (``event: change``,
    its cursor as the ``id`` a reconnecting browser sends back as ``Last-Event-ID``)."""
    yield b"retry: 2000\n\n"
    try:
        for found in feed.follow(db, after, accept, seconds):
            if found is None:
                yield b": heartbeat\n\n"
                continue
            for change in found:
                html = render_fragment(request, "_event_row.jinja2", row=change_row(change.item))
                data = "".join(f"data: {line}\n" for line in html.splitlines() if line.strip())
                cursor = feed.encode_position(change.position)
                yield f"id: {cursor}\nevent: change\n{data}\n".encode()
    except feed.Gone:
        yield b"event: gone\ndata: reload\n\n"
        return
    yield b"retry: 1000\n\n"


@ui_view(Root, name="history-live", permission=Permission.VIEW_HISTORY)
@ui_view(Group, name="history-live", permission=Permission.VIEW_HISTORY)
@ui_view(User, name="history-live", permission=Permission.VIEW_HISTORY)
def history_live(context, request) -> Response:
    """The history page's live part: the change feed after ``?after=`` (or the browser's
    ``Last-Event-ID``), filtered as the page is, for ``membership.changes.stream_seconds``
    (then the browser reconnects). Needs ``view-history`` here, as the page does."""
    params = request.GET
    actor = params.get("actor", "").strip() or None
    action = params.get("action", "").strip() or None
    resume = request.headers.get("Last-Event-ID") or params.get("after", "")
    try:
        check(HistoryQuery, actor=actor, action=action)
        if resume in ("", "now"):
            after = feed.snapshot_position(request.root.feed)
        else:
            after = feed.decode_position(resume, "after")
        feed.check_held(request.root.feed, after)
    except DomainError as exc:
        return render(
            request, "error.jinja2", status=status_of(exc), title="Not done", detail=exc.message
        )
    seconds = request.registry.membership_settings.changes_stream_seconds
    response = Response(content_type="text/event-stream", charset="utf-8")
    response.headers["X-Accel-Buffering"] = "no"
    response.app_iter = live_events(
        request, request.root._p_jar.db(), after, _live_filter(context, actor, action), seconds
    )
    return with_page_headers(response)
