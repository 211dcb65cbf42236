"""Evolve steps: what a tree written by an earlier release needs to open under this one.

Run at every start (``domain.setup.ensure_tree``) and idempotent: each step
runs once, and ``Root.generation`` records how far a tree has come. Steps
only fill in data; they raise no domain events (nothing changed for clients).
"""

import uuid
from collections.abc import Callable

from BTrees.Length import Length
from BTrees.OOBTree import OOBTree

from .. import clock
from .directory import Directory
from .expiry import Expiries
from .feed import Feed
from .history import History, new_event_id
from .root import Root
from .webhooks import Webhooks

GENERATION = 6


def stable_group_ids(root: Root) -> None:
    """0.1 -> 0.2: group ids and their index, history by object, token owners."""
    if root.history is None:
        root.history = History()
    if root.history._by_object is None:
        root.history._by_object = OOBTree()
    if root.acl_nodes is None:
        root.acl_nodes = OOBTree()
    if root.acl_version is None:
        root.acl_version = Length()
    if root.group_ids is None:
        root.group_ids = OOBTree()
    boundary = new_event_id()
    stack = list(root.groups._items.values())
    while stack:
        group = stack.pop()
        if group.id is None:
            group.id = str(uuid.uuid4())
            group.legacy_history = (group.path, boundary)
        root.group_ids[group.id] = group
        stack.extend(group.groups._items.values())
    for user in root.users._items.values():
        for token in (user._tokens or {}).values():
            if token.user is None:
                token.user = user


def change_feed(root: Root) -> None:
    """0.2: the change feed starts empty (history before it stays in the audit log)."""
    if root.feed is None:
        root.feed = Feed()


def webhooks_and_expiries(root: Root) -> None:
    """0.2: webhook subscriptions, and the expiry instants still ahead (expiries that
    passed before this step are not announced)."""
    if root.webhooks is None:
        root.webhooks = Webhooks()
        root.webhooks.__parent__ = root
    if root.expiries is None:
        root.expiries = Expiries()
        now = clock.now().timestamp()
        for userid, path, _, expires in root.index.all_items():
            if now < expires < float("inf"):
                root.expiries.due.add((expires, userid, path))
                root.expiries.by_member[(userid, path)] = expires


def member_expiry_index(root: Root) -> None:
    """0.2: each group's memberships with an expiry, counted and in expiry order,
    so ``member_count`` and ``expired_count`` stay O(log n) on an upgraded tree."""
    stack = list(root.groups._items.values())
    while stack:
        group = stack.pop()
        group.members._ensure_expiry_index()
        stack.extend(group.groups._items.values())


def directory(root: Root) -> None:
    """0.2: lookups by userName (the id, for every user so far), email, group title.

    Users keep ``user_name = None`` (the class default: their id), so only
    the directory is written, not a record per user.
    """
    if root.directory is not None:
        return
    found = root.directory = Directory()
    for userid, user in root.users._items.items():
        found.set_user_name(userid, None, user.login_name)
        found.set_user_emails(userid, [], [value for value, _, _ in user.emails])
        if user.external_id is not None:
            found.set_user_external_id(userid, None, user.external_id)
    stack = list(root.groups._items.values())
    while stack:
        group = stack.pop()
        found.set_group_title(group.id, group.title)
        stack.extend(group.groups._items.values())


def events_in_the_feed(root: Root) -> None:
    """0.2: the audit log reads events from the change feed's batches (O(1): a link,
    no conversion; events already logged stay where they are)."""
    if root.history is not None and root.history.feed is None:
        root.history.feed = root.feed


STEPS: dict[int, Callable[[Root], None]] = {
    1: stable_group_ids,
    2: change_feed,
    3: webhooks_and_expiries,
    4: member_expiry_index,
    5: directory,
    6: events_in_the_feed,
}


def evolve(root: Root) -> list[int]:
    """Apply the steps this tree lacks, in order; the generations applied."""
    applied = []
    for generation in sorted(STEPS):
        if root.generation < generation:
            STEPS[generation](root)
            root.generation = generation
            applied.append(generation)
    return applied
