"""``pack_membership_db``: pack the ZODB storage, keeping a retention period.

    pack_membership_db production.ini --days 7

Packing removes object revisions older than the retention period that are no
longer current, and objects no longer reachable from the root. It runs online
against ZEO (the server packs its FileStorage in the background of live
traffic) and RelStorage; a bare ``file://`` FileStorage can only be packed
while no app process has it open.

The storage is the app's: ``MEMBERSHIP_ZODB_URI`` if set, else ``zodbconn.uri``
from the ini file. The default retention is the ``membership.pack_days``
setting, else 7 days.
"""

import argparse
import logging
import os
import sys
import time

import zodburi
from pyramid.paster import get_appsettings, setup_logging
from zc.lockfile import LockError
from ZODB import DB

from .common import locked_message

log = logging.getLogger(__name__)

URI_ENV = "MEMBERSHIP_ZODB_URI"
DEFAULT_DAYS = 7.0


def storage_uri(settings) -> str:
    """The storage URI the app would use: the environment overrides the ini."""
    uri = os.environ.get(URI_ENV) or settings.get("zodbconn.uri")
    if not uri:
        raise SystemExit(f"no storage: set zodbconn.uri in the ini file or {URI_ENV}")
    return uri


def open_db(uri: str) -> DB:
    storage_factory, dbkw = zodburi.resolve_uri(uri)
    return DB(storage_factory(), **dbkw)


def _size(storage) -> int | None:
    try:
        return storage.getSize()
    except Exception:  # not every storage can say; the size is only reported
        return None


def pack(db: DB, days: float) -> None:
    """Pack ``db`` up to ``days`` ago (0: everything not current and unreachable)."""
    db.pack(t=time.time(), days=days)


def parse_args(argv):
    parser = argparse.ArgumentParser(
        prog="pack_membership_db",
        description="Pack the membership ZODB storage, keeping a retention period of history.",
    )
    parser.add_argument("config_uri", help="the app's ini file, e.g. production.ini")
    parser.add_argument(
        "--days",
        type=float,
        default=None,
        help=f"keep history younger than this many days (default: membership.pack_days "
        f"from the ini, else {DEFAULT_DAYS:g})",
    )
    args = parser.parse_args(argv)
    if args.days is not None and args.days < 0:
        parser.error("--days must be 0 or more")
    return args


def main(argv=None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    setup_logging(args.config_uri)
    settings = get_appsettings(args.config_uri)
    days = args.days
    if days is None:
        days = float(settings.get("membership.pack_days", DEFAULT_DAYS))
    uri = storage_uri(settings)
    scheme = uri.split(":", 1)[0]
    try:
        db = open_db(uri)
    except LockError as exc:  # a FileStorage a running app holds: packed offline only
        print(
            locked_message(exc, "pack_membership_db", read_only_hint=False)
            + " (on ZEO or RelStorage packing runs beside the servers)",
            file=sys.stderr,
        )
        return 1
    except Exception as exc:
        print(f"pack_membership_db: cannot open the {scheme} storage: {exc}", file=sys.stderr)
        return 1
    try:
        before = _size(db.storage)
        started = time.monotonic()
        pack(db, days)
        after = _size(db.storage)
    finally:
        db.close()
    took = time.monotonic() - started
    sizes = f", {before:,} -> {after:,} bytes" if before is not None and after is not None else ""
    print(f"packed {scheme} storage keeping {days:g} days of history in {took:.1f}s{sizes}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
