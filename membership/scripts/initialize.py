"""``initialize_membership_db <ini> [--admin ID]``: the tree and the first admin.

Idempotent: a second run finds both and changes nothing. The admin's password
comes from ``MEMBERSHIP_ADMIN_PASSWORD``, or is generated and printed once.
"""

import argparse
import os
import secrets
import sys

from pyramid.paster import bootstrap, setup_logging

from ..names import is_valid_name


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="initialize_membership_db",
        description="Create the membership tree and its first admin (idempotent).",
    )
    parser.add_argument("config_uri", help="the ini file, e.g. development.ini")
    parser.add_argument("--admin", default="admin", help="user id of the first admin")
    return parser.parse_args(argv)


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
    setup_logging(args.config_uri)
    env = bootstrap(args.config_uri)
    try:
        request = env["request"]
        with request.tm:
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
    finally:
        env["closer"]()
    return 0
