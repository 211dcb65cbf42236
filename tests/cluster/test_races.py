"""The races from the security review, through real servers and real concurrent requests.

Each race fires its two requests at the same moment (two threads behind a
``threading.Barrier``, each on its own keep-alive ``http.client``
connection), ``TRIES`` times with fresh names. Every answer must be a 2xx or
a clean problem+json 4xx (never a 500; a 503 only when the retries ran out,
counted and reported). Afterwards the API must agree with itself about what
won, and ``membership_fsck`` must find nothing: a finding there means some
write path's concurrency declarations (``declare_read``/``mark_changed``)
let two transactions both commit a decision the other invalidated.

Run twice: one waitress process on a FileStorage (``pserve`` with a copy of
development.ini, as ``make serve`` runs it; fsck runs with the server
stopped, the file is locked while it runs) and two gunicorn app processes on
one ZEO server (the two requests of a pair go to different processes; fsck
runs against the live ZEO server).
"""

from __future__ import annotations

import contextlib
import re
import secrets
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from .servers import (
    ADMIN_ID,
    ADMIN_PASSWORD,
    REPO,
    AppServer,
    Client,
    Process,
    Reply,
    ZEOServer,
    admin_token,
    expect,
    python_env,
    run_script,
)

pytestmark = pytest.mark.slow

TRIES = 15
BULK = 20
#: 503s (retries exhausted) tolerated per race and storage; each is reported.
MAX_503 = 3
BIN = Path(sys.executable).parent


# --------------------------------------------------------------------------
# servers


class WaitressServer(AppServer):
    """``pserve <ini>``: one waitress process with threads, as ``make serve`` runs it."""

    def __init__(self, directory: Path, ini: Path, name: str = "waitress"):
        super().__init__(directory, "", name=name)
        self.ini = ini
        self.process = Process(
            name,
            [BIN / "pserve", ini],
            directory / f"{name}.log",
            env=python_env(PORT=str(self.port)),
            cwd=directory,
        )


@dataclass
class Target:
    """Two endpoints to race on (the same server twice, or two processes) and a way to fsck."""

    kind: str
    urls: tuple[str, str]
    token: str
    fsck_ini: Path
    #: FileStorage: stop the server around fsck (the file is locked), start it again.
    server: WaitressServer | None = None
    clients: list[Client] = field(default_factory=list)
    statuses: dict[str, Counter] = field(default_factory=dict)

    def client(self, i: int = 0) -> Client:
        client = Client(self.urls[i % 2], token=self.token)
        self.clients.append(client)
        return client

    def close(self) -> None:
        for client in self.clients:
            client.close()

    def fsck(self, *, repair_after: bool = False) -> subprocess.CompletedProcess:
        """``membership_fsck <ini>`` (exit status and output), the server stopped if need be.

        ``repair_after``: if it found something, run ``--repair`` too, so that the
        next race is judged on what it does itself, not on what this one left.
        """
        if self.server is not None:
            for client in self.clients:
                client.close()
            self.server.stop()
        try:
            result = run_fsck(self.fsck_ini)
            if result.returncode != 0 and repair_after:
                run_fsck(self.fsck_ini, "--repair")
            return result
        finally:
            if self.server is not None:
                self.server.start()


def run_fsck(ini: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(BIN / "membership_fsck"), str(ini), *args],
        capture_output=True,
        text=True,
        check=False,
        env=python_env(),
        timeout=120,
    )


def development_ini(directory: Path, uri: str) -> Path:
    """development.ini with its storage at ``uri`` and quieter logs."""
    text = (REPO / "development.ini").read_text()
    text, n = re.subn(r"^zodbconn\.uri = .*$", f"zodbconn.uri = {uri}", text, flags=re.M)
    assert n == 1, "development.ini: no zodbconn.uri line"
    text = text.replace("[logger_membership]\nlevel = DEBUG", "[logger_membership]\nlevel = INFO")
    ini = directory / "races.ini"
    ini.write_text(text)
    return ini


