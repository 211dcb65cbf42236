"""``purge_expired_memberships <ini>``: delete memberships whose ``expires_at`` has passed.

Not needed for correctness (an expired membership grants nothing from the
instant it expires); it keeps listings and the index small. Reads the index,
not the group tree.
"""

import sys

from .. import clock
from ..resources import group_at
from .common import app_environment, parser, transaction_as


def purge_expired(root) -> list[tuple[str, str]]:
    """Remove every expired membership; the ``(user, group path)`` pairs removed."""
    now = clock.now().timestamp()
    expired = [
        (userid, path) for userid, path, _, expires in root.index.all_items() if expires <= now
    ]
    for userid, path in expired:
        group = group_at(root, path)
        if group is not None and userid in group.members:
            group.members.remove_member(userid)
        else:
            root.index.discard(userid, path)
    return expired


def main(argv: list[str] | None = None) -> int:
    args = parser(
        "purge_expired_memberships", "Delete memberships whose expires_at has passed."
    ).parse_args(sys.argv[1:] if argv is None else argv)
    with (
        app_environment(args.config_uri) as env,
        transaction_as(env["request"], "system:purge_expired_memberships"),
    ):
        removed = purge_expired(env["root"])
    for userid, path in removed:
        print(f"removed {userid} from {path}")
    print(f"{len(removed)} expired membership(s) removed")
    return 0
