"""Real servers for the multi-process tests: ZEO, PostgreSQL, app workers.

Every helper here starts an OS process in its own session (process group) and
is a context manager whose exit kills that group, so a failing test never
leaves a server behind. Logs go to files in the test's temporary directory;
failures quote their tail.

Nothing here talks to anything but 127.0.0.1.
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PRODUCTION_INI = REPO / "production.ini"
GUNICORN_CONF = REPO / "gunicorn.conf.py"
ZEO_CONF = REPO / "zeo.conf"
RELSTORAGE_CONF = REPO / "relstorage.conf"

ADMIN_ID = "admin"
ADMIN_PASSWORD = "correct horse battery staple"

PG_DSN_ENV = "MEMBERSHIP_TEST_PG_DSN"
PG_REQUIRED_ENV = "MEMBERSHIP_TEST_REQUIRE_PG"
DEFAULT_PG_DSN = "host=127.0.0.1 port=5432 dbname=test user=postgres connect_timeout=3"


# --------------------------------------------------------------------------
# small utilities


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(predicate: Callable[[], object], timeout: float, what: str, interval=0.05):
    """Poll ``predicate`` until it returns something truthy; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def subst_defines(conf_text: str, **defines: str) -> str:
    """Rewrite the ``%define NAME value`` lines of a ZConfig file."""
    for name, value in defines.items():
        conf_text, n = re.subn(
            rf"^%define {name} .*$", f"%define {name} {value}", conf_text, flags=re.M
        )
        assert n == 1, f"%define {name} not found exactly once"
    return conf_text


