"""``initialize_membership_db <ini> [--admin ID]``: the tree and the first admin.

Idempotent: a second run finds both and changes nothing. The admin's password
comes from ``MEMBERSHIP_ADMIN_PASSWORD``, or is generated and printed once.
"""

import argparse
import os
import secrets
import sys

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
    root = ctx.root
    admins = root.groups["admins"]
    generated = None
    if userid not in root.users:
        if password is None:
            password = generated = secrets.token_urlsafe(18)
        create_user(ctx, userid, password=password, display_name="Admin")
    if userid not in admins.members._items:
        add_member(ctx, admins, userid, "owner")
    return generated


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if not is_valid_name(args.admin):
        print(f"--admin: {args.admin!r} is not a valid user id", file=sys.stderr)
        return 2
    with app_environment(args.config_uri) as env:
        request = env["request"]
        with transaction_as(request, f"system:{SCRIPT}"):
            generated = ensure_admin(
                script_context(env, SCRIPT),
                args.admin,
                os.environ.get("MEMBERSHIP_ADMIN_PASSWORD") or None,
            )
        if generated:
            print(f"Created admin {args.admin!r} with password: {generated}")
            print("It is shown only this once; set MEMBERSHIP_ADMIN_PASSWORD to choose one.")
        print(f"Database ready: admin {args.admin!r} is in /groups/admins.")
    return 0
