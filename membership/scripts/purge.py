"""``purge_expired_memberships <ini>``: delete memberships whose ``expires_at`` has passed.

Not needed for correctness (an expired membership grants nothing from the
instant it expires); it keeps listings and the index small. Reads the index,
not the group tree; removals go through the domain like any other.
"""

import sys

from .. import clock
from ..domain import Context
from ..domain.members import remove_member
from ..model import group_at
from .common import app_environment, parser, script_context, transaction_as

SCRIPT = "purge_expired_memberships"


def purge_expired(ctx: Context) -> list[tuple[str, str]]:
    """Remove every expired membership; the ``(user, group path)`` pairs removed."""
    root = ctx.root
    now = clock.now().timestamp()
    expired = [
        (userid, path) for userid, path, _, expires in root.index.all_items() if expires <= now
    ]
    for userid, path in expired:
        group = group_at(root, path)
        if group is not None and userid in group.members._items:
            remove_member(ctx, group, userid)
        else:  # an index entry without its membership: fsck's job, but harmless to drop
            root.index.discard(userid, path)
    return expired


def main(argv: list[str] | None = None) -> int:
    args = parser(SCRIPT, "Delete memberships whose expires_at has passed.").parse_args(
        sys.argv[1:] if argv is None else argv
    )
    with (
        app_environment(args.config_uri) as env,
        transaction_as(env["request"], f"system:{SCRIPT}"),
    ):
        removed = purge_expired(script_context(env, SCRIPT))
    for userid, path in removed:
        print(f"removed {userid} from {path}")
    print(f"{len(removed)} expired membership(s) removed")
    return 0
