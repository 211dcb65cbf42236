"""Membership itself: a database of a given size, its server, its cases.

A deployment is a *server kind* (issue 6): ``KINDS`` maps a name to a class
that writes the ini, runs the bulk import against the storage, and starts
whatever processes serve it behind one port. Only ``filestorage`` (one
waitress process on FileStorage, as ``development.ini``) exists here. A ZEO
kind with 1, 2 or 4 workers plugs in by implementing the same methods:

- ``__init__(workdir, dev_ini, server_settings)``: write its ini(s) in
  ``workdir`` (``zeo://`` URI), pick its port;
- ``ini()``: the ini ``initialize_membership_db`` and ``import_members`` use
  (with ZEO they may run while the servers are up);
- ``import_members(group, ids)``;
- ``server()``: a ``bench.servers.Server`` (or one with the same ``start``,
  ``stop``, ``port`` and ``proc``) that starts the ZEO server and the workers
  and answers on one port, so wrk drives them all;
- ``describe()``.

Then ``python -m bench.run --kind zeo-2 --cases check,add --no-kinto
--no-ceiling`` measures checks and adds on it; the cases do not change.
"""

import configparser
import math
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

from bench.client import Client, basic
from bench.servers import BenchError, Server, free_port, write_ini

REPO = Path(__file__).resolve().parent.parent
ADMIN = "admin"
GROUP = "/groups/g"
POOL_GROUP = "/groups/pool"
NESTED_USER = "nested"
CHAINS, DEPTH = 10, 5  # NESTED_USER is in 10 chains of 5 nested groups: 50 groups


def member(i: int) -> str:
    return f"m{i:07d}"


STRIDE = 7919  # a prime: consecutive pool users land far apart in the group's BTrees


def pool(round_: int, size: int, count: int) -> list[str]:
    """Users that exist but are not in the group: what round ``round_`` adds, in order.

    ``m0000500-1.0`` sorts right after member ``m0000500``. Consecutive ids
    are spread over the whole key range, as real adds are; sequential ids
    would all append to the last bucket of each BTree, which no BTree
    conflict resolution can merge, and the bench would measure that instead.
    """
    stride = STRIDE if math.gcd(STRIDE, size) == 1 else 1  # every i distinct
    return [f"{member(i * stride % size)}-{round_}.{i // size}" for i in range(count)]


def bin_path(name: str, bindir: Path | None = None) -> str:
    """A console script of the code measured: ours (this virtualenv) or ``bindir``'s."""
    return str((bindir or Path(sys.executable).parent) / name)


def app_settings(dev_ini: Path, data_fs: Path) -> dict[str, str]:
    """``[app:main]`` of development.ini, on ``data_fs``, without dev-only tooling."""
    parser = configparser.RawConfigParser()
    parser.optionxform = str
    settings = {"use": "egg:membership"}
    if parser.read(dev_ini) and parser.has_section("app:main"):
        settings = dict(parser.items("app:main"))
    query = ""
    uri = settings.get("zodbconn.uri", "")
    if "?" in uri:
        query = "?" + uri.split("?", 1)[1]
    settings["zodbconn.uri"] = f"file://{data_fs}{query}"
    includes = settings.get("pyramid.includes", "").split()
    includes = [name for name in includes if name != "pyramid_debugtoolbar"]
    settings["pyramid.includes"] = "\n    ".join(includes)
    for key in (
        "pyramid.reload_templates",
        "pyramid.debug_authorization",
        "pyramid.debug_notfound",
    ):
        if key in settings:
            settings[key] = "false"
    return settings


