"""The monthly customer-development analysis (客户开发月度分析报告) and the after-sales report
(satisfaction by consultant and month, complaint SLA compliance)."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import datetime
from typing import Any

from services.reporting.app.ports import LeadsReadModel
from services.reporting.app.reports import AttainmentQuery
from services.reporting.domain.funnel import STAGE_RANK, WON_STAGE, ratio
from services.reporting.domain.periods import month_of, period_bounds

LOSS_APPROVED = "salesflow.leads.LossApproved"
CARE_PLAN = "salesflow.aftersales.CarePlanScheduled"
VISIT_DONE = "salesflow.aftersales.ReturnVisitCompleted"
COMPLAINT_OPENED = "salesflow.aftersales.ComplaintOpened"
SLA_BREACHED = "salesflow.aftersales.ComplaintSlaBreached"


class MonthlyAnalysisQuery:
    def __init__(self, read_model: LeadsReadModel, attainment: AttainmentQuery) -> None:
        self._read_model = read_model
        self._attainment = attainment

    async def __call__(self, *, month: str, as_of: datetime | None = None) -> dict[str, Any]:
        start, end = period_bounds(month)
        cohort = await self._read_model.lead_histories(as_of=as_of, captured_from=start, captured_to=end)
        channels: dict[str, Counter[str]] = defaultdict(Counter)
        for lead in cohort:
            channels[lead.channel]["leads"] += 1
            channels[lead.channel]["contracts"] += lead.furthest_rank >= STAGE_RANK[WON_STAGE]
        losses = await self._read_model.facts([LOSS_APPROVED], start=start, end=end, as_of=as_of)
        open_at_start = [lead for lead in await self._read_model.lead_histories(
            as_of=start, captured_from=None, captured_to=None) if lead.is_open]
        now_ids = {lead.lead_id: lead for lead in await self._read_model.lead_histories(
            as_of=min(end, as_of) if as_of else end, captured_from=None, captured_to=start)}
        churned = [lead for lead in open_at_start
                   if (n := now_ids.get(lead.lead_id)) is not None and (n.lost_at is not None
                                                                        or n.invalid_at is not None)]
        attainment = await self._attainment(month=month, as_of=as_of)
        return {
            "month": month, "as_of": as_of, "targets": attainment["lines"], "splits": attainment["splits"],
            "channels": [{"channel": c, "leads": n["leads"], "contracts": n["contracts"],
                          "conversion": ratio(n["contracts"], n["leads"])} for c, n in sorted(channels.items())],
            "losses": {"total": len(losses), "by_reason": dict(Counter(f.data.get("reason") for f in losses)),
                       "by_competitor": dict(Counter(f.data.get("competitor_model") for f in losses
                                                     if f.data.get("competitor_model")))},
            "open_leads_churn": {"open_at_start": len(open_at_start), "closed_unwon_in_month": len(churned),
                                 "churn_rate": ratio(len(churned), len(open_at_start))},
        }


class AfterSalesQuery:
    async def __call__(self, *, month: str | None = None, as_of: datetime | None = None) -> dict[str, Any]:
        start, end = period_bounds(month) if month else (None, None)
        plans = {f.data.get("plan_id"): f.consultant_id for f in await self._read_model.facts(
            [CARE_PLAN], start=None, end=None, as_of=as_of)}
        visits = await self._read_model.facts([VISIT_DONE], start=start, end=end, as_of=as_of)
        scores: dict[tuple[str, str], list[float]] = defaultdict(list)
        for v in visits:
            low, high = v.data.get("scale_min", 0), v.data.get("scale_max", 1)
            normalised = 0.0 if high == low else (v.data["score"] - low) / (high - low)
            scores[(plans.get(v.data.get("plan_id")) or "unknown", month_of(v.occurred_at))].append(normalised)
        opened = await self._read_model.facts([COMPLAINT_OPENED], start=start, end=end, as_of=as_of)
        opened_ids = {f.data.get("complaint_id") for f in opened}
        breached = {f.data.get("complaint_id") for f in await self._read_model.facts(
            [SLA_BREACHED], start=None, end=None, as_of=as_of)} & opened_ids
        return {
            "month": month, "as_of": as_of,
            "satisfaction": [{"consultant_id": c, "month": m, "visits": len(s),
                              "satisfaction": round(sum(s) / len(s), 4)} for (c, m), s in sorted(scores.items())],
            "complaints": {"opened": len(opened_ids), "sla_breached": len(breached),
                           "sla_compliance": ratio(len(opened_ids) - len(breached), len(opened_ids))},
        }

    def __init__(self, read_model: LeadsReadModel) -> None:
        self._read_model = read_model
