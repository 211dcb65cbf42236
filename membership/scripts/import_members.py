"""``import_members <ini> <group path> [FILE|-]``: load a large group fast.

Reads user ids, one per line (``id`` or ``id,role``), creates the users that
do not exist yet (without a password: they log in with tokens an admin
mints, or get a password later) and adds them to the group. Commits every
``--batch`` lines so memory stays flat, with a progress bar on stderr.
The audit log gets one ``users.imported`` and one ``members.imported`` event
per batch (counts, not one event per row), credited to ``system:import_members``.
Run it with the server stopped when the storage is a single-process
FileStorage; against ZEO or RelStorage it can run beside the servers.
"""

import sys
from collections.abc import Iterable, Iterator

from tqdm import tqdm

from ..domain import Context
from ..domain.errors import DomainError
from ..domain.members import import_members
from ..model import group_at
from ..paths import is_valid_name
from ..permissions import ROLES
from .common import app_environment, parser, script_context, transaction_as

SCRIPT = "import_members"
SCRIPT_ACTOR = f"system:{SCRIPT}"


def parse_lines(lines: Iterable[str]) -> Iterator[tuple[int, str, str]]:
    for number, line in enumerate(lines, 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        userid, _, role = line.partition(",")
        userid, role = userid.strip(), (role.strip() or "member")
        if not is_valid_name(userid) or role not in ROLES:
            raise ValueError(f"line {number}: {line!r} is not 'user id[,role]'")
        yield number, userid, role


def import_batch(ctx: Context, group_path: str, rows: list[tuple[int, str, str]]) -> int:
    """Add one batch through the domain (same rules and events as the API); existing
    members keep their membership. The number added."""
    group = group_at(ctx.root, group_path)
    return import_members(ctx, group, ((userid, role) for _, userid, role in rows))


def main(argv: list[str] | None = None) -> int:
    cli = parser("import_members", "Bulk-load members into a group (creates missing users).")
    cli.add_argument("group", help="group path, e.g. /groups/eng")
    cli.add_argument("file", nargs="?", default="-", help="user ids, one per line (- = stdin)")
    cli.add_argument("--batch", type=int, default=20_000, help="lines per transaction")
    cli.add_argument("--total", type=int, default=None, help="expected lines, for the bar")
    args = cli.parse_args(sys.argv[1:] if argv is None else argv)
    stream = sys.stdin if args.file == "-" else open(args.file, encoding="utf-8")
    added = 0
    with stream, app_environment(args.config_uri) as env:
        request = env["request"]
        with transaction_as(request, SCRIPT_ACTOR):
            if group_at(env["root"], args.group) is None:
                print(f"no group at {args.group}", file=sys.stderr)
                return 2
        batch: list = []
        try:
            with tqdm(total=args.total, unit=" members", file=sys.stderr) as bar:
                for row in parse_lines(stream):
                    batch.append(row)
                    if len(batch) >= args.batch:
                        with transaction_as(request, SCRIPT_ACTOR):
                            added += import_batch(script_context(env, SCRIPT), args.group, batch)
                        bar.update(len(batch))
                        batch = []
                if batch:
                    with transaction_as(request, SCRIPT_ACTOR):
                        added += import_batch(script_context(env, SCRIPT), args.group, batch)
                    bar.update(len(batch))
        except (ValueError, DomainError) as exc:
            print(f"stopped: {exc}; {added} members added before this batch", file=sys.stderr)
            return 1
    print(f"{added} member(s) added to {args.group}")
    return 0
