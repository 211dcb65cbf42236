"""Webhook subscriptions, their delivery state and leases (``/webhooks``).

A subscription is three persistent records, so the writers do not collide:
the ``Subscription`` itself (what its owner edits through the API), its
``DeliveryState`` (what the dispatcher writes: the cursor, which advances
only after the receiver answered 2xx, the failure count and the recent
attempts), and its ``Lease`` (which dispatcher process delivers it, until
when). Nothing here sends anything; ``membership.dispatch`` does.
"""

from datetime import datetime

from BTrees.OOBTree import OOBTree
from persistent import Persistent
from pyramid.authorization import DENY_ALL, Allow, Authenticated

from ..paths import user_principal
from ..permissions import Permission
from .base import ADMIN_ACE, Container, Node

#: Attempts a subscription remembers (``GET /webhooks/{id}/deliveries``).
LOG_SIZE = 100

#: What a subscription's owner may do with it (admins may do everything).
OWNER_PERMISSIONS = (Permission.VIEW, Permission.EDIT, Permission.DELETE)


class Lease(Persistent):
    """Which dispatcher delivers a target, until when (POSIX seconds)."""

    owner: str = ""
    expires: float = 0.0

    def held_by_other(self, owner: str, now: float) -> bool:
        return bool(self.owner) and self.owner != owner and self.expires > now

    def take(self, owner: str, until: float) -> None:
        self.owner = owner
        self.expires = until


class DeliveryState(Persistent):
    """What the dispatcher writes for one target.

    ``cursor`` is the feed position ``(tid, index)`` of the last item the
    receiver acknowledged; ``version`` changes when someone sets the cursor
    by hand, so a dispatcher that read the old one drops its progress.
    """

    cursor: tuple[int, int] = (0, 0)
    version: int = 0
    attempts: int = 0
    failing_since: float | None = None
    next_attempt: float = 0.0
    last_error: str = ""
    log: tuple = ()

    def __init__(self, cursor: tuple[int, int]) -> None:
        self.cursor = tuple(cursor)

    def set_cursor(self, cursor: tuple[int, int]) -> None:
        """A cursor set by hand (replay): progress read before it is dropped."""
        self.cursor = tuple(cursor)
        self.version += 1
        self.succeeded()

    def succeeded(self) -> None:
        if self.attempts or self.failing_since is not None or self.next_attempt:
            self.attempts = 0
            self.failing_since = None
            self.next_attempt = 0.0
            self.last_error = ""

    def record(self, entries: list[dict]) -> None:
        if entries:
            self.log = (*self.log, *entries)[-LOG_SIZE:]


class Subscription(Node):
    """One webhook: where to, which changes, whose, and its signing secrets."""

    admin_first = True

    disabled_reason: str = ""
    #: The previous secret after a rotation, and until when (POSIX seconds) it still signs.
    old_secret: str | None = None
    old_secret_until: float = 0.0

    def __init__(
        self,
        *,
        url: str,
        types: tuple[str, ...],
        feed_path: str,
        scope: str | None,
        description: str,
        owner: str,
        secret: str,
        cursor: tuple[int, int],
        created: datetime,
    ) -> None:
        self.url = url
        self.types = tuple(types)
        self.feed_path = feed_path
        self.scope = scope
        self.description = description
        self.owner = owner
        self.secret = secret
        self.active = True
        self.created = created
        self.modified = created
        self.state = DeliveryState(cursor)
        self.lease = Lease()

    @property
    def id(self) -> str:
        return self.__name__

    def builtin_acl(self) -> list:
        aces: list = [ADMIN_ACE]
        owner = self.owner
        if owner.startswith("client:"):  # an OAuth client's subscription: its own principal
            aces.append((Allow, owner, OWNER_PERMISSIONS))
        elif not owner.startswith("system:"):
            aces.append((Allow, user_principal(owner), OWNER_PERMISSIONS))
        aces.append(DENY_ALL)  # nothing from the root's local ACEs reaches a subscription
        return aces

    def signing_secrets(self, now: float) -> list[str]:
        """The current secret, and the previous one while it still signs."""
        if self.old_secret and now < self.old_secret_until:
            return [self.secret, self.old_secret]
        return [self.secret]

    def fields(self) -> dict:
        """What the audit log and the feed show (never a secret)."""
        return {
            "url": self.url,
            "types": list(self.types),
            "path": self.feed_path,
            "description": self.description,
            "active": self.active,
        }


class Sink(Persistent):
    """A target that is not a subscription (the NATS JetStream publisher)."""

    def __init__(self, cursor: tuple[int, int]) -> None:
        self.state = DeliveryState(cursor)
        self.lease = Lease()


class Webhooks(Container):
    """``/webhooks``: subscriptions by id, and the sinks' state by name."""

    __name__ = "webhooks"

    def __init__(self) -> None:
        super().__init__()
        self.sinks = OOBTree()

    def builtin_acl(self) -> list:
        # Anyone logged in may list (their own) and create (the domain checks the rule).
        return [ADMIN_ACE, (Allow, Authenticated, (Permission.VIEW,)), DENY_ALL]

    def values(self):
        return self._items.values()
