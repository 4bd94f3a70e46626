"""One ASGI middleware for what every HTTP request leaves behind: a correlation id, a server span, the request
metrics and one access-log line. Pure ASGI (no BaseHTTPMiddleware): it runs on every request of the hot path.

* **Correlation id**: ``X-Correlation-Id`` from the request if it is acceptable (shared.runtime.input_guard's rule:
  printable, at most 200 characters), else a new one, written into the request's headers, so the input guard
  (which echoes it in the response and in error bodies) and the command handlers (which store it with their events)
  see the same id. Installed outside the guard (after ``install_error_handlers``), so the guard's 413/422 answers are
  counted and logged too.
* **Span** (only when tracing is on): ``<METHOD> <route template>``, a child of an incoming ``traceparent``.
* **Metrics**: ``salesflow_http_request_duration_seconds{method,route,status}``; writes (POST, PUT, PATCH,
  DELETE) also count in ``salesflow_commands_total{command,outcome}``. The route is the template
  (``/v1/leads/{lead_id}``), never the raw path, so the series stay few; a request no route matched counts as
  ``unmatched``.
* **Access log**: ``http.request`` with method, route, path, status, duration_ms and correlation_id, through
  structlog, so personal data is masked like every other line (shared/logs.py). Probes and scrapes (``/health/*``,
  ``/metrics``) log at debug level: an orchestrator polls them every few seconds.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import structlog
from opentelemetry import context as otel_context
from opentelemetry import trace

from shared.observability import tracing
from shared.observability.metrics import service_metrics
from shared.runtime.input_guard import _CORRELATION_ID as ACCEPTABLE_CORRELATION_ID
from shared.runtime.input_guard import CORRELATION_HEADER

log = structlog.get_logger("salesflow.access")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_QUIET_PREFIXES = ("/health/", "/metrics")


def command_outcome(status: int) -> str:
    """What a write's status says about the command."""
    if status < 400:
        return "accepted"
    return {400: "invalid", 401: "denied", 403: "denied", 404: "not_found", 409: "conflict", 413: "invalid",
            422: "invalid", 503: "unavailable"}.get(status, "rejected" if status < 500 else "failed")


class ObservabilityMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        # The metric children by label values, looked up once: ``.labels(...)`` validates and joins the values and
        # takes the metric's lock on every call. Bounded like the series themselves (method, route template,
        # status; command, outcome).
        self._durations: dict[tuple[str, str, int], Callable[[float], None]] = {}
        self._commands: dict[tuple[str, str, int], Callable[[], None]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        correlation = traceparent = None
        for name, value in scope["headers"]:
            if name == CORRELATION_HEADER:
                correlation = value.decode("latin-1")
            elif name == b"traceparent":
                traceparent = value.decode("latin-1")
        if not correlation or not ACCEPTABLE_CORRELATION_ID.fullmatch(correlation):
            correlation = str(uuid.uuid4())
            scope["headers"] = [*((k, v) for k, v in scope["headers"] if k != CORRELATION_HEADER),
                                (CORRELATION_HEADER, correlation.encode())]
        status = 500  # if the app raises before answering, the server error handler answers 500

        async def send_with_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        path: str = scope["path"]
        method: str = scope["method"]
        quiet = path.startswith(_QUIET_PREFIXES)
        span = token = None
        if not quiet and tracing.enabled():
            span = tracing.tracer().start_span(
                f"{method} {path}", kind=trace.SpanKind.SERVER, context=tracing.context_from_traceparent(traceparent),
                attributes={"http.request.method": method, "url.path": path, "salesflow.correlation_id": correlation})
            token = otel_context.attach(trace.set_span_in_context(span))
        try:
            await self.app(scope, receive, send_with_status)
        finally:
            route_obj = scope.get("route")
            route = getattr(route_obj, "path", None) or "unmatched"
            duration = time.perf_counter() - started
            key = (method, route, status)
            observe = self._durations.get(key)
            if observe is None:
                observe = self._durations[key] = service_metrics().http_request_duration.labels(
                    method, route, str(status)).observe
            observe(duration)
            if method in _WRITES:
                count = self._commands.get(key)
                if count is None:
                    count = self._commands[key] = service_metrics().commands.labels(
                        f"{method} {route}", command_outcome(status)).inc
                count()
            if span is not None and token is not None:
                span.update_name(f"{method} {route}")
                span.set_attribute("http.route", route)
                span.set_attribute("http.response.status_code", status)
                if status >= 500:
                    span.set_status(trace.StatusCode.ERROR)
                span.end()
                otel_context.detach(token)
            (log.debug if quiet else log.info)(
                "http.request", method=method, route=route, path=path, status=status,
                duration_ms=round(duration * 1000, 3), correlation_id=correlation)
