"""The change feed: every domain event, as a feed item, in its transaction's batch.

One ``Batch`` per transaction (``model/feed.py``), made by its first event;
the feed orders batches by the committing transaction's id, so the items of
one transaction come together and in the order they were raised.
"""

from .. import clock
from ..domain.context import Context
from ..domain.events import DomainEvent, subscriber
from ..model.history import plain_values
from ..paths import ancestor_paths, is_group_path


@subscriber(DomainEvent)
def append(ctx: Context, event: DomainEvent) -> None:
    feed = getattr(ctx.root, "feed", None)
    jar = ctx.root._p_jar
    if feed is None or jar is None:
        return
    txn = jar.transaction_manager.get()
    try:
        batch = txn.data(feed)
    except KeyError:
        batch = feed.add()
        txn.set_data(feed, batch)
    batch.items.append(
        {
            "type": event.action,
            "time": clock.rfc3339(clock.now()),
            "actor": ctx.actor.id,
            "target": event.target,
            "groups": group_paths(event.target),
            "objects": list(event.objects),
            "data": {"before": plain_values(event.before), "after": plain_values(event.after)},
        }
    )
    batch._p_changed = True


def group_paths(target: str) -> list[str]:
    """Every group path at and above ``target`` (``…/members/bob`` -> its group and up)."""
    parts = target.split("/")
    for end in range(len(parts), 2, -1):
        path = "/".join(parts[:end])
        if is_group_path(path):
            return [path, *ancestor_paths(path)]
    return []
