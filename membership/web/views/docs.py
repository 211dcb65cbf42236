"""``GET /openapi.json`` and ``GET /docs``: the API described, for machines and for people.

The page is rendered here from the same document: a table of contents by
resource (tag), then each operation with who may call it, its parameters, an
example request and answer (made from the schemas), and the schemas. It has
no script, and its one stylesheet is served by this app
(``/docs/static/docs.css``), so it works on a machine without internet; the
``Content-Security-Policy`` allows nothing else.
"""

import hashlib
import json
import re
from html import escape
from http import HTTPStatus

from pyramid.httpexceptions import HTTPNotFound
from pyramid.response import Response
from pyramid.view import view_config

from ...model import Root
from ..openapi import openapi_for
from ..rendering import dumps
from .public import public_route

#: The page may load its stylesheet from here and nothing else, and runs no script.
CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self'; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'none'"
)
STATIC_ROUTE = "docs-static"


@view_config(context=Root, name="openapi.json", request_method="GET")
def openapi_document(context: Root, request) -> Response:
    body = getattr(request.registry, "_membership_openapi_bytes", None)
    if body is None:
        body = dumps(openapi_for(request.registry))
        request.registry._membership_openapi_bytes = body
    response = Response(body=body, content_type="application/json", charset=None)
    response.cache_control = "public, max-age=300"
    return response


@view_config(context=Root, name="docs", request_method="GET")
def docs_page(context: Root, request) -> Response:
    pages = request.registry.__dict__.setdefault("_membership_docs_html", {})
    body = pages.get(request.script_name)  # links are absolute paths under the app's prefix
    if body is None:
        body = render_docs(
            openapi_for(request.registry),
            prefix=request.script_name,
            stylesheet=request.route_path(STATIC_ROUTE, file="docs.css"),
        ).encode()
        pages[request.script_name] = body
    response = Response(body=body, content_type="text/html", charset="utf-8")
    response.cache_control = "public, max-age=300"
    response.headers["Content-Security-Policy"] = CSP
    return response


@public_route("/docs/static/{file}", name=STATIC_ROUTE)
def docs_static(request) -> Response:
    asset = ASSETS.get(request.matchdict["file"])
    if asset is None:
        raise HTTPNotFound()
    body, content_type = asset
    response = Response(body=body, content_type=content_type, charset="utf-8")
    response.etag = hashlib.sha256(body).hexdigest()[:32]
    response.cache_control = "public, max-age=3600"
    response.headers["Content-Security-Policy"] = CSP
    response.conditional_response = True
    return response


STYLE = """\
body { font: 15px/1.5 system-ui, sans-serif; max-width: 68em; margin: 2em auto; padding: 0 1em;
       color: #222; }
code, pre { font: 13px/1.4 ui-monospace, monospace; }
pre { background: #f6f6f6; padding: .6em; overflow-x: auto; margin: .3em 0; }
h2 { border-bottom: 2px solid #ddd; margin-top: 2em; }
.op { border-top: 1px solid #ddd; padding: .6em 0 1em; }
.op h3 { margin: 0; font-size: 1em; font-weight: normal; }
.method { display: inline-block; min-width: 4.5em; font-weight: bold; }
.get { color: #1f6f3f; } .post { color: #1a5a96; } .put, .patch { color: #8a5a00; }
.delete { color: #a31515; }
.perm { background: #f0f4ff; border-left: 3px solid #6a8ad8; padding: .2em .6em; }
.examples { display: grid; grid-template-columns: 1fr 1fr; gap: .8em; }
.examples > div { min-width: 0; }
.toc > ul { list-style: none; padding-left: 0; }
.toc > ul > li { margin-bottom: .6em; }
.toc ul ul { list-style: none; padding-left: 1em; }
.toc a.method { min-width: 0; margin-left: .4em; font-size: 12px; text-decoration: none; }
table { border-collapse: collapse; }
td, th { text-align: left; padding: .1em .8em .1em 0; vertical-align: top; }
small { color: #666; }
"""

#: ``/docs/static/<file>``: the page's assets, served from here (no file to package).
ASSETS: dict[str, tuple[bytes, str]] = {"docs.css": (STYLE.encode(), "text/css")}

METHOD_ORDER = {"get": 0, "post": 1, "put": 2, "patch": 3, "delete": 4, "options": 5}
#: Resources first, then the rest in the document's order.
TAG_ORDER = ("service", "users", "groups")


