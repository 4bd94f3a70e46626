"""The monthly customer-development analysis (客户开发月度分析报告) and the after-sales report
(satisfaction by consultant and month, complaint SLA compliance), from the summaries."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, timedelta
from typing import Any

from services.reporting.app.ports import Summaries
from services.reporting.app.reports import AttainmentQuery, days_of
from services.reporting.domain.funnel import ratio
from services.reporting.domain.kpis import kpis
from services.reporting.domain.periods import period_bounds


class MonthlyAnalysisQuery:
    def __init__(self, summaries: Summaries, attainment: AttainmentQuery) -> None:
        self._summaries = summaries
        self._attainment = attainment

    async def __call__(self, *, month: str, as_of: datetime | None = None) -> dict[str, Any]:
        start, _ = period_bounds(month)
        channels = await self._summaries.funnel(cohorts=[month], as_of=as_of, filters={}, group_by="channel")
        first, last = days_of(month)
        counters = await self._summaries.activity(start=first, end=last, as_of=as_of, by=("consultant", "team"))
        org: dict[str, float] = defaultdict(float)
        per_consultant: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
        per_team: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
        for (metric, consultant, team), v in counters.items():
            org[metric] += v
            per_consultant[consultant or "unassigned"][metric] += v
            per_team[team or "unassigned"][metric] += v
        open_at_start = sum(n for (_, measure), n in (await self._summaries.stock(as_of=start, now=start)).items()
                            if measure == "open")
        churned = int(org.get("open_churned", 0))
        attainment = await self._attainment(month=month, as_of=as_of)
        return {
            "month": month, "as_of": as_of, "targets": attainment["lines"], "splits": attainment["splits"],
            "channels": [{"channel": c, "leads": m.get("total", 0), "contracts": m.get("won", 0),
                          "conversion": ratio(m.get("won", 0), m.get("total", 0))}
                         for c, m in sorted(channels.items()) if m.get("total")],
            "losses": {"total": int(org.get("losses", 0)),
                       "by_reason": {k.split(":", 1)[1]: int(v) for k, v in org.items()
                                     if k.startswith("loss_reason:")},
                       "by_competitor": {k.split(":", 1)[1]: int(v) for k, v in org.items()
                                         if k.startswith("loss_competitor:")}},
            "open_leads_churn": {"open_at_start": open_at_start, "closed_unwon_in_month": churned,
                                 "churn_rate": ratio(churned, open_at_start)},
            "kpis": kpis(org),
            "kpis_by_consultant": [{"consultant_id": c, **kpis(m)} for c, m in sorted(per_consultant.items())],
            "kpis_by_team": [{"team_id": t, **kpis(m)} for t, m in sorted(per_team.items())],
        }


class KpiReportQuery:
    """The month's dealer KPIs within a scope (the caller's: a consultant, a team, or everyone) — in total, per
    day (every day of the month, also those without activity: the dashboard's chart over time), per team and per
    consultant. Scope and rows are the activity's credit (see the attribution rule)."""

    def __init__(self, summaries: Summaries) -> None:
        self._summaries = summaries

    async def __call__(self, *, month: str, as_of: datetime | None = None, team: str | None = None,
                       consultant: str | None = None) -> dict[str, Any]:
        first, last = days_of(month)
        counters = await self._summaries.activity(start=first, end=last, as_of=as_of,
                                                  by=("consultant", "team", "day"))
        total: dict[str, float] = defaultdict(float)
        by: dict[str, dict[str, dict[str, float]]] = {
            name: defaultdict(lambda: defaultdict(float)) for name in ("day", "team", "consultant")}
        for (metric, who, team_, day), v in counters.items():
            if (team is not None and team_ != team) or (consultant is not None and who != consultant):
                continue
            total[metric] += v
            for name, value in (("day", day), ("team", team_ or "unassigned"), ("consultant", who or "unassigned")):
                by[name][value][metric] += v
        days = (first + timedelta(days=n) for n in range((last - first).days))
        return {"month": month, "as_of": as_of, "scope": {"team": team, "consultant": consultant},
                "kpis": kpis(total),
                "kpis_by_day": [{"day": d.isoformat(), **kpis(by["day"].get(d.isoformat(), {}))} for d in days],
                "kpis_by_team": [{"team_id": t, **kpis(m)} for t, m in sorted(by["team"].items())],
                "kpis_by_consultant": [{"consultant_id": c, **kpis(m)} for c, m in sorted(by["consultant"].items())]}


class AfterSalesQuery:
    def __init__(self, summaries: Summaries) -> None:
        self._summaries = summaries

    async def __call__(self, *, month: str | None = None, as_of: datetime | None = None) -> dict[str, Any]:
        first, last = days_of(month) if month else (date(2000, 1, 1), date(2100, 1, 1))
        counters = await self._summaries.activity(start=first, end=last, as_of=as_of, by=("consultant", "month"))
        scores: dict[tuple[str, str], dict[str, float]] = defaultdict(lambda: defaultdict(float))
        complaints: dict[str, float] = defaultdict(float)
        for (metric, consultant, m), v in counters.items():
            if metric.startswith("satisfaction_"):
                scores[(consultant or "unknown", m)][metric] += v
            elif metric.startswith("complaints_"):
                complaints[metric] += v
        opened, breached = int(complaints["complaints_opened"]), int(complaints["complaints_breached"])
        return {
            "month": month, "as_of": as_of,
            "satisfaction": [{"consultant_id": c, "month": m, "visits": int(s["satisfaction_visits"]),
                              "satisfaction": round(s["satisfaction_sum"] / s["satisfaction_visits"], 4)}
                             for (c, m), s in sorted(scores.items()) if s["satisfaction_visits"]],
            "complaints": {"opened": opened, "sla_breached": breached,
                           "sla_compliance": ratio(opened - breached, opened)},
        }
