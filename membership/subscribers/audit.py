"""The audit record: one event in the log per domain event, in the same transaction.

The actor is the domain call's (a user id, or ``system:<script>``), the same
string the security policy puts on the ZODB transaction, so ``fstail`` and
the audit log agree. The record itself is the change feed's item
(``subscribers/feed.py``); this keeps what the history needs beyond it.
Events are filed under the objects they are about
(``history_key``: a group's id, a user's uid), and only there: an object
that leaves a path (deleted, moved away) is noted under that path once, so
"what happened at this path" still finds it (``model.history``). Secrets
never enter (``model.history.plain_values`` redacts them).
"""

from ..domain.context import Context
from ..domain.events import DomainEvent, GroupDeleted, GroupMoved, UserDeleted, subscriber
from ..model.history import Event, new_event_id, plain_values
from .feed import batch_of


@subscriber(DomainEvent)
def record(ctx: Context, event: DomainEvent) -> None:
    history = ctx.root.history
    if history is None:
        return
    for path, key in _departures(event):
        history.departed(path, key)
    if batch_of(ctx) is not None:
        return  # the feed's item is the record (subscribers/feed.py)
    entry = Event(
        new_event_id(),
        ctx.actor.id,
        event.action,
        event.target,
        plain_values(event.before),
        plain_values(event.after),
        event.also,
    )
    history.append(entry, event.objects)


def _departures(event: DomainEvent) -> list[tuple[str, str]]:
    """``(path, key)`` of every object the event takes away from a path."""
    if isinstance(event, GroupDeleted):
        return [(path, key) for path, key in event.groups if key]
    if isinstance(event, GroupMoved):
        moved = []
        for group in event.group.walk():
            path = group.path
            moved.append((event.old_path + path[len(event.new_path) :], group.history_key))
        return moved
    if isinstance(event, UserDeleted) and event.objects:
        return [(event.target, event.objects[0])]
    return []
