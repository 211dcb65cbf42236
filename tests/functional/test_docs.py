"""The document for people: ``info.description``, the health probes, each operation's
permission (from the registered views), and ``/docs`` served with nothing from outside."""

import re
from collections import defaultdict
from urllib.parse import urlsplit

import pytest
from pyramid.security import NO_PERMISSION_REQUIRED
from webtest import TestApp

from membership.web.openapi import ALIASES, CONTEXT_PATHS, DECIDED_IN_VIEW, OPERATIONS

from .helpers import ADMIN, basic, bearer

PROBES = ("/healthz", "/readyz")  # /health answers more: test_health.py


@pytest.fixture
def document(testapp) -> dict:
    return testapp.get("/openapi.json", status=200).json


def registered(registry) -> list[tuple[object, str, tuple[str, ...], str | None, str | None]]:
    """``(context, name, methods, route pattern, permission)`` of every non-exception view,
    read from the introspector here (not through ``membership.web.openapi``)."""
    routes = {
        r["introspectable"]["name"]: r["introspectable"]["pattern"]
        for r in registry.introspector.get_category("routes") or []
    }
    views = []
    for entry in registry.introspector.get_category("views"):
        view = entry["introspectable"]
        if view["exception_only"] or not view["request_methods"]:
            continue  # exception views; catch-alls (their URLs are documented by others)
        context = view["context"]
        if isinstance(context, type) and issubclass(context, BaseException):
            continue
        methods = view["request_methods"]
        methods = (methods,) if isinstance(methods, str) else tuple(methods)
        permissions = [r["value"] for r in entry["related"] if r.category_name == "permissions"]
        permission = permissions[0] if permissions else None
        permission = None if permission == NO_PERMISSION_REQUIRED else permission
        pattern = routes.get(view["route_name"])
        views.append((context, view["name"] or "", methods, pattern, permission))
    return views


def documented_paths(context, name: str, methods) -> list[str]:
    """The document's paths of a traversal view (as ``test_openapi`` finds them)."""
    extra = {}
    for method in methods:
        operation = OPERATIONS.get((ALIASES.get(context, context), name, method))
        extra = operation.extra if operation else extra
    paths = []
    for template, _ in CONTEXT_PATHS[context]:
        if template in extra.get("only", (template,)):
            path = template if not name else template.rstrip("/") + "/" + name
            paths.append(path + extra.get("subpath", ""))
    return paths


def test_description_is_markdown_for_the_people_calling_the_api(document):
    description = document["info"]["description"]
    assert "``" not in description  # the module docstring's RST is for developers
    assert "Authentication" in description
    assert "Basic" in description and "Bearer" in description
    assert "problem+json" in description and "ETag" in description and "cursor" in description
    assert "/groups/{group}/groups/{subgroup}" in description
    assert "/groups/@id/{id}" in description
    assert "README" in description


def test_health_probes_are_documented_and_open(testapp, document):
    for path in PROBES:
        op = document["paths"][path]["get"]
        assert op["security"] == []
        assert op["x-permission"] is None
        schema = op["responses"]["200"]["content"]["application/json"]["schema"]
        assert schema == {"$ref": "#/components/schemas/Health"}
        assert "503" in op["responses"]
        # The autouse fixture checks the answer against that schema.
        assert testapp.get(path, headers={"Authorization": "Bearer nonsense"}).json == {
            "status": "ok"
        }
    health = document["components"]["schemas"]["Health"]
    assert health["properties"]["status"]["const"] == "ok"
    assert health["additionalProperties"] is False
    ready = document["paths"]["/readyz"]["get"]["responses"]["503"]
    assert "Retry-After" in ready["headers"]
    assert "application/problem+json" in ready["content"]


def test_every_operation_states_the_permission_of_its_view(app, document):
    expected: dict[tuple[str, str], set] = defaultdict(set)
    for context, name, methods, pattern, permission in registered(app.registry):
        paths = [pattern] if pattern else documented_paths(context, name, methods)
        for path in paths:
            if path in document["paths"]:  # e.g. /docs/static/{file} is no API
                for method in methods:
                    if method != "HEAD":
                        expected[(path, method.lower())].add(permission)
    assert set(PROBES) <= {path for path, _ in expected}
    for path, item in document["paths"].items():
        for method, op in item.items():
            assert "x-permission" in op, (method, path)
            permissions = expected[(path, method)]
            assert len(permissions) == 1, (method, path, permissions)  # one rule per URL
            (permission,) = permissions
            assert op["x-permission"] == (None if permission is None else str(permission))
            described = op["description"]
            get_permission = item.get("get", {}).get("x-permission")
            if permission is not None:
                assert f"Needs `{permission}` on " in described, (method, path)
            elif method == "options" and get_permission:  # it asks what GET asks
                assert f"Asks what `GET` asks here. Needs `{get_permission}` on " in described
            else:
                assert "Needs " in described and " permission" in described, (method, path)


