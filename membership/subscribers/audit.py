"""The audit record: one event in the log per domain event, in the same transaction.

The actor is the domain call's (a user id, or ``system:<script>``), the same
string the security policy puts on the ZODB transaction, so ``fstail`` and
the audit log agree. Events are filed under the objects they are about
(``history_key``: a group's id, a user's uid) and under their paths of the
moment; secrets never enter (``model.history.plain_values`` redacts them).
"""

from ..domain.context import Context
from ..domain.events import DomainEvent, subscriber
from ..model.history import Event, new_event_id, plain_values
from ..paths import history_paths


@subscriber(DomainEvent)
def record(ctx: Context, event: DomainEvent) -> None:
    history = ctx.root.history
    if history is None:
        return
    entry = Event(
        new_event_id(),
        ctx.actor.id,
        event.action,
        event.target,
        plain_values(event.before),
        plain_values(event.after),
    )
    history.append(entry, history_paths(event.target, *event.also), event.objects)
