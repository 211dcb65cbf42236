"""Names of things in the tree, and the one rule they follow."""

import re

NAME_PATTERN = r"^[a-z0-9][a-z0-9._-]{0,63}$"
_NAME = re.compile(NAME_PATTERN)


def is_valid_name(name: object) -> bool:
    """True for a lowercase slug: what user ids and group names must be.

    Checked before any container lookup, so ``..``, ``@@x``, ``%2F``, NUL and
    unicode look-alikes never reach a BTree.
    """
    return isinstance(name, str) and _NAME.fullmatch(name) is not None


def parent_paths(path: str) -> list[str]:
    """Paths of the groups above ``path``, nearest first.

    ``/groups/eng/groups/backend`` -> ``['/groups/eng']``. Derived from the
    path alone so the principal computation needs no object loads.
    """
    parts = path.split("/")
    # ['', 'groups', 'eng', 'groups', 'backend']
    return ["/".join(parts[:end]) for end in range(len(parts) - 2, 2, -2)]
