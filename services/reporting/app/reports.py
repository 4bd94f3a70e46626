"""Management reports on top of the funnel's lead histories and the stored facts: target attainment,
commission statements, the prospect grade table and the daily report per consultant."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import asdict
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from services.reporting.app.commands import TargetRepository
from services.reporting.app.ports import FactRow, LeadsReadModel
from services.reporting.domain.commission import CommissionPlan, plan_for, statement
from services.reporting.domain.funnel import LeadHistory, ratio
from services.reporting.domain.periods import month_of, period_bounds
from services.reporting.domain.targets import Activity, actual_for, attainment, check_splits

CONTRACT_SIGNED = "salesflow.orders.ContractSigned"
DELIVERED = "salesflow.orders.Delivered"
ORDER_CANCELLED = "salesflow.orders.OrderCancelled"
CONSULTANT_TEAM = ["salesflow.leads.ConsultantRegistered", "salesflow.leads.ConsultantMovedTeam"]
FOLLOW_UP_LOGGED = "salesflow.leads.FollowUpLogged"
FOLLOW_UP_OVERDUE = "salesflow.leads.FollowUpOverdue"
FOLLOW_UP_SCHEDULED = "salesflow.leads.FollowUpScheduled"
LOSS_REQUESTED = "salesflow.leads.LossRequested"
GRADES = ("N", "H", "A", "B", "C")


def _team_map(facts: Sequence[FactRow]) -> dict[str, str]:
    teams: dict[str, str] = {}
    for f in sorted(facts, key=lambda f: f.occurred_at):
        if f.consultant_id:
            teams[f.consultant_id] = f.data.get("to_team_id") or f.data.get("team_id") or ""
    return teams


class Activities:
    """Everything countable against targets, attributed to a consultant and a team. Lead activities (new leads,
    visits, test drives) go to the lead's owner as of the report; orders' (contracts, deliveries, revenue) to the
    order's consultant, else the lead's owner."""

    def __init__(self, read_model: LeadsReadModel) -> None:
        self._read_model = read_model

    async def __call__(self, *, start: datetime | None, end: datetime | None,
                       as_of: datetime | None) -> tuple[list[Activity], list[LeadHistory]]:
        leads = await self._read_model.lead_histories(as_of=as_of, captured_from=None, captured_to=None)
        by_lead = {lead.lead_id: lead for lead in leads}
        teams = _team_map(await self._read_model.facts(CONSULTANT_TEAM, start=None, end=None, as_of=as_of))
        out: list[Activity] = []

        def inside(moment: datetime) -> bool:
            return (start is None or moment >= start) and (end is None or moment < end)

        for lead in leads:
            team = lead.team_id or teams.get(lead.owner_id or "")
            if inside(lead.captured_at):
                out.append(Activity("new_leads", month_of(lead.captured_at), lead.owner_id, team))
            seen: set[tuple[str, str]] = set()
            for at, stage in lead.stages:
                metric = {"visited": "visits", "test_driven": "test_drives"}.get(stage)
                if metric and inside(at) and (metric, month_of(at)) not in seen:
                    seen.add((metric, month_of(at)))
                    out.append(Activity(metric, month_of(at), lead.owner_id, team))
        cancelled = {f.order_id for f in await self._read_model.facts([ORDER_CANCELLED], start=None, end=None,
                                                                       as_of=as_of)}
        for fact in await self._read_model.facts([CONTRACT_SIGNED, DELIVERED], start=start, end=end, as_of=as_of):
            if fact.event_type == CONTRACT_SIGNED and fact.order_id in cancelled:
                continue  # contracts and revenue count net of cancellations known at the report's moment
            closed = by_lead.get(fact.lead_id or "")
            consultant = fact.consultant_id or (closed.owner_id if closed else None)
            team = teams.get(consultant or "") or (closed.team_id if closed else None)
            month = month_of(fact.occurred_at)
            if fact.event_type == CONTRACT_SIGNED:
                out.append(Activity("contracts", month, consultant, team))
                out.append(Activity("revenue", month, consultant, team, float(fact.data.get("total_minor", 0))))
            else:
                out.append(Activity("deliveries", month, consultant, team))
        return out, leads


class AttainmentQuery:
    def __init__(self, activities: Activities, targets: TargetRepository, clock: Callable[[], datetime]) -> None:
        self._activities = activities
        self._targets = targets
        self._clock = clock

    async def __call__(self, *, month: str, today: datetime | None = None,
                       as_of: datetime | None = None) -> dict[str, Any]:
        start, end = period_bounds(month)
        lines = await self._targets.lines(month=month, as_of=as_of)
        activities, _ = await self._activities(start=start, end=end, as_of=as_of)
        reference = today or as_of or self._clock()
        rows = [asdict(attainment(line, actual_for(activities, scope=line.scope, scope_id=line.scope_id,
                                                   month=month, metric=line.metric), reference))
                for line in lines]
        return {"month": month, "today": reference, "as_of": as_of, "lines": rows,
                "splits": [asdict(s) for s in check_splits(lines)]}


class CommissionQuery:
    def __init__(self, activities: Activities, targets: TargetRepository, plans: Sequence[CommissionPlan],
                 default_plan: str) -> None:
        self._activities = activities
        self._targets = targets
        self._plans = plans
        self._default_plan = default_plan

    async def __call__(self, *, month: str, plan_id: str | None = None, consultant: str | None = None,
                       as_of: datetime | None = None) -> dict[str, Any]:
        plan = plan_for(self._plans, plan_id or self._default_plan, month)
        if plan is None:
            return {"month": month, "plan": None, "statements": []}
        start, end = period_bounds(month)
        activities, _ = await self._activities(start=start, end=end, as_of=as_of)
        targets = {line.scope_id: line.base for line in await self._targets.lines(month=month, as_of=as_of)
                   if line.scope == "consultant" and line.metric == plan.basis}
        consultants = sorted({a.consultant_id for a in activities if a.consultant_id} | set(targets))
        statements = []
        for cid in consultants:
            if consultant is not None and cid != consultant:
                continue
            amount = actual_for(activities, scope="consultant", scope_id=cid, month=month, metric=plan.basis)
            target = targets.get(cid)
            s = statement(plan, consultant_id=cid, month=month, amount=Decimal(str(amount)),
                          target=None if target is None else Decimal(str(target)))
            statements.append({**asdict(s), "amount": float(s.amount), "gate": float(s.gate),
                               "target": None if s.target is None else float(s.target),
                               "attainment": None if s.attainment is None else float(s.attainment)})
        return {"month": month, "plan": {"plan_id": plan.plan_id, "version": plan.version, "mode": plan.mode,
                                         "basis": plan.basis, "min_attainment": float(plan.min_attainment),
                                         "tiers": [{"threshold": float(t.threshold), "rate": float(t.rate)}
                                                   for t in plan.tiers]},
                "statements": statements}


class GradeTableQuery:
    """有望客户确度状态表: open leads per consultant × grade, follow-ups due and overdue, on-time rate."""

    def __init__(self, read_model: LeadsReadModel, clock: Callable[[], datetime]) -> None:
        self._read_model = read_model
        self._clock = clock

    async def __call__(self, *, as_of: datetime | None = None) -> dict[str, Any]:
        now = as_of or self._clock()
        leads = [lead for lead in await self._read_model.lead_histories(as_of=as_of, captured_from=None,
                                                                         captured_to=None) if lead.is_open]
        open_ids = {lead.lead_id for lead in leads}
        facts = await self._read_model.facts([FOLLOW_UP_SCHEDULED, FOLLOW_UP_LOGGED, FOLLOW_UP_OVERDUE],
                                             start=None, end=None, as_of=as_of)
        last_logged: dict[str, datetime] = {}
        due: dict[str, datetime] = {}
        logged_count: Counter[str] = Counter()
        overdue_count: Counter[str] = Counter()
        for f in facts:
            lead_id = f.lead_id or ""
            if f.event_type == FOLLOW_UP_SCHEDULED:
                due[lead_id] = datetime.fromisoformat(f.data["due_at"])
            elif f.event_type == FOLLOW_UP_LOGGED:
                last_logged[lead_id] = max(last_logged.get(lead_id, f.occurred_at), f.occurred_at)
                logged_count[lead_id] += 1
            else:
                overdue_count[lead_id] += 1
        rows: dict[str, dict[str, Any]] = defaultdict(lambda: {**{g: 0 for g in GRADES}, "open": 0, "due_today": 0,
                                                               "overdue": 0})
        for lead in leads:
            row = rows[lead.owner_id or "unassigned"]
            row[lead.grade if lead.grade in GRADES else "N"] += 1
            row["open"] += 1
            due_at = due.get(lead.lead_id)
            if due_at is not None and due_at > last_logged.get(lead.lead_id, due_at - timedelta(seconds=1)):
                if due_at <= now:
                    row["overdue"] += 1
                elif due_at < now + timedelta(days=1):
                    row["due_today"] += 1
        for cid, row in rows.items():
            ids = [lead.lead_id for lead in leads if (lead.owner_id or "unassigned") == cid]
            logged = sum(logged_count[i] for i in ids)
            missed = sum(overdue_count[i] for i in ids)
            row["on_time_follow_up_rate"] = ratio(logged, logged + missed)
        return {"as_of": as_of, "now": now, "grades": list(GRADES),
                "consultants": [{"consultant_id": cid, **row} for cid, row in sorted(rows.items())],
                "open_leads": len(open_ids)}


class DailyReportQuery:
    """销售日报 per consultant for one day."""

    def __init__(self, activities: Activities, read_model: LeadsReadModel) -> None:
        self._activities = activities
        self._read_model = read_model

    async def __call__(self, *, day: str, as_of: datetime | None = None) -> dict[str, Any]:
        start, end = period_bounds(day)
        activities, leads = await self._activities(start=start, end=end, as_of=as_of)
        owners = {lead.lead_id: lead.owner_id for lead in leads}
        rows: dict[str, Counter[str]] = defaultdict(Counter)
        for a in activities:
            if a.metric != "revenue":
                rows[a.consultant_id or "unassigned"][a.metric] += 1
        facts = await self._read_model.facts([FOLLOW_UP_LOGGED, FOLLOW_UP_OVERDUE, LOSS_REQUESTED],
                                             start=start, end=end, as_of=as_of)
        names = {FOLLOW_UP_LOGGED: "follow_ups_done", FOLLOW_UP_OVERDUE: "follow_ups_overdue",
                 LOSS_REQUESTED: "loss_requests"}
        for f in facts:
            who = f.consultant_id or owners.get(f.lead_id or "") or "unassigned"
            rows[who][names[f.event_type]] += 1
        columns = ["new_leads", "follow_ups_done", "follow_ups_overdue", "visits", "test_drives", "contracts",
                   "deliveries", "loss_requests"]
        return {"day": day, "as_of": as_of, "columns": columns,
                "consultants": [{"consultant_id": cid, **{c: row.get(c, 0) for c in columns}}
                                for cid, row in sorted(rows.items())]}
