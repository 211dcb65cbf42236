"""Encoded slashes, backslashes and dot segments in the request path: 400 ``path``.

WSGI servers decode ``PATH_INFO``, so ``/groups/eng%2Fgroups%2Fbackend`` reaches
traversal as ``/groups/eng/groups/backend``. The limits tween reads the raw
request target instead: ``REQUEST_URI`` (waitress) or ``RAW_URI`` (gunicorn).
WebTest sets neither, so these tests set it as the server would
(``tests/cluster/test_real_server_paths.py`` does the same through real servers).
"""

import pytest
from webtest import TestRequest

from membership.web.db import database

from .helpers import ADMIN, basic
from .test_hostile import assert_problem, database_digest

MEMBERSHIP = "/groups/eng/groups/backend/members/alice"


@pytest.fixture
def world(api):
    """alice, a member of /groups/eng/groups/backend."""
    api.user("alice")
    api.user("a.b")
    api.group("/groups/eng")
    api.group("/groups/eng/groups/backend")
    api.member("/groups/eng/groups/backend", "alice")
    return api


def send(testapp, method: str, raw: str, *, server: str = "RAW_URI", query: str = ""):
    """``method raw`` as a server would pass it on: ``PATH_INFO`` decoded, the raw target
    in ``server`` (``RAW_URI`` or ``REQUEST_URI``)."""
    target = raw + (f"?{query}" if query else "")
    req = TestRequest.blank(target, method=method, headers=basic(ADMIN))
    req.environ[server] = target
    return testapp.do_request(req, expect_errors=True)


def test_webtest_sets_no_raw_target(testapp):
    """Why the tests below set RAW_URI: WebTest's TestRequest does not."""
    res = testapp.get("/", extra_environ={})
    assert "REQUEST_URI" not in res.request.environ
    assert "RAW_URI" not in res.request.environ


@pytest.mark.parametrize("server", ["RAW_URI", "REQUEST_URI"])
@pytest.mark.parametrize("slash", ["%2F", "%2f"])
def test_an_encoded_slash_cannot_delete_a_membership(app, world, testapp, server, slash):
    raw = "/groups/eng" + "".join(
        f"{slash}{part}" for part in ("groups", "backend", "members", "alice")
    )
    before = database_digest_of(app)
    res = send(testapp, "DELETE", raw, server=server)
    assert_problem(res, 400, "path", mentions="%2F")
    assert database_digest_of(app) == before
    assert world.get(MEMBERSHIP).status_int == 200


RAW_PATHS = [
    "/groups/eng%2Fgroups%2Fbackend",
    "/groups/eng%2fgroups%2fbackend/members/alice",
    "/groups%2Feng",
    "/users/alice%2F",
    "/users/%2F",
    "/users/a%2Fb",
    "/groups/eng%5Cgroups%5Cbackend",
    "/groups/eng%5cgroups",
    "/users/alice%5C",
    "/groups/eng/groups/%2E%2E",
    "/groups/eng/groups/backend/%2e%2e/%2e%2e",
    "/groups/eng/groups/.%2E",
    "/groups/eng/groups/%2E.",
    "/groups/eng/%2E/groups",
    "/users/%2e",
    "/groups/eng%2F..%2Fadmins",
]


@pytest.mark.parametrize("raw", RAW_PATHS)
@pytest.mark.parametrize("method", ["GET", "DELETE", "PATCH"])
def test_encoded_separators_and_dot_segments_are_400_path(app, world, testapp, raw, method):
    before = database_digest_of(app)
    res = send(testapp, method, raw)
    assert_problem(res, 400, "path")
    assert database_digest_of(app) == before


def test_an_absolute_form_target_is_checked_too(world, testapp):
    raw = "/groups/eng%2Fgroups%2Fbackend%2Fmembers%2Falice"
    res = testapp.delete(
        raw,
        headers=basic(ADMIN),
        extra_environ={"REQUEST_URI": "http://localhost:6543" + raw},
        expect_errors=True,
    )
    assert_problem(res, 400, "path")
    assert world.get(MEMBERSHIP).status_int == 200


@pytest.mark.parametrize(
    ("raw", "query"),
    [
        ("/users/alice", ""),
        ("/users/a%2Eb", ""),  # an encoded dot inside a name is just a dot
        ("/users/%61lice", ""),  # any other encoded character is fine
        ("/groups/eng/groups/backend/members/alice", ""),
        ("/users/alice", "x=%2F%5C%2E%2E"),  # the query is not the path
    ],
)
def test_ordinary_paths_with_a_raw_target_still_work(world, testapp, raw, query):
    res = send(testapp, "GET", raw, query=query)
    assert res.status_int == 200, res.text


def test_a_double_encoded_slash_is_no_slash(world, testapp):
    """``%252F`` is a literal ``%2F`` in the name: not a slug, but not a path either."""
    res = send(testapp, "GET", "/users/a%252Fb")
    assert 400 <= res.status_int < 500
    assert world.get(MEMBERSHIP).status_int == 200


def test_without_a_raw_target_plain_dot_segments_are_still_refused(world, testapp):
    res = testapp.get("/groups/eng/groups/%2E%2E", headers=basic(ADMIN), expect_errors=True)
    assert_problem(res, 400, "path")


def database_digest_of(app) -> str:
    return database_digest(database(app.registry))
