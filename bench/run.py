"""``python -m bench.run [--quick]``: the benchmark behind ``make bench``.

What one run does, every server on 127.0.0.1 with the same waitress settings
(``[server:main]`` of development.ini) and the same wrk load (16 connections,
one wrk thread, token or basic auth):

1. The ceiling: a bare WSGI app and a minimal Pyramid traversal+ACL app.
2. For each group size: membership on a fresh database (the group, a pool of
   users to add, a user in 50 nested groups), then Kinto (memory backends) with
   a group of the same size.
3. Each case runs ``runs`` times (rounds, so the two runs of a case are apart
   in time); the median of the runs is reported.
4. ``bench/results/<date>[-quick].json``, a Markdown table and PNG plots.

Everything is bounded: a time budget (cases past it are skipped and listed),
wrk's own duration and request timeout, and every server is stopped on the way
out, whatever happened. Run ``python -m bench.run --help`` for the options.
"""

import argparse
import datetime as dt
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from importlib.metadata import version
from pathlib import Path

from bench import kinto, load, ours, report
from bench.client import Client, basic
from bench.load import Load, Request
from bench.servers import BenchError, Server, Servers, free_port, plain, server_settings, write_ini

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results"
KINTO_VENV = REPO / "var" / "bench" / "kinto-venv"
CEILING_TOKEN = "ceiling-token"


@dataclass(frozen=True)
class Mode:
    name: str
    sizes: tuple[int, ...]
    duration: float  # seconds per measured run (wrk takes whole seconds)
    runs: int  # runs per case; the median is reported
    warmup: float  # seconds of unmeasured load before a read case's first run
    budget_minutes: float  # past this, remaining cases are skipped (and listed)

    @property
    def pool(self) -> int:
        """Users each add run may add: enough for 1,500 adds/s for the whole run."""
        return int(self.duration * 1500)


MODES = {
    "full": Mode("full", (1_000, 100_000, 1_000_000), 20.0, 2, 2.0, 40.0),
    "quick": Mode("quick", (1_000, 100_000), 3.0, 1, 1.0, 3.0),
}


@dataclass
class Case:
    """One measured operation against one server at one group size."""

    server: str  # "bare", "pyramid", "ours", "kinto"
    op: str  # "ceiling", "check", "check-basic", "group", "page-first", "user-groups", "add", ...
    size: int | None
    request: Request
    kind: str | None = None  # ours only: the server kind (issue 6)
    runs: list[load.RunResult] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def record(self) -> dict:
        runs = [asdict(r) | {"errors": r.errors, "ok_rps": r.ok_rps} for r in self.runs]
        median = None
        if self.runs:
            # A run in which no request completed has no latency to report.
            timed = [r for r in self.runs if r.requests] or None
            median = {
                "rps": statistics.median(r.ok_rps for r in self.runs),  # 2xx per second
                "all_rps": statistics.median(r.rps for r in self.runs),
                "seconds": sum(r.seconds for r in self.runs),
                "p50_ms": timed and statistics.median(r.latency_ms["p50"] for r in timed),
                "p99_ms": timed and statistics.median(r.latency_ms["p99"] for r in timed),
                "errors": sum(r.errors for r in self.runs),
                "requests": sum(r.requests for r in self.runs),
            }
        return {
            "server": self.server,
            "kind": self.kind,
            "op": self.op,
            "size": self.size,
            "request": f"{self.request.method} {self.request.path}",
            "runs": runs,
            "median": median,
            "notes": self.notes,
        }


