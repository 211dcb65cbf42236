"""``GET /openapi.json`` and ``GET /docs``: the API described, for machines and for people.

The page is rendered here from the same document, with no script or
stylesheet fetched from anywhere: it must work on a machine without internet.
"""

import json
from html import escape

from pyramid.response import Response
from pyramid.view import view_config

from ...model import Root
from ..openapi import openapi_for
from ..rendering import dumps


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
    body = getattr(request.registry, "_membership_docs_html", None)
    if body is None:
        body = render_docs(openapi_for(request.registry)).encode()
        request.registry._membership_docs_html = body
    response = Response(body=body, content_type="text/html", charset="utf-8")
    response.cache_control = "public, max-age=300"
    return response


STYLE = """
body { font: 15px/1.5 system-ui, sans-serif; max-width: 60em; margin: 2em auto; padding: 0 1em;
       color: #222; }
code, pre { font: 13px/1.4 ui-monospace, monospace; }
pre { background: #f6f6f6; padding: .6em; overflow-x: auto; }
.op { border-top: 1px solid #ddd; padding: .5em 0; }
.method { display: inline-block; min-width: 4.5em; font-weight: bold; }
table { border-collapse: collapse; } td, th { text-align: left; padding: .1em .8em .1em 0;
vertical-align: top; }
"""


def render_docs(document: dict) -> str:
    """A self-contained HTML page listing every operation and schema of ``document``."""
    info = document["info"]
    out = [
        "<!doctype html><html lang=en><head><meta charset=utf-8>",
        f"<title>{escape(info['title'])} API</title><style>{STYLE}</style></head><body>",
        f"<h1>{escape(info['title'])} {escape(info['version'])}</h1>",
        f"<p>{escape(info.get('summary', ''))}</p>",
        f"<p>{escape(info.get('description', ''))}</p>",
        '<p>Machine-readable: <a href="openapi.json">openapi.json</a> (OpenAPI '
        f"{escape(document['openapi'])}). Errors are <code>application/problem+json</code> "
        '(see <a href="#schema-Problem">Problem</a>). Authentication: HTTP Basic or '
        "<code>Authorization: Bearer &lt;token&gt;</code>.</p>",
        "<h2>Operations</h2>",
    ]
    for path, item in document["paths"].items():
        for method, op in item.items():
            out.append(_operation(path, method, op))
    out.append("<h2>Schemas</h2>")
    for name, schema in document["components"]["schemas"].items():
        out.append(
            f'<h3 id="schema-{escape(name)}">{escape(name)}</h3>'
            f"<pre>{escape(json.dumps(schema, indent=2))}</pre>"
        )
    out.append("</body></html>")
    return "\n".join(out)


def _operation(path: str, method: str, op: dict) -> str:
    parts = [
        f'<div class=op id="{escape(op["operationId"])}">',
        f"<span class=method>{escape(method.upper())}</span> <code>{escape(path)}</code>",
        f" &mdash; {escape(op.get('summary', ''))} <small>({escape(op['operationId'])})</small>",
    ]
    if op.get("security") == [] or {} in op.get("security", [{"x": 1}]):
        parts.append(" <small>(no credentials needed)</small>")
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
