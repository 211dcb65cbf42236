"""``python -m bench.profile``: where a membership check spends its time.

Builds the same database as the bench (a group of ``--size`` members, the
admin's token), loads the app in-process from the same ini, and sends it
``--requests`` membership checks through the whole WSGI stack (router,
tweens, pyramid_tm, pyramid_zodbconn, security policy, view, renderer) under
pyinstrument, one thread, no waitress. The minimal Pyramid ACL app of the
ceiling gets the same treatment, for the per-request cost it sets.

Then, with ``py-spy`` (in the bench extra), the same check on the live
server under wrk (16 connections, waitress as configured): ``py-spy record
--gil`` samples whichever thread holds the GIL, so the shares are shares of
the interpreter's time, waitress included.

Writes ``bench/results/profile-check.txt`` and prints the per-request costs;
bench/PROFILE.md is written from them by hand.
"""

import argparse
import collections
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from pyinstrument import Profiler
from pyinstrument.renderers import ConsoleRenderer
from pyramid.paster import get_app
from webob import Request

from bench import load, ours
from bench.ceiling import pyramid_acl
from bench.servers import Servers, server_settings
from membership.web.db import database

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "bench" / "results" / "profile-check.txt"


def drive(app, path: str, auth: str, count: int) -> float:
    """Send ``count`` GETs; answer seconds per request. Every answer must be 200."""
    environ = Request.blank(path, headers={"Authorization": auth}).environ
    started = time.perf_counter()
    for _ in range(count):
        response = Request(dict(environ)).get_response(app)
        if response.status_int != 200:
            raise SystemExit(f"{path} answered {response.status}: {response.body[:300]!r}")
    return (time.perf_counter() - started) / count


def build(workdir: Path, size: int) -> tuple[ours.FileStorageKind, str]:
    kind = ours.FileStorageKind(
        workdir, REPO / "development.ini", server_settings(REPO / "development.ini")
    )
    password = ours.initialize(kind)
    with Servers() as servers:
        server = servers.start(kind.server())
        token = ours.create_structure(server.port, password)
    kind.import_members(ours.GROUP, (ours.member(i) for i in range(size)))
    return kind, token


def live(kind, path: str, auth: str, seconds: int = 10) -> str:
    """py-spy on the running server while wrk drives the check; a text summary."""
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(py_spy).exists():
        return "(py-spy is not installed: pip install py-spy)\n"
    raw = Path(kind.workdir) / "py-spy.txt"
    with Servers() as servers:
        server = servers.start(kind.server())
        request = load.Request("GET", path, auth)
        load.run(server.port, request, load.Load(), duration=2)  # warm up
        wrk = subprocess.Popen(
            [
                "wrk",
                "-t1",
                "-c16",
                f"-d{seconds + 2}s",
                "-s",
                str(load.LUA),
                server.base,
                "--",
                *request.lua_args(),
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        time.sleep(1)
        subprocess.run(
            [
                py_spy,
                "record",
                "--gil",
                "-r",
                "500",
                "-d",
                str(seconds),
                "--format",
                "raw",
                "-o",
                str(raw),
                "-p",
                str(server.proc.pid),
            ],
            capture_output=True,
            check=True,
        )
        wrk.communicate(timeout=seconds + 30)
    return summarise(raw)


def summarise(raw: Path, top: int = 25) -> str:
    own, inclusive, total = collections.Counter(), collections.Counter(), 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = stack.split(";")
        total += int(count)
        own[frames[-1]] += int(count)
        for frame in set(frames):
            inclusive[frame.split(" (")[0]] += int(count)
    app = inclusive["Router.__call__"]
    lines = [
        f"{total} samples of the GIL holder; the Pyramid app (Router.__call__) "
        f"{100 * app / total:.0f}%, waitress and the rest {100 * (total - app) / total:.0f}%",
        "",
        "Self time, top:",
    ]
    lines += [f"{100 * n / total:5.1f}%  {frame}" for frame, n in own.most_common(top)]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__)
    parser.add_argument("--size", type=int, default=100_000, help="members in the group")
    parser.add_argument("--requests", type=int, default=5_000, help="checks to profile")
    parser.add_argument("--no-live", action="store_true", help="skip py-spy on the live server")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="membership-profile-") as tmp:
        kind, token = build(Path(tmp), args.size)
        app = get_app(str(kind.ini()), "main")
        path = f"{ours.GROUP}/members/{ours.member(args.size // 2)}"
        auth = f"Bearer {token}"
        drive(app, path, auth, 500)  # warm the ZODB cache
        plain = drive(app, path, auth, args.requests)
        profiler = Profiler(interval=0.0002)
        with profiler:
            drive(app, path, auth, args.requests)

        ceiling = pyramid_acl.main({}, **{"bench.token": "t"})
        drive(ceiling, "/member", "Bearer t", 500)
        floor = drive(ceiling, "/member", "Bearer t", args.requests)
        database(app.registry).close()  # the server needs the FileStorage (and its lock) next
        summary = "" if args.no_live else live(kind, path, auth)

    session = profiler.last_session
    tree = ConsoleRenderer(unicode=True, time="percent_of_total").render(session)
    flat = ConsoleRenderer(flat=True, time="percent_of_total").render(session)
    flat = "\n".join(flat.splitlines()[:45])
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(
        f"# GET {path}, {args.size:,} members, {args.requests} requests in-process, "
        f"one thread\n# {plain * 1e6:.0f} us/request unprofiled; minimal Pyramid ACL app "
        f"{floor * 1e6:.0f} us/request\n\n"
        f"## Call tree (our code; library frames folded)\n{tree}\n"
        f"## Self time per function, top\n{flat}\n"
        f"## Live: py-spy --gil on the server under wrk (16 connections)\n\n{summary}"
    )
    print(f"membership check: {plain * 1e6:.0f} us/request in-process ({1 / plain:,.0f}/s)")
    print(f"minimal Pyramid ACL view: {floor * 1e6:.0f} us/request ({1 / floor:,.0f}/s)")
    print(f"call tree: {OUT.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
