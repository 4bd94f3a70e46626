"""Funnel queries: read summed measures through the Summaries port, shape them with the pure domain."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from typing import Any

from services.reporting.app.ports import Summaries, UnsupportedBySummariesError
from services.reporting.app.records import record_dict
from services.reporting.domain.funnel import FUNNEL_STAGES, FunnelReport, build_funnel, funnel_from_measures
from services.reporting.domain.periods import period_bounds

GROUPS = ("channel", "team", "consultant", "product", "period")


class FunnelQuery:
    """The first slice's funnel (``GET /v1/funnel``): leads per current stage and reached stage."""

    def __init__(self, summaries: Summaries) -> None:
        self._summaries = summaries

    async def __call__(self, *, channel: str | None = None) -> dict[str, Any]:
        measures = (await self._summaries.funnel(cohorts=None, as_of=None, filters={"channel": channel},
                                                 group_by=None)).get("", Counter())
        counts = {s: measures.get(f"current:{s}", 0) for s in FUNNEL_STAGES}
        steps = build_funnel(counts)
        by_channel = None
        if channel is None:
            groups = await self._summaries.funnel(cohorts=None, as_of=None, filters={}, group_by="channel")
            by_channel = {c: m.get("total", 0) for c, m in sorted(groups.items()) if m.get("total")}
        return {
            "channel": channel,
            "total_leads": measures.get("total", 0),
            "stages": [{"stage": s.stage, "current": s.current, "reached": s.reached,
                        "conversion_from_previous": s.conversion_from_previous} for s in steps],
            "by_channel": by_channel,
        }


def report_dict(report: FunnelReport) -> dict[str, Any]:
    out = record_dict(report)
    out["stages"] = [record_dict(s) for s in report.stages]
    return out


def _months_between(start: datetime, end: datetime) -> list[str] | None:
    """The whole months [start, end) covers, or None when it does not start and end on a month boundary."""
    aligned = all(m == m.replace(day=1, hour=0, minute=0, second=0, microsecond=0) for m in
                  (start.astimezone(UTC), end.astimezone(UTC)))
    if not aligned:
        return None
    out, m = [], start.astimezone(UTC)
    while m < end:
        out.append(m.strftime("%Y-%m"))
        m = m.replace(year=m.year + m.month // 12, month=m.month % 12 + 1)
    return out


class FunnelReportQuery:
    """The full funnel: cohort of leads captured in a period, both meanings, outcomes, optionally grouped.

    Month cohorts (and ranges of whole months) come from the summaries; a day or a range that does not fall on
    month boundaries, and `as_of` cuts over two dimensions at once, are folded from the raw facts (``fold``),
    whose cost is that of the cohort's history."""

    def __init__(self, summaries: Summaries, fold: Any, watermark: Any) -> None:
        self._summaries = summaries
        self._fold = fold
        self._watermark = watermark

    async def measures(self, *, period: str | None, start: datetime | None, end: datetime | None,
                       as_of: datetime | None, filters: dict[str, str | None],
                       group_by: str | None) -> dict[str, Counter[str]]:
        if period is not None:
            start, end = period_bounds(period)
        cohorts: list[str] | None = None
        captured = None
        if start is not None or end is not None:
            start = start or datetime(1970, 1, 1, tzinfo=UTC)
            end = end or datetime(9000, 1, 1, tzinfo=UTC)
            cohorts = _months_between(start, end)
            if cohorts is None:
                captured = (start, end)
        if captured is None:
            try:
                return await self._summaries.funnel(cohorts=cohorts, as_of=as_of, filters=filters, group_by=group_by)
            except UnsupportedBySummariesError:
                pass
        result: dict[str, Counter[str]] = await self._fold.funnel(
            cohorts=cohorts, as_of=as_of, filters=filters, group_by=group_by, captured=captured)
        return result

    async def __call__(self, *, period: str | None = None, start: datetime | None = None,
                       end: datetime | None = None, as_of: datetime | None = None,
                       filters: dict[str, str | None] | None = None, group_by: str | None = None) -> dict[str, Any]:
        filters = {k: v for k, v in (filters or {}).items()}
        groups: dict[str, Counter[str]] = {}
        if group_by is None:
            total = (await self.measures(period=period, start=start, end=end, as_of=as_of, filters=filters,
                                         group_by=None)).get("", Counter())
        else:
            # Every lead falls in exactly one group (its value, '' when unknown) and every measure is a count, so
            # the total is the groups' sum: one read (and, as of a moment inside a day, one fold of that day's
            # groups) instead of two.
            groups = await self.measures(period=period, start=start, end=end, as_of=as_of, filters=filters,
                                         group_by=group_by)
            total = Counter()
            for measures in groups.values():
                total.update(measures)
        result: dict[str, Any] = {
            "period": period, "start": start, "end": end, "as_of": as_of, "filters": filters,
            **report_dict(funnel_from_measures(total)),
        }
        if group_by is not None:
            result["group_by"] = group_by
            result["groups"] = {name or "unassigned": report_dict(funnel_from_measures(m))
                                for name, m in sorted(groups.items()) if m.get("total")}
        result["data_as_of"] = await self._watermark()
        return result
