"""Check an HTTP answer against the app's own OpenAPI document.

Used by the autouse fixture in ``conftest.py`` for every response WebTest
sees, so a view whose answer drifts from its declared schema (or answers a
status the document does not list) fails whichever test exercised it.
"""

import json
import re

from jsonschema import Draft202012Validator
from pyramid.traversal import split_path_info
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from membership.web.openapi import build_openapi, registered_views

SPEC_URI = "urn:membership:openapi"
_CACHE: dict = {}


def checker_for(registry) -> "SpecChecker":
    """One checker per set of registered views (every test app has the same ones)."""
    views = registered_views(registry)
    key = tuple(sorted((c.__module__, c.__qualname__, n, m or ()) for c, n, m in views))
    checker = _CACHE.get(key)
    if checker is None:
        checker = _CACHE[key] = SpecChecker(build_openapi(registry))
    return checker


def _collapse_depth(path: str) -> str:
    """``/groups/a/groups/b/groups/c/...`` -> ``/groups/b/groups/c/...``: documented depth."""
    parts = path.split("/")
    while parts[1:6:2] == ["groups", "groups", "groups"] and all(parts[2:5:2]):
        del parts[1:3]
    return "/".join(parts)


class SpecChecker:
    def __init__(self, document: dict) -> None:
        self.document = document
        resource = Resource.from_contents(document, default_specification=DRAFT202012)
        self.schemas = Registry().with_resource(SPEC_URI, resource)
        self.routes = []
        for template in document["paths"]:
            pattern = re.sub(r"\\\{[a-z_]+\\\}", "[^/]+", re.escape(template))
            literals = template.count("/") - template.count("{")
            self.routes.append((literals, re.compile(pattern), template))
        self.routes.sort(key=lambda r: -r[0])
        self._validators: dict = {}

    def match(self, path: str) -> str | None:
        path = _collapse_depth("/" + "/".join(split_path_info(path)))  # as traversal sees it
        for _, pattern, template in self.routes:
            if pattern.fullmatch(path):
                return template
        return None

    def validator(self, pointer: str) -> Draft202012Validator:
        validator = self._validators.get(pointer)
        if validator is None:
            validator = Draft202012Validator(
                {"$ref": f"{SPEC_URI}#{pointer}"}, registry=self.schemas
            )
            self._validators[pointer] = validator
        return validator

    def problems(self, method: str, path: str, response) -> list[str]:
        """What is wrong with ``response`` to ``method path`` (empty: nothing)."""
        found = []
        status = response.status_code
        if response.headers.get("X-Content-Type-Options") != "nosniff":
            found.append("no X-Content-Type-Options: nosniff")
        if not response.headers.get("X-Request-ID"):
            found.append("no X-Request-ID")
        if status >= 400 and "Traceback" in response.text:
            found.append("a traceback in the body")
        template = self.match(path)
        item = self.document["paths"].get(template) if template else None
        key = "get" if method == "HEAD" else method.lower()
        if item is None or key not in item:
            if method == "OPTIONS" and status == 204:
                return found  # a CORS preflight
            if status < 400:
                found.append(f"{status} for an undocumented operation {method} {path}")
            else:
                found += self._check_body(response, "/components/schemas/Problem", status)
            return found
        responses = item[key]["responses"]
        if str(status) not in responses:
            found.append(f"status {status} is not documented for {method} {template}")
            return found
        pointer = f"/paths/{_escape(template)}/{key}/responses/{status}"
        documented = responses[str(status)]
        if "$ref" in documented:
            pointer = documented["$ref"][1:]
            documented = self._resolve(pointer)
        content = documented.get("content")
        if method == "HEAD" or status in (204, 304):
            if response.body:
                found.append(f"a body on a {status} / {method}")
            return found
        media_type = (response.content_type or "").split(";")[0]
        if not content:
            if response.body:
                found.append(f"a body where {method} {template} {status} documents none")
            return found
        if media_type not in content:
            found.append(f"{media_type} is not documented for {method} {template} {status}")
            return found
        if media_type.endswith("json"):
            pointer += f"/content/{_escape(media_type)}/schema"
            found += self._check_body(response, pointer, status)
        return found

    def _check_body(self, response, pointer: str, status: int) -> list[str]:
        try:
            body = json.loads(response.body)
        except ValueError:
            return [f"{status} body is not JSON: {response.body[:200]!r}"]
        errors = sorted(self.validator(pointer).iter_errors(body), key=lambda e: e.path)
        return [
            f"{status} body breaks {pointer}: {'/'.join(map(str, e.path))}: {e.message}"
            for e in errors[:5]
        ]

    def _resolve(self, pointer: str) -> dict:
        node = self.document
        for part in pointer.strip("/").split("/"):
            node = node[part.replace("~1", "/").replace("~0", "~")]
        return node


def _escape(part: str) -> str:
    return part.replace("~", "~0").replace("/", "~1")
