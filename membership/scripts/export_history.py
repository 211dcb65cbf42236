"""``export_history <ini> [--since TIME]``: the audit log as JSON Lines on stdout.

Oldest first, one event per line, the same fields as ``GET /history``
(without links). Streams: the log is read stripe by stripe in id order, so
a million events need no more memory than a few. Secrets never reach the
log in the first place, so there is nothing to strip here.
"""

import json
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import TextIO

from .common import app_environment, parser


def events_since(root, since: datetime | None) -> Iterator[dict]:
    for event in root.history.oldest_first(since):
        yield event.as_dict()


def export(root, out: TextIO, since: datetime | None = None) -> int:
    """Write the log as JSON Lines; the number of events written."""
    count = 0
    for row in events_since(root, since):
        out.write(json.dumps(row, separators=(",", ":"), ensure_ascii=False))
        out.write("\n")
        count += 1
    return count


def parse_time(value: str) -> datetime:
    """RFC 3339 (``2026-11-24T06:00:00Z``) or a date (``2026-11-24``, midnight UTC)."""
    try:
        when = datetime.fromisoformat(value)
    except ValueError as exc:
        raise ValueError(f"--since: {value!r} is not an RFC 3339 time or a date") from exc
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when


def main(argv: list[str] | None = None) -> int:
    cli = parser("export_history", "Write the audit log as JSON Lines to stdout, oldest first.")
    cli.add_argument("--since", help="only events at or after this time (RFC 3339 or a date)")
    args = cli.parse_args(sys.argv[1:] if argv is None else argv)
    try:
        since = parse_time(args.since) if args.since else None
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 2
    with app_environment(args.config_uri, reads_only=True) as env:
        tm = env["request"].tm
        tm.begin()
        try:
            count = export(env["root"], sys.stdout, since)
        finally:
            tm.abort()  # read only: nothing to commit
    print(f"{count} event(s) exported", file=sys.stderr)
    return 0