def render_docs(document: dict, *, prefix: str = "", stylesheet: str = "") -> str:
    """A self-contained HTML page of every operation and schema of ``document``."""
    info = document["info"]
    by_tag: dict[str, list[tuple[str, str, dict]]] = {}
    for path, item in document["paths"].items():
        for method, op in sorted(item.items(), key=lambda m: METHOD_ORDER.get(m[0], 9)):
            tag = (op.get("tags") or ["other"])[0]
            by_tag.setdefault(tag, []).append((path, method, op))
    tags = [t for t in TAG_ORDER if t in by_tag] + [t for t in by_tag if t not in TAG_ORDER]
    title = f"{info['title']} API"
    out = [
        "<!doctype html><html lang=en><head><meta charset=utf-8>",
        '<meta name=viewport content="width=device-width, initial-scale=1">',
        f"<title>{escape(title)}</title>",
        f'<link rel=stylesheet href="{escape(stylesheet)}">' if stylesheet else "",
        "</head><body>",
        f"<h1>{escape(info['title'])} {escape(info['version'])}</h1>",
        f"<p><strong>{escape(info.get('summary', ''))}</strong></p>",
        markdown(info.get("description", ""), level=3),
        f'<p>Machine-readable: <a href="{escape(prefix)}/openapi.json">openapi.json</a> '
        f"(OpenAPI {escape(document['openapi'])}). Schemas: "
        '<a href="#schemas">at the end</a>.</p>',
        '<nav class=toc><h2 id="contents">Contents</h2><ul>',
    ]
    for tag in tags:
        out.append(f'<li><a href="#tag-{escape(tag)}"><strong>{escape(tag)}</strong></a><ul>')
        methods: dict[str, list[str]] = {}
        for path, method, op in by_tag[tag]:
            methods.setdefault(path, []).append(
                f'<a class="method {escape(method)}" href="#{escape(op["operationId"])}">'
                f"{escape(method.upper())}</a>"
            )
        for path, links in methods.items():
            out.append(f"<li><code>{escape(path)}</code> {' '.join(links)}</li>")
        out.append("</ul></li>")
    out.append("</ul></nav>")
    for tag in tags:
        out.append(f'<h2 id="tag-{escape(tag)}">{escape(tag)}</h2>')
        for path, method, op in by_tag[tag]:
            out.append(_operation(document, path, method, op))
    out.append('<h2 id="schemas">Schemas</h2>')
    for name, schema in document["components"]["schemas"].items():
        out.append(
            f'<h3 id="schema-{escape(name)}">{escape(name)}</h3>'
            f"<pre>{escape(json.dumps(schema, indent=2))}</pre>"
        )
    out.append("</body></html>")
    return "\n".join(part for part in out if part)


def _operation(document: dict, path: str, method: str, op: dict) -> str:
    op_id = escape(op["operationId"])
    parts = [
        f'<div class=op id="{op_id}"><h3>',
        f'<span class="method {escape(method)}">{escape(method.upper())}</span> ',
        f"<code>{escape(path)}</code> &mdash; {escape(op.get('summary', ''))} ",
        f'<small><a href="#{op_id}">{op_id}</a></small></h3>',
    ]
    security = op.get("security", document.get("security", []))
    if security == []:
        auth = "No credentials needed."
    elif {} in security:
        auth = "Credentials optional: HTTP Basic or a Bearer token."
    else:
        auth = "Credentials: HTTP Basic or a Bearer token."
    permission = op.get("x-permission")
    needs = f"<code>{escape(permission)}</code>" if permission else "none registered"
    parts.append(f"<p class=perm>{auth} Permission: {needs}.</p>")
    if op.get("description"):
        parts.append(markdown(op["description"]))
    params = op.get("parameters", [])
    if params:
        parts.append("<table><tr><th>parameter</th><th>in</th><th>schema</th><th></th></tr>")
        for param in params:
            parts.append(
                f"<tr><td><code>{escape(param['name'])}</code></td><td>{escape(param['in'])}</td>"
                f"<td><code>{escape(json.dumps(param.get('schema', {})))}</code></td>"
                f"<td>{escape(param.get('description', ''))}</td></tr>"
            )
        parts.append("</table>")
    body = op.get("requestBody")
    if body:
        types = ", ".join(body["content"])
        ref = next(iter(body["content"].values()))["schema"].get("$ref", "")
        name = ref.rsplit("/", 1)[-1]
        parts.append(
            f'<p>Body ({escape(types)}): <a href="#schema-{escape(name)}">{escape(name)}</a></p>'
        )
    request, answer = examples(document, path, method, op)
    parts.append(
        "<div class=examples>"
        f"<div><small>Example request</small><pre>{escape(request)}</pre></div>"
        f"<div><small>Example answer</small><pre>{escape(answer)}</pre></div></div>"
    )
    statuses = []
    for status, response in op["responses"].items():
        if "$ref" in response:
            response = {"content": {"": {"schema": {"$ref": "#/Problem"}}}}
        schema = next(iter(response.get("content", {}).values()), {}).get("schema", {})
        refs = [schema.get("$ref", "")] + [s.get("$ref", "") for s in schema.get("anyOf", [])]
        names = [ref.rsplit("/", 1)[-1] for ref in refs if ref]
        links = ", ".join(f'<a href="#schema-{escape(n)}">{escape(n)}</a>' for n in names)
        statuses.append(f"<code>{escape(status)}</code>{' ' + links if links else ''}")
    parts.append("<p>Answers: " + "; ".join(statuses) + "</p></div>")
    return "".join(parts)


