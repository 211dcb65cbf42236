"""Class path of release 0.1 (see ``membership/resources.py``)."""

from .model.index import MembershipIndex  # noqa: F401