def initialize(uri: str, ini: Path, directory: Path) -> None:
    run_script(
        "membership.scripts.initialize",
        str(ini),
        "--admin",
        ADMIN_ID,
        uri=uri,
        cwd=directory,
        MEMBERSHIP_ADMIN_PASSWORD=ADMIN_PASSWORD,
    )


@contextlib.contextmanager
def filestorage_target(directory: Path) -> Iterator[Target]:
    uri = f"file://{directory}/Data.fs"
    ini = development_ini(directory, uri)
    initialize(uri, ini, directory)
    server = WaitressServer(directory, ini)
    with server:
        target = Target("filestorage", (server.url, server.url), admin_token(server), ini, server)
        try:
            yield target
        finally:
            target.close()


@contextlib.contextmanager
def zeo_target(directory: Path) -> Iterator[Target]:
    with ZEOServer(directory / "zeo") as zeo, contextlib.ExitStack() as stack:
        ini = development_ini(directory, zeo.uri)
        initialize(zeo.uri, ini, directory)
        apps = [
            stack.enter_context(AppServer(directory / f"app{i}", zeo.uri, name=f"app{i}"))
            for i in range(2)
        ]
        target = Target("zeo", (apps[0].url, apps[1].url), admin_token(apps[0]), ini)
        try:
            yield target
        finally:
            target.close()


@pytest.fixture(scope="module", params=["filestorage", "zeo"])
def target(request, tmp_path_factory) -> Iterator[Target]:
    directory = tmp_path_factory.mktemp(request.param)
    make = filestorage_target if request.param == "filestorage" else zeo_target
    started = time.monotonic()
    with make(directory) as result:
        yield result
        summary = ", ".join(
            f"{race}: {dict(sorted(counts.items()))}" for race, counts in result.statuses.items()
        )
        plugins = request.config.pluginmanager
        reporter = plugins.get_plugin("terminalreporter")
        capture = plugins.get_plugin("capturemanager")
        if reporter is not None and capture is not None:
            with capture.global_and_fixture_disabled():  # shown even when the tests pass
                reporter.write_line(
                    f"\n[races on {result.kind}: {TRIES} tries each, "
                    f"{time.monotonic() - started:.0f}s] {summary}"
                )


# --------------------------------------------------------------------------
# firing pairs


def unique(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(3)}"


def fire(first: Callable[[], Reply], second: Callable[[], Reply]) -> tuple[Reply, Reply]:
    """Both calls at the same moment, from two threads; their replies (or the exception)."""
    barrier = threading.Barrier(2)
    replies: list[Reply | BaseException | None] = [None, None]

    def run(i: int, call: Callable[[], Reply]) -> None:
        try:
            barrier.wait(timeout=10)
            replies[i] = call()
        except BaseException as exc:  # re-raised in the main thread
            replies[i] = exc

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate((first, second))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    for reply in replies:
        if not isinstance(reply, Reply):
            raise AssertionError(f"a racing request did not complete: {reply!r}")
    return replies[0], replies[1]


def allowed(reply: Reply) -> None:
    """2xx, or a clean problem+json 4xx, or a 503 for retries exhausted (counted)."""
    if 200 <= reply.status < 300:
        return
    assert reply.status in range(400, 500) or reply.status == 503, reply
    assert (reply.header("content-type") or "").startswith("application/problem+json"), reply
    assert reply.json["status"] == reply.status, reply


