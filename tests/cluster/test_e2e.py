"""The real thing: the init script and ``pserve`` on a free port, spoken to over HTTP."""

import base64
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
ADMIN_PASSWORD = "e2e-admin-password"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def write_ini(tmp_path: Path) -> Path:
    text = (REPO / "development.ini").read_text()
    text = text.replace("file://%(here)s/var/Data.fs", f"file://{tmp_path}/Data.fs")
    ini = tmp_path / "e2e.ini"
    ini.write_text(text)
    return ini


class Server:
    def __init__(self, ini: Path, port: int) -> None:
        self.ini, self.port = ini, port
        self.base = f"http://127.0.0.1:{port}"
        self.proc = None

    def start(self) -> "Server":
        env = {**os.environ, "PORT": str(self.port)}
        self.proc = subprocess.Popen(
            [str(BIN / "pserve"), str(self.ini)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(self.proc.stdout.read().decode())
            try:
                urllib.request.urlopen(self.base + "/", timeout=1).read()
                return self
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.1)
        raise RuntimeError("pserve did not answer in 30 s")

    def kill(self, sig=signal.SIGKILL) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, sig)
            self.proc.wait(10)

    def call(self, method, path, body=None, auth=None):
        headers = {"Accept": "application/json"}
        if isinstance(auth, tuple):
            headers["Authorization"] = "Basic " + base64.b64encode(":".join(auth).encode()).decode()
        elif auth:
            headers["Authorization"] = f"Bearer {auth}"
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        request = urllib.request.Request(self.base + path, data, headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=10) as res:
                raw = res.read()
                return res.status, dict(res.headers), json.loads(raw) if raw else None
        except urllib.error.HTTPError as err:
            raw = err.read()
            return err.code, dict(err.headers), json.loads(raw) if raw else None


@pytest.fixture
def server(tmp_path):
    ini = write_ini(tmp_path)
    env = {**os.environ, "MEMBERSHIP_ADMIN_PASSWORD": ADMIN_PASSWORD}
    subprocess.run(
        [str(BIN / "initialize_membership_db"), str(ini)], env=env, check=True, capture_output=True
    )
    srv = Server(ini, free_port()).start()
    yield srv
    srv.kill()


def test_readme_tour_over_http(server):
    admin = ("admin", ADMIN_PASSWORD)
    assert (
        server.call("POST", "/users", {"id": "alice", "password": "alice-password"}, admin)[0]
        == 201
    )
    assert server.call("POST", "/users", {"id": "bob", "password": "bob-password"}, admin)[0] == 201
    assert server.call("POST", "/groups", {"name": "eng"}, admin)[0] == 201
    status, headers, _body = server.call("POST", "/groups/eng/groups", {"name": "backend"}, admin)
    assert status == 201 and headers["Location"].endswith("/groups/eng/groups/backend")
    assert (
        server.call("POST", "/groups/eng/members", {"user": "alice", "role": "manager"}, admin)[0]
        == 201
    )
    assert (
        server.call(
            "POST",
            "/groups/eng/groups/backend/members",
            {"user": "bob"},
            ("alice", "alice-password"),
        )[0]
        == 201
    )
    assert server.call("GET", "/groups/eng/groups/backend/members/bob", None, admin)[0] == 200
    assert server.call("GET", "/groups/eng/members/bob", None, admin)[0] == 404
    status, _, groups = server.call("GET", "/users/bob/groups", None, ("bob", "bob-password"))
    assert status == 200
    assert {g["path"] for g in groups["items"]} == {"/groups/eng", "/groups/eng/groups/backend"}
    status, _, token = server.call(
        "POST", "/users/bob/tokens", {"name": "cli"}, ("bob", "bob-password")
    )
    assert status == 201
    status, _, me = server.call("GET", "/", None, token["token"])
    assert me["identity"]["user"] == "bob"
    assert "group:/groups/eng/groups/backend" in me["identity"]["principals"]
    status, headers, _problem = server.call("GET", "/users", None, ("admin", "wrong"))
    assert status == 401 and headers["Content-Type"] == "application/problem+json"


def test_acknowledged_write_survives_kill_9(server):
    admin = ("admin", ADMIN_PASSWORD)
    assert server.call("POST", "/groups", {"name": "durable"}, admin)[0] == 201
    server.kill(signal.SIGKILL)
    server.start()
    assert server.call("GET", "/groups/durable", None, admin)[0] == 200


def test_acl_change_and_its_event_survive_kill_9(server):
    admin = ("admin", ADMIN_PASSWORD)
    assert server.call("POST", "/groups", {"name": "open"}, admin)[0] == 201
    entry = {"action": "Allow", "principal": "system.Authenticated", "permissions": ["view"]}
    status, _, body = server.call("PUT", "/groups/open/acl", {"entries": [entry]}, admin)
    assert status == 200 and body["entries"] == [entry]
    server.kill(signal.SIGKILL)
    server.start()
    assert server.call("GET", "/groups/open/acl", None, admin)[2]["entries"] == [entry]
    status, _, page = server.call("GET", "/groups/open/history", None, admin)
    assert status == 200
    assert [(e["actor"], e["action"]) for e in page["items"]] == [
        ("admin", "acl.changed"),
        ("admin", "group.created"),
    ]


def test_initialize_is_idempotent(server, tmp_path):
    env = {**os.environ, "MEMBERSHIP_ADMIN_PASSWORD": "another-password"}
    server.kill(signal.SIGTERM)
    out = subprocess.run(
        [str(BIN / "initialize_membership_db"), str(server.ini)],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    assert "Created" not in out
    server.start()
    assert server.call("GET", "/users/admin", None, ("admin", ADMIN_PASSWORD))[0] == 200
    assert server.call("GET", "/users/admin", None, ("admin", "another-password"))[0] == 401


def test_an_oversized_body_is_refused_from_its_header_before_any_is_sent(server):
    """The attack: a 200 MB Content-Length, then a slow body. waitress would spool all
    of it before the app saw the request; the limit must answer from the header."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(
            b"POST /users HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
            b"Content-Length: 209715200\r\n\r\n"
        )
        started = time.monotonic()
        reply = sock.recv(4096)
        assert time.monotonic() - started < 5
    assert reply.startswith(b"HTTP/1.1 413"), reply[:200]
    # a body at the limit still reaches the app (and is judged there)
    status, _, body = server.call("POST", "/users", {"id": "x" * 2000}, ("admin", ADMIN_PASSWORD))
    assert status == 422 and body["errors"][0]["field"] == "id"