# Examples, made from the schemas: illustrative values, not real answers.

BASE_URL = "http://localhost:6543"
UUID = "0b7c8d46-3f61-4a57-9f5e-2d3c1b0a9e87"
#: ``(schema, property)`` or ``property`` -> an example value.
HINTS: dict = {
    ("GroupOut", "id"): UUID,
    ("UserGroupOut", "id"): UUID,
    ("TokenOut", "id"): "0123456789abcdef",
    ("TokenOut", "name"): "ci",
    ("TokenCreate", "name"): "ci",
    ("ServiceDocument", "service"): "membership",
    "id": "alice",
    "user": "alice",
    "actor": "admin",
    "added_by": "admin",
    "name": "backend",
    "display_name": "Alice Liddell",
    "email": "alice@example.org",
    "password": "correct horse battery staple",
    "current_password": "the old one",
    "title": "Backend",
    "description": "The backend team",
    "path": "/groups/eng/groups/backend",
    "group": "/groups/eng/groups/backend",
    "node": "/groups/eng",
    "target": "/groups/eng/groups/backend",
    "to": "/groups/eng",
    "via": "/groups/eng/groups/backend",
    "principal": "user:alice",
    "token": "<the secret, shown once>",
    "version": "0.2.0",
    "principals": "user:alice",
    "authenticated_by": "basic",
    "cursor": "0123456789abcdef01234567",
    "action": "membership.created",
    "type": "membership.created",
}
#: The path of the examples: the group and user the example bodies speak of.
PATH_EXAMPLES = {"group": "eng", "subgroup": "backend", "user": "alice"}
#: Where ``links.self`` points, by the start of the name of the schema with the links.
SELF_PATHS = {
    "User": "/users/alice",
    "UserGroup": "/groups/eng/groups/backend",
    "Group": "/groups/eng/groups/backend",
    "Membership": "/groups/eng/groups/backend/members/alice",
    "EffectiveMember": "/groups/eng/groups/backend/members/alice",
    "Token": "/users/alice/tokens/0123456789abcdef",
    "Acl": "/groups/eng/acl",
    "Permissions": "/groups/eng/permissions",
    "Event": "/groups/eng/history",
    "Service": "/",
}


def examples(document: dict, path: str, method: str, op: dict) -> tuple[str, str]:
    """An example HTTP request and answer for ``op`` (``path`` filled with examples)."""
    params = {p["name"]: p for p in op.get("parameters", [])}
    values = {name: p.get("example", name) for name, p in params.items()} | PATH_EXAMPLES
    url = re.sub(r"\{(\w+)\}", lambda m: str(values[m[1]]), path)
    request = [f"{method.upper()} {url} HTTP/1.1"]
    security = op.get("security", document.get("security", []))
    if security and {} not in security:
        request.append("Authorization: Bearer <token>")
    if "If-Match" in params:
        request.append('If-Match: "<the ETag you read>"')
    body = op.get("requestBody")
    if body:
        media_type, content = next(iter(body["content"].items()))
        request += [f"Content-Type: {media_type}", "", _json(example(document, content["schema"]))]
    responses = op["responses"]
    status = next((s for s in responses if s[0] in "23"), next(iter(responses)))
    response = responses[status]
    answer = [f"HTTP/1.1 {status} {HTTPStatus(int(status)).phrase}"]
    content = response.get("content", {})
    media_type, schema = next(iter(content.items()), ("", {}))
    value = example(document, schema.get("schema", {})) if media_type.endswith("json") else None
    headers = response.get("headers", {})
    if "Location" in headers:
        self_url = value.get("links", {}).get("self") if isinstance(value, dict) else None
        answer.append(f"Location: {self_url or BASE_URL + SELF_PATHS['Group']}")
    if "ETag" in headers:
        answer.append('ETag: "3f2a9c…"')
    if media_type and status not in ("204", "304"):
        answer += [f"Content-Type: {media_type}", ""]
        answer.append(_json(value) if value not in (None, {}) else "…")
    return "\n".join(request), "\n".join(answer)


