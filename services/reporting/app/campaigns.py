"""The campaign report (渠道与推广成本效益): per channel and per campaign, what it brought (leads, valid leads,
visits, test drives, contracts, revenue) against what it cost (spend), and cost per lead / visit / sale and ROI —
from the summaries, now or as of a moment (formulas: ``domain/campaigns.py``)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from services.reporting.app.ports import CampaignSummaries
from services.reporting.domain.campaigns import COUNTED, figures, report_rows
from services.reporting.domain.periods import period_bounds
from shared.domain import InvalidFieldError

ALL_TIME = (date(2000, 1, 1), date(2100, 1, 1))


def report_days(period: str | None, start: date | None, end: date | None) -> tuple[date, date]:
    """[first, last) day of the report: a month or a day (``period``), or ``start``/``end`` (end exclusive), or
    all time."""
    if period is not None:
        if start is not None or end is not None:
            raise InvalidFieldError("period", "give a period or start/end, not both")
        bounds = period_bounds(period)
        return bounds[0].date(), bounds[1].date()
    first, last = start or ALL_TIME[0], end or ALL_TIME[1]
    if last <= first:
        raise InvalidFieldError("end", "must be after start (the end day is not included)")
    return first, last


class CampaignReportQuery:
    def __init__(self, summaries: CampaignSummaries) -> None:
        self._summaries = summaries

    async def __call__(self, *, period: str | None = None, start: date | None = None, end: date | None = None,
                       as_of: datetime | None = None) -> dict[str, Any]:
        first, last = report_days(period, start, end)
        flows = await self._summaries.campaign_flows(start=first, end=last, as_of=as_of)
        campaigns = await self._summaries.campaign_catalogue(as_of=as_of)
        channels, rows = report_rows(flows, campaigns, start=first, end=last)
        totals = {m: sum(v for (metric, *_), v in flows.items() if metric == m) for m in COUNTED}
        return {"period": period, "start": first.isoformat(), "end": (last - timedelta(days=1)).isoformat(),
                "as_of": as_of, "channels": channels, "campaigns": rows,
                "rows": [*channels, *rows], "totals": figures(totals)}
