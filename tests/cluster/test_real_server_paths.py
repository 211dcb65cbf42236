"""Encoded slashes and dot segments through real servers, sent byte for byte.

waitress (``pserve development.ini``) and gunicorn (``production.ini``'s app, here
on a FileStorage) both decode ``%2F`` into ``PATH_INFO``; the app must read the
raw target they keep (``REQUEST_URI``, ``RAW_URI``) and refuse it before
traversal. The requests go over a plain socket: an HTTP client library might
normalize the target, and the point is what the server receives.
"""

import json
import os
import socket
import subprocess

import pytest

from tests.cluster import servers
from tests.cluster.test_e2e import ADMIN_PASSWORD, BIN, Server, free_port, write_ini

pytestmark = pytest.mark.slow

BACKEND = "/groups/eng/groups/backend"
ENCODED = [
    "/groups/eng%2Fgroups%2Fbackend%2Fmembers%2Falice",
    "/groups/eng%2fgroups%2fbackend%2fmembers%2falice",
    "/groups/eng/groups/backend%2Fmembers%2Falice",
    "/groups/eng%5Cgroups%5Cbackend%5Cmembers%5Calice",
    "/groups/eng/groups/backend/members/alice/%2E%2E/alice",
    "/groups/eng/groups/backend/members/%2e%2e/members/alice",
    "/groups/eng/groups/backend/members/.%2E/members/alice",
    "/groups/eng/groups/x/%2E%2E/backend/members/alice",
    "/groups/eng/groups/backend/members/%2E/alice",
]


def raw_request(port: int, method: str, target: str, token: str) -> tuple[int, dict, bytes]:
    """One request with ``target`` sent exactly as given; ``(status, headers, body)``."""
    head = (
        f"{method} {target} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Authorization: Bearer {token}\r\nAccept: application/json\r\n"
        "Connection: close\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(head.encode("ascii"))
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    header_block, _, body = data.partition(b"\r\n\r\n")
    lines = header_block.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return status, headers, body


def build_world(port: int, admin_password: str) -> str:
    """alice and bob in /groups/eng/groups/backend; answer an admin token."""
    client = servers.Client(f"http://127.0.0.1:{port}", basic=("admin", admin_password))
    token = client.post("/users/admin/tokens", {"name": "paths"}).json["token"]
    client.close()
    client = servers.Client(f"http://127.0.0.1:{port}", token=token)
    for body, path in [
        ({"id": "alice", "password": "alice-password"}, "/users"),
        ({"id": "bob", "password": "bob-password"}, "/users"),
        ({"name": "eng"}, "/groups"),
        ({"name": "backend"}, "/groups/eng/groups"),
        ({"user": "alice"}, f"{BACKEND}/members"),
        ({"user": "bob"}, f"{BACKEND}/members"),
    ]:
        reply = client.post(path, body)
        assert reply.status == 201, reply
    client.close()
    return token


@pytest.fixture(scope="module")
def waitress(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("waitress")
    ini = write_ini(tmp)
    env = {**os.environ, "MEMBERSHIP_ADMIN_PASSWORD": ADMIN_PASSWORD}
    subprocess.run(
        [str(BIN / "initialize_membership_db"), str(ini)], env=env, check=True, capture_output=True
    )
    server = Server(ini, free_port()).start()
    try:
        yield server.port, build_world(server.port, ADMIN_PASSWORD)
    finally:
        server.kill()


@pytest.fixture(scope="module")
def gunicorn(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("gunicorn")
    uri = f"file://{tmp / 'Data.fs'}"
    servers.initialize_db(uri, tmp)
    with servers.AppServer(tmp, uri, workers=1) as app:
        yield app.port, build_world(app.port, servers.ADMIN_PASSWORD)


@pytest.fixture(params=["waitress", "gunicorn"])
def server(request):
    return request.getfixturevalue(request.param)


def is_member(port: int, token: str, user: str) -> bool:
    status, _, _ = raw_request(port, "GET", f"{BACKEND}/members/{user}", token)
    assert status in (200, 404)
    return status == 200


@pytest.mark.parametrize("target", ENCODED)
def test_an_encoded_path_is_400_and_removes_nothing(server, target):
    port, token = server
    assert is_member(port, token, "alice")
    status, headers, body = raw_request(port, "DELETE", target, token)
    assert status == 400, body
    assert headers["content-type"].startswith("application/problem+json")
    problem = json.loads(body)
    assert [e["field"] for e in problem["errors"]] == ["path"], problem
    assert is_member(port, token, "alice"), f"{target} removed alice"


def test_the_same_request_unencoded_does_remove(server):
    """The control: the socket request itself is well-formed and acts when it should."""
    port, token = server
    assert is_member(port, token, "bob")
    status, _, body = raw_request(port, "DELETE", f"{BACKEND}/members/bob", token)
    assert status == 204, body
    assert not is_member(port, token, "bob")


def test_an_encoded_slash_in_the_query_is_fine(server):
    port, token = server
    status, _, body = raw_request(port, "GET", "/users?x=%2F%5C%2E%2E", token)
    assert status == 200, body
