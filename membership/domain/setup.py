"""The tree's first start and every start after it."""

from ..model import Root
from ..model.evolve import evolve
from .context import Actor, Context
from .groups import create_group


class NotInitialized(Exception):
    """The database holds no membership tree yet (``initialize_membership_db`` makes it)."""


ROOT_KEY = "membership"


def ensure_tree(zodb_root, ctx_factory=Context) -> tuple[Root, bool]:
    """The tree under ``zodb_root``: created (with /groups/admins) if absent, else
    evolved to this release. Idempotent; ``(root, created)``."""
    root = zodb_root.get(ROOT_KEY)
    created = root is None
    if created:
        root = zodb_root[ROOT_KEY] = Root()
        jar = getattr(zodb_root, "_p_jar", None)
        if jar is not None:  # the new objects get their jar, so the feed records what follows
            jar.transaction_manager.get().savepoint(optimistic=True)
    evolve(root)
    if "admins" not in root.groups:
        ctx = ctx_factory(root, Actor.script("initialize_membership_db"))
        create_group(
            ctx,
            root.groups,
            "admins",
            title="Administrators",
            description="Members hold every permission everywhere.",
        )
    return root, created
