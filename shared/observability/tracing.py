"""OpenTelemetry traces, off by default.

A trace follows one command through the system: the HTTP span of the command (see
:mod:`shared.observability.middleware`) → its context stored with the events it recorded (event metadata key
``traceparent``, written by :meth:`shared.commands.CommandContext.metadata`) → a ``publish`` span in the relay
whose context travels in the Kafka ``traceparent`` header (W3C Trace Context) → in each consumer a ``receive``
span per batch, linked to every message's context, and a ``process`` span per message, a child of the message's
context, so one trace spans leads → Kafka → reporting.

Nothing is exported unless configured: :func:`configure_tracing` installs the SDK with an OTLP/HTTP exporter
when ``OTEL_EXPORTER_OTLP_ENDPOINT`` or ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` is set (the exporter reads the
standard ``OTEL_*`` variables), and ``OTEL_SDK_DISABLED=true`` turns it off again. Without it the API's no-op
provider is in place and the hot paths skip tracing altogether (:func:`enabled`).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Sequence

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Link, Span, SpanKind
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

TRACEPARENT = "traceparent"
_PROPAGATOR = TraceContextTextMapPropagator()
_NO_OP = (trace.ProxyTracerProvider, trace.NoOpTracerProvider)
# The provider salesflow's spans go to; None: OpenTelemetry's global one (no-op unless configured). A module
# setting rather than only the global, because the global can be set once per process and tests need to scope it.
_provider: trace.TracerProvider | None = None
# Whether spans are made, decided when a provider is installed (configure_tracing, using) and read per request.
# Not asked of OpenTelemetry per call: with no global provider set, trace.get_tracer_provider() looks up
# OTEL_PYTHON_TRACER_PROVIDER in os.environ every time (a raised and caught KeyError, ~3 us per request).
_enabled = False


def configure_tracing(service: str) -> bool:
    """Install the SDK with an OTLP exporter if the environment asks for one; True if tracing is now on."""
    global _enabled
    # A provider installed before us (opentelemetry-instrument, OTEL_PYTHON_TRACER_PROVIDER) is used as it is.
    _enabled = _enabled or not isinstance(trace.get_tracer_provider(), _NO_OP)
    if os.environ.get("OTEL_SDK_DISABLED", "").lower() == "true":
        return False
    if not (os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")):
        return False
    # Imported here: the SDK and exporter are only loaded by processes that export.
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider(resource=Resource.create({"service.name": os.environ.get("OTEL_SERVICE_NAME",
                                                                                        f"salesflow-{service}")}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    _enabled = True
    return True


@contextlib.contextmanager
def using(provider: trace.TracerProvider) -> Iterator[None]:
    """Send salesflow's spans to ``provider`` inside the block (tests: the SDK's in-memory exporter)."""
    global _provider, _enabled
    previous, _provider = (_provider, _enabled), provider
    _enabled = True
    try:
        yield
    finally:
        _provider, _enabled = previous


def enabled() -> bool:
    """A real tracer provider is installed (by :func:`configure_tracing`, or by a test's :func:`using`)."""
    return _enabled


def tracer() -> trace.Tracer:
    return (_provider or trace.get_tracer_provider()).get_tracer("salesflow")


def current_traceparent() -> str | None:
    """The W3C ``traceparent`` of the current span, if one is recording."""
    if not enabled():
        return None
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier)
    return carrier.get(TRACEPARENT)


def traceparent_of(span: Span) -> str | None:
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier, context=trace.set_span_in_context(span))
    return carrier.get(TRACEPARENT)


def traceparent_of_context(span_context: trace.SpanContext) -> str | None:
    return traceparent_of(trace.NonRecordingSpan(span_context))


def context_from_traceparent(traceparent: str | None) -> otel_context.Context | None:
    """The remote span context a ``traceparent`` names; None if absent or malformed."""
    if not traceparent:
        return None
    ctx = _PROPAGATOR.extract({TRACEPARENT: traceparent})
    return ctx if trace.get_current_span(ctx).get_span_context().is_valid else None


def links_to(traceparents: Sequence[str | None]) -> list[Link]:
    links = []
    for tp in traceparents:
        ctx = context_from_traceparent(tp)
        if ctx is not None:
            links.append(Link(trace.get_current_span(ctx).get_span_context()))
    return links


__all__ = ["TRACEPARENT", "Link", "SpanKind", "configure_tracing", "context_from_traceparent", "current_traceparent",
           "enabled", "links_to", "traceparent_of", "tracer", "using"]
