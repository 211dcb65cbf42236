"""``membership_fsck <ini> [--repair]``: check that the tree agrees with itself.

The tree (users, groups, memberships, local ACEs, tokens) is the truth; the
registries kept beside it in the same transaction are derived from it. This
checks (``membership.domain.consistency``):

* every group is reachable from the root, and sits where its ``__parent__``
  and ``__name__`` say;
* the user -> groups index has exactly one entry per direct membership, with
  its role and expiry; ``members.by_role`` and every ``Length`` counter agree
  with what their container holds;
* every membership names an existing user;
* ``acl_nodes`` names exactly the nodes with local ACEs and their principals;
  every ACE principal is canonical and names an existing user or group;
* every token has its digest entry and every digest entry its token;
* every group has a stable id that ``group_ids`` maps to it, and no id maps
  to a group outside the tree.

Run it after a crash or a restore, after an upgrade, and whenever an answer
of the API looks inconsistent (a member missing from ``/users/<id>/groups``,
a token that does not authenticate). On a FileStorage stop the server first
(the file is locked while it runs); on ZEO or RelStorage it may run beside
the servers. ``--repair`` rebuilds the derived registries from the tree in
one transaction credited to ``system:membership_fsck`` (dropped ACEs and
memberships of missing users are in the audit log), then checks again.
What it cannot derive (a group no container holds) is left and reported.

Exit status: 0 when nothing is found (or, with ``--repair``, nothing is
left), 1 when inconsistencies remain, 2 on a usage error.
"""

import sys

from ZODB.POSException import ConflictError

from ..domain.consistency import Finding, check, repair
from .common import app_environment, parser, script_context, transaction_as

SCRIPT = "membership_fsck"


def report(findings: list[Finding], label: str = "") -> None:
    """One line per finding, then a summary line."""
    for finding in findings:
        print(f"{finding.kind}: {finding.where}: {finding.detail}")
    repairable = sum(1 for f in findings if f.repairable)
    print(
        f"{label}{len(findings)} inconsistenc{'y' if len(findings) == 1 else 'ies'} found"
        + (f" ({repairable} repairable)" if findings else "")
    )


def main(argv: list[str] | None = None) -> int:
    cli = parser(SCRIPT, "Check the membership tree against its registries; --repair fixes.")
    cli.add_argument(
        "--repair", action="store_true", help="rebuild what can be derived from the tree"
    )
    args = cli.parse_args(sys.argv[1:] if argv is None else argv)
    with app_environment(args.config_uri, reads_only=not args.repair) as env:
        request = env["request"]
        tm = request.tm
        tm.begin()
        try:
            findings = check(env["root"])
        finally:
            tm.abort()  # read only
        report(findings)
        if not findings:
            return 0
        if not args.repair:
            return 1
        try:
            with transaction_as(request, f"system:{SCRIPT}"):
                # Checked again inside the transaction that repairs: what it fixes is
                # what this snapshot shows, and a concurrent write conflicts at commit.
                done = repair(script_context(env, SCRIPT), check(env["root"]))
        except ConflictError as exc:
            print(f"repair not committed, a concurrent write conflicted ({exc}); run again")
            return 1
        for line in done:
            print(f"repaired: {line}")
        tm.begin()
        try:
            left = check(env["root"])
        finally:
            tm.abort()
        report(left, "after repair: ")
        return 1 if left else 0
