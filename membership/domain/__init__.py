"""The rules, callable without a Request: from a view, a script, a test or a front end.

Each write is a function taking a :class:`Context` (the tree and the actor)
that checks the rules, changes the model, declares what its decision read,
and raises domain events for the side jobs. See ARCHITECTURE.md.
"""

from .context import Actor, Context

__all__ = ["Actor", "Context"]