def _json(value) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False)


def _self_path(owner: str) -> str:
    prefixes = sorted((p for p in SELF_PATHS if owner.startswith(p)), key=len, reverse=True)
    return SELF_PATHS[prefixes[0]] if prefixes else "/"


def example(document: dict, schema: dict, owner: str = "", key: str = "", depth: int = 0):
    """A value that fits ``schema`` (of property ``key`` of schema ``owner``): a hint by
    name, else the schema's ``examples``/``const``/``default``/``enum``, else its type."""
    schemas = document["components"]["schemas"]
    ref_owner = owner
    while "$ref" in schema:
        ref_owner = schema["$ref"].rsplit("/", 1)[-1]
        schema = schemas.get(ref_owner, {})
    if depth > 8:
        return None
    if key == "links":  # URLs of the resource the links belong to
        here = BASE_URL + _self_path(owner)
        return {
            name: here if name == "self" else f"{here.rstrip('/')}/{name}"
            for name in schema.get("properties", {"self": {}})
        }
    owner = ref_owner
    if "examples" in schema:
        return schema["examples"][0]
    for name in ("example", "const"):
        if name in schema:
            return schema[name]
    options = schema.get("anyOf") or schema.get("oneOf") or schema.get("allOf")
    if options:
        present = [o for o in options if o.get("type") != "null"] or options
        return example(document, present[0], owner, key, depth + 1)
    kind = schema.get("type")
    if kind in ("string", None) and HINTS.get((owner, key), HINTS.get(key)) is not None:
        return HINTS.get((owner, key), HINTS.get(key))
    if schema.get("default") is not None:
        return schema["default"]
    if "enum" in schema:
        return schema["enum"][0]
    if kind == "object" or "properties" in schema:
        value = {}
        for name, prop in schema.get("properties", {}).items():
            item = example(document, prop, owner, name, depth + 1)
            if item is not None:
                value[name] = item
        return value
    if kind == "array":
        item = example(document, schema.get("items", {}), owner, key, depth + 1)
        return [] if item is None else [item]
    if kind == "integer":
        return schema.get("minimum", 1)
    if kind == "number":
        return 1.0
    if kind == "boolean":
        return False
    if kind == "null":
        return None
    if schema.get("format") == "date-time":
        return "2025-06-01T12:00:00Z"
    return "…"


# A small Markdown: paragraphs, "## " headings, "- " lists, `code`, **strong**, *em*.

_INLINE = re.compile(r"`([^`]+)`|\*\*([^*]+)\*\*|\*([^*\s][^*]*)\*")


def _inline(text: str) -> str:
    out, last = [], 0
    for match in _INLINE.finditer(text):
        out.append(escape(text[last : match.start()]))
        code, strong, em = match.groups()
        if code is not None:
            out.append(f"<code>{escape(code)}</code>")
        elif strong is not None:
            out.append(f"<strong>{escape(strong)}</strong>")
        else:
            out.append(f"<em>{escape(em)}</em>")
        last = match.end()
    out.append(escape(text[last:]))
    return "".join(out)


def markdown(text: str, level: int = 4) -> str:
    """HTML for the Markdown of descriptions; ``## `` headings become ``<h{level}>``."""
    html = []
    for block in re.split(r"\n\s*\n", text.strip()):
        lines = block.splitlines()
        if not lines:
            continue
        if lines[0].startswith("#"):
            html.append(f"<h{level}>{_inline(lines[0].lstrip('#').strip())}</h{level}>")
            lines = lines[1:]
            if not lines:
                continue
        if lines[0].startswith("- "):
            items: list[str] = []
            for line in lines:
                if line.startswith("- "):
                    items.append(line[2:].strip())
                elif items:
                    items[-1] += " " + line.strip()
            html.append("<ul>" + "".join(f"<li>{_inline(i)}</li>" for i in items) + "</ul>")
        else:
            html.append(f"<p>{_inline(' '.join(line.strip() for line in lines))}</p>")
    return "\n".join(html)
