"""``python -m bench.run [--quick]``: the benchmark behind ``make bench``.

What one run does, every server on 127.0.0.1 with the same waitress settings
(``[server:main]`` of development.ini) and the same wrk load (16 connections,
one wrk thread, token or basic auth):

1. The ceiling: a bare WSGI app and a minimal Pyramid traversal+ACL app. The
   Pyramid app stays up, and at each size runs again in slices alternating
   with the membership check, the ratio issue 18 sets a target on.
2. For each group size: membership on a fresh database (the group, a pool of
   users to add, a user in 50 nested groups), beside the previous release
   (``bench/baseline.txt``) on its own database of the same size, then Kinto
   (memory backends) with a group of the same size.
3. Each case runs ``runs`` times (rounds, so the two runs of a case are apart
   in time); the median of the runs is reported.
4. ``bench/results/<date>[-quick].json``, a Markdown table and PNG plots.

Everything is bounded: a time budget (cases past it are skipped and listed),
wrk's own duration and request timeout, and every server is stopped on the way
out, whatever happened. Run ``python -m bench.run --help`` for the options.
"""

import argparse
import configparser
import datetime as dt
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field, replace
from importlib.metadata import version
from pathlib import Path

from bench import baseline, extras, kinto, load, loopback, ours, report
from bench.client import Client, basic
from bench.load import Load, Request
from bench.servers import BenchError, Server, Servers, free_port, plain, server_settings, write_ini

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results"
KINTO_VENV = REPO / "var" / "bench" / "kinto-venv"
CEILING_TOKEN = "ceiling-token"
EVENTS_USERS = 1_000  # feed events are made by adding and removing these, 1,000 per request
PREVIOUS_OPS = ("check", "add", "page-late", "user-groups")  # run against the previous release
# Above this size the previous release runs only the check and the add (issue 18's
# add target names 1,000,000 members); its page and user-groups figures stop at 100,000.
PREVIOUS_LARGE = 100_000
PREVIOUS_LARGE_OPS = ("check", "add")
SLICES = 4  # a compared pair of read cases runs in this many alternating slices each


def production_settings() -> tuple[dict[str, str], dict[str, str]]:
    """What production.ini changes that a single FileStorage process can use:
    its retry attempts (``[app:main]``) and its waitress threads (``[server:main]``)."""
    parser = configparser.RawConfigParser()
    parser.read(REPO / "production.ini")
    app = {"retry.attempts": parser.get("app:main", "retry.attempts", fallback="10")}
    server = {"threads": parser.get("server:main", "threads", fallback="8")}
    return app, server


@dataclass(frozen=True)
class Mode:
    name: str
    sizes: tuple[int, ...]
    duration: float  # seconds per measured run (wrk takes whole seconds)
    runs: int  # runs per case; the median is reported
    warmup: float  # seconds of unmeasured load before a read case's first run
    budget_minutes: float  # past this, remaining cases are skipped (and listed)
    feed_events: int = 20_000  # changes generated, then read through GET /changes
    webhook_seconds: float = 30.0  # at most this long counting webhook deliveries
    baseline_sizes: tuple[int, ...] = (1_000, 100_000)  # the previous release's sizes

    @property
    def pool(self) -> int:
        """Users each add run may add: enough for 1,500 adds/s for the whole run."""
        return int(self.duration * 1500)


MODES = {
    "full": Mode(
        "full",
        (1_000, 100_000, 1_000_000),
        20.0,
        2,
        2.0,
        60.0,
        baseline_sizes=(1_000, 100_000, 1_000_000),
    ),
    "quick": Mode("quick", (1_000, 100_000), 3.0, 1, 1.0, 7.0, 5_000, 10.0),
}


@dataclass
class Previous:
    """The previous release's server at one size, and its cases (issue 18)."""

    server: Server
    client: Client
    reads: dict  # op -> Case
    add: "Case"
    pools: dict[str, list[str]]


@dataclass
class Adder:
    """One side of an interleaved add run: where, with which users."""

    port: int
    client: Client
    case: "Case"
    pool: list[str]


