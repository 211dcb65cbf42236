"""``initialize_membership_db <ini> [--admin ID]``: the tree and the first admin.

Idempotent: a second run finds both and changes nothing. The admin's password
comes from ``MEMBERSHIP_ADMIN_PASSWORD``, or is generated and printed once.
"""

import argparse
import os
import secrets
import sys

from ..names import is_valid_name
from .common import app_environment, parser, transaction_as


def parse_args(argv: list[str]) -> argparse.Namespace:
    cli = parser(
        "initialize_membership_db", "Create the membership tree and its first admin (idempotent)."
    )
    cli.add_argument("--admin", default="admin", help="user id of the first admin")
    return cli.parse_args(argv)


def ensure_admin(root, userid: str, credentials, password: str | None) -> str | None:
    """Make ``userid`` exist and sit in /groups/admins; the generated password, if any."""
    admins = root.groups["admins"].members
    generated = None
    if userid not in root.users:
        if password is None:
            password = generated = secrets.token_urlsafe(18)
        root.users.add_user(
            userid, password_hash=credentials.hash_password(password), display_name="Admin"
        )
    if userid not in admins._items:
        admins.add_member(userid, "owner", added_by=userid)
    return generated


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if not is_valid_name(args.admin):
        print(f"--admin: {args.admin!r} is not a valid user id", file=sys.stderr)
        return 2
    with app_environment(args.config_uri) as env:
        request = env["request"]
        with transaction_as(request, "system:initialize_membership_db"):
            root = env["root"]
            generated = ensure_admin(
                root,
                args.admin,
                request.registry.credentials,
                os.environ.get("MEMBERSHIP_ADMIN_PASSWORD") or None,
            )
        if generated:
            print(f"Created admin {args.admin!r} with password: {generated}")
            print("It is shown only this once; set MEMBERSHIP_ADMIN_PASSWORD to choose one.")
        print(f"Database ready: admin {args.admin!r} is in /groups/admins.")
    return 0
