"""Wiring of metrics, traces and access logs into a service's FastAPI app."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import APIRouter, FastAPI
from fastapi.responses import Response

from shared.observability.metrics import render
from shared.observability.middleware import ObservabilityMiddleware

METRICS_PATH = "/metrics"

Sampler = Callable[[], Awaitable[None]]


def metrics_router(sample: Sampler) -> APIRouter:
    """``GET /metrics``: samples the lags (database and broker) and answers Prometheus' text format.

    Not behind the bearer token the API requires: Prometheus scrapes without a user's token, like the
    orchestrator's probes on ``/health/*``. It shows counts and lags, no business data; keep the port off the
    public network (deploy/k8s's NetworkPolicy admits the monitoring namespace)."""
    router = APIRouter(tags=["observability"])

    @router.get(METRICS_PATH, include_in_schema=False)
    async def metrics() -> Response:
        await sample()
        body, content_type = render()
        return Response(body, media_type=content_type)

    return router


def install_observability(app: FastAPI, sample: Sampler) -> None:
    """Access logs, request metrics and spans on every request; ``/metrics``."""
    app.add_middleware(ObservabilityMiddleware)
    app.include_router(metrics_router(sample))
