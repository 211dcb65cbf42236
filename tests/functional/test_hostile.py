"""Hostile input: a 4xx problem+json that names the problem, and not one byte written.

Each test compares a digest of every object reachable in the database before
and after (``unchanged``), so "rejected" also means "rejected before any
partial write". ``test_errors.py`` covers the ordinary mistakes; these are
the malicious or absurd ones.
"""

import hashlib
import io

import pytest
from argon2 import PasswordHasher
from webtest import TestRequest
from ZODB.serialize import referencesf
from ZODB.utils import z64

from membership.web.db import database

from .helpers import ADMIN, PASSWORD, basic

JSON = {"Content-Type": "application/json"}


def database_digest(db) -> str:
    """SHA-256 over every object record reachable from the ZODB root."""
    storage = db.storage
    records, todo = {}, [z64]
    while todo:
        oid = todo.pop()
        if oid in records:
            continue
        data, _ = storage.load(oid)
        records[oid] = data
        todo.extend(referencesf(data))
    digest = hashlib.sha256()
    for oid in sorted(records):
        digest.update(oid + hashlib.sha256(records[oid]).digest())
    return digest.hexdigest()


@pytest.fixture
def world(api):
    """A little tree to attack: alice in /groups/eng (and its subgroup backend)."""
    api.user("alice")
    api.group("/groups/eng")
    api.group("/groups/eng/groups/backend")
    api.member("/groups/eng", "alice")
    return api


@pytest.fixture
def unchanged(app, world):
    db = database(app.registry)
    before = database_digest(db)
    yield
    assert database_digest(db) == before, "a rejected request changed the database"


def assert_problem(res, status, field=None, *, mentions=None):
    assert res.status_int == status, res.text
    assert res.content_type == "application/problem+json"
    body = res.json
    assert body["status"] == status and body["title"] and body["detail"]
    assert "Traceback" not in res.text and 'File "' not in res.text
    if field is not None:
        assert field in [e["field"] for e in body["errors"]], body
    if mentions is not None:
        assert mentions.lower() in body["detail"].lower(), body


def test_digest_sees_a_write(app, world):
    """The guard itself: an accepted change does change the digest."""
    db = database(app.registry)
    before = database_digest(db)
    world.patch("/groups/eng", {"title": "Engineering!"}, status=200)
    assert database_digest(db) != before


WRITES = [
    ("POST", "/users"),
    ("POST", "/groups"),
    ("POST", "/groups/eng/groups/backend/members"),
    ("PATCH", "/groups/eng/members"),
    ("PATCH", "/users/alice"),
    ("PATCH", "/groups/eng/members/alice"),
    ("POST", "/users/alice/tokens"),
]

MALFORMED = {
    "not json": b"{not json",
    "truncated": b'{"id": "bob", "password": "longenough"',
    "non-utf8": b'{"id": "\xff\xfe\xfd", "password": "longenough"}',
    "latin-1 name": '{"name": "caf\xe9"}'.encode("latin-1"),
    "lone surrogate": b'{"name": "\\ud800"}',
    "utf-16": '{"name": "x"}'.encode("utf-16"),
    "NaN": b'{"name": NaN}',
    "trailing garbage": b'{"name": "x"} {"name": "y"}',
    "nested arrays 10k": b"[" * 10_000 + b"]" * 10_000,
    "nested objects 10k": b'{"a":' * 10_000 + b"1" + b"}" * 10_000,
    "nested in a field": b'{"name": ' + b"[" * 10_000 + b"]" * 10_000 + b"}",
    "huge integer": b'{"name": ' + b"9" * 50_000 + b"}",
    "NUL byte": b'{"name": "a\x00b"}',
}


@pytest.mark.parametrize("kind", MALFORMED)
@pytest.mark.parametrize(("method", "path"), WRITES)
def test_malformed_json_is_a_4xx_and_writes_nothing(testapp, unchanged, method, path, kind):
    res = testapp.request(
        path,
        method=method,
        body=MALFORMED[kind],
        headers={**basic(ADMIN), **JSON},
        expect_errors=True,
    )
    assert res.status_int in (400, 422), res.text
    assert_problem(res, res.status_int)
    assert res.json["errors"], "the error names no field"


