"""Batch checks against a real server: answers per second of ``POST /checks``.

``python -m bench.checks [--questions 100] [--seconds 10] [--connections 4]``
builds a small tree on a fresh FileStorage (the development.ini server: one
waitress process), then drives ``POST /checks`` with wrk: every request asks
the same mix of ``--questions`` questions (direct, effective, by id and
permission ones, about 40 users and 20 groups), as an admin and as a plain
member who may see only part of the tree (whose answers include
``forbidden`` items). Prints requests/s and answers/s per caller.
"""

import argparse
import json
import sys
import tempfile
from pathlib import Path

from bench.client import Client, basic
from bench.load import Load, Request, run
from bench.ours import ADMIN, REPO, FileStorageKind, initialize
from bench.servers import BenchError, server_settings

USERS = 40
TEAMS = 5  # /groups/t<i>, each with subgroups s0..s2


def build(port: int, password: str) -> tuple[str, str, list[str]]:
    """The tree; answer an admin token, a member's token and the groups' ids."""
    admin = Client(port, auth=basic(ADMIN, password))
    token = admin.post(f"/users/{ADMIN}/tokens", {"name": "bench"})["token"]
    api = Client(port, auth=f"Bearer {token}")
    for i in range(USERS):
        api.post("/users", {"id": f"u{i}"})
    ids = []
    for t in range(TEAMS):
        ids.append(api.post("/groups", {"name": f"t{t}"})["id"])
        for s in range(3):
            ids.append(api.post(f"/groups/t{t}/groups", {"name": f"s{s}"})["id"])
            for i in range(t * 8 + s, USERS, 7):
                api.post(f"/groups/t{t}/groups/s{s}/members", {"user": f"u{i}"})
        api.post(f"/groups/t{t}/members", {"user": f"u{t}", "role": "owner"})
    member = api.post("/users/u0/tokens", {"name": "bench"})["token"]  # admins may make one
    return token, member, ids


def questions(count: int, ids: list[str]) -> list[dict]:
    """A mix: direct and effective membership by path, by id, and permission questions."""
    items: list[dict] = []
    i = 0
    while len(items) < count:
        user, team, sub = f"u{i % USERS}", i % TEAMS, i % 3
        kind = i % 4
        if kind == 0:
            items.append({"user": user, "group": f"/groups/t{team}"})
        elif kind == 1:
            items.append({"user": user, "group": f"/groups/t{team}", "effective": True})
        elif kind == 2:
            items.append({"user": user, "group": ids[(i * 3) % len(ids)], "effective": True})
        else:
            path = f"/groups/t{team}/groups/s{sub}"
            items.append({"user": user, "permission": "manage-members", "path": path})
        i += 1
    return items


def main(argv: list[str] | None = None) -> int:
    cli = argparse.ArgumentParser(prog="python -m bench.checks", description=__doc__)
    cli.add_argument("--questions", type=int, default=100)
    cli.add_argument("--seconds", type=float, default=10.0)
    cli.add_argument("--connections", type=int, default=4)
    args = cli.parse_args(argv)
    dev_ini = REPO / "development.ini"
    with tempfile.TemporaryDirectory(prefix="bench-checks-") as tmp:
        kind = FileStorageKind(Path(tmp), dev_ini, server_settings(dev_ini))
        password = initialize(kind)
        server = kind.server()
        server.start()
        try:
            admin, member, ids = build(kind.port, password)
            body = json.dumps({"items": questions(args.questions, ids)})
            load = Load(connections=args.connections, duration=args.seconds)
            for caller, token in (("admin", admin), ("member u0", member)):
                probe = Client(kind.port, auth=f"Bearer {token}")
                answers = probe.post("/checks", json.loads(body), expect=(200,))["items"]
                refused = sum(1 for a in answers if "error" in a)
                request = Request("POST", "/checks", f"Bearer {token}", body, "application/json")
                result = run(kind.port, request, load)
                if result.errors:
                    raise BenchError(f"{caller}: {result.statuses} {result.socket_errors}")
                print(
                    f"{caller:>10}: {result.ok_rps:8.1f} requests/s x {args.questions} "
                    f"questions = {result.ok_rps * args.questions:9.0f} answers/s "
                    f"(p50 {result.latency_ms['p50']:.1f} ms, {refused} forbidden/not_found "
                    f"items per request)"
                )
        finally:
            server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
