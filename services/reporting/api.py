"""HTTP API of the reporting service."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from services.reporting.app.queries import FunnelQuery


def reporting_router(*, funnel: FunnelQuery) -> APIRouter:
    router = APIRouter(prefix="/v1", tags=["reports"])

    @router.get("/funnel")
    async def get_funnel(channel: str | None = None) -> dict[str, Any]:
        """Leads per pipeline stage (current and reached), with step conversion; optionally for one channel."""
        return await funnel(channel=channel)

    return router
