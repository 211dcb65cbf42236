"""Operations under real processes: metrics from several gunicorn workers, one access
line per request, a login throttle every worker shares through Redis (and that fails
open without it), console scripts beside a running server, and pshell.

Redis: the machine's (127.0.0.1:6379, database 13, only this suite's keys are
touched); the fail-open test starts a private ``redis-server`` it can kill.
Each skips with the reason when what it needs is absent.
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import json
import re
import secrets
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from .servers import (
    ADMIN_ID,
    ADMIN_PASSWORD,
    PRODUCTION_INI,
    REPO,
    AppServer,
    Process,
    ZEOServer,
    admin_token,
    free_port,
    initialize_db,
    port_open,
    python_env,
    wait_for,
)

pytestmark = pytest.mark.slow

REDIS_URL = "redis://127.0.0.1:6379/13"
NAMESPACE = "membership-throttle"  # membership/web/throttle.py: the keys' namespace
CHECK = "/groups/{group}/members/{user}"


# --------------------------------------------------------------------------
# helpers


def production_ini_with(path: Path, **settings: str) -> Path:
    """production.ini, logging sections and all, with some [app:main] keys changed."""
    text = PRODUCTION_INI.read_text()
    head, sep, rest = text.partition("[app:main]\n")
    for key, value in settings.items():
        rest, found = re.subn(rf"^{re.escape(key)} = .*$", f"{key} = {value}", rest, flags=re.M)
        if not found:
            rest = f"{key} = {value}\n" + rest
    path.write_text(head + sep + rest)
    return path


def app_server(directory: Path, uri: str, ini: Path, *, name: str, workers: int = 1, **env):
    app = AppServer(directory, uri, workers=workers, name=name)
    app.process.argv = [str(ini) if a == str(PRODUCTION_INI) else a for a in app.process.argv]
    app.process.env.update(env)
    return app


def fresh_get(app: AppServer, path: str, *, auth: str | None = None, source="127.0.0.1"):
    """One request on a new connection from ``source`` (any 127.x address): status, body."""
    conn = http.client.HTTPConnection("127.0.0.1", app.port, timeout=30, source_address=(source, 0))
    headers = {"Connection": "close", "Accept": "application/json"}
    if auth:
        headers["Authorization"] = auth
    try:
        conn.request("GET", path, headers=headers)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def status_of(app: AppServer, path: str, auth: str, source: str) -> int:
    """The status of one request on a new connection from ``source``."""
    return fresh_get(app, path, auth=auth, source=source)[0]


def basic(userid: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{userid}:{password}".encode()).decode()


def scrape(app: AppServer) -> dict:
    status, body = fresh_get(app, "/metrics")
    assert status == 200, body[:500]
    samples = {}
    for family in text_string_to_metric_families(body.decode()):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: dict, name: str, **labels) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def worker_pids(app: AppServer) -> list[int]:
    done = subprocess.run(
        ["pgrep", "-P", str(app.process.pid)], capture_output=True, text=True, check=False
    )
    return [int(pid) for pid in done.stdout.split()]


def redis_client(url: str):
    redis = pytest.importorskip("redis")
    client = redis.Redis.from_url(url, socket_connect_timeout=1)
    try:
        client.ping()
    except Exception as exc:
        pytest.skip(f"no Redis at {url}: {exc}")
    return client


def forget_throttle_keys(client) -> None:
    for key in client.scan_iter(f"*{NAMESPACE}/*"):
        client.delete(key)


# --------------------------------------------------------------------------
# fixtures


@pytest.fixture(scope="module")
def zeo(tmp_path_factory):
    with ZEOServer(tmp_path_factory.mktemp("zeo")) as server:
        initialize_db(server.uri, server.directory)
        yield server


@pytest.fixture(scope="module")
def redis_url():
    client = redis_client(REDIS_URL)
    forget_throttle_keys(client)
    yield REDIS_URL
    forget_throttle_keys(client)
    client.close()


# --------------------------------------------------------------------------
# metrics and logs from two gunicorn workers


def test_metrics_add_up_every_worker_and_survive_a_dead_one(zeo, tmp_path):
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    (metrics_dir / "counter_99999.db").write_bytes(b"left over from a crashed master")
    (metrics_dir / "keep.txt").write_text("not prometheus_client's")
    ini = production_ini_with(tmp_path / "json.ini", **{"membership.log_format": "json"})
    app = app_server(
        tmp_path, zeo.uri, ini, name="metrics", workers=2, PROMETHEUS_MULTIPROC_DIR=str(metrics_dir)
    )
    checks = {"method": "GET", "route": CHECK, "status": "200"}
    with app:
        wait_for(lambda: len(worker_pids(app)) == 2, 30, "two gunicorn workers")
        assert not (metrics_dir / "counter_99999.db").exists()  # wiped by on_starting
        assert (metrics_dir / "keep.txt").exists()
        token = admin_token(app)
        before = value(scrape(app), "membership_http_requests_total", **checks)
        marker = f"/groups/admins/members/{ADMIN_ID}?m={secrets.token_hex(4)}"
        sent, deadline = 0, time.monotonic() + 90
        while sent < 20 or len({e["pid"] for e in access_entries(app, marker)}) < 2:
            assert time.monotonic() < deadline, "one worker answered every request"
            status, _ = fresh_get(app, f"{marker}&n={sent}", auth=f"Bearer {token}")
            assert status == 200
            sent += 1
        samples = scrape(app)
        count = value(samples, "membership_http_requests_total", **checks)
        assert count - before == sent  # whichever worker answers /metrics, all are counted
        assert value(samples, "membership_checks_total", result="member") >= sent
        # One access line per request: the app's, none from gunicorn.
        entries = access_entries(app, marker)
        assert len(entries) == sent, entries[:3]
        entry = entries[0]
        assert entry["route"] == CHECK and entry["status"] == 200 and entry["user"] == ADMIN_ID
        assert entry["request_id"] and entry["retries"] == 0 and "duration_ms" in entry
        assert token not in app.process.log_tail(400_000)
        # A worker that dies takes nothing with it: its counts stay in the sum.
        victim = worker_pids(app)[0]
        subprocess.run(["kill", "-9", str(victim)], check=True)
        wait_for(
            lambda: len(worker_pids(app)) == 2 and victim not in worker_pids(app),
            30,
            "gunicorn to replace the worker",
        )
        assert value(scrape(app), "membership_http_requests_total", **checks) == count


def access_entries(app: AppServer, marker: str) -> list[dict]:
    found = []
    for line in app.process.log_tail(400_000).splitlines():
        if marker in line:
            if not line.startswith("{"):
                pytest.fail(f"a non-JSON line for the request: {line}")
            entry = json.loads(line)
            if entry.get("logger") == "membership.access":
                found.append(entry)
    return found


# --------------------------------------------------------------------------
# the throttle every worker shares


def test_with_redis_every_worker_enforces_the_same_limits_and_a_restart_forgets_nothing(
    zeo, redis_url, tmp_path
):
    settings = {
        "membership.throttle.storage": redis_url,
        "membership.throttle.per_user": "3",
        "membership.throttle.per_address": "6",
        "membership.throttle.window": "120",
    }
    ini = production_ini_with(tmp_path / "redis.ini", **settings)
    victim = f"victim-{secrets.token_hex(3)}"
    real, wrong = basic(victim, "the real one"), basic(victim, "guess")
    admin = basic(ADMIN_ID, ADMIN_PASSWORD)
    with contextlib.ExitStack() as stack:
        apps = [  # three workers in two gunicorn masters: requests alternate between them
            stack.enter_context(app_server(tmp_path / name, zeo.uri, ini, name=name, workers=n))
            for name, n in (("a", 2), ("b", 1))
        ]
        token = admin_token(apps[0])
        conn = http.client.HTTPConnection("127.0.0.1", apps[0].port, timeout=30)
        conn.request(
            "POST",
            "/users",
            body=json.dumps({"id": victim, "password": "the real one"}),
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        )
        assert conn.getresponse().status == 201
        conn.close()
        # The real user logs in from 127.0.0.2, on b: that address is trusted everywhere.
        assert status_of(apps[1], f"/users/{victim}", real, "127.0.0.2") == 200
        # An attacker fails three times from 127.0.0.3, spread over the servers.
        for i in range(3):
            assert status_of(apps[i % 2], f"/users/{victim}", wrong, "127.0.0.3") == 401
        for app in apps * 3:  # every worker refuses the user now, even the right password...
            assert status_of(app, f"/users/{victim}", real, "127.0.0.4") == 429
            # ... except from the address the real user logged in from
            assert status_of(app, f"/users/{victim}", real, "127.0.0.2") == 200
        # A restart of every process forgets nothing.
        for app in apps:
            app.stop()
        for app in apps:
            app.start()
        assert status_of(apps[1], f"/users/{victim}", real, "127.0.0.4") == 429
        assert status_of(apps[0], f"/users/{victim}", real, "127.0.0.2") == 200
        # One address failing for many users: the address limit, shared as well.
        for i in range(6):
            assert status_of(apps[i % 2], "/", basic(f"nobody{i}", "wrong"), "127.0.0.5") == 401
        for app in apps * 2:
            assert status_of(app, "/", admin, "127.0.0.5") == 429
            assert status_of(app, "/", f"Bearer {token}", "127.0.0.5") == 200  # tokens: never
            assert status_of(app, "/", admin, "127.0.0.6") == 200
        # Counted by the servers that refused (since their restart: metrics start again).
        assert value(scrape(apps[1]), "membership_login_throttled_total", limit="user") == 1
        assert value(scrape(apps[0]), "membership_login_throttled_total", limit="address") == 2


def test_without_redis_logins_keep_working_and_the_log_says_so_once(zeo, tmp_path):
    server = shutil.which("redis-server")
    if server is None:
        pytest.skip("redis-server not installed: the fail-open test starts one of its own")
    port = free_port()
    redis = Process(
        "redis",
        [server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        tmp_path / "redis.log",
    )
    settings = {
        "membership.throttle.storage": f"redis://127.0.0.1:{port}/0",
        "membership.throttle.per_user": "3",
    }
    ini = production_ini_with(tmp_path / "failopen.ini", **settings)
    good, bad = basic(ADMIN_ID, ADMIN_PASSWORD), basic("mallory", "x")
    with redis.start():
        wait_for(lambda: port_open(port), 10, "redis-server to listen")
        with app_server(tmp_path / "app", zeo.uri, ini, name="failopen") as app:
            assert status_of(app, "/", good, "127.0.0.7") == 200
            redis.stop()  # Redis goes away mid-run
            for _ in range(5):
                assert status_of(app, "/", good, "127.0.0.7") == 200
            for _ in range(3):  # still counted, in the worker
                assert status_of(app, "/", bad, "127.0.0.8") == 401
            assert status_of(app, "/", bad, "127.0.0.8") == 429
            log = app.process.log_tail(100_000)
            assert log.count("does not answer") == 1, log[-3000:]
            redis.start()  # back: asked again after RETRY_SECONDS
            wait_for(lambda: port_open(port), 10, "redis-server to listen again")
            time.sleep(5)

            def back() -> bool:
                assert status_of(app, "/", good, "127.0.0.7") == 200
                return "answers again" in app.process.log_tail(100_000)

            wait_for(back, 20, "the throttle to use Redis again", interval=1)
    redis.stop()


# --------------------------------------------------------------------------
# console scripts beside a running FileStorage server


SCRIPTS = [
    ("membership.scripts.initialize", []),
    ("membership.scripts.purge", []),
    ("membership.scripts.export_history", []),
    ("membership.scripts.fsck", []),
    ("membership.scripts.pack", []),
    ("membership.scripts.dispatch", ["--once"]),
    ("membership.scripts.import_members", ["/groups/admins", "/dev/null"]),
]


def script(module: str, *args: str, uri: str, cwd: Path, **env: str):
    return subprocess.run(
        [
            sys.executable,
            "-c",
            f"import sys; from {module} import main; sys.exit(main())",
            str(PRODUCTION_INI),
            *args,
        ],
        env=python_env(MEMBERSHIP_ZODB_URI=uri, **env),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_scripts_say_what_to_do_when_a_server_holds_the_file(tmp_path):
    data = tmp_path / "Data.fs"
    uri = f"file://{data}"
    created = script(
        "membership.scripts.initialize", uri=uri, cwd=tmp_path, MEMBERSHIP_ADMIN_PASSWORD="pw-1"
    )
    assert created.returncode == 0, created.stderr
    assert created.stdout.startswith("Created the membership database"), created.stdout
    with AppServer(tmp_path / "app", uri, name="filestorage"):
        for module, args in SCRIPTS:
            done = script(module, *args, uri=uri, cwd=tmp_path)
            lines = [line for line in done.stderr.splitlines() if "pkg_resources" not in line]
            assert done.returncode == 1, (module, done.stdout, done.stderr)
            assert "Traceback" not in done.stderr, (module, done.stderr)
            assert lines[-1].count("\n") == 0 and "is in use by a running server" in lines[-1]
            assert "stop the server" in lines[-1], lines[-1]
        # The read-only URI the readers are shown works while the server runs.
        done = script("membership.scripts.export_history", uri=uri, cwd=tmp_path)
        hint = re.search(r"MEMBERSHIP_ZODB_URI='([^']+)'", done.stderr)
        assert hint and hint.group(1) == f"file://{data}?read_only=true"
        read = script("membership.scripts.export_history", uri=hint.group(1), cwd=tmp_path)
        assert read.returncode == 0, read.stderr
        assert '"action":"user.created"' in read.stdout
        fsck = script("membership.scripts.fsck", uri=hint.group(1), cwd=tmp_path)
        assert fsck.returncode == 0 and "0 inconsistencies" in fsck.stdout
    # Stopped: initialize says what it finds and what it does.
    again = script(
        "membership.scripts.initialize", uri=uri, cwd=tmp_path, MEMBERSHIP_ADMIN_PASSWORD="other"
    )
    assert again.returncode == 0, again.stderr
    assert "already initialized" in again.stdout and "nothing changed" in again.stdout
    assert "MEMBERSHIP_ADMIN_PASSWORD was ignored" in again.stdout
    further = script("membership.scripts.initialize", "--admin", "rescue", uri=uri, cwd=tmp_path)
    assert further.returncode == 0, further.stderr
    assert "added a further admin" in further.stdout and "'rescue'" in further.stdout
    assert "Password of 'rescue': " in further.stdout
    assert "2 admins now" in further.stdout


# --------------------------------------------------------------------------
# pshell


def test_pshell_opens_with_the_tree_and_helpers(tmp_path):
    pshell = Path(sys.executable).parent / "pshell"
    if not pshell.exists():
        pytest.skip("pshell (pyramid) is not installed beside this Python")
    ini = tmp_path / "development.ini"
    text = (REPO / "development.ini").read_text()
    ini.write_text(text.replace("%(here)s/var/Data.fs", str(tmp_path / "Data.fs")))
    done = script(
        "membership.scripts.initialize",
        uri=f"file://{tmp_path / 'Data.fs'}",
        cwd=tmp_path,
        MEMBERSHIP_ADMIN_PASSWORD="pw",
    )
    assert done.returncode == 0, done.stderr
    commands = "\n".join(
        [
            "print('user:', find_user('admin').id)",
            "print('group:', find_group('admins').path, find_group('/groups/admins').path)",
            "print('like:', users_like('ad'), 'of:', groups_of('admin'))",
            "from membership.domain import groups",
            "g = groups.create_group(ctx, root.groups, 'made-in-pshell')",
            "commit()",
            "print('made:', find_group('made-in-pshell').path)",
            "import threading; print('threads:', sorted(t.name for t in threading.enumerate()))",
        ]
    )
    env = python_env()
    shell = subprocess.run(
        [str(pshell), str(ini), "-p", "python"],
        input=commands + "\n",
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=tmp_path,
        check=False,
    )
    out = shell.stdout
    assert shell.returncode == 0, shell.stderr[-3000:]
    banner = shell.stderr  # the interactive console writes its banner there
    for name in ("root", "tm", "commit", "find_user", "find_group", "users_like", "ctx"):
        assert f"\n  {name} " in banner, banner
    assert "user: admin" in out
    assert "group: /groups/admins /groups/admins" in out
    assert "like: ['admin'] of: {'/groups/admins': 'owner'}" in out
    assert "made: /groups/made-in-pshell" in out
    assert "threads: ['MainThread']" in out  # no webhook dispatcher in the shell
    history = script(
        "membership.scripts.export_history", uri=f"file://{tmp_path / 'Data.fs'}", cwd=tmp_path
    )
    assert '"actor":"system:pshell"' in history.stdout