def run(argv: list[str], *, env: dict | None = None, timeout: float = 120, cwd=None):
    """Run a command to completion; fail the test with its output if it fails."""
    proc = subprocess.run(
        argv,
        env=env,
        cwd=cwd,
        timeout=timeout,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        pytest.fail(
            f"{' '.join(map(str, argv))} exited {proc.returncode}\n"
            f"stdout:\n{proc.stdout[-3000:]}\nstderr:\n{proc.stderr[-3000:]}"
        )
    return proc


def python_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("MEMBERSHIP_ZODB_URI", None)
    env.update(extra)
    return env


# --------------------------------------------------------------------------
# processes


class Process:
    """One child process in its own session; ``stop`` and ``kill9`` act on that session."""

    def __init__(self, name: str, argv: list[str], log_path: Path, env=None, cwd=None):
        self.name = name
        self.argv = [str(a) for a in argv]
        self.log_path = log_path
        self.env = env
        self.cwd = cwd
        self.popen: subprocess.Popen | None = None

    def start(self) -> Process:
        assert self.popen is None or self.popen.poll() is not None, "already running"
        with open(self.log_path, "ab") as log:
            log.write(f"\n=== start {' '.join(self.argv)}\n".encode())
            log.flush()
            self.popen = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.env,
                cwd=self.cwd,
                start_new_session=True,
            )
        return self

    @property
    def pid(self) -> int:
        assert self.popen is not None
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def _signal_group(self, sig: int) -> None:
        if self.popen is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.popen.pid, sig)

    def kill9(self) -> None:
        """SIGKILL the whole process group (the server and any workers it forked)."""
        self._signal_group(signal.SIGKILL)
        if self.popen is not None:
            self.popen.wait(timeout=10)

    def stop(self, timeout: float = 15) -> int | None:
        """SIGTERM, then SIGKILL after ``timeout``; returns the exit status."""
        if self.popen is None:
            return None
        if self.popen.poll() is None:
            self._signal_group(signal.SIGTERM)
            try:
                self.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self._signal_group(signal.SIGKILL)
                self.popen.wait(timeout=10)
        # Workers that outlived their master (they should not) go too.
        self._signal_group(signal.SIGKILL)
        return self.popen.returncode

    def log_tail(self, chars: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return "(no log)"

    def __enter__(self) -> Process:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


class ZEOServer:
    """``runzeo`` with the project's own zeo.conf, on a free port and a private FileStorage."""

    def __init__(self, directory: Path, port: int | None = None):
        self.directory = directory
        self.directory.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.data_fs = directory / "Data.fs"
        self.conf = directory / "zeo.conf"
        self.conf.write_text(
            subst_defines(
                ZEO_CONF.read_text(), VAR=str(directory), ADDRESS=f"127.0.0.1:{self.port}"
            )
        )
        self.process = Process(
            "zeo",
            [sys.executable, "-m", "ZEO.runzeo", "-C", self.conf],
            directory / "zeo.log",
            env=python_env(),
        )

    @property
    def uri(self) -> str:
        # wait_timeout: how long a request waits for a ZEO that went away.
        return f"zeo://127.0.0.1:{self.port}?wait_timeout=1"

    def start(self) -> ZEOServer:
        self.process.start()
        try:
            wait_for(lambda: port_open(self.port) or not self.process.alive(), 20, "ZEO to listen")
        except TimeoutError:
            self.process.stop()
            raise
        if not self.process.alive():
            pytest.fail(f"runzeo exited early:\n{self.process.log_tail()}")
        return self

    def stop(self) -> None:
        self.process.stop()

    def kill9(self) -> None:
        self.process.kill9()

    def __enter__(self) -> ZEOServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


class AppServer:
    """The real app under gunicorn (``--paste``), as production.ini runs it.

    ``settings`` are written into a small ini that ``use``s production.ini's
    app section and overrides just those keys, so production.ini is what runs.
    """

    def __init__(
        self,
        directory: Path,
        uri: str,
        *,
        workers: int = 1,
        settings: dict[str, str] | None = None,
        name: str = "app",
        port: int | None = None,
    ):
        self.directory = directory
        self.directory.mkdir(parents=True, exist_ok=True)
        self.uri = uri
        self.port = port or free_port()
        self.name = name
        self.ini = PRODUCTION_INI
        if settings:
            self.ini = directory / f"{name}.ini"
            lines = ["[app:main]", f"use = config:{PRODUCTION_INI}#main"]
            lines += [f"{k} = {v}" for k, v in settings.items()]
            self.ini.write_text("\n".join(lines) + "\n")
        self.process = Process(
            name,
            [
                sys.executable,
                "-m",
                "gunicorn",
                "--paste",
                self.ini,
                "-c",
                GUNICORN_CONF,
                "--bind",
                f"127.0.0.1:{self.port}",
                "--workers",
                str(workers),
                "--graceful-timeout",
                "5",
            ],
            directory / f"{name}.log",
            env=python_env(MEMBERSHIP_ZODB_URI=uri),
            cwd=directory,
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def client(self, **kw) -> Client:
        return Client(self.url, **kw)

    def start(self, timeout: float = 45) -> AppServer:
        self.process.start()
        probe = Client(self.url, timeout=2)

        def ready():
            if not self.process.alive():
                return True
            try:
                return probe.get("/readyz").status == 200
            except OSError:
                return False

        try:
            wait_for(ready, timeout, f"{self.name} to be ready", interval=0.1)
        except TimeoutError:
            self.process.stop()
            pytest.fail(f"{self.name} not ready after {timeout}s:\n{self.process.log_tail()}")
        if not self.process.alive():
            pytest.fail(f"{self.name} exited early:\n{self.process.log_tail()}")
        probe.close()
        return self

    def stop(self) -> None:
        self.process.stop()

    def kill9(self) -> None:
        self.process.kill9()

    def __enter__(self) -> AppServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def run_script(module: str, *args: str, uri: str, cwd: Path, **env: str):
    """Run one of the app's console scripts (``module.main``) against the storage ``uri``."""
    return run(
        [sys.executable, "-c", f"import sys; from {module} import main; sys.exit(main())", *args],
        env=python_env(MEMBERSHIP_ZODB_URI=uri, **env),
        cwd=cwd,
    )


def initialize_db(uri: str, directory: Path) -> None:
    """``initialize_membership_db production.ini`` against ``uri`` (tree + admin)."""
    run_script(
        "membership.scripts.initialize",
        str(PRODUCTION_INI),
        "--admin",
        ADMIN_ID,
        uri=uri,
        cwd=directory,
        MEMBERSHIP_ADMIN_PASSWORD=ADMIN_PASSWORD,
    )


def admin_token(app: AppServer) -> str:
    """A personal access token for the admin (Basic auth once, then Bearer: argon2 is slow)."""
    client = app.client(basic=(ADMIN_ID, ADMIN_PASSWORD))
    reply = client.post(f"/users/{ADMIN_ID}/tokens", {"name": f"tests-{secrets.token_hex(4)}"})
    client.close()
    assert reply.status == 201, reply
    return reply.json["token"]


# --------------------------------------------------------------------------
# HTTP client (stdlib only)


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes
    json: object = field(default=None)

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    def __repr__(self) -> str:
        return f"<Reply {self.status} {self.body[:500]!r}>"


class Client:
    """A keep-alive JSON client for one server; not thread-safe (one per thread)."""

    def __init__(self, base_url: str, *, token=None, basic=None, timeout: float = 30):
        parsed = urllib.parse.urlsplit(base_url)
        self.host, self.port = parsed.hostname, parsed.port
        assert self.host in ("127.0.0.1", "localhost")
        self.timeout = timeout
        self.auth = None
        if token:
            self.auth = f"Bearer {token}"
        elif basic:
            self.auth = "Basic " + base64.b64encode(":".join(basic).encode()).decode()
        self.conn: http.client.HTTPConnection | None = None

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def request(self, method: str, path: str, body=None, headers=None) -> Reply:
        hdrs = {"Accept": "application/json"}
        if self.auth:
            hdrs["Authorization"] = self.auth
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            hdrs["Content-Type"] = "application/json"
        hdrs.update(headers or {})
        reused = self.conn is not None
        if self.conn is None:
            self.conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        try:
            self.conn.request(method, path, body=data, headers=hdrs)
            resp = self.conn.getresponse()
            raw = resp.read()
        except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
            self.close()
            if not reused:
                raise
            # The server had closed this idle keep-alive connection before it
            # read the request: nothing was done, so send it once more.
            return self.request(method, path, body, headers)
        except (OSError, http.client.HTTPException):
            # The caller decides what a failed request means; the next one reconnects.
            self.close()
            raise
        reply = Reply(resp.status, {k.lower(): v for k, v in resp.getheaders()}, raw)
        ctype = reply.header("content-type") or ""
        if raw and "json" in ctype:
            reply.json = json.loads(raw)
        if resp.will_close:
            self.close()
        return reply

    def get(self, path: str, **kw) -> Reply:
        return self.request("GET", path, **kw)

    def post(self, path: str, body, **kw) -> Reply:
        return self.request("POST", path, body, **kw)

    def patch(self, path: str, body, **kw) -> Reply:
        return self.request("PATCH", path, body, **kw)

    def delete(self, path: str, **kw) -> Reply:
        return self.request("DELETE", path, **kw)

    def collect(self, path: str, limit: int = 1000) -> list:
        """Every item of a paged collection, following ``next``."""
        sep = "&" if "?" in path else "?"
        url = f"{path}{sep}limit={limit}"
        items: list = []
        for _ in range(10_000):
            reply = self.get(url)
            assert reply.status == 200, reply
            items.extend(reply.json["items"])
            nxt = reply.json.get("next")
            if not nxt:
                return items
            parsed = urllib.parse.urlsplit(nxt)
            url = parsed.path + (f"?{parsed.query}" if parsed.query else "")
        raise AssertionError(f"{path}: more than 10,000 pages")


def expect(reply: Reply, *statuses: int) -> Reply:
    """``reply``, after checking its status (200 if none given); the body is in the message."""
    assert reply.status in (statuses or (200,)), reply
    return reply


def _without_links(value):
    if isinstance(value, dict):
        return {k: _without_links(v) for k, v in value.items() if k not in ("links", "next")}
    if isinstance(value, list):
        return [_without_links(v) for v in value]
    return value


def dump_tree(client: Client) -> dict:
    """Everything an admin can read through the API, without links (they name the server).

    Users, every group (recursively) with its members, and every user's
    groups as the user -> groups index answers them.
    """
    users = {u["id"]: u for u in client.collect("/users")}
    groups: dict[str, dict] = {}
    todo = ["/groups"]
    while todo:
        container = todo.pop()
        for group in client.collect(container):
            path = group["path"]
            groups[path] = {"group": group, "members": client.collect(f"{path}/members")}
            todo.append(f"{path}/groups")
    user_groups = {uid: client.collect(f"/users/{uid}/groups") for uid in users}
    return _without_links({"users": users, "groups": groups, "user_groups": user_groups})


def assert_same_tree(actual: dict, expected: dict) -> None:
    """``dump_tree`` results are equal; on failure, say first which names differ."""
    for part in ("users", "groups", "user_groups"):
        extra = sorted(set(actual[part]) - set(expected[part]))[:10]
        missing = sorted(set(expected[part]) - set(actual[part]))[:10]
        assert not extra and not missing, f"{part}: extra {extra}, missing {missing}"
        for key, value in expected[part].items():
            assert actual[part][key] == value, f"{part}[{key!r}]"


# --------------------------------------------------------------------------
# verifying a FileStorage offline


def verify_filestorage(path: Path) -> None:
    """ZODB's own checks on a FileStorage that no server has open.

    ``fstest`` checks the file's transaction structure, ``fsrefs`` that every
    current object loads and every reference it holds resolves, and
    ``BTrees.check`` the internal structure of every BTree reachable from the
    root.
    """
    run([sys.executable, "-m", "ZODB.scripts.fstest", str(path)])
    refs = run([sys.executable, "-m", "ZODB.scripts.fsrefs", str(path)])
    assert refs.stdout.strip() == "", f"fsrefs found problems:\n{refs.stdout[-3000:]}"
    run([sys.executable, "-c", _CHECK_BTREES, str(path)])


_CHECK_BTREES = """
import sys
from BTrees.check import check
from persistent import Persistent
from ZODB import DB
from ZODB.FileStorage import FileStorage

db = DB(FileStorage(sys.argv[1], read_only=True))
conn = db.open()
seen, todo, nbtrees = set(), [conn.root()], 0
while todo:
    obj = todo.pop()
    if obj._p_oid in seen:
        continue
    seen.add(obj._p_oid)
    obj._p_activate()
    if hasattr(obj, "_check"):
        obj._check()
        check(obj)
        nbtrees += 1
        values = list(obj.values()) if hasattr(obj, "values") else []
    else:
        values = [obj.__getstate__()]
    while values:
        value = values.pop()
        if isinstance(value, Persistent):
            todo.append(value)
        elif isinstance(value, dict):
            values.extend(value.values())
        elif isinstance(value, list | tuple | set | frozenset):
            values.extend(value)
print(len(seen), "objects,", nbtrees, "btrees checked")
"""


def reachable_records(storage) -> dict[bytes, tuple[bytes, bytes]]:
    """oid -> (state pickle, serial) for every object reachable from the root."""
    from ZODB.serialize import referencesf
    from ZODB.utils import z64

    records: dict[bytes, tuple[bytes, bytes]] = {}
    todo = [z64]
    while todo:
        oid = todo.pop()
        if oid in records:
            continue
        data, serial = storage.load(oid)
        records[oid] = (data, serial)
        todo.extend(referencesf(data))
    return records


def storage_records(uri: str) -> dict[bytes, tuple[bytes, bytes]]:
    """``reachable_records`` of the storage at ``uri`` (opened read-only by the caller's URI)."""
    import zodburi

    factory, _ = zodburi.resolve_uri(uri)
    storage = factory()
    try:
        return reachable_records(storage)
    finally:
        storage.close()


# --------------------------------------------------------------------------
# PostgreSQL


def pg_skip_or_fail(reason: str):
    """Skip when PostgreSQL is not available, unless the environment demands it (CI)."""
    if os.environ.get(PG_REQUIRED_ENV) == "1":
        pytest.fail(f"{reason} (and {PG_REQUIRED_ENV}=1)")
    pytest.skip(reason)


@dataclass
class PGDatabase:
    params: dict[str, str]

    @property
    def dsn(self) -> str:
        return " ".join(f"{k}={v}" for k, v in self.params.items())

    def relstorage_uri(self, **options: str) -> str:
        """The URI for RelStorage's own zodburi resolver (``postgres://``)."""
        quote = urllib.parse.quote
        p = self.params
        auth = quote(p["user"], safe="") + ":" + quote(p.get("password", ""), safe="")
        query = urllib.parse.urlencode(options)
        return f"postgres://{auth}@{p['host']}:{p['port']}/{p['dbname']}?{query}"


@contextlib.contextmanager
def pg_scratch_database(prefix: str = "membership_test") -> Iterator[PGDatabase]:
    """A fresh PostgreSQL database, dropped afterwards; skips if PostgreSQL is absent."""
    try:
        import psycopg2
        import psycopg2.extensions
        import relstorage  # noqa: F401 - its zodburi resolver must be installed
    except ImportError as exc:
        pg_skip_or_fail(
            f"RelStorage/psycopg2 not installed ({exc}); pip install -e '.[relstorage]'"
        )
    dsn = os.environ.get(PG_DSN_ENV, DEFAULT_PG_DSN)
    try:
        admin = psycopg2.connect(dsn, connect_timeout=3)
    except psycopg2.OperationalError as exc:
        pg_skip_or_fail(f"PostgreSQL not reachable at {PG_DSN_ENV}={dsn!r}: {exc}".strip())
    admin.autocommit = True
    params = psycopg2.extensions.parse_dsn(dsn)
    actual = admin.get_dsn_parameters()
    name = f"{prefix}_{secrets.token_hex(4)}"
    try:
        with admin.cursor() as cur:
            cur.execute(f'CREATE DATABASE "{name}"')
    except psycopg2.Error as exc:
        admin.close()
        pg_skip_or_fail(f"cannot CREATE DATABASE with {PG_DSN_ENV}={dsn!r}: {exc}".strip())
    db = PGDatabase(
        {
            "host": actual.get("host", "127.0.0.1"),
            "port": actual.get("port", "5432"),
            "dbname": name,
            "user": actual["user"],
            **({"password": params["password"]} if params.get("password") else {}),
        }
    )
    try:
        yield db
    finally:
        with admin.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()
