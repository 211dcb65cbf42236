"""A node's history: the audit log of a group's subtree, a user, or everything (root),
newest first, with before/after and filters by actor, action and time.

Needs ``view-history``, as ``GET …/history`` does; reads the same index ranges.
"""

import json
import re
from typing import get_args

from pyramid.response import Response

from ...domain.errors import DomainError
from ...model import Group, Root, User, history
from ...paths import is_group_path
from ...permissions import Permission
from ...web.schemas import HistoryAction, HistoryQuery
from ...web.views.history import node_sources
from ..common import PAGE_SIZE, UI, Form, check, parse_time, render, ui_path, ui_view

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


def changes(event: history.Event) -> list[tuple[str, str, str]]:
    """``(field, before, after)`` of an event, in the order its fields first appear."""
    before, after = event.before or {}, event.after or {}
    return [
        (
            name,
            shown(before[name]) if name in before else "",
            shown(after[name]) if name in after else "",
        )
        for name in dict.fromkeys([*before, *after])
    ]


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
    events, more, next_url = [], False, None
    before = history.parse_id(params.get("cursor", "")) if params.get("cursor") else None
    try:
        check(HistoryQuery, actor=values["actor"] or None, action=values["action"] or None)
        since = parse_time(values["since"], "since")
    except DomainError as exc:
        form = Form("filter", values)
        form.add_error(exc)
        status = 400
    else:
        sources = None if isinstance(node, Root) else node_sources(request.root.history, node)
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
    return render(
        request,
        "history.jinja2",
        status=status,
        form=form,
        node=node,
        events=[(event, changes(event), target_path(event.target)) for event in events],
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
