"""The HTTP app of a service, with everything every service installs, in the one order that works.

Outermost first: the identity check (``install_auth``), observability (correlation id, span, metrics, access log:
it sees every answer, the guards' included), the input guard (413/422 before any route; the correlation id), the
back-pressure guard (503 past ``<SERVICE>_MAX_IN_FLIGHT`` commands), then the routes; the health probes report the
service's parts and whether this worker is full.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager

from fastapi import FastAPI

from shared.auth.http import install_auth
from shared.observability.endpoint import install_observability
from shared.runtime.components import ServiceComponents
from shared.runtime.http import health_router, install_error_handlers
from shared.settings import ServiceSettings


def service_app(service: str, *, settings: ServiceSettings, parts: ServiceComponents,
                lifespan: Callable[[FastAPI], AbstractAsyncContextManager[None]],
                browser_home: str | None = None) -> FastAPI:
    # FastAPI's own OpenTelemetry instrumentation off: shared/observability makes the server span, the request
    # metrics and the access log. Left on, it would make a second server span per request once a tracer provider is
    # installed, and even without one it asks OpenTelemetry for the global tracer, meter and logger providers on
    # every request (each an os.environ lookup that raises and catches KeyError while none is set).
    app = FastAPI(title=f"salesflow {service}", version="1", lifespan=lifespan,
                  telemetry={"tracing": False, "metrics": False, "logs": False, "operation_spans": False})
    install_error_handlers(app, max_body_bytes=settings.max_body_bytes, max_in_flight=settings.max_in_flight)
    install_observability(app, parts.sample_metrics)
    install_auth(app, service=service, browser_home=browser_home)
    app.include_router(health_router(parts.readiness))
    return app
