"""/openapi.json is valid OpenAPI 3.1, lists every registered view, and /docs renders it."""

import re

import pytest
from openapi_spec_validator import validate

from membership.web.openapi import ALIASES, CONTEXT_PATHS, OPERATIONS, registered_views

from .spec_check import SpecChecker


@pytest.fixture
def document(testapp) -> dict:
    res = testapp.get("/openapi.json", status=200)
    assert res.content_type == "application/json"
    return res.json


def test_document_validates_against_the_openapi_31_meta_schema(document):
    assert document["openapi"].startswith("3.1")
    validate(document)


def test_every_registered_view_appears(app, document):
    views = registered_views(app.registry)
    assert views
    for context, name, methods in views:
        assert context in CONTEXT_PATHS, f"no URL template for {context.__name__}"
        for template, _ in CONTEXT_PATHS[context]:
            extra = {}
            for method in methods or ():
                operation = OPERATIONS.get((ALIASES.get(context, context), name, method))
                extra = operation.extra if operation else extra
            if template not in extra.get("only", (template,)):
                continue
            path = template if not name else template.rstrip("/") + "/" + name
            path += extra.get("subpath", "")
            assert path in document["paths"], f"{context.__name__} @@{name} not at {path}"
            for method in methods or ():
                if method != "HEAD":
                    assert method.lower() in document["paths"][path], f"{method} {path}"


def test_every_registered_view_is_described_not_just_listed(app):
    """A new view needs an entry in ``OPERATIONS`` (its schemas and statuses)."""
    for context, name, methods in registered_views(app.registry):
        for method in methods or ():
            if method != "HEAD":
                key = (ALIASES.get(context, context), name, method)
                assert key in OPERATIONS, f"describe {key} in membership.openapi.OPERATIONS"


def test_operation_ids_are_unique_and_every_path_parameter_is_declared(document):
    ids = []
    for path, item in document["paths"].items():
        for method, op in item.items():
            ids.append(op["operationId"])
            declared = {p["name"] for p in op.get("parameters", []) if p["in"] == "path"}
            assert declared == set(re.findall(r"\{(\w+)\}", path)), (method, path)
            assert {"400", "429", "500", "503"} <= set(op["responses"]), (method, path)
    assert len(ids) == len(set(ids))


def test_security_schemes_are_basic_and_bearer(document):
    schemes = document["components"]["securitySchemes"]
    assert {s["scheme"] for s in schemes.values()} == {"basic", "bearer"}
    assert document["security"] == [{"basicAuth": []}, {"bearerAuth": []}]
    assert document["paths"]["/openapi.json"]["get"]["security"] == []
    assert {} in document["paths"]["/"]["get"]["security"]


def test_bodies_and_answers_refer_to_the_pydantic_schemas(document):
    op = document["paths"]["/groups/{group}/members"]["post"]
    body = op["requestBody"]["content"]["application/json"]["schema"]
    assert body == {"$ref": "#/components/schemas/MembershipCreate"}
    created = op["responses"]["201"]["content"]["application/json"]["schema"]
    assert created == {"$ref": "#/components/schemas/MembershipOut"}
    assert "Location" in op["responses"]["201"]["headers"]
    problem = document["components"]["responses"]["422"]["content"]["application/problem+json"]
    assert problem["schema"] == {"$ref": "#/components/schemas/Problem"}
    assert document["components"]["schemas"]["MembershipCreate"]["additionalProperties"] is False


def test_groups_are_documented_at_two_depths(document):
    assert "/groups/{group}/groups/{subgroup}/members/{user}" in document["paths"]
    deep = document["paths"]["/groups/{group}/groups/{subgroup}"]["get"]
    assert deep["operationId"] == "getSubgroup"


def test_openapi_needs_no_credentials_and_ignores_bad_ones(testapp):
    testapp.get("/openapi.json", status=200)
    res = testapp.get("/openapi.json", headers={"Authorization": "Basic !!!"}, status=200)
    assert res.headers["Cache-Control"] == "no-store"


def test_docs_page_lists_every_operation_and_fetches_nothing(testapp, document):
    res = testapp.get("/docs", status=200)
    assert res.content_type == "text/html"
    page = res.text
    for item in document["paths"].values():
        for op in item.values():
            assert op["operationId"] in page
    assert "<script" not in page
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page)


def test_the_response_checker_catches_drift(app, document):
    """The suite-wide fixture is only worth something if it fails on a wrong answer."""

    class Fake:
        def __init__(self, status, body, content_type="application/json"):
            self.status_code = status
            self.body = body
            self.text = body.decode()
            self.content_type = content_type
            self.headers = {"X-Content-Type-Options": "nosniff", "X-Request-ID": "x"}

    checker = SpecChecker(document)
    assert checker.problems("GET", "/users/alice", Fake(200, b'{"id": "alice"}'))
    assert checker.problems("GET", "/users/alice", Fake(418, b"{}"))
    assert checker.problems("GET", "/users/alice", Fake(200, b"{}", "text/html"))
    assert checker.match("/groups/a/groups/b/groups/c/members") == (
        "/groups/{group}/groups/{subgroup}/members"
    )
    problem = b'{"type": "about:blank", "title": "x", "status": 404, "detail": "x"}'
    not_found = Fake(404, problem, "application/problem+json")
    assert not checker.problems("GET", "/users/alice", not_found)