class FileStorageKind:
    """One waitress process serving a FileStorage: what development.ini deploys."""

    name = "filestorage"

    def __init__(
        self,
        workdir: Path,
        dev_ini: Path,
        server_settings: dict[str, str],
        bindir: Path | None = None,
        extra: dict[str, str] | None = None,
    ):
        self.workdir = workdir
        self.port = free_port()
        self.bindir = bindir  # None: this virtualenv; else the previous release's
        self.app = app_settings(dev_ini, workdir / "Data.fs") | (extra or {})
        self.server_settings = dict(server_settings)
        self.ini_path = write_ini(
            workdir / "membership.ini", self.app, self.server_settings, self.port
        )

    def configure(self, app: dict[str, str] | None = None, server: dict[str, str] | None = None):
        """Rewrite the ini with these settings changed (takes effect at the next start).

        The variants of a run (metrics off, production's threads and retries)
        restart the same server on the same database with one thing changed.
        """
        settings = self.app | (app or {})
        write_ini(self.ini_path, settings, self.server_settings | (server or {}), self.port)

    def ini(self) -> Path:
        return self.ini_path

    def import_members(self, group: str, ids: Iterable[str]) -> None:
        """Bulk-load members with the server stopped (FileStorage is single-process)."""
        with open(self.workdir / "import.log", "ab") as log:
            proc = subprocess.Popen(
                [bin_path("import_members", self.bindir), str(self.ini_path), group, "-"],
                stdin=subprocess.PIPE,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            try:
                for chunk in _chunks(ids, 10_000):
                    proc.stdin.write(("\n".join(chunk) + "\n").encode())
                proc.stdin.close()
                code = proc.wait(timeout=3600)
            finally:
                if proc.poll() is None:
                    proc.kill()
        if code != 0:
            tail = (self.workdir / "import.log").read_text(errors="replace")[-2000:]
            raise BenchError(f"import_members {group} failed ({code}):\n{tail}")

    def server(self) -> Server:
        return Server(
            "membership",
            [bin_path("pserve", self.bindir), str(self.ini_path)],
            self.port,
            self.workdir / "membership.log",
            cwd=self.workdir,
        )

    def describe(self) -> str:
        return "1 waitress process, FileStorage"


class ZeoKind(FileStorageKind):
    """runzeo with the project's zeo.conf, and gunicorn with N workers: production.ini's shape.

    Setup (initialize, import) writes the ZEO server's FileStorage directly while
    nothing serves it; ``server()`` starts runzeo on it and the workers against it.
    """

    workers = 1

    def __init__(
        self,
        workdir: Path,
        dev_ini: Path,
        server_settings: dict[str, str],
        bindir: Path | None = None,
        extra: dict[str, str] | None = None,
    ):
        (workdir / "zeo").mkdir(exist_ok=True)
        self.workdir = workdir
        self.bindir = None
        self.port = free_port()
        self.zeo_port = free_port()
        self.ini_path = write_ini(
            workdir / "setup.ini",
            app_settings(dev_ini, workdir / "zeo" / "Data.fs"),
            server_settings,
            self.port,
        )
        conf = (REPO / "zeo.conf").read_text()
        conf = conf.replace("%define VAR var/zeo", f"%define VAR {workdir / 'zeo'}")
        conf = conf.replace(
            "%define ADDRESS 127.0.0.1:8100", f"%define ADDRESS 127.0.0.1:{self.zeo_port}"
        )
        self.zeo_conf = workdir / "zeo.conf"
        self.zeo_conf.write_text(conf)
        settings = app_settings(dev_ini, workdir / "unused.fs") | (extra or {})
        settings["zodbconn.uri"] = (
            f"zeo://127.0.0.1:{self.zeo_port}?wait_timeout=30&cache_size=64MB"
            "&connection_cache_size=20000"
        )
        settings["retry.attempts"] = "10"  # as production.ini
        self.serve_ini = write_ini(workdir / "zeo.ini", settings, server_settings, self.port)

    def server(self) -> Server:
        command = (
            f"{bin_path('runzeo')} -C {self.zeo_conf} & "
            f"exec {bin_path('gunicorn')} --paste {self.serve_ini} -c {REPO / 'gunicorn.conf.py'}"
            f" --workers {self.workers} --bind 127.0.0.1:{self.port}"
        )
        return Server(
            "membership",
            ["bash", "-c", command],
            self.port,
            self.workdir / "membership.log",
            env={"MEMBERSHIP_ACCESS_LOG": "/dev/null"},
        )

    def describe(self) -> str:
        return f"ZEO server + {self.workers} gunicorn worker(s), 1 thread each"


def _zeo_kind(workers: int) -> type:
    return type(
        f"Zeo{workers}Kind",
        (ZeoKind,),
        {
            "name": f"zeo-{workers}",
            "workers": workers,
            "__doc__": f"ZEO server + {workers} gunicorn worker(s) (production.ini's shape).",
        },
    )


KINDS = {kind.name: kind for kind in (FileStorageKind, _zeo_kind(1), _zeo_kind(2), _zeo_kind(4))}


def _chunks(items: Iterable[str], size: int):
    chunk = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def initialize(kind) -> str:
    """Create the tree and the admin; answer the admin password."""
    password = secrets.token_urlsafe(16)
    env = dict(os.environ, MEMBERSHIP_ADMIN_PASSWORD=password)
    out = subprocess.run(
        [
            bin_path("initialize_membership_db", getattr(kind, "bindir", None)),
            str(kind.ini()),
            "--admin",
            ADMIN,
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if out.returncode != 0:
        raise BenchError(f"initialize_membership_db failed:\n{out.stdout}{out.stderr}")
    return password


def create_structure(port: int, password: str) -> str:
    """Groups, the nested user, and a token; answer the token."""
    admin = Client(port, auth=basic(ADMIN, password))
    token = admin.post(f"/users/{ADMIN}/tokens", {"name": "bench"})["token"]
    client = Client(port, auth=f"Bearer {token}")
    for name in (GROUP, POOL_GROUP):
        client.post("/groups", {"name": name.rsplit("/", 1)[1]})
    client.post("/users", {"id": NESTED_USER})
    for chain in range(CHAINS):
        path = "/groups"
        for level in range(DEPTH):
            name = f"n{chain}" if level == 0 else f"l{level}"
            client.post(path, {"name": name})
            path = f"{path}/{name}/groups"
        deepest = path.removesuffix("/groups")
        client.post(f"{deepest}/members", {"user": NESTED_USER, "role": "member"})
    groups = client.get(f"/users/{NESTED_USER}/groups?limit=1000")["items"]
    if len(groups) != CHAINS * DEPTH:
        raise BenchError(f"{NESTED_USER} is in {len(groups)} groups, not {CHAINS * DEPTH}")
    return token


def late_cursor(client: Client, size: int) -> str:
    """The cursor of a page 90% of the way into the group: the server's own
    cursor after the member at that position, taken from the ``next`` link of
    a one-item page filtered to that member's neighbourhood (the cursor stays
    opaque; one request instead of following ``next`` 900 times at 1M)."""
    late = member(size * 9 // 10 // 100 * 100)  # first of its hundred: m...900
    query = urlencode({"prefix": late[:-2], "limit": 1})
    body = client.get(f"{GROUP}/members?{query}")
    if [item["user"] for item in body["items"]] != [late] or not body.get("next"):
        raise BenchError(f"{GROUP}/members?{query} did not give {late} and a next link")
    return parse_qs(urlsplit(body["next"]).query)["cursor"][0]


def still_members(client: Client, ids: list[str]) -> list[str]:
    """Which of ``ids`` are members now, in the same order (one check each).

    Called a moment after wrk stops, so requests it left in waitress's queue
    have been answered first.
    """
    time.sleep(2)
    found = []
    for userid in ids:
        status, _, _ = client.request("GET", f"{GROUP}/members/{userid}", expect=(200, 404))
        if status == 200:
            found.append(userid)
    return found


def remove_all(client: Client, ids: list[str]) -> None:
    """Take ``ids`` out of the group (set-up, not measured)."""
    for start in range(0, len(ids), 1000):
        ops = [{"op": "remove", "user": user} for user in ids[start : start + 1000]]
        client.request("PATCH", f"{GROUP}/members", ops, expect=(200, 204))