class Race:
    """One race on a target: two clients (crossed over the two endpoints each try), counts."""

    def __init__(self, target: Target, name: str):
        self.target = target
        self.name = name
        self.counts = target.statuses.setdefault(name, Counter())
        self.admin = target.client(0)
        self.pair = (target.client(0), target.client(1))
        self.attempt = 0

    def clients(self, attempt: int) -> tuple[Client, Client]:
        """The two racing clients; which endpoint serves which request alternates."""
        return self.pair if attempt % 2 == 0 else (self.pair[1], self.pair[0])

    def fire(
        self, labels: tuple[str, str], first: Callable[[Client], Reply], second, attempt: int
    ) -> tuple[Reply, Reply]:
        self.attempt = attempt
        a, b = self.clients(attempt)
        for client in (a, b):  # open both connections before the barrier
            expect(client.get("/readyz"))
        replies = fire(lambda: first(a), lambda: second(b))
        for label, reply in zip(labels, replies, strict=True):
            allowed(reply)
            self.counts[f"{label} {reply.status}"] += 1
        return replies

    def __enter__(self) -> Race:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        """Whatever the tries showed, fsck (then repair, so the next race starts clean);
        fail with everything that went wrong: the API's answers, fsck's findings, 503s."""
        result = self.target.fsck(repair_after=True)
        problems = []
        if exc is not None:
            problems.append(f"try {self.attempt + 1}/{TRIES}: {exc_type.__name__}: {exc}")
        if result.returncode != 0:
            problems.append(
                f"membership_fsck found:\n{result.stdout}"
                + (result.stderr[-2000:] if result.returncode != 1 else "")
            )
        n503 = sum(n for key, n in self.counts.items() if key.endswith(" 503"))
        if n503 > MAX_503:
            problems.append(f"{n503} requests ran out of retries: {dict(self.counts)}")
        if problems:
            raise AssertionError(
                f"race {self.name!r} on {self.target.kind}:\n" + "\n".join(problems)
            ) from exc


def user(client: Client, userid: str) -> None:
    expect(client.post("/users", {"id": userid}), 201)


def group(client: Client, name: str, parent: str = "/groups") -> str:
    expect(client.post(parent, {"name": name}), 201)
    return f"{parent}/{name}"


def groups_of(client: Client, userid: str) -> list[dict]:
    return client.collect(f"/users/{userid}/groups")


# --------------------------------------------------------------------------
# the races


def test_delete_user_while_adding_them_to_a_group(target):
    with Race(target, "a: delete user / add member") as race:
        admin = race.admin
        for attempt in range(TRIES):
            u, g = unique("ua"), unique("ga")
            user(admin, u)
            path = group(admin, g)
            deleted, added = race.fire(
                ("delete-user", "add-member"),
                lambda c, u=u: c.delete(f"/users/{u}"),
                lambda c, u=u, path=path: c.post(f"{path}/members", {"user": u}),
                attempt,
            )
            gone = deleted.status == 204
            members = [m["user"] for m in admin.collect(f"{path}/members")]
            if gone:
                assert u not in members, (deleted, added)
                user(admin, u)  # a new user of the same id inherits nothing
                assert groups_of(admin, u) == [], (deleted, added)
            else:
                assert (u in members) == (added.status == 201)


def test_delete_group_while_bulk_adding_members(target):
    with Race(target, "b: delete group / bulk add") as race:
        admin = race.admin
        users = [unique(f"ub{i:02d}") for i in range(BULK)]
        for u in users:
            user(admin, u)
        paths = []
        for attempt in range(TRIES):
            path = group(admin, unique("gb"))
            paths.append(path)
            operations = [{"op": "add", "user": u} for u in users]
            deleted, added = race.fire(
                ("delete-group", "bulk-add"),
                lambda c, path=path: c.delete(path),
                lambda c, path=path, operations=operations: c.patch(f"{path}/members", operations),
                attempt,
            )
            if deleted.status == 204:
                expect(admin.get(path), 404)
            elif added.status == 200:  # the deletion ran out of retries
                assert len(admin.collect(f"{path}/members")) == BULK
        deleted = {path for path in paths if admin.get(path).status == 404}
        for u in users:
            listed = {row["path"] for row in groups_of(admin, u)}
            assert not listed & deleted, f"{u} is still in deleted {sorted(listed & deleted)}"


