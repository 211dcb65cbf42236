"""``initialize_membership_db <ini> [--admin ID]``: the tree and the first admin.

Idempotent: a second run finds both and changes nothing. The admin's password
comes from ``MEMBERSHIP_ADMIN_PASSWORD``, or is generated and printed once; a
user that exists already keeps its password (the variable is ignored, and
the script says so). ``--admin ID`` with another id on an initialized
database adds a further admin: the way back in when the admin's password is
lost.

It says what it did: created the database, found it initialized (nothing
changed), or added a further admin.
"""

import argparse
import os
import secrets
import sys
from dataclasses import dataclass

from ..domain import Context
from ..domain.members import add_member
from ..domain.users import create_user
from ..paths import is_valid_name
from .common import app_environment, parser, script_context, transaction_as

SCRIPT = "initialize_membership_db"


def parse_args(argv: list[str]) -> argparse.Namespace:
    cli = parser(SCRIPT, "Create the membership tree and its first admin (idempotent).")
    cli.add_argument("--admin", default="admin", help="user id of the first admin")
    return cli.parse_args(argv)


def ensure_admin(ctx: Context, userid: str, password: str | None) -> str | None:
    """Make ``userid`` exist and sit in /groups/admins; the generated password, if any."""
    return _ensure_admin(ctx, userid, password).generated


@dataclass
class Outcome:
    """What ``initialize_membership_db`` found and did."""

    fresh: bool = False  # no user existed: a new database
    user_created: bool = False
    made_admin: bool = False  # added to /groups/admins (owner)
    generated: str | None = None  # the password it made up, shown once
    password_ignored: bool = False  # MEMBERSHIP_ADMIN_PASSWORD given for an existing user
    admins: int = 0  # members of /groups/admins afterwards


def _ensure_admin(ctx: Context, userid: str, password: str | None) -> Outcome:
    root = ctx.root
    admins = root.groups["admins"]
    outcome = Outcome(fresh=len(root.users) == 0)
    if userid not in root.users:
        if password is None:
            password = outcome.generated = secrets.token_urlsafe(18)
        create_user(ctx, userid, password=password, display_name="Admin")
        outcome.user_created = True
    elif password is not None:
        outcome.password_ignored = True
    if userid not in admins.members._items:
        add_member(ctx, admins, userid, "owner")
        outcome.made_admin = True
    outcome.admins = len(admins.members._items)
    return outcome


def report(userid: str, outcome: Outcome) -> list[str]:
    """What to tell the operator, one line each."""
    lines = []
    if outcome.fresh:
        lines.append(
            f"Created the membership database: /users, /groups, /groups/admins, "
            f"and admin {userid!r} (owner of /groups/admins)."
        )
    elif outcome.user_created:
        lines.append(
            f"Database already initialized: added a further admin, new user {userid!r}, "
            f"to /groups/admins ({outcome.admins} admins now)."
        )
    elif outcome.made_admin:
        lines.append(
            f"Database already initialized: made existing user {userid!r} an owner of "
            f"/groups/admins ({outcome.admins} admins now)."
        )
    else:
        lines.append(
            f"Database already initialized: {userid!r} is already in /groups/admins; "
            "nothing changed."
        )
    if outcome.generated:
        lines.append(f"Password of {userid!r}: {outcome.generated}")
        lines.append("It is shown only this once; set MEMBERSHIP_ADMIN_PASSWORD to choose one.")
    if outcome.password_ignored:
        lines.append(
            f"MEMBERSHIP_ADMIN_PASSWORD was ignored: user {userid!r} exists and keeps its "
            f"password (change it with PATCH /users/{userid})."
        )
    return lines


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if not is_valid_name(args.admin):
        print(f"--admin: {args.admin!r} is not a valid user id", file=sys.stderr)
        return 2
    with app_environment(args.config_uri) as env:
        request = env["request"]
        with transaction_as(request, f"system:{SCRIPT}"):
            outcome = _ensure_admin(
                script_context(env, SCRIPT),
                args.admin,
                os.environ.get("MEMBERSHIP_ADMIN_PASSWORD") or None,
            )
        for line in report(args.admin, outcome):
            print(line)
    return 0
