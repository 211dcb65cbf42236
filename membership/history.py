"""Class paths of release 0.1 (see ``membership/resources.py``)."""

from .model.history import Event, History  # noqa: F401
