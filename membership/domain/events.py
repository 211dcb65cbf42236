"""Domain events: what a write changed, raised in the transaction that changes it.

The domain raises them; the side jobs (``membership/subscribers``) listen:
the user -> groups index, the ACL registry, token digests, group ids, the
audit log. A new write path raises its events and gets all of them. Reads
raise nothing, so the membership check and principals pay nothing here.

``target``, ``before``, ``after`` and ``also`` are what the audit log and,
later, the change feed show; the typed fields are for the side jobs.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, ClassVar

if TYPE_CHECKING:
    from ..model import Group, Membership, Node, Token, User
    from ..model.webhooks import Subscription
    from .context import Context


@dataclass
class DomainEvent:
    action: ClassVar[str] = ""
    target: str
    before: dict | None = field(default=None, kw_only=True)
    after: dict | None = field(default=None, kw_only=True)
    #: More paths the event is about (a membership's user, a move's old path).
    also: tuple[str, ...] = field(default=(), kw_only=True)
    #: Audit keys of the objects the event is about (``history_key`` of groups, users).
    objects: tuple[str, ...] = field(default=(), kw_only=True)


@dataclass
class UserCreated(DomainEvent):
    action: ClassVar[str] = "user.created"
    user: "User"


@dataclass
class UserChanged(DomainEvent):
    action: ClassVar[str] = "user.changed"
    user: "User"


@dataclass
class UserDeleted(DomainEvent):
    action: ClassVar[str] = "user.deleted"
    userid: str
    #: Group paths the user was a direct member of (the memberships are gone).
    groups: list[str]
    tokens: list["Token"]


@dataclass
class UsersImported(DomainEvent):
    action: ClassVar[str] = "users.imported"
    users: list["User"]


@dataclass
class TokenCreated(DomainEvent):
    action: ClassVar[str] = "token.created"
    token: "Token"


@dataclass
class TokenRevoked(DomainEvent):
    action: ClassVar[str] = "token.deleted"
    token: "Token"


@dataclass
class GroupCreated(DomainEvent):
    action: ClassVar[str] = "group.created"
    group: "Group"


@dataclass
class GroupChanged(DomainEvent):
    action: ClassVar[str] = "group.changed"
    group: "Group"


@dataclass
class GroupDeleted(DomainEvent):
    action: ClassVar[str] = "group.deleted"
    #: ``(path, id)`` of the group and every group below it.
    groups: list[tuple[str, str]]
    #: ``(userid, group path)`` of every membership that went with them.
    memberships: list[tuple[str, str]]
    #: ``(id, externalId)`` of the groups among them that had an externalId.
    external_ids: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class GroupMoved(DomainEvent):
    action: ClassVar[str] = "group.moved"
    group: "Group"
    old_path: str
    new_path: str
    #: ``(userid, old path, new path, role, expires_at)`` of every membership moved.
    memberships: list[tuple[str, str, str, str, datetime | None]]


@dataclass
class MembershipAdded(DomainEvent):
    action: ClassVar[str] = "membership.created"
    group_path: str
    userid: str
    membership: "Membership"


@dataclass
class MembershipChanged(DomainEvent):
    action: ClassVar[str] = "membership.changed"
    group_path: str
    userid: str
    membership: "Membership"


@dataclass
class MembershipRemoved(DomainEvent):
    action: ClassVar[str] = "membership.deleted"
    group_path: str
    userid: str


@dataclass
class MembersImported(DomainEvent):
    action: ClassVar[str] = "members.imported"
    group_path: str
    #: ``(userid, role)`` of every membership added.
    rows: list[tuple[str, str]]


@dataclass
class AclChanged(DomainEvent):
    action: ClassVar[str] = "acl.changed"
    node: "Node"
    path: str


@dataclass
class MembershipExpired(DomainEvent):
    """An expiry instant passed (raised once, by the dispatcher, within seconds of it)."""

    action: ClassVar[str] = "membership.expired"
    group_path: str
    userid: str


@dataclass
class WebhookCreated(DomainEvent):
    action: ClassVar[str] = "webhook.created"
    subscription: "Subscription"


@dataclass
class WebhookChanged(DomainEvent):
    action: ClassVar[str] = "webhook.changed"
    subscription: "Subscription"


@dataclass
class WebhookDeleted(DomainEvent):
    action: ClassVar[str] = "webhook.deleted"
    subscription: "Subscription"


@dataclass
class WebhookDisabled(DomainEvent):
    """The receiver answered 410, or kept failing for the whole failure window."""

    action: ClassVar[str] = "webhook.disabled"
    subscription: "Subscription"
    reason: str


Handler = Callable[["Context", DomainEvent], None]


class Dispatcher:
    """Event type -> handlers, called in the order they subscribed, synchronously."""

    def __init__(self) -> None:
        self._handlers: dict[type, list[Handler]] = {}

    def subscribe(self, event_type: type[DomainEvent], handler: Handler) -> None:
        handlers = self._handlers.setdefault(event_type, [])
        if handler not in handlers:
            handlers.append(handler)

    def publish(self, context: "Context", event: DomainEvent) -> None:
        for cls in type(event).__mro__:
            for handler in self._handlers.get(cls, ()):
                handler(context, event)


#: The process's dispatcher; ``membership.subscribers`` subscribes to it on import.
dispatcher = Dispatcher()


def subscriber(*event_types: type[DomainEvent]) -> Callable[[Handler], Handler]:
    """Subscribe the decorated function to ``event_types`` on the process's dispatcher."""

    def decorate(handler: Handler) -> Handler:
        for event_type in event_types:
            dispatcher.subscribe(event_type, handler)
        return handler

    return decorate
