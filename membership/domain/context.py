"""Who acts, on which tree: what every domain call takes instead of a Request."""

from dataclasses import dataclass, field

from pyramid.authorization import ACLHelper

from ..credentials import Credentials
from ..model import Root
from ..paths import ADMINS_PRINCIPAL, EVERYONE
from .events import Dispatcher, DomainEvent, dispatcher
from .queries import principals_for

_ACL = ACLHelper()


@dataclass(frozen=True)
class Actor:
    """A user with the principals the security policy gave them, or a console script.

    ``id`` is what the audit log and ``added_by`` show: a user id, or
    ``system:<script>`` for a script, which may do anything.
    """

    id: str
    principals: tuple[str, ...] = (EVERYONE,)
    system: bool = False

    @classmethod
    def script(cls, name: str) -> "Actor":
        return cls(f"system:{name}", (), system=True)

    @classmethod
    def user(cls, root: Root, userid: str) -> "Actor":
        return cls(userid, tuple(principals_for(root, userid)))

    @property
    def userid(self) -> str | None:
        return None if self.system else self.id

    @property
    def is_admin(self) -> bool:
        return self.system or ADMINS_PRINCIPAL in self.principals

    def may(self, permission: str, node) -> bool:
        """Pyramid's own ACL decision on ``node`` and its lineage."""
        return self.system or bool(_ACL.permits(node, self.principals, permission))


@dataclass
class Context:
    """The tree, the actor, and what the rules need from the deployment."""

    root: Root
    actor: Actor
    credentials: Credentials | None = None
    max_depth: int = 20
    dispatcher: Dispatcher = field(default=dispatcher)

    def notify(self, event: DomainEvent) -> None:
        self.dispatcher.publish(self, event)

    def hash_password(self, password: str) -> str:
        if self.credentials is None:
            raise RuntimeError("this context has no credentials to hash a password with")
        return self.credentials.hash_password(password)
