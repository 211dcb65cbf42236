"""``python -m bench.load_members <ini> <group path> <file|->``: bulk-load members offline.

A stand-in for the ``import_members`` console script (same arguments), used
only while that script is not installed: user ids one per line, missing users
created without a password, each added to the group as ``member``, committed
every 10,000. Run it with the server stopped (FileStorage is single-process).
It goes through the resource API (``Users.add_user``, ``Members.add_member``),
so the user -> groups index is kept exactly as a request would keep it.
"""

import sys
import time

from pyramid.paster import bootstrap
from pyramid.traversal import find_resource

CHUNK = 10_000


def ids_from(source: str):
    stream = sys.stdin if source == "-" else open(source)
    with stream:
        for line in stream:
            userid = line.strip()
            if userid:
                yield userid


def load(root, group, ids, tm) -> int:
    users, members = root.users, group.members
    added, started, batch = 0, time.monotonic(), 0
    tm.begin()
    for userid in ids:
        if userid not in users:
            users.add_user(userid)
        if members.get(userid) is None:
            members.add_member(userid, "member", added_by="bench")
            added += 1
        batch += 1
        if batch == CHUNK:
            group.touch()
            tm.commit()
            root._p_jar.cacheGC()
            rate = added / (time.monotonic() - started)
            print(f"{added} added ({rate:.0f}/s)", file=sys.stderr, flush=True)
            tm.begin()
            batch = 0
    group.touch()
    tm.commit()
    return added


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 3:
        print(__doc__.splitlines()[0], file=sys.stderr)
        return 2
    ini, path, source = argv
    env = bootstrap(ini)
    try:
        group = find_resource(env["root"], path)
        added = load(env["root"], group, ids_from(source), env["request"].tm)
        print(f"{path}: {added} members added, {len(group.members)} in all", file=sys.stderr)
    finally:
        env["closer"]()
    return 0


if __name__ == "__main__":
    sys.exit(main())