@pytest.mark.parametrize(
    "content_type",
    [
        None,
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "application/xml",
        "application/jsonx",
        "json",
        "\x00",
    ],
)
@pytest.mark.parametrize(("method", "path"), WRITES[:4])
def test_wrong_content_type_is_415(testapp, unchanged, method, path, content_type):
    headers = basic(ADMIN)
    if content_type is not None:
        headers["Content-Type"] = content_type
    req = TestRequest.blank(path, method=method, headers=headers)
    req.body = b'{"name": "sneaky", "id": "sneaky", "user": "alice"}'
    if content_type is None:
        req.environ.pop("CONTENT_TYPE", None)
    res = testapp.do_request(req, expect_errors=True)
    assert_problem(res, 415, "Content-Type")


class CountingInput(io.RawIOBase):
    """A body that claims 100 MB and counts what the app reads of it."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.read_so_far = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        n = min(len(buffer), self.size - self.read_so_far)
        buffer[:n] = b" " * n
        self.read_so_far += n
        return n


def test_hundred_megabyte_body_is_413_before_it_is_read(testapp, unchanged):
    hundred_mb = 100 * 1024 * 1024
    body = CountingInput(hundred_mb)
    req = TestRequest.blank("/users", method="POST", headers={**basic(ADMIN), **JSON})
    req.environ["wsgi.input"] = body
    req.environ["CONTENT_LENGTH"] = str(hundred_mb)
    res = testapp.do_request(req, expect_errors=True)
    assert_problem(res, 413, "body", mentions="1048576 bytes")
    assert body.read_so_far < 64 * 1024, f"read {body.read_so_far} bytes of a refused body"


def test_chunked_body_over_the_limit_is_413(testapp, unchanged):
    req = TestRequest.blank("/groups", method="POST", headers={**basic(ADMIN), **JSON})
    body = CountingInput(5 * 1024 * 1024)
    req.environ["wsgi.input"] = body
    req.environ.pop("CONTENT_LENGTH", None)
    req.environ["HTTP_TRANSFER_ENCODING"] = "chunked"
    res = testapp.do_request(req, expect_errors=True)
    assert_problem(res, 413, "body")
    assert body.read_so_far <= 1024 * 1024 + 1


@pytest.mark.parametrize("settings", [{"membership.max_body_bytes": "64"}], indirect=True)
def test_the_body_limit_is_configurable(api, unchanged):
    res = api.post("/groups", {"name": "x" * 10, "description": "y" * 100})
    assert_problem(res, 413, "body", mentions="64 bytes")


@pytest.fixture
def settings(request, settings):
    """``@pytest.mark.parametrize("settings", [{...}], indirect=True)`` adds settings."""
    return {**settings, **getattr(request, "param", {})}


@pytest.mark.parametrize("count", [101, 10_000])
def test_huge_numbers_of_query_parameters_are_400(world, unchanged, count):
    query = "&".join(f"p{i}=1" for i in range(count))
    assert_problem(world.get(f"/users?{query}"), 400, "query", mentions="query parameters")
    assert_problem(world.delete(f"/groups/eng?{query}"), 400, "query")


def test_long_and_repeated_query_values_are_400(world, unchanged):
    assert_problem(world.get("/users?prefix=" + "a" * 100_000), 400, "prefix")
    assert_problem(world.get("/users?limit=1&limit=2"), 400, "limit")
    assert_problem(world.get("/users?limit=" + "9" * 5000), 400, "limit")
    assert_problem(world.get("/users?cursor=" + "A" * 10_000), 400, "cursor")
    assert_problem(world.get("/users?limit=%00"), 400, "limit")


NAMES = [
    "..",
    "%2E%2E",
    "a%2Fb",
    "%2F",
    "@@x",
    "@@",
    "a%00b",
    "%00",
    "%D0%B0lice",  # Cyrillic a
    "al%C4%B1ce",  # dotless i
    "ALICE",
    "alice%E2%80%8B",  # zero-width space
    "a" * 65,
    "a" * 5000,
    "%FF%FE",  # not UTF-8
    "%",
    "a%20b",
]


@pytest.mark.parametrize("name", NAMES)
def test_hostile_names_in_urls_are_4xx_and_write_nothing(world, unchanged, name):
    for method, path, body in [
        ("GET", f"/users/{name}", None),
        ("PATCH", f"/users/{name}", {"display_name": "pwned"}),
        ("DELETE", f"/users/{name}", None),
        ("POST", f"/groups/{name}/members", {"user": "alice", "role": "owner"}),
        ("PATCH", f"/groups/eng/members/{name}", {"role": "owner"}),
        ("DELETE", f"/groups/eng/groups/{name}", None),
        ("POST", f"/groups/{name}/groups", {"name": "evil"}),
        ("GET", f"/users/{name}/tokens", None),
    ]:
        res = world.request(method, path, body)
        assert 400 <= res.status_int < 500, (method, path, res.status_int, res.text)
        assert_problem(res, res.status_int)
        if name in ("..", "%2E%2E", "%2F", "@@x", "@@", "%FF%FE"):
            assert_problem(res, 400, "path")


@pytest.mark.parametrize(
    "name", ["..", "a/b", "@@x", "a\x00b", "\u0430lice", "alice\u200b", "a" * 65, "", " ", "A"]
)
def test_hostile_names_in_bodies_are_422(world, unchanged, name):
    assert_problem(world.post("/users", {"id": name, "password": "longenough"}), 422, "id")
    assert_problem(world.post("/groups", {"name": name}), 422, "name")
    assert_problem(world.post("/groups/eng/members", {"user": name}), 422, "user")
    res = world.patch("/groups/eng/members", [{"op": "add", "user": name}])
    assert_problem(res, 422, "0.user")


AUTHORIZATION = [
    "Basic !!!notbase64",
    "Basic " + "QQ==" * 3000,
    "Basic " + "A" * 10_001,
    "Basic YWRtaW4=",  # "admin", no colon
    "Basic //79/A==",  # not UTF-8 once decoded
    "Basic \u00e9\u00e9\u00e9",  # not ASCII
    "Basic",
    "Basic ",
    "Bearer",
    "Bearer " + "x" * 10_000,
    "Bearer mbr_\u00e9",
    "Digest username=admin",
    "Negotiate " + "A" * 5000,
    "\x7f\x7f",
]


@pytest.mark.parametrize("header", AUTHORIZATION)
def test_garbage_authorization_is_401_and_writes_nothing(world, unchanged, header):
    res = world.post("/groups", {"name": "intruders"}, as_={"Authorization": header})
    assert_problem(res, 401)
    assert res.headers["WWW-Authenticate"] == 'Basic realm="membership"'
    assert_problem(world.get("/", as_={"Authorization": header}), 401)


def test_ten_kilobyte_password_is_401_and_cheap(world, unchanged, monkeypatch):
    calls = []
    original = PasswordHasher.verify
    monkeypatch.setattr(
        PasswordHasher, "verify", lambda self, *a: calls.append(1) or original(self, *a)
    )
    res = world.post("/groups", {"name": "x"}, as_=basic(ADMIN, "p" * 10_240))
    assert_problem(res, 401)
    assert calls == [], "a 10 KB password was run through argon2"


@pytest.mark.parametrize(
    "if_match",
    ["junk", '"', '""', 'W/"x"', '"a", "b", "c"', ",,,", "\x01\x02", '"' + "f" * 1000 + '"'],
)
def test_junk_if_match_is_412_and_writes_nothing(world, unchanged, if_match):
    headers = {"If-Match": if_match}
    for method, path, body in [
        ("PATCH", "/groups/eng", {"title": "x"}),
        ("DELETE", "/groups/eng", None),
        ("PATCH", "/users/alice", {"display_name": "x"}),
        ("DELETE", "/users/alice", None),
        ("PATCH", "/groups/eng/members/alice", {"role": "owner"}),
        ("DELETE", "/groups/eng/members/alice", None),
    ]:
        res = world.request(method, path, body, headers=headers)
        assert_problem(res, 412, "If-Match")


def test_over_long_if_match_is_400(world, unchanged):
    res = world.patch("/groups/eng", {"title": "x"}, headers={"If-Match": "x" * 2000})
    assert_problem(res, 400, "If-Match")
    res = world.get("/groups/eng", headers={"If-None-Match": "x" * 2000})
    assert_problem(res, 400, "If-None-Match")


@pytest.mark.parametrize("length", ["-5", "abc", "1e9", " ", "99999999999999999999999"])
def test_garbage_content_length_is_a_4xx(app, unchanged, length):
    """Straight to the WSGI app: WebTest's own checks refuse to send these."""
    req = TestRequest.blank("/groups", method="POST", headers={**basic(ADMIN), **JSON})
    req.body = b'{"name": "sneaky"}'
    req.environ["CONTENT_LENGTH"] = length
    res = req.get_response(app)
    assert 400 <= res.status_int < 500, res.text
    assert res.content_type == "application/problem+json"


def test_password_is_never_echoed(world, unchanged):
    res = world.post("/users", {"id": "Bad", "password": PASSWORD + "-secret"})
    assert_problem(res, 422, "id")
    assert "secret" not in res.text