class Bench:
    def __init__(self, mode: Mode, load_: Load, workdir: Path, kind: str, only=None):
        self.mode = mode
        self.only = only  # operations to measure (None: all), e.g. {"check", "add"}
        self.load = load_
        self.workdir = workdir
        self.kind = kind
        self.deadline = time.monotonic() + mode.budget_minutes * 60
        self.cases: list[Case] = []
        self.skipped: list[str] = []
        self.waitress = server_settings(REPO / "development.ini")

    # -- measuring ---------------------------------------------------------

    def measure(self, port: int, case: Case, warmup: bool = False) -> load.RunResult | None:
        if self.only and case.op not in self.only and case.op != "ceiling":
            return None
        if case not in self.cases:
            self.cases.append(case)
        left = self.deadline - time.monotonic()
        if left < self.mode.duration + 5:
            self.skipped.append(f"{case.server} {case.op} size={case.size}: time budget spent")
            log(f"  skip {case.server} {case.op} {case.size}: time budget spent")
            return None
        if warmup and self.mode.warmup:
            load.run(port, case.request, self.load, duration=self.mode.warmup)
        duration = self.mode.duration
        result = load.run(port, case.request, self.load, duration=duration)
        case.runs.append(result)
        if not result.requests:
            case.notes.append(
                f"a {duration}s run completed no request: with {self.load.connections} "
                "connections queued, each answer took longer than the run"
            )
        flag = f"  ** {result.errors} errors {result.statuses} **" if result.errors else ""
        latency = (
            f"p50 {result.latency_ms['p50']:8.2f} ms  p99 {result.latency_ms['p99']:8.2f} ms"
            if result.requests
            else "no request answered within the run"
        )
        log(
            f"  {case.server:8} {case.op:12} {case.size or '':>9} "
            f"{result.ok_rps:9.1f} 2xx/s  {latency}{flag}"
        )
        return result

    # -- the ceiling -------------------------------------------------------

    def ceiling(self, servers: Servers) -> None:
        log("ceiling: bare WSGI and minimal Pyramid ACL, same waitress settings")
        apps = {
            "bare": "call:bench.ceiling.bare:main",
            "pyramid": "call:bench.ceiling.pyramid_acl:main",
        }
        started = {}
        for name, use in apps.items():
            port = free_port()
            ini = write_ini(
                self.workdir / f"{name}.ini",
                {"use": use, "bench.token": CEILING_TOKEN},
                plain(self.waitress),
                port,
            )
            server = Server(
                name,
                [ours.bin_path("pserve"), str(ini)],
                port,
                self.workdir / f"{name}.log",
                env={"PYTHONPATH": str(REPO)},
            )
            started[name] = servers.start(server, ready_path="/member")
        cases = {
            name: Case(name, "ceiling", None, Request("GET", "/member", f"Bearer {CEILING_TOKEN}"))
            for name in apps
        }
        for round_ in range(self.mode.runs):
            for name, case in cases.items():
                self.measure(started[name].port, case, warmup=round_ == 0)
        for server in started.values():
            servers.stop(server)

    # -- membership --------------------------------------------------------

    def ours(self, servers: Servers, size: int) -> None:
        log(f"membership, {size:,} members ({self.kind})")
        workdir = self.workdir / f"ours-{size}"
        workdir.mkdir()
        kind = ours.KINDS[self.kind](workdir, REPO / "development.ini", self.waitress)
        password = ours.initialize(kind)
        server = servers.start(kind.server())
        token = ours.create_structure(server.port, password)
        servers.stop(server)

        started = time.monotonic()
        kind.import_members(ours.GROUP, (ours.member(i) for i in range(size)))
        pools = {r: ours.pool(r, size, self.mode.pool) for r in range(1, self.mode.runs + 1)}
        kind.import_members(ours.POOL_GROUP, (u for ids in pools.values() for u in ids))
        log(f"  imported {size:,} members + pool in {time.monotonic() - started:.0f}s")

        server = servers.start(kind.server())
        auth = f"Bearer {token}"
        client = Client(server.port, auth=auth)
        count = client.get(ours.GROUP).get("member_count")
        if count is not None and count != size:
            raise BenchError(f"{ours.GROUP} has {count} members, not {size}")
        cursor = ours.late_cursor(client, size)
        members = f"{ours.GROUP}/members"
        check = f"{members}/{ours.member(size // 2)}"
        reads = [
            Case("ours", "check", size, Request("GET", check, auth)),
            # The same check with the admin's password on every request: argon2 once,
            # then membership.auth.basic_cache_seconds answers (the warm-up fills it).
            Case("ours", "check-basic", size, Request("GET", check, basic(ours.ADMIN, password))),
            Case("ours", "group", size, Request("GET", ours.GROUP, auth)),
            Case("ours", "page-first", size, Request("GET", f"{members}?limit=100", auth)),
            Case(
                "ours",
                "page-late",
                size,
                Request("GET", f"{members}?limit=100&cursor={cursor}", auth),
            ),
            Case(
                "ours",
                "user-groups",
                size,
                Request("GET", f"/users/{ours.NESTED_USER}/groups", auth),
            ),
        ]
        add = Case("ours", "add", size, Request("POST", members, auth))
        remove = Case("ours", "remove", size, Request("DELETE", f"{members}/{{id}}", auth))
        for case in (*reads, add, remove):
            case.kind = self.kind
        for round_ in range(1, self.mode.runs + 1):
            for case in reads:
                self.measure(server.port, case, warmup=round_ == 1)
            self.add_then_remove(client, server.port, add, remove, pools[round_])
        servers.stop(server)

    def add_then_remove(self, client, port, add: Case, remove: Case, pool: list[str]) -> None:
        """Add pool users (201 each), then remove exactly those (204 each).

        The remove run gets the ids the add run really added (a 503 adds
        nothing), checked on the server in the order they were added, so
        neither run sees a 404 or 409 of the bench's own making. Whatever the
        remove run left is taken out unmeasured: the next round starts from
        the same group.
        """
        path = self.workdir / f"add-{add.size}.txt"
        path.write_text("\n".join(pool) + "\n")
        add.request = Request(
            "POST",
            add.request.path,
            add.request.auth,
            body='{"user": "{id}", "role": "member"}',
            ctype="application/json",
            idfile=str(path),
        )
        result = self.measure(port, add)
        if result is None:
            return
        if result.sent >= len(pool):
            add.notes.append(f"the pool of {len(pool)} users ran out; the run ended early")
        added = ours.still_members(client, pool[: result.sent])
        if not added:
            return
        path = self.workdir / f"remove-{add.size}.txt"
        path.write_text("\n".join(added) + "\n")
        remove.request = Request(
            "DELETE", remove.request.path, remove.request.auth, idfile=str(path)
        )
        result = self.measure(port, remove)
        if result is not None and result.seconds < self.mode.duration - 0.5:
            remove.notes.append(
                f"a run removed all {len(added)} members its add run added in "
                f"{result.seconds:.1f}s and ended there"
            )
        sent = result.sent if result is not None else 0
        ours.remove_all(client, ours.still_members(client, added[:sent]) + added[sent:])

    # -- Kinto -------------------------------------------------------------

    def kinto(self, servers: Servers, size: int) -> None:
        log(f"kinto, {size:,} members (memory backend, basic auth)")
        workdir = self.workdir / f"kinto-{size}"
        workdir.mkdir()
        server = servers.start(
            kinto.make_server(KINTO_VENV, workdir, self.waitress), ready_path="/v1/"
        )
        client = kinto.build(server.port, size, ours.member, ours.NESTED_USER, 50)
        group = f"/v1/buckets/{kinto.BUCKET}/groups/{kinto.GROUP}"
        auth = kinto.AUTH
        reads = [
            Case("kinto", "group", size, Request("GET", group, auth)),
            Case(
                "kinto",
                "user-groups",
                size,
                Request(
                    "GET",
                    f"/v1/buckets/{kinto.BUCKET}/groups?contains_members={ours.NESTED_USER}",
                    auth,
                ),
            ),
        ]
        add = Case("kinto", "add", size, Request("PATCH", group, auth))
        for round_ in range(1, self.mode.runs + 1):
            for case in reads:
                self.measure(server.port, case, warmup=round_ == 1)
            add.request = Request(
                "PATCH",
                group,
                auth,
                body='[{"op": "add", "path": "/data/members/-", "value": "{id}"}]',
                ctype="application/json-patch+json",
                ids=f"k{round_}-:0:9000000",
            )
            self.measure(server.port, add)
            if round_ < self.mode.runs:
                # Back to `size` members for the next round (unmeasured).
                members = [ours.member(i) for i in range(size)]
                client.request("PUT", group, {"data": {"members": members}}, expect=(200,))
        servers.stop(server)


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def log(message: str) -> None:
    stamp = dt.datetime.now(dt.UTC).strftime("%H:%M:%S")
    print(f"[{stamp}] {message}", file=sys.stderr, flush=True)


