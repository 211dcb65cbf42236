"""Who acts, on which tree: what every domain call takes instead of a Request."""

from dataclasses import dataclass, field

from pyramid.authorization import ACLHelper

from ..credentials import Credentials
from ..model import Root
from ..paths import ADMINS_PRINCIPAL, AUTHENTICATED, EVERYONE, client_principal, user_principal
from .events import Dispatcher, DomainEvent, dispatcher
from .queries import principals_for

_ACL = ACLHelper()


@dataclass(frozen=True)
class Actor:
    """A user with the principals the security policy gave them, an OAuth client, or a
    console script.

    ``id`` is what the audit log and ``added_by`` show: a user id,
    ``client:<id>`` for a client-credentials JWT (no user behind it: it holds
    what ACEs naming ``client:<id>`` grant, and is never a member of
    anything), or ``system:<script>`` for a script, which may do anything.
    Rules that need a *user* (becoming a group's owner, "your own password")
    ask :attr:`userid`, which is None for clients and scripts.
    """

    id: str
    principals: tuple[str, ...] = (EVERYONE,)
    system: bool = False
    client: bool = False

    @classmethod
    def script(cls, name: str) -> "Actor":
        return cls(f"system:{name}", (), system=True)

    @classmethod
    def user(cls, root: Root, userid: str) -> "Actor":
        return cls(userid, tuple(principals_for(root, userid)))

    @classmethod
    def oauth_client(cls, client_id: str) -> "Actor":
        """An OAuth client as a client-credentials JWT presents it (``client:<id>``)."""
        principal = client_principal(client_id)
        return cls(principal, (EVERYONE, AUTHENTICATED, principal), client=True)

    @property
    def userid(self) -> str | None:
        """The user behind the actor; None for a script or an OAuth client."""
        return None if self.system or self.client else self.id

    @property
    def principal(self) -> str | None:
        """The principal that names the actor in ACEs (``user:<id>``, ``client:<id>``);
        None for a script."""
        if self.system:
            return None
        return self.id if self.client else user_principal(self.id)

    @property
    def is_admin(self) -> bool:
        return self.system or ADMINS_PRINCIPAL in self.principals

    def may(self, permission: str, node) -> bool:
        """Pyramid's own ACL decision on ``node`` and its lineage.

        On a node whose ACL begins with ``ADMIN_ACE`` (``admin_first``) an admin
        is allowed whatever the permission: that ACE is the first Pyramid
        checks. Answering so without building the ACL keeps a list of many
        groups (a user's groups, batch checks) from paying an ACL walk per row.
        """
        if self.system:
            return True
        if getattr(node, "admin_first", False) and ADMINS_PRINCIPAL in self.principals:
            return True
        return bool(_ACL.permits(node, self.principals, permission))


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
