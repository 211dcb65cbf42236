"""The persistent tree: classes only, no rules, no HTTP (see ARCHITECTURE.md)."""

from .base import ADMIN_ACE, Container, Node, declare_read, mark_changed
from .groups import Group, Groups, Members, Membership, NonMember
from .history import Event, History
from .index import MembershipIndex
from .root import Checks, Root, group_at, node_at
from .users import Identities, LinkedIdentity, Token, Tokens, User, Users

__all__ = [
    "ADMIN_ACE",
    "Checks",
    "Container",
    "Event",
    "Group",
    "Groups",
    "History",
    "Identities",
    "LinkedIdentity",
    "Members",
    "Membership",
    "MembershipIndex",
    "Node",
    "NonMember",
    "Root",
    "Token",
    "Tokens",
    "User",
    "Users",
    "declare_read",
    "group_at",
    "mark_changed",
    "node_at",
]
