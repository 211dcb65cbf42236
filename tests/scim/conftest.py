"""SCIM tests: the app of the functional tests, and a SCIM client with an admin token.

The OpenAPI response check of ``tests/functional`` does not apply here: SCIM
describes itself through its own discovery endpoints (RFC 7644 §4).
"""

import pytest
from webtest import TestApp

import membership
from membership.scripts.initialize import ensure_admin
from membership.web.db import database
from tests.functional.conftest import TEST_SETTINGS, script_context, with_root
from tests.functional.helpers import ADMIN, PASSWORD, Api

SCIM_JSON = "application/scim+json"
USER = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"


@pytest.fixture
def settings() -> dict:
    return dict(TEST_SETTINGS)


@pytest.fixture
def app(settings):
    wsgi = membership.main({}, **settings)
    db = database(wsgi.registry)
    with_root(db, lambda root: ensure_admin(script_context(root, wsgi.registry), ADMIN, PASSWORD))
    yield wsgi
    db.close()


@pytest.fixture
def testapp(app) -> TestApp:
    return TestApp(app)


@pytest.fixture
def api(testapp) -> Api:
    return Api(testapp)


class Scim:
    """WebTest under /scim/v2 with a Bearer token and SCIM bodies."""

    def __init__(self, testapp: TestApp, token: str | None) -> None:
        self.app = testapp
        self.token = token

    def request(self, method: str, path: str, body=None, *, headers=None, token=...):
        token = self.token if token is ... else token
        all_headers = {"Accept": SCIM_JSON}
        if token:
            all_headers["Authorization"] = f"Bearer {token}"
        all_headers.update(headers or {})
        url = "/scim/v2" + path
        kwargs = {"headers": all_headers, "status": "*", "expect_errors": True}
        if body is not None:
            import json

            return self.app.request(
                url,
                method=method,
                body=json.dumps(body).encode(),
                content_type=SCIM_JSON,
                **kwargs,
            )
        return self.app.request(url, method=method, **kwargs)

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, body, **kw):
        return self.request("POST", path, body, **kw)

    def put(self, path, body, **kw):
        return self.request("PUT", path, body, **kw)

    def patch(self, path, operations, **kw):
        return self.request("PATCH", path, {"schemas": [PATCH], "Operations": operations}, **kw)

    def delete(self, path, **kw):
        return self.request("DELETE", path, **kw)

    def user(self, user_name: str, **fields) -> dict:
        res = self.post("/Users", {"schemas": [USER], "userName": user_name, **fields})
        assert res.status_int == 201, res.text
        return res.json

    def group(self, display_name: str, members=(), **fields) -> dict:
        body = {"schemas": [GROUP], "displayName": display_name, **fields}
        if members:
            body["members"] = [{"value": m, "type": "User"} for m in members]
        res = self.post("/Groups", body)
        assert res.status_int == 201, res.text
        return res.json


@pytest.fixture
def token(api) -> str:
    return api.token(ADMIN)


@pytest.fixture
def scim(testapp, token) -> Scim:
    return Scim(testapp, token)


def scim_error(res, status: int, scim_type: str | None = None) -> dict:
    """Assert ``res`` is a SCIM Error with ``status`` (a string in the body) and type."""
    assert res.status_int == status, res.text
    assert res.content_type == SCIM_JSON
    body = res.json
    assert body["schemas"] == [ERROR]
    assert body["status"] == str(status)
    if scim_type is not None:
        assert body.get("scimType") == scim_type, body
    assert body.get("detail")
    return body