def test_move_group_while_adding_a_member(target):
    with Race(target, "c: move group / add member") as race:
        admin = race.admin
        for attempt in range(TRIES):
            m = unique("uc")
            user(admin, m)
            x = group(admin, unique("gx"))
            y = group(admin, unique("gy"))
            moved, added = race.fire(
                ("move", "add-member"),
                lambda c, x=x, y=y: c.post(f"{x}/move", {"to": y}),
                lambda c, x=x, m=m: c.post(f"{x}/members", {"user": m}),
                attempt,
            )
            current = f"{y}/groups/{x.rpartition('/')[2]}" if moved.status == 200 else x
            expect(admin.get(current))
            rows = groups_of(admin, m)
            direct = [row["path"] for row in rows if row["direct"]]
            assert direct == ([current] if added.status == 201 else []), (moved, added, rows)
            for row in rows:
                expect(admin.get(row["path"]))  # every listed path exists: no stale old path
            members = [row["user"] for row in admin.collect(f"{current}/members")]
            assert (m in members) == (added.status == 201), (moved, added, members)


def test_delete_user_while_granting_them_an_ace(target):
    with Race(target, "d: delete user / add ACE") as race:
        admin = race.admin
        for attempt in range(TRIES):
            u, g = unique("ud"), unique("gd")
            user(admin, u)
            path = group(admin, g)
            principal = f"user:{u}"
            entry = {"action": "Allow", "principal": principal, "permissions": ["view"]}
            deleted, granted = race.fire(
                ("delete-user", "add-ace"),
                lambda c, u=u: c.delete(f"/users/{u}"),
                lambda c, path=path, entry=entry: c.patch(f"{path}/acl", {"add": [entry]}),
                attempt,
            )
            exists = admin.get(f"/users/{u}").status == 200
            entries = expect(admin.get(f"{path}/acl")).json["entries"]
            named = [e for e in entries if e["principal"] == principal]
            if exists:
                assert named == ([entry] if granted.status == 200 else []), (deleted, granted)
            else:
                assert named == [], f"an ACE names deleted {u}: {(deleted, granted)}"
                user(admin, u)  # a new user of the same id inherits no ACE
                assert not [
                    e
                    for e in expect(admin.get(f"{path}/acl")).json["entries"]
                    if e["principal"] == principal
                ]


def test_crossed_moves(target):
    with Race(target, "e: crossed moves") as race:
        admin = race.admin
        for attempt in range(TRIES):
            x = group(admin, unique("gx"))
            y = group(admin, unique("gy"))
            first, second = race.fire(
                ("move-x-under-y", "move-y-under-x"),
                lambda c, x=x, y=y: c.post(f"{x}/move", {"to": y}),
                lambda c, x=x, y=y: c.post(f"{y}/move", {"to": x}),
                attempt,
            )
            wins = [reply.status == 200 for reply in (first, second)]
            if 503 in (first.status, second.status):
                assert sum(wins) <= 1, (first, second)
            else:
                assert sum(wins) == 1, (first, second)
            top = {row["path"] for row in admin.collect("/groups")}
            if wins[0]:
                outer, inner = y, x
            elif wins[1]:
                outer, inner = x, y
            else:  # both ran out of retries: both still at the top
                assert {x, y} <= top
                continue
            assert outer in top and inner not in top, (first, second)
            below = {row["path"] for row in admin.collect(f"{outer}/groups")}
            assert below == {f"{outer}/groups/{inner.rpartition('/')[2]}"}, (first, second)


def test_the_api_agrees_with_itself_after_all_races(target):
    """Every group's member listing and every user's group listing say the same."""
    admin = target.client(0)
    users = [row["id"] for row in admin.collect("/users")]
    members: dict[str, set[str]] = {}
    todo = ["/groups"]
    while todo:
        for row in admin.collect(todo.pop()):
            members[row["path"]] = {m["user"] for m in admin.collect(f"{row['path']}/members")}
            todo.append(f"{row['path']}/groups")
    from_groups = {(u, path) for path, ids in members.items() for u in ids}
    from_users = set()
    for u in users:
        for row in groups_of(admin, u):
            assert row["path"] in members, f"{u} lists {row['path']}, which no listing shows"
            if row["direct"]:
                from_users.add((u, row["path"]))
    assert from_users == from_groups
    result = target.fsck()
    assert result.returncode == 0, result.stdout + result.stderr[-2000:]
