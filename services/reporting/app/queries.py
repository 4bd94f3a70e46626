"""Report queries."""

from __future__ import annotations

from typing import Any

from services.reporting.app.ports import LeadsReadModel
from services.reporting.domain.funnel import build_funnel


class FunnelQuery:
    def __init__(self, read_model: LeadsReadModel) -> None:
        self._read_model = read_model

    async def __call__(self, *, channel: str | None = None) -> dict[str, Any]:
        counts = await self._read_model.count_by_stage(channel=channel)
        steps = build_funnel(counts)
        return {
            "channel": channel,
            "total_leads": sum(counts.values()),
            "stages": [
                {"stage": s.stage, "current": s.current, "reached": s.reached,
                 "conversion_from_previous": s.conversion_from_previous}
                for s in steps
            ],
            "by_channel": await self._read_model.count_by_channel() if channel is None else None,
        }
