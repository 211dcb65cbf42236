"""OpenTelemetry tracing (``membership.tracing.enabled``), with the in-memory exporter."""

import pytest

pytest.importorskip("opentelemetry.instrumentation.pyramid", reason="the tracing extra")

from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
    InMemorySpanExporter,
)
from opentelemetry.trace import SpanKind

from .helpers import ADMIN, basic

EXPORTER = InMemorySpanExporter()
TRACE_ID = "0af7651916cd43dd8448eb211c80319c"


@pytest.fixture(scope="module", autouse=True)
def provider():
    """The process's tracer provider (OpenTelemetry allows one): the app keeps it."""
    current = trace.get_tracer_provider()
    if not isinstance(current, TracerProvider):
        current = TracerProvider()
        trace.set_tracer_provider(current)
    current.add_span_processor(SimpleSpanProcessor(EXPORTER))
    return current


@pytest.fixture
def settings(settings):
    return {**settings, "membership.tracing.enabled": "true"}


@pytest.fixture
def spans(api):
    """The app exists (so its setup left no spans behind); then only what the test does."""
    EXPORTER.clear()
    yield EXPORTER
    EXPORTER.clear()


def server_spans(exporter):
    return [s for s in exporter.get_finished_spans() if s.kind == SpanKind.SERVER]


def test_server_spans_are_named_after_the_route_template(api, spans):
    api.user("alice")
    spans.clear()
    api.get("/groups/admins/members/admin")
    api.get("/users/alice/groups")
    api.get("/groups/admins/no-such-name")
    api.get("/healthz")
    names = [(s.name, s.attributes.get("http.route")) for s in server_spans(spans)]
    assert names == [
        ("GET /groups/{group}/members/{user}", "/groups/{group}/members/{user}"),
        ("GET /users/{user}/groups", "/users/{user}/groups"),
        ("GET /groups/{group}/{name}", "/groups/{group}/{name}"),
        ("GET /healthz", "/healthz"),
    ]


def test_a_write_has_a_commit_span_inside_its_request_span(api, spans):
    api.post("/groups", {"name": "traced"})
    (request,) = server_spans(spans)
    assert request.name == "POST /groups"
    (commit,) = [s for s in spans.get_finished_spans() if s.name == "zodb.commit"]
    assert commit.parent.span_id == request.context.span_id
    assert commit.context.trace_id == request.context.trace_id
    assert request.start_time <= commit.start_time and commit.end_time <= request.end_time


def test_argon2_has_its_span_and_a_caller_s_trace_is_joined(testapp, spans):
    # basic_cache_seconds is on by default: a new password makes argon2 run.
    traceparent = f"00-{TRACE_ID}-b7ad6b7169203331-01"
    testapp.get(
        "/users",
        headers={**basic(ADMIN, "not the password"), "traceparent": traceparent},
        status=401,
    )
    (request,) = server_spans(spans)
    assert format(request.context.trace_id, "032x") == TRACE_ID
    assert request.attributes.get("http.route") == "/users"
    (verify,) = [s for s in spans.get_finished_spans() if s.name == "argon2.verify"]
    assert verify.parent.span_id == request.context.span_id


def test_no_password_or_authorization_in_span_attributes(testapp, spans):
    testapp.get("/users", headers=basic(ADMIN, "hunter2-secret"), status=401)
    for span in spans.get_finished_spans():
        text = repr(dict(span.attributes or {}))
        assert "hunter2" not in text and "Basic " not in text


class TestOff:
    @pytest.fixture
    def settings(self, settings):
        return {**settings, "membership.tracing.enabled": "false"}

    def test_no_spans_by_default(self, api, spans):
        api.get("/groups/admins/members/admin")
        api.post("/groups", {"name": "untraced"})
        assert spans.get_finished_spans() == ()