def machine() -> dict:
    info = {"cpus": os.cpu_count(), "python": platform.python_version(), "os": platform.platform()}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu_model"] = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                info["memory_gib"] = round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    return info


def git_revision() -> str:
    """The commit measured, and whether membership/ had uncommitted changes."""

    def git(*args) -> str:
        out = subprocess.run(["git", "-C", str(REPO), *args], capture_output=True, text=True)
        return out.stdout.strip()

    dirty = " (membership/ modified)" if git("status", "--porcelain", "membership") else ""
    return git("rev-parse", "--short", "HEAD") + dirty


def parse_args(argv):
    parser = argparse.ArgumentParser(
        prog="python -m bench.run",
        description="Load-test membership against its ceiling and Kinto (see bench/README.md).",
    )
    parser.add_argument("--quick", action="store_true", help="sizes 1k and 100k, short runs")
    parser.add_argument("--sizes", help="comma-separated group sizes (overrides the mode)")
    parser.add_argument("--duration", type=float, help="seconds per run (overrides the mode)")
    parser.add_argument("--runs", type=int, help="runs per case (overrides the mode)")
    parser.add_argument("--budget", type=float, help="minutes before remaining cases are skipped")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument(
        "--kind", default="filestorage", choices=sorted(ours.KINDS), help="membership deployment"
    )
    parser.add_argument(
        "--cases",
        help="only these operations, comma-separated: check, check-basic, group, page-first, "
        "page-late, user-groups, add, remove (Kinto's equivalents follow)",
    )
    parser.add_argument("--no-kinto", action="store_true", help="skip the peer")
    parser.add_argument("--no-ceiling", action="store_true", help="skip the ceiling apps")
    parser.add_argument("--out", type=Path, default=RESULTS, help="where results go")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if load.wrk_path() is None:
        print(load.WRK_MISSING, file=sys.stderr)
        return 3
    mode = MODES["quick" if args.quick else "full"]
    overrides = {
        "sizes": tuple(int(s) for s in args.sizes.split(",")) if args.sizes else None,
        "duration": args.duration,
        "runs": args.runs,
        "budget_minutes": args.budget,
    }
    mode = Mode(**(asdict(mode) | {k: v for k, v in overrides.items() if v is not None}))
    load_ = Load(connections=args.connections)

    # SIGTERM (e.g. from a CI timeout) unwinds like Ctrl-C, so servers get stopped.
    signal.signal(signal.SIGTERM, _interrupt)
    if not args.no_kinto:
        kinto.ensure_venv(KINTO_VENV)

    started_at = dt.datetime.now(dt.UTC)
    started = time.monotonic()
    workdir = Path(tempfile.mkdtemp(prefix="membership-bench-"))
    only = set(args.cases.split(",")) if args.cases else None
    bench = Bench(mode, load_, workdir, args.kind, only)
    log(f"bench {mode.name}: sizes {mode.sizes}, {mode.runs} x {mode.duration:g}s per case")
    failure = None
    try:
        with Servers() as servers:
            if not args.no_ceiling:
                bench.ceiling(servers)
            for size in mode.sizes:
                bench.ours(servers, size)
                if not args.no_kinto:
                    bench.kinto(servers, size)
    except KeyboardInterrupt:
        failure = "interrupted"
    except BenchError as exc:
        failure = str(exc)
    finally:
        if not args.keep:
            subprocess.run(["rm", "-rf", str(workdir)], check=False)
    if failure:
        log(f"bench stopped: {failure}")
        if not bench.cases:
            return 1

    data = {
        "date": started_at.date().isoformat(),
        "started": started_at.isoformat(timespec="seconds"),
        "elapsed_s": round(time.monotonic() - started),
        "mode": mode.name,
        "command": "make bench-quick" if mode.name == "quick" else "make bench",
        "machine": machine(),
        "software": {
            "membership": git_revision(),
            "pyramid": version("pyramid"),
            "waitress": version("waitress"),
            "ZODB": version("ZODB"),
            "kinto": None if args.no_kinto else kinto.version(KINTO_VENV),
            "wrk": load.wrk_version(),
        },
        "settings": {
            "mode": asdict(mode),
            "load": asdict(load_),
            "waitress": bench.waitress,
            "kind": ours.KINDS[args.kind].__doc__.strip(),
        },
        "results": [case.record() for case in bench.cases],
        "skipped": bench.skipped,
        "failure": failure,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    stem = data["date"] + ("-quick" if mode.name == "quick" else "")
    if args.kind != "filestorage":
        stem += f"-{args.kind}"  # issue 6's worker runs sit beside the main results
    if failure:
        stem += "-partial"  # never overwrite a complete run of the day with a broken one
    path = args.out / f"{stem}.json"
    path.write_text(json.dumps(data, indent=1) + "\n")
    update_readme = mode.name == "full" and not failure and args.kind == "filestorage"
    written = report.write(path, update_readme=update_readme)
    log("wrote " + ", ".join(os.path.relpath(p) for p in [path, *written]))
    log(f"done in {data['elapsed_s']}s")
    return 1 if failure else 0


if __name__ == "__main__":
    sys.exit(main())
