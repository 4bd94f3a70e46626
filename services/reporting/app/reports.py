"""Management reports from the activity and stock summaries: target attainment, commission statements, the
prospect grade table and the daily report per consultant."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from services.reporting.app.commands import TargetRepository
from services.reporting.app.ports import Summaries
from services.reporting.app.records import record_dict
from services.reporting.domain.commission import CommissionPlan, plan_for, statement
from services.reporting.domain.funnel import ratio
from services.reporting.domain.kpis import TARGETABLE_KPIS, kpi, kpis
from services.reporting.domain.periods import period_bounds
from services.reporting.domain.targets import METRICS, attainment, check_splits

GRADES = ("N", "H", "A", "B", "C")
DAILY_COLUMNS = ["new_leads", "follow_ups_done", "follow_ups_overdue", "visits", "test_drives", "contracts",
                 "deliveries", "loss_requests", "invitations", "invited_visits", "first_visits", "second_visits",
                 "test_drives_attended", "quotes_issued", "quotes_signed", "referral_leads", "calls",
                 "calls_answered", "call_backs_due", "call_backs_in_sla", "walk_ins", "walk_ins_recorded",
                 "test_drives_signed", "appointments_kept", "appointments_missed"]


def days_of(period: str) -> tuple[date, date]:
    start, end = period_bounds(period)
    return start.date(), end.date()


class Activities:
    """Activity counters of a period per consultant and team (attribution: see the reporting README)."""

    def __init__(self, summaries: Summaries) -> None:
        self._summaries = summaries

    async def __call__(self, *, period: str, as_of: datetime | None) -> dict[tuple[Any, ...], float]:
        start, end = days_of(period)
        return await self._summaries.activity(start=start, end=end, as_of=as_of, by=("consultant", "team"))


class Actuals:
    """Σ of a metric for the org, a team or a consultant, from ``(metric, consultant, team)`` counters (indexed
    once: a month has hundreds of target lines)."""

    def __init__(self, counters: dict[tuple[Any, ...], float]) -> None:
        self._sums: dict[tuple[str, str, str], float] = defaultdict(float)
        for (metric, consultant, team), v in counters.items():
            self._sums[metric, "org", ""] += v
            self._sums[metric, "team", team] += v
            self._sums[metric, "consultant", consultant] += v
        self.consultants = {c for (m, c, _), v in counters.items() if c and m in METRICS and v}

    def __call__(self, *, scope: str, scope_id: str, metric: str) -> float:
        return float(self._sums.get((metric, scope, "" if scope == "org" else scope_id), 0.0))

    def target_actual(self, *, scope: str, scope_id: str, metric: str) -> float | None:
        """What a target line is measured against: the month's sum, or for a rate KPI its value (None when
        nothing divides it yet)."""
        if metric in TARGETABLE_KPIS:
            return kpi(metric, lambda name: self(scope=scope, scope_id=scope_id, metric=name))
        return self(scope=scope, scope_id=scope_id, metric=metric)


class AttainmentQuery:
    def __init__(self, activities: Activities, targets: TargetRepository, clock: Callable[[], datetime]) -> None:
        self._activities = activities
        self._targets = targets
        self._clock = clock

    async def __call__(self, *, month: str, today: datetime | None = None,
                       as_of: datetime | None = None) -> dict[str, Any]:
        lines = await self._targets.lines(month=month, as_of=as_of)
        actual = Actuals(await self._activities(period=month, as_of=as_of))
        reference = today or as_of or self._clock()
        rows = [record_dict(attainment(line, actual.target_actual(scope=line.scope, scope_id=line.scope_id,
                                                             metric=line.metric), reference)) for line in lines]
        return {"month": month, "today": reference, "as_of": as_of, "lines": rows,
                "splits": [record_dict(s) for s in check_splits(lines)]}


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
        actual = Actuals(await self._activities(period=month, as_of=as_of))
        targets = {line.scope_id: line.base for line in await self._targets.lines(month=month, as_of=as_of)
                   if line.scope == "consultant" and line.metric == plan.basis}
        consultants = sorted(actual.consultants | set(targets))
        statements = []
        for cid in consultants:
            if consultant is not None and cid != consultant:
                continue
            amount = actual(scope="consultant", scope_id=cid, metric=plan.basis)
            target = targets.get(cid)
            s = statement(plan, consultant_id=cid, month=month, amount=Decimal(str(amount)),
                          target=None if target is None else Decimal(str(target)))
            statements.append({**record_dict(s), "amount": float(s.amount), "gate": float(s.gate),
                               "target": None if s.target is None else float(s.target),
                               "attainment": None if s.attainment is None else float(s.attainment)})
        return {"month": month, "plan": {"plan_id": plan.plan_id, "version": plan.version, "mode": plan.mode,
                                         "basis": plan.basis, "min_attainment": float(plan.min_attainment),
                                         "tiers": [{"threshold": float(t.threshold), "rate": float(t.rate)}
                                                   for t in plan.tiers]},
                "statements": statements}


class GradeTableQuery:
    """有望客户确度状态表: open leads per consultant × grade, follow-ups due and overdue, on-time rate."""

    def __init__(self, summaries: Summaries, clock: Callable[[], datetime]) -> None:
        self._summaries = summaries
        self._clock = clock

    async def __call__(self, *, as_of: datetime | None = None) -> dict[str, Any]:
        now = as_of or self._clock()
        stock = await self._summaries.stock(as_of=as_of, now=now)
        rows: dict[str, Counter[str]] = defaultdict(Counter)
        for (consultant, measure), n in stock.items():
            rows[consultant or "unassigned"][measure] += n
        consultants = []
        for cid, row in sorted(rows.items()):
            if not row.get("open"):
                continue
            consultants.append({"consultant_id": cid, **{g: row.get(f"grade:{g}", 0) for g in GRADES},
                                "open": row["open"], "due_today": row.get("due_today", 0),
                                "overdue": row.get("overdue", 0),
                                "on_time_follow_up_rate": ratio(row.get("logged", 0),
                                                                row.get("logged", 0) + row.get("missed", 0))})
        return {"as_of": as_of, "now": now, "grades": list(GRADES), "consultants": consultants,
                "open_leads": sum(r["open"] for r in consultants)}


class DailyReportQuery:
    """销售日报 per consultant for one day, with the day's dealer KPIs."""

    def __init__(self, summaries: Summaries) -> None:
        self._summaries = summaries

    async def __call__(self, *, day: str, as_of: datetime | None = None) -> dict[str, Any]:
        start, end = days_of(day)
        counters = await self._summaries.activity(start=start, end=end, as_of=as_of, by=("consultant", "team"))
        rows: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
        teams: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
        total: dict[str, float] = defaultdict(float)
        for (metric, consultant, team), v in counters.items():
            rows[consultant or "unassigned"][metric] += v
            teams[team or "unassigned"][metric] += v
            total[metric] += v
        return {"day": day, "as_of": as_of, "columns": DAILY_COLUMNS,
                "consultants": [{"consultant_id": cid, **{c: int(row.get(c, 0)) for c in DAILY_COLUMNS},
                                 **_kpi_columns(row)}
                                for cid, row in sorted(rows.items()) if any(row.get(c) for c in DAILY_COLUMNS)],
                "teams": [{"team_id": tid, **{c: int(row.get(c, 0)) for c in DAILY_COLUMNS}, **_kpi_columns(row)}
                          for tid, row in sorted(teams.items()) if any(row.get(c) for c in DAILY_COLUMNS)],
                "kpis": kpis(total)}


KPI_COLUMNS = ["invitation_to_visit_rate", "test_drive_rate", "visit_to_order_rate", "quote_to_contract_rate",
               "average_discount_rate", "deposit_to_delivery_days", "referral_rate", "satisfaction", "connect_rate",
               "average_talk_seconds", "call_back_sla_rate", "walk_in_record_rate", "second_visit_rate",
               "test_drive_to_contract_rate", "no_show_rate", "accessory_attach_rate", "insurance_attach_rate",
               "financing_attach_rate", "plates_attach_rate"]


def _kpi_columns(row: dict[str, float]) -> dict[str, Any]:
    values = kpis(row)
    return {k: values[k] for k in KPI_COLUMNS}
