"""Report queries: read lead histories and facts through the port, aggregate with the pure domain."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import asdict
from datetime import datetime
from typing import Any

from services.reporting.app.ports import LeadsReadModel
from services.reporting.domain.funnel import FunnelReport, LeadHistory, build_funnel, funnel_report
from services.reporting.domain.periods import period_bounds

GROUPS: dict[str, Callable[[LeadHistory], str | None]] = {
    "channel": lambda lead: lead.channel,
    "team": lambda lead: lead.team_id,
    "consultant": lambda lead: lead.owner_id,
    "product": lambda lead: lead.product,
    "period": lambda lead: lead.captured_at.strftime("%Y-%m"),
}


class FunnelQuery:
    """The first slice's funnel (``GET /v1/funnel``): leads per current stage and reached stage."""

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


def report_dict(report: FunnelReport) -> dict[str, Any]:
    out = asdict(report)
    out["stages"] = [asdict(s) for s in report.stages]
    return out


class FunnelReportQuery:
    """The full funnel: cohort of leads captured in a period, both meanings, outcomes, optionally grouped."""

    def __init__(self, read_model: LeadsReadModel) -> None:
        self._read_model = read_model

    async def histories(self, *, period: str | None = None, start: datetime | None = None,
                        end: datetime | None = None, as_of: datetime | None = None,
                        filters: dict[str, str | None] | None = None) -> list[LeadHistory]:
        if period is not None:
            start, end = period_bounds(period)
        leads = await self._read_model.lead_histories(as_of=as_of, captured_from=start, captured_to=end)
        for name, value in (filters or {}).items():
            if value is not None:
                leads = [lead for lead in leads if GROUPS[name](lead) == value]
        return leads

    async def __call__(self, *, period: str | None = None, start: datetime | None = None,
                       end: datetime | None = None, as_of: datetime | None = None,
                       filters: dict[str, str | None] | None = None, group_by: str | None = None) -> dict[str, Any]:
        leads = await self.histories(period=period, start=start, end=end, as_of=as_of, filters=filters)
        result: dict[str, Any] = {
            "period": period, "start": start, "end": end, "as_of": as_of, "filters": filters or {},
            **report_dict(funnel_report(leads)),
        }
        if group_by is not None:
            key = GROUPS[group_by]
            groups: dict[str, list[LeadHistory]] = defaultdict(list)
            for lead in leads:
                groups[key(lead) or "unassigned"].append(lead)
            result["group_by"] = group_by
            result["groups"] = {name: report_dict(funnel_report(g)) for name, g in sorted(groups.items())}
        result["data_as_of"] = await self._read_model.watermark()
        return result
