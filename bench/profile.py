"""``python -m bench.profile``: where a membership check spends its time.

Builds the same database as the bench (a group of ``--size`` members, the
admin's token), loads the app in-process from the same ini, and sends it
``--requests`` membership checks through the whole WSGI stack (router,
tweens, pyramid_tm, pyramid_zodbconn, security policy, view, renderer) under
pyinstrument, one thread, no waitress. The minimal Pyramid ACL app of the
ceiling gets the same treatment, for the per-request cost it sets.

Writes ``bench/results/profile-check.txt`` (the full call tree) and prints
the per-request costs; bench/PROFILE.md is written from them by hand.
"""

import argparse
import sys
import tempfile
import time
from pathlib import Path

from pyinstrument import Profiler
from pyinstrument.renderers import ConsoleRenderer
from pyramid.paster import get_app
from webob import Request

from bench import ours
from bench.ceiling import pyramid_acl
from bench.servers import Servers, server_settings

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


def build(workdir: Path, size: int) -> tuple[Path, str]:
    kind = ours.FileStorageKind(
        workdir, REPO / "development.ini", server_settings(REPO / "development.ini")
    )
    password = ours.initialize(kind)
    with Servers() as servers:
        server = servers.start(kind.server())
        token = ours.create_structure(server.port, password)
    kind.import_members(ours.GROUP, (ours.member(i) for i in range(size)))
    return kind.ini(), token


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__)
    parser.add_argument("--size", type=int, default=100_000, help="members in the group")
    parser.add_argument("--requests", type=int, default=5_000, help="checks to profile")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="membership-profile-") as tmp:
        ini, token = build(Path(tmp), args.size)
        app = get_app(str(ini), "main")
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
    )
    print(f"membership check: {plain * 1e6:.0f} us/request in-process ({1 / plain:,.0f}/s)")
    print(f"minimal Pyramid ACL view: {floor * 1e6:.0f} us/request ({1 / floor:,.0f}/s)")
    print(f"call tree: {OUT.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