def test_views_without_a_permission_say_how_they_decide(app):
    """A view that needs credentials but registers no permission checks inside:
    its operation must say what it checks (``DECIDED_IN_VIEW``); ``OPTIONS`` asks
    what ``GET`` asks, and says so from ``GET``'s view."""
    for context, name, methods, pattern, permission in registered(app.registry):
        if pattern is not None or permission is not None:
            continue
        for method in methods:
            key = (ALIASES.get(context, context), name, method)
            operation = OPERATIONS.get(key)
            if method in ("HEAD", "OPTIONS"):
                continue
            if operation is not None and operation.auth != "none":
                assert key in DECIDED_IN_VIEW, f"say who may call {key} in DECIDED_IN_VIEW"


def test_permission_sentences_name_the_default_holders(document):
    add = document["paths"]["/groups/{group}/members"]["post"]["description"]
    assert "Needs `manage-members` on the group: by default its managers and owners" in add
    assert "`grant-owner`" in add
    tokens = document["paths"]["/users/{user}/tokens"]["post"]["description"]
    assert "the user themself" in tokens
    assert "only the admins" in document["paths"]["/users"]["post"]["description"]
    explain = document["paths"]["/permissions"]["get"]
    assert explain["x-permission"] is None and "`manage-acl`" in explain["description"]


def _references(page: str) -> list[str]:
    return re.findall(r"""(?:src|href)\s*=\s*["']?([^"'\s>]+)""", page)


def test_docs_page_uses_only_its_own_assets(testapp, document):
    res = testapp.get("/docs", status=200)
    assert res.content_type == "text/html"
    csp = res.headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "style-src 'self'" in csp
    assert "unsafe-inline" not in csp and "script-src" not in csp  # no script at all
    page = res.text
    assert "<script" not in page.lower()
    assert "<style" not in page.lower() and " style=" not in page.lower()  # CSP forbids both
    ids = set(re.findall(r'\sid="([^"]+)"', page))
    external = []
    for ref in _references(page):
        if ref.startswith("#"):
            assert ref[1:] in ids, f"no anchor for {ref}"
            continue
        parts = urlsplit(ref)
        assert not parts.scheme and not parts.netloc and ref.startswith("/"), ref
        external.append(ref)
    assert "/openapi.json" in external
    assert any(ref.startswith("/docs/static/") for ref in external)
    # Every operation, under its resource, with its permission and an example.
    for item in document["paths"].values():
        for op in item.values():
            start = page.index(f'<div class=op id="{op["operationId"]}">')
            block = page[start : page.index("</div></div>", start)]
            assert "Permission:" in block and "Example request" in block
            assert "Needs " in block  # the permission sentence, rendered
    assert "<h3>Authentication</h3>" in page  # info.description, rendered from Markdown
    assert "/groups/@id/{id}</code>" in page


@pytest.mark.no_spec_check  # its assets are no API operations; headers checked here
def test_every_asset_the_page_references_answers(testapp):
    page = testapp.get("/docs", status=200).text
    kinds = {".css": "text/css", ".json": "application/json"}
    refs = [ref for ref in _references(page) if not ref.startswith("#")]
    assert refs
    for ref in refs:
        res = testapp.get(ref, status=200)
        suffix = "." + ref.rsplit(".", 1)[-1]
        assert res.content_type == kinds[suffix], ref
        assert res.headers["X-Content-Type-Options"] == "nosniff"
        assert res.headers["X-Request-ID"]
        etag = res.headers.get("ETag")
        if ref.startswith("/docs/static/"):
            assert etag
            testapp.get(ref, headers={"If-None-Match": etag}, status=304)
    # Nothing else is there: anonymous callers get the 401 of any missing URL, others 404
    # (credentials on this route, whose root is no tree, are no server error).
    testapp.get("/docs/static/nothing.js", status=401)
    testapp.get("/docs/static/nothing.js", headers=basic(ADMIN), status=404)
    testapp.get("/docs/static/nothing.js", headers=bearer("nonsense"), status=401)


@pytest.mark.no_spec_check
def test_docs_links_follow_the_app_prefix(app):
    mounted = TestApp(app, extra_environ={"SCRIPT_NAME": "/membership"})
    page = mounted.get("/docs", status=200).text
    refs = [ref for ref in _references(page) if not ref.startswith("#")]
    assert refs and all(ref.startswith("/membership/") for ref in refs), refs
    for ref in refs:
        mounted.get(ref.removeprefix("/membership"), status=200)
