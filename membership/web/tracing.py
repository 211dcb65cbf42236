"""OpenTelemetry tracing, off unless ``membership.tracing.enabled = true``.

Needs the ``tracing`` extra (``pip install 'membership[tracing]'``):
``opentelemetry-instrumentation-pyramid`` makes one server span per request
(joining a caller's ``traceparent``). Under traversal it would name every span
just ``GET`` (it names spans after a route's pattern), so ``span_name_tween``
renames each to ``GET /groups/{group}/members/{user}``, the route template the
metrics use, and sets ``http.route``. Inside that span: ``zodb.commit``
around a write's commit (``metrics.time_commits``) and ``argon2.verify`` /
``argon2.hash`` around password hashing.

Where spans go is the standard OpenTelemetry environment: the OTLP/HTTP
exporter reads ``OTEL_EXPORTER_OTLP_ENDPOINT`` (or
``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``), ``OTEL_EXPORTER_OTLP_HEADERS``,
``OTEL_SERVICE_NAME``, ``OTEL_RESOURCE_ATTRIBUTES``, ``OTEL_TRACES_SAMPLER``;
``OTEL_TRACES_EXPORTER=console`` prints spans, ``none`` exports nothing. A
tracer provider set up before the app (``opentelemetry-instrument``, tests)
is used as it is.
"""

import functools
import logging
import os

from pyramid.events import BeforeTraversal
from pyramid.request import Request
from pyramid.response import Response
from pyramid.tweens import EXCVIEW

from .metrics import route_template

log = logging.getLogger(__name__)

#: The instrumentation's tween (the span starts under it, at BeforeTraversal).
OTEL_TWEEN = "opentelemetry.instrumentation.pyramid.trace_tween_factory"
#: The setting that tells the instrumentation's includeme its subscriber and tween are there.
SETTING_CALLBACKS_REGISTERED = "opentelemetry-pyramid.callbacks_registered"
#: Where the instrumentation keeps the request's span in the environ.
OTEL_SPAN_KEY = "opentelemetry-pyramid.span_key"
DEFAULT_SERVICE_NAME = "membership"


def span_name_tween_factory(handler, registry):
    def span_name_tween(request: Request) -> Response:
        try:
            return handler(request)
        finally:
            span = request.environ.get(OTEL_SPAN_KEY)
            if span is not None and span.is_recording():
                route = route_template(request)
                span.update_name(f"{request.method} {route}")
                span.set_attribute("http.route", route)

    return span_name_tween


def configure_provider() -> None:
    """An SDK tracer provider exporting as the ``OTEL_*`` variables say, unless one is set."""
    from opentelemetry import trace
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter

    if isinstance(trace.get_tracer_provider(), TracerProvider):
        return  # configured already (opentelemetry-instrument, a test, an earlier app)
    attributes = {}
    if not os.environ.get("OTEL_SERVICE_NAME"):
        attributes["service.name"] = DEFAULT_SERVICE_NAME
    provider = TracerProvider(resource=Resource.create(attributes))
    exporter_name = os.environ.get("OTEL_TRACES_EXPORTER", "otlp").strip().lower()
    if exporter_name == "console":
        provider.add_span_processor(BatchSpanProcessor(ConsoleSpanExporter()))
    elif exporter_name != "none":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)


def _traced(tracer, name: str, func):
    @functools.wraps(func)
    def traced(*args, **kwargs):
        with tracer.start_as_current_span(name):
            return func(*args, **kwargs)

    return traced


def includeme(config) -> None:
    registry = config.registry
    registry.membership_tracer = None
    if not registry.membership_settings.tracing_enabled:
        return
    try:
        from opentelemetry import trace
        from opentelemetry.instrumentation.pyramid import PyramidInstrumentor, callbacks
    except ImportError:
        log.warning(
            "membership.tracing.enabled is set, but OpenTelemetry is not installed "
            "(pip install 'membership[tracing]'): no traces"
        )
        return
    configure_provider()
    # The instrumentation's own includeme puts its tween just over the exception view,
    # under pyramid_tm's: the commit would run after the request's span ended. So its
    # subscriber and tween are registered here, the tween over pyramid_tm's.
    config.add_settings({SETTING_CALLBACKS_REGISTERED: True})
    PyramidInstrumentor().instrument_config(config)  # semantic conventions, trace_enabled
    config.add_subscriber(callbacks._before_traversal, BeforeTraversal)
    config.add_tween(OTEL_TWEEN, over="pyramid_tm.tm_tween_factory")
    config.add_tween(
        "membership.web.tracing.span_name_tween_factory",
        under=OTEL_TWEEN,
        over=EXCVIEW,
    )
    tracer = trace.get_tracer("membership")
    registry.membership_tracer = tracer
    credentials = getattr(registry, "credentials", None)
    if credentials is not None:  # instance attributes: only this app's hasher is wrapped
        credentials.verify = _traced(tracer, "argon2.verify", credentials.verify)
        credentials.hash_password = _traced(tracer, "argon2.hash", credentials.hash_password)
