"""The change feed, which is also the audit record: every domain event as an item of its
transaction's batch.

One ``Batch`` per transaction (``model/feed.py``), made by its first event;
the feed orders batches by the committing transaction's id, so the items of
one transaction come together and in the order they were raised. Each item
carries its audit event id (``id``, time-ordered, ``model.history``): the
audit log reads its events from these batches, so the event is written once,
here, and indexed later, when the dispatcher seals the batch.
"""

from .. import clock
from ..domain.context import Context
from ..domain.events import DomainEvent, subscriber
from ..model.feed import Batch
from ..model.history import new_event_id, plain_values
from ..paths import ancestor_paths, is_group_path


def batch_of(ctx: Context) -> Batch | None:
    """This transaction's batch (made on first use), or None for a tree without a feed
    or outside a database (the audit subscriber then stores a stand-alone event)."""
    root = ctx.root
    feed = getattr(root, "feed", None)
    jar = root._p_jar
    if feed is None or jar is None:
        return None
    txn = jar.transaction_manager.get()
    try:
        return txn.data(feed)
    except KeyError:
        batch = feed.add()
        txn.set_data(feed, batch)
        return batch


@subscriber(DomainEvent)
def append(ctx: Context, event: DomainEvent) -> None:
    batch = batch_of(ctx)
    if batch is None:
        return
    item = {
        "id": new_event_id(),
        "type": event.action,
        "time": clock.rfc3339(clock.now()),
        "actor": ctx.actor.id,
        "target": event.target,
        "groups": group_paths(event.target),
        "objects": list(event.objects),
        "data": {"before": plain_values(event.before), "after": plain_values(event.after)},
    }
    if event.also:
        item["also"] = list(event.also)
    batch.items.append(item)
    batch._p_changed = True


def group_paths(target: str) -> list[str]:
    """Every group path at and above ``target`` (``…/members/bob`` -> its group and up)."""
    parts = target.split("/")
    for end in range(len(parts), 2, -1):
        path = "/".join(parts[:end])
        if is_group_path(path):
            return [path, *ancestor_paths(path)]
    return []
