"""Side jobs on domain events, in the transaction that raised them.

Importing this package subscribes them to the process's dispatcher
(``domain.events.dispatcher``), in this order: the user -> groups index,
group ids, the directory (lookups by userName, externalId, email, title),
token digests, the ACL registry (which may raise further
``acl.changed`` events), then the audit log and the change feed, so an
event is recorded after everything it caused.
"""

from . import (  # noqa: F401
    acl_registry,
    audit,
    directory,
    expiry,
    feed,
    group_ids,
    index,
    tokens,
)