@dataclass
class Case:
    """One measured operation against one server at one group size."""

    server: str  # "bare", "pyramid", "ours", "kinto"
    op: str  # "ceiling", "check", "check-basic", "group", "page-first", "user-groups", "add", ...
    size: int | None
    request: Request
    kind: str | None = None  # ours only: the server kind (issue 6)
    # The cases run in alternating slices with this one share a label ("check-1000"),
    # so the report knows which ratios come from interleaved slices.
    slices: str | None = None
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
            "slices": self.slices,
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
        self.throughput: list[dict] = []  # feed and webhook rates (not wrk runs)
        self.issuer = None  # bench.loopback.Issuer: JWTs for check-jwt
        self.receiver = None  # bench.loopback.Receiver: webhook deliveries
        self.baseline: dict = {}  # the previous release: commit, or why it is missing
        self.baseline_bin: Path | None = None
        self.pyramid_port: int | None = None  # the minimal Pyramid app, up for the whole run
        self.imports: list[dict] = []  # how long each database took to load

    # -- measuring ---------------------------------------------------------

    def measure(self, port: int, case: Case, warmup: bool = False) -> load.RunResult | None:
        if not self.admit(case):
            return None
        if warmup and self.mode.warmup:
            load.run(port, case.request, self.load, duration=self.mode.warmup)
        result = load.run(port, case.request, self.load, duration=self.mode.duration)
        self.record(case, result)
        return result

    def admit(self, case: Case) -> bool:
        """Whether ``case`` runs now (asked for, and time left); it is listed if so."""
        if self.only and case.op not in self.only and case.op != "ceiling":
            return False
        left = self.deadline - time.monotonic()
        if left < self.mode.duration + 5:
            self.skipped.append(f"{case.server} {case.op} size={case.size}: time budget spent")
            log(f"  skip {case.server} {case.op} {case.size}: time budget spent")
            return False
        if case not in self.cases:
            self.cases.append(case)
        return True

    def record(self, case: Case, result: load.RunResult) -> None:
        case.runs.append(result)
        if not result.requests:
            case.notes.append(
                f"a {result.seconds:.0f}s run completed no request: with "
                f"{self.load.connections} connections queued, each answer took longer than the run"
            )
        flag = f"  ** {result.errors} errors {result.statuses} **" if result.errors else ""
        latency = (
            f"p50 {result.latency_ms['p50']:8.2f} ms  p99 {result.latency_ms['p99']:8.2f} ms"
            if result.requests
            else "no request answered within the run"
        )
        log(
            f"  {case.server:8} {case.op:17} {case.size or '':>9} "
            f"{result.ok_rps:9.1f} 2xx/s  {latency}{flag}"
        )

    def measure_interleaved(self, group: list[tuple[int, Case]], warmup: bool) -> None:
        """One run of each read case in ``group``, in alternating slices (A B A B ...).

        The cases a ratio compares (ours and the previous release, a PAT and a
        JWT) then share whatever else the machine was doing, slice by slice,
        instead of one getting a quiet moment and the other a busy one.
        """
        group = [(port, case) for port, case in group if self.admit(case)]
        if not group:
            return
        if warmup and self.mode.warmup:
            for port, case in group:
                load.run(port, case.request, self.load, duration=self.mode.warmup)
        if len(group) == 1:
            port, case = group[0]
            self.record(case, load.run(port, case.request, self.load, self.mode.duration))
            return
        slices = max(1, min(SLICES, int(self.mode.duration)))
        label = f"{group[0][1].op}-{group[0][1].size}"
        for _, case in group:
            case.slices = label
        parts: dict[int, list[load.RunResult]] = {i: [] for i in range(len(group))}
        for _ in range(slices):
            for i, (port, case) in enumerate(group):
                seconds = self.mode.duration / slices
                parts[i].append(load.run(port, case.request, self.load, duration=seconds))
        for i, (_, case) in enumerate(group):
            self.record(case, load.combine(parts[i]))

    # -- the ceiling -------------------------------------------------------

    def ceiling(self, servers: Servers) -> None:
        """Both ceiling apps once, at the start; the Pyramid app is left running so
        that each size's check alternates with it (``ceiling_case``)."""
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
        servers.stop(started["bare"])
        self.pyramid_port = started["pyramid"].port

    def ceiling_case(self, size: int) -> "Case | None":
        """The minimal Pyramid app at ``size``: run in slices alternating with the
        check, so "% of minimal Pyramid" compares two sides that shared the machine
        (measured once at the start, minutes away, it swung from 35 to 69 %)."""
        if self.pyramid_port is None or not self.wanted("check"):
            return None
        return Case(
            "pyramid", "ceiling", size, Request("GET", "/member", f"Bearer {CEILING_TOKEN}")
        )

    # -- membership --------------------------------------------------------

    def ours(self, servers: Servers, size: int) -> None:
        log(f"membership, {size:,} members ({self.kind})")
        workdir = self.workdir / f"ours-{size}"
        workdir.mkdir()
        extra = {"membership.webhooks.allow_private": "true"}  # the loopback receiver
        if self.issuer is not None:
            extra |= self.issuer.settings()
        kind = ours.KINDS[self.kind](workdir, REPO / "development.ini", self.waitress, extra=extra)
        # The variants (metrics off, production settings) and the feed run at the
        # smallest size, on FileStorage: they restart the same server with one change.
        variants = size == min(self.mode.sizes) and self.kind == "filestorage"
        runs = range(1, self.mode.runs + 1)
        pools = {f"add-{r}": ours.pool(r, size, self.mode.pool) for r in runs}
        pools |= {f"sub-{r}": ours.pool(10 + r, size, self.mode.pool) for r in runs}
        pools |= {f"scim-{r}": ours.pool(40 + r, size, self.mode.pool) for r in runs}
        if variants:
            pools["production"] = ours.pool(20, size, self.mode.pool)
            pools["events"] = ours.pool(30, size, EVENTS_USERS)
        previous = self.start_previous(servers, size)
        server, token, password = self.prepare(servers, kind, size, pools)
        auth = f"Bearer {token}"
        subscribed = None  # issue 13: a copy of the database with a webhook subscription
        if self.wanted("check-subscribed", "add-subscribed") and self.kind == "filestorage":
            servers.stop(server)
            twin = self.twin(kind, "subscribed", {})
            server = servers.start(kind.server())
            subscribed = servers.start(twin.server())
            extras.subscribe(Client(subscribed.port, auth=auth), self.receiver.url)
        client = Client(server.port, auth=auth)
        cursor = ours.late_cursor(client, size)
        members = f"{ours.GROUP}/members"
        check = f"{members}/{ours.member(size // 2)}"
        reads = [Case("ours", "check", size, Request("GET", check, auth))]
        if self.issuer is not None:
            # The same check with a JWT from the loopback issuer (its key is fetched
            # once, by the warm-up, and cached): issue 15's "within 10 % of a PAT".
            jwt = f"Bearer {self.issuer.token(ours.ADMIN)}"
            Client(server.port, auth=jwt).get(check)  # a 401 here stops the run, clearly
            reads.append(Case("ours", "check-jwt", size, Request("GET", check, jwt)))
        reads += [
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
        check_sub = Case("ours", "check-subscribed", size, Request("GET", check, auth))
        add_sub = Case("ours", "add-subscribed", size, Request("POST", members, auth))
        optional = extras.Optional(client, auth, size, check)
        for case in (*reads, add, remove, check_sub, add_sub):
            case.kind = self.kind
        partners: dict[str, list[tuple[int, Case]]] = {}
        if previous:
            for op, case in previous.reads.items():
                partners.setdefault(op, []).append((previous.server.port, case))
        ceiling = self.ceiling_case(size)
        if ceiling is not None:
            partners.setdefault("check", []).append((self.pyramid_port, ceiling))
        for case in reads:
            if case.op == "check-jwt":
                partners.setdefault("check", []).append((server.port, case))
        if subscribed:
            partners.setdefault("check", []).append((subscribed.port, check_sub))
        paired = {id(case) for group in partners.values() for _, case in group}
        for round_ in runs:
            for case in reads:
                if id(case) in paired:
                    continue  # measured in slices alternating with its partner
                group = [(server.port, case), *partners.get(case.op, [])]
                self.measure_interleaved(group, warmup=round_ == 1)
            # Adds alternate with the previous release's and with the subscribed
            # copy's (whose webhook deliveries run meanwhile), slice by slice.
            adders = [Adder(server.port, client, add, pools[f"add-{round_}"])]
            if previous:
                pool = previous.pools[f"add-{round_}"]
                adders.append(Adder(previous.server.port, previous.client, previous.add, pool))
            if subscribed:
                sub_client = Client(subscribed.port, auth=auth)
                adders.append(Adder(subscribed.port, sub_client, add_sub, pools[f"sub-{round_}"]))
            added = self.add_interleaved(adders)
            self.remove_run(client, server.port, add, remove, added[0])
            for adder, ids in zip(adders[1:], added[1:], strict=True):
                ours.remove_all(adder.client, ids)
            if round_ == 1:  # the same Case objects every round: one row per case
                optional_reads = optional.read_cases(self.wanted)
                scim_patch = (
                    optional.scim_patch(self.workdir) if self.wanted("scim-patch") else None
                )
            for case in optional_reads:
                self.note_skip(case)
                if case.request is not None:
                    self.measure(server.port, case, warmup=round_ == 1)
            if scim_patch is not None:
                self.note_skip(scim_patch)
                if scim_patch.request is not None:
                    scim_pool = pools[f"scim-{round_}"]
                    optional.use_pool(scim_patch, scim_pool)
                    result = self.measure(server.port, scim_patch)
                    if result is not None:
                        optional.scim_cleanup(scim_pool[: result.sent])
        for other in (previous.server if previous else None, subscribed):
            if other is not None:
                servers.stop(other)
        if variants and self.wanted("feed"):
            self.feed(client, pools["events"])
        servers.stop(server)
        if variants:
            self.variants(servers, kind, auth, check, pools["production"])

    def wanted(self, *ops: str) -> bool:
        return not self.only or any(op in self.only for op in ops)

    def note_skip(self, case: Case) -> None:
        """An optional case whose endpoint is absent: listed once, with the reason."""
        if case.request is None and case.notes:
            message = f"{case.server} {case.op} size={case.size}: {case.notes[0]}"
            if message not in self.skipped:
                self.skipped.append(message)
                log(f"  skip {case.op} {case.size}: {case.notes[0]}")

    def prepare(self, servers: Servers, kind, size: int, pools: dict[str, list[str]]):
        """A database of ``size`` members plus the pool users; the server started on it.

        Answers ``(server, token, admin password)``. The same for the current
        code and the previous release: each loads with its own scripts, and the
        time the load took goes into the results (``imports``).
        """
        password = ours.initialize(kind)
        server = servers.start(kind.server())
        token = ours.create_structure(server.port, password)
        servers.stop(server)
        started = time.monotonic()
        kind.import_members(ours.GROUP, (ours.member(i) for i in range(size)))
        kind.import_members(ours.POOL_GROUP, (u for ids in pools.values() for u in ids))
        seconds = time.monotonic() - started
        log(f"  imported {size:,} members + pool in {seconds:.0f}s")
        self.imports.append(
            {
                "server": "previous" if getattr(kind, "bindir", None) else "ours",
                "size": size,
                "seconds": round(seconds),
            }
        )
        server = servers.start(kind.server())
        count = Client(server.port, auth=f"Bearer {token}").get(ours.GROUP).get("member_count")
        if count is not None and count != size:
            raise BenchError(f"{ours.GROUP} has {count} members, not {size}")
        return server, token, password

    def add_run(self, client, port, add: Case, pool: list[str], remove: Case | None = None):
        """Add pool users (201 each), then remove exactly those (204 each); see
        ``add_interleaved`` and ``remove_run``."""
        added = self.add_interleaved([Adder(port, client, add, pool)])
        if added:
            self.remove_run(client, port, add, remove, added[0])

    def add_interleaved(self, adders: list["Adder"]) -> list[list[str]]:
        """Adds against one or more servers, in alternating slices when several (as
        ``measure_interleaved``); each slice adds the pool users the previous slices
        did not use. Answers, per adder, the users really added (a 503 adds
        nothing), checked on the server in the order they were sent; none for an
        adder whose case is not run (not asked for, or out of time)."""
        every = adders
        adders = [a for a in adders if self.admit(a.case)]
        if not adders:
            return [[] for _ in every]
        slices = max(1, min(SLICES, int(self.mode.duration))) if len(adders) > 1 else 1
        parts: list[list[load.RunResult]] = [[] for _ in adders]
        used = [0] * len(adders)
        for _ in range(slices):
            for i, adder in enumerate(adders):
                left = adder.pool[used[i] :]
                if not left:
                    continue
                path = self.workdir / f"{adder.case.server}-{adder.case.op}-{adder.case.size}.txt"
                path.write_text("\n".join(left) + "\n")
                adder.case.request = replace(
                    adder.case.request,
                    body='{"user": "{id}", "role": "member"}',
                    ctype="application/json",
                    idfile=str(path),
                )
                result = load.run(
                    adder.port, adder.case.request, self.load, self.mode.duration / slices
                )
                used[i] += result.sent
                parts[i].append(result)
        added = []
        for i, adder in enumerate(adders):
            self.record(adder.case, load.combine(parts[i]))
            if used[i] >= len(adder.pool):
                adder.case.notes.append(
                    f"the pool of {len(adder.pool)} users ran out; the run ended early"
                )
            added.append(ours.still_members(adder.client, adder.pool[: used[i]]))
        found = {id(adder): ids for adder, ids in zip(adders, added, strict=True)}
        return [found.get(id(adder), []) for adder in every]

    def remove_run(self, client, port, add: Case, remove: Case | None, added: list[str]):
        """Remove exactly the users an add run added (204 each), measured when
        ``remove`` is given; whatever is left is taken out unmeasured, so the
        next case starts from the same group."""
        if not added:
            return
        if remove is None or not self.admit(remove):
            ours.remove_all(client, added)
            return
        path = self.workdir / f"remove-{add.size}.txt"
        path.write_text("\n".join(added) + "\n")
        remove.request = Request(
            "DELETE", remove.request.path, remove.request.auth, idfile=str(path)
        )
        result = load.run(port, remove.request, self.load, duration=self.mode.duration)
        self.record(remove, result)
        if result.seconds < self.mode.duration - 0.5:
            remove.notes.append(
                f"a run removed all {len(added)} members its add run added in "
                f"{result.seconds:.1f}s and ended there"
            )
        ours.remove_all(
            client, ours.still_members(client, added[: result.sent]) + added[result.sent :]
        )

    def twin(self, kind, name: str, app: dict[str, str]):
        """A copy of ``kind``'s database (its server stopped) served with ``app``
        settings changed: two servers at once whose cases can alternate."""
        copy = kind.workdir / name
        copy.mkdir()
        same = {k: v for k, v in kind.app.items() if k != "zodbconn.uri"}
        twin = ours.FileStorageKind(copy, REPO / "development.ini", self.waitress, extra=same | app)
        for file in ("Data.fs", "Data.fs.index"):
            if (kind.workdir / file).exists():
                shutil.copy(kind.workdir / file, copy / file)
        return twin

    # -- the change feed and webhooks (issue 13) ---------------------------

    def feed(self, client: Client, users: list[str]) -> None:
        """Events/s read through ``GET /changes``, webhooks delivered/s to the receiver."""
        if time.monotonic() + 60 > self.deadline:
            self.skipped.append("feed throughput: time budget spent")
            return
        log(f"  feed: generating {self.mode.feed_events:,} changes")
        start, made = extras.make_changes(client, users, self.mode.feed_events)
        read, seconds = extras.read_feed(client, start, made, least=self.mode.duration / 2)
        self.throughput.append(
            {
                "what": f"change feed read, `GET /changes?limit=1000` pages, one client "
                f"({made:,} changes, read again until {self.mode.duration / 2:g} s passed)",
                "unit": "events/s",
                "count": read,
                "seconds": round(seconds, 3),
                "rate": read / seconds if seconds else None,
            }
        )
        log(f"  feed: read {read:,} changes in {seconds:.2f}s: {read / seconds:,.0f} events/s")
        delivered, seconds = extras.deliver(client, self.receiver, start, made, self.mode)
        self.throughput.append(
            {
                "what": "webhooks delivered to a loopback receiver (dispatcher thread in "
                "pserve, backlog replayed from a cursor)",
                "unit": "deliveries/s",
                "count": delivered,
                "seconds": round(seconds, 3),
                "rate": delivered / seconds if seconds else None,
            }
        )
        rate = delivered / seconds if seconds else 0
        log(f"  webhooks: {delivered:,} delivered in {seconds:.1f}s: {rate:,.0f}/s")

    # -- variants of the same server (issues 16 and 18) ---------------------

    def variants(self, servers: Servers, kind, auth: str, check: str, pool: list[str]) -> None:
        """Restart the same database with one thing changed, and measure the difference."""
        size = min(self.mode.sizes)
        if self.wanted("check-metrics-off", "check-metrics-on"):
            # Two servers at once, each on its own copy of the database, one with
            # metrics off: their checks alternate slice by slice.
            off = self.twin(kind, "metrics-off", {"membership.metrics.enabled": "false"})
            kind.configure(app={"membership.metrics.enabled": "true"})
            started = [servers.start(kind.server()), servers.start(off.server())]
            on = Case("ours", "check-metrics-on", size, Request("GET", check, auth))
            off_case = Case("ours", "check-metrics-off", size, Request("GET", check, auth))
            pair = [(kind.port, on), (off.port, off_case)]
            for round_ in range(max(2, self.mode.runs)):  # a median of two at least
                self.measure_interleaved(pair, warmup=round_ == 0)
            for server in started:
                servers.stop(server)
        if self.wanted("add-production"):
            app, server_settings = production_settings()
            kind.configure(app=app, server=server_settings)
            server = servers.start(kind.server())
            add = Case(
                "ours", "add-production", size, Request("POST", f"{ours.GROUP}/members", auth)
            )
            add.notes.append(
                "production.ini's settings on FileStorage: "
                + ", ".join(f"{k} = {v}" for k, v in (app | server_settings).items())
            )
            self.add_run(Client(server.port, auth=auth), server.port, add, pool)
            servers.stop(server)
        kind.configure()

    # -- the previous release (issue 18) -------------------------------------

    def start_previous(self, servers: Servers, size: int) -> "Previous | None":
        """The previous release on its own database of ``size`` members, started beside
        the current code, so each case of it runs right after the same case of ours."""
        if self.baseline_bin is None or size not in self.mode.baseline_sizes:
            return None
        ops = PREVIOUS_OPS if size <= PREVIOUS_LARGE else PREVIOUS_LARGE_OPS
        if not self.wanted(*ops):
            return None
        # 0.1's import_members loads about 14,000 members/s here (73 s for 1,000,000
        # at load average 3, its default --batch); the cases then need their runs on top.
        needed = 90 + 90 * size / 1_000_000 + 4 * len(ops) * self.mode.runs * self.mode.duration
        if time.monotonic() + needed > self.deadline:
            self.skipped.append(f"previous release, size={size}: time budget spent")
            return None
        log(f"previous release {self.baseline['commit']}, {size:,} members (filestorage)")
        workdir = self.workdir / f"previous-{size}"
        workdir.mkdir()
        kind = ours.FileStorageKind(
            workdir, baseline.CHECKOUT / "development.ini", self.waitress, self.baseline_bin
        )
        runs = range(1, self.mode.runs + 1)
        pools = {f"add-{r}": ours.pool(r, size, self.mode.pool) for r in runs}
        server, token, _ = self.prepare(servers, kind, size, pools)
        auth = f"Bearer {token}"
        client = Client(server.port, auth=auth)
        members = f"{ours.GROUP}/members"
        requests = {"check": Request("GET", f"{members}/{ours.member(size // 2)}", auth)}
        if "page-late" in ops:
            cursor = ours.late_cursor(client, size)
            requests["page-late"] = Request("GET", f"{members}?limit=100&cursor={cursor}", auth)
        if "user-groups" in ops:
            requests["user-groups"] = Request("GET", f"/users/{ours.NESTED_USER}/groups", auth)
        reads = {op: Case("previous", op, size, request) for op, request in requests.items()}
        add = Case("previous", "add", size, Request("POST", members, auth))
        return Previous(server, client, reads, add, pools)

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
        help="only these operations, comma-separated: check, check-jwt, check-basic, group, "
        "page-first, page-late, user-groups, add, remove, check-subscribed, add-subscribed, "
        "feed, check-metrics-off, check-metrics-on, add-production, scim-filter, scim-patch, "
        "checks-batch, writecost (Kinto's and the previous release's equivalents follow)",
    )
    parser.add_argument(
        "--no-previous", action="store_true", help="skip the previous release (baseline.txt)"
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
    writecost = None
    try:
        if args.kind == "filestorage" and not args.no_previous and bench.wanted(*PREVIOUS_OPS):
            try:
                bench.baseline = {"commit": baseline.commit()}
                short, bench.baseline_bin = baseline.ensure(log)
                bench.baseline["commit"] = short
            except (baseline.BaselineMissing, OSError, subprocess.SubprocessError) as exc:
                bench.baseline["missing"] = str(exc)
                log(f"previous release not measured: {exc}")
        if bench.wanted("writecost"):
            writecost = extras.write_cost(log)
        with (
            Servers() as servers,
            loopback.Issuer() as bench.issuer,
            loopback.Receiver() as bench.receiver,
        ):
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
        "previous": bench.baseline or None,
        "throughput": bench.throughput,
        "writecost": writecost,
        "imports": bench.imports,
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
    # Only a complete default `make bench` replaces the README's latest results.
    update_readme = (
        mode.name == "full"
        and not failure
        and args.kind == "filestorage"
        and not (args.cases or args.sizes or args.duration or args.runs)
        and args.out == RESULTS
    )
    written = report.write(path, update_readme=update_readme)
    log("wrote " + ", ".join(os.path.relpath(p) for p in [path, *written]))
    log(f"done in {data['elapsed_s']}s")
    return 1 if failure else 0


if __name__ == "__main__":
    sys.exit(main())
