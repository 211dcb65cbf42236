"""``membership.expired``: raised once when a membership's expiry instant passes.

Nothing changes in the tree at that instant (an expired membership simply
grants nothing from then on), so no request raises it: the dispatcher calls
``announce_expired`` within seconds of each instant. The expiry registry
(``model/expiry.py``) drops each entry as its event is raised, in the same
transaction, so two dispatchers announcing at once conflict instead of
announcing twice.
"""

from ..model import group_at
from ..paths import membership_path, user_path
from .context import Context
from .events import MembershipExpired


def announce_expired(ctx: Context, now: float, limit: int = 1000) -> int:
    """Raise ``membership.expired`` for every expiry at or before ``now``; how many."""
    root = ctx.root
    expiries = root.expiries
    if expiries is None:
        return 0
    raised = 0
    for stamp, userid, path in list(expiries.passed(now, limit)):
        group = group_at(root, path)
        membership = None if group is None else group.members.membership(userid)
        expires_at = None if membership is None else membership.expires_at
        if expires_at is None or expires_at.timestamp() != stamp:
            expiries.discard(userid, path)  # stale: the subscriber missed a change (repair)
            continue
        user = root.users.get(userid)
        keys = tuple(each.history_key for each in group.lineage())
        ctx.notify(
            MembershipExpired(
                membership_path(path, userid),
                after=membership.fields(),
                also=(user_path(userid),),
                objects=keys if user is None else (*keys, user.history_key),
                group_path=path,
                userid=userid,
            )
        )
        raised += 1
    return raised
