"""``pshell development.ini``: a Python prompt on the live tree.

The ini's ``[pshell]`` section names ``setup`` below, which adds to pshell's
own ``app``, ``request``, ``registry`` and ``root`` (the membership tree):

* ``tm``: the transaction manager of ``root``'s connection. A transaction is
  open when the prompt appears; ``commit()`` saves what you changed (credited
  to ``system:pshell`` in ZODB and the audit log) and opens the next one,
  ``tm.abort()`` drops it (then ``tm.begin()`` before the next change).
  Leaving the prompt drops whatever was not committed.
* ``find_user("alice")``, ``find_group("eng/backend")`` (or a full path
  ``/groups/eng/groups/backend``, or a group's stable id): the object, or None.
* ``users_like("al")``, ``groups_of("alice")``: user ids by prefix, a user's
  direct memberships (group path -> role), from the index.
* ``ctx``: a domain ``Context`` acting as ``system:pshell``, for the same
  rules and events as the API: ``from membership.domain import members``, then
  ``members.add_member(ctx, find_group("eng"), "alice", "member")``, then
  ``commit()``.

The section also imports this module before the app starts (``helpers``), so
the shell, like the console scripts, runs no webhook dispatcher of its own.
A FileStorage is locked by a running server: stop it, or point
``MEMBERSHIP_ZODB_URI`` at ``file://.../Data.fs?read_only=true`` to look only.
"""

import itertools

from .domain import Actor, Context
from .model import Group, User, group_at
from .paths import group_path
from .scripts import common  # noqa: F401 (marks this process as a script: no dispatcher)

ACTOR = "system:pshell"


def find_user(root, userid: str) -> User | None:
    return root.users.get(userid)


def find_group(root, where: str) -> Group | None:
    """By path (``/groups/eng/groups/backend``), by names (``eng/backend``) or by id."""
    where = where.strip()
    if where.startswith("/groups/"):
        return group_at(root, where.rstrip("/"))
    group_ids = getattr(root, "group_ids", None)
    if group_ids is not None and where in group_ids:
        return group_ids[where]
    names = [name for name in where.split("/") if name]
    return group_at(root, group_path(*names)) if names else None


def users_like(root, prefix: str, limit: int = 50) -> list[str]:
    keys = root.users._items.keys(min=prefix) if prefix else root.users._items.keys()
    matching = itertools.takewhile(lambda key: key.startswith(prefix), keys)
    return list(itertools.islice(matching, limit))


def groups_of(root, userid: str) -> dict[str, str]:
    return {entry.path: entry.role for entry in root.index.entries(userid)}


def setup(env):
    """pshell's setup hook (a generator: what follows ``yield`` runs when the shell exits)."""
    request = env["request"]
    registry = env["registry"]
    root = env["root"]
    tm = request.tm

    def commit() -> None:
        """Commit what you changed (as system:pshell), then begin the next transaction."""
        tm.get().user = ACTOR
        tm.commit()
        tm.begin()

    def user(userid: str) -> User | None:
        """find_user("alice"): the user, or None."""
        return find_user(root, userid)

    def group(where: str) -> Group | None:
        """find_group("eng/backend" | "/groups/eng/groups/backend" | id): the group, or None."""
        return find_group(root, where)

    def like(prefix: str, limit: int = 50) -> list[str]:
        """users_like("al"): user ids starting with a prefix."""
        return users_like(root, prefix, limit)

    def memberships(userid: str) -> dict[str, str]:
        """groups_of("alice"): the user's direct memberships, group path -> role."""
        return groups_of(root, userid)

    env.update(
        tm=tm,
        commit=commit,
        find_user=user,
        find_group=group,
        users_like=like,
        groups_of=memberships,
        ctx=Context(
            root,
            Actor.script("pshell"),
            registry.credentials,
            max_depth=registry.membership_settings.max_depth,
        ),
    )
    try:
        yield
    finally:
        tm.abort()
