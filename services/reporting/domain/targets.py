"""Sales targets (目标分解) and attainment: the Target aggregate and the pure calculations.

A target is set per scope (org, team, consultant) × month × metric with a base and an optional stretch level.
A consultant's target may be declared a split of a team's target (``parent_team``); splits that don't add up to
the team's base are flagged, not refused (managers fix them in any order).
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar

from services.reporting.domain.kpis import TARGETABLE_KPIS
from shared.domain import Aggregate, DomainEvent, EventTypeRegistry, InvalidFieldError

METRICS: tuple[str, ...] = ("new_leads", "visits", "test_drives", "contracts", "deliveries", "revenue")
# Targets are set for the counted metrics above (summed over the month) and for the rate KPIs (a level the
# month's rate should reach: no pace, the forecast is the rate so far).
TARGET_METRICS: tuple[str, ...] = (*METRICS, *TARGETABLE_KPIS)
SCOPES: tuple[str, ...] = ("org", "team", "consultant")
_MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")

target_events = EventTypeRegistry()


@target_events.register
class TargetSet(DomainEvent):
    event_type: ClassVar[str] = "TargetSet"

    scope: str
    scope_id: str
    month: str
    metric: str
    base: float
    stretch: float | None
    parent_team: str | None
    set_by: str | None
    set_at: datetime


def target_stream_id(scope: str, scope_id: str, month: str, metric: str) -> str:
    return f"target:{scope}:{scope_id}:{month}:{metric}"


class Target(Aggregate):
    """One target line; setting it again replaces the levels (the history stays in the stream)."""

    stream_type: ClassVar[str] = "target"

    def __init__(self, aggregate_id: str) -> None:
        super().__init__(aggregate_id)
        self.current: TargetSet | None = None

    def set(self, *, scope: str, scope_id: str, month: str, metric: str, base: float, stretch: float | None,
            parent_team: str | None, set_by: str | None, now: datetime) -> TargetSet:
        if scope not in SCOPES:
            raise InvalidFieldError("scope", f"one of {', '.join(SCOPES)}")
        if metric not in TARGET_METRICS:
            raise InvalidFieldError("metric", f"one of {', '.join(TARGET_METRICS)}")
        if not _MONTH.match(month):
            raise InvalidFieldError("month", "YYYY-MM")
        if scope == "org":
            scope_id = ""
        elif not scope_id:
            raise InvalidFieldError("scope_id", "required for team and consultant targets")
        if base < 0:
            raise InvalidFieldError("base", "must not be negative")
        if stretch is not None and stretch < base:
            raise InvalidFieldError("stretch", "must be at least the base level")
        if parent_team is not None and scope != "consultant":
            raise InvalidFieldError("parent_team", "only consultant targets split a team target")
        event = TargetSet(scope=scope, scope_id=scope_id, month=month, metric=metric, base=base, stretch=stretch,
                          parent_team=parent_team, set_by=set_by, set_at=now)
        self._record(event)
        return event

    def _apply(self, event: DomainEvent) -> None:
        if isinstance(event, TargetSet):
            self.current = event


@dataclass(frozen=True, slots=True)
class TargetLine:
    scope: str
    scope_id: str
    month: str
    metric: str
    base: float
    stretch: float | None = None
    parent_team: str | None = None


@dataclass(frozen=True, slots=True)
class Attainment:
    scope: str
    scope_id: str
    month: str
    metric: str
    target: float
    stretch: float | None
    actual: float | None  # None: a rate with nothing to divide by yet
    attainment: float | None  # actual / target
    variance_rate: float | None  # 差异率 = (actual − target) / target
    stretch_attainment: float | None
    pace_expected: float  # where the month should be by the reference day: target × elapsed / days
    pace_ratio: float | None  # actual / pace_expected
    forecast: float  # run rate: actual / elapsed × days


def _r(value: float) -> float:
    return round(value, 4)


def month_progress(month: str, today: datetime) -> tuple[float, int]:
    """(elapsed days including today, clipped to [0, days], days in month)."""
    year, mon = int(month[:4]), int(month[5:7])
    days = calendar.monthrange(year, mon)[1]
    if (today.year, today.month) < (year, mon):
        return 0.0, days
    if (today.year, today.month) > (year, mon):
        return float(days), days
    return float(today.day), days


def attainment(line: TargetLine, actual: float | None, today: datetime) -> Attainment:
    elapsed, days = month_progress(line.month, today)
    target = line.base
    if line.metric in TARGETABLE_KPIS:  # a rate: the level applies all month, and the rate so far is the forecast
        return Attainment(
            scope=line.scope, scope_id=line.scope_id, month=line.month, metric=line.metric, target=target,
            stretch=line.stretch, actual=actual,
            attainment=None if actual is None or target == 0 else _r(actual / target),
            variance_rate=None if actual is None or target == 0 else _r((actual - target) / target),
            stretch_attainment=None if actual is None or not line.stretch else _r(actual / line.stretch),
            pace_expected=_r(target), pace_ratio=None if actual is None or target == 0 else _r(actual / target),
            forecast=_r(actual or 0.0))
    actual = actual or 0.0
    pace_expected = target * elapsed / days
    return Attainment(
        scope=line.scope, scope_id=line.scope_id, month=line.month, metric=line.metric, target=target,
        stretch=line.stretch, actual=actual,
        attainment=None if target == 0 else _r(actual / target),
        variance_rate=None if target == 0 else _r((actual - target) / target),
        stretch_attainment=None if not line.stretch else _r(actual / line.stretch),
        pace_expected=_r(pace_expected),
        pace_ratio=None if pace_expected == 0 else _r(actual / pace_expected),
        forecast=_r(actual / elapsed * days) if elapsed else 0.0,
    )


@dataclass(frozen=True, slots=True)
class SplitCheck:
    team_id: str
    month: str
    metric: str
    team_target: float
    consultants_total: float
    difference: float  # consultants' total − team target
    adds_up: bool


def check_splits(lines: Iterable[TargetLine]) -> list[SplitCheck]:
    """Compare each team target with the sum of the consultant targets declared as its split."""
    lines = list(lines)
    out: list[SplitCheck] = []
    for team in (t for t in lines if t.scope == "team"):
        parts = [c.base for c in lines if c.scope == "consultant" and c.parent_team == team.scope_id
                 and c.month == team.month and c.metric == team.metric]
        if not parts:
            continue
        total = sum(parts)
        diff = _r(total - team.base)
        out.append(SplitCheck(team.scope_id, team.month, team.metric, team.base, _r(total), diff, abs(diff) < 1e-6))
    return out


@dataclass(frozen=True, slots=True)
class Activity:
    """One countable thing that happened: a metric, when, by whom, how much (1 for counts, money for revenue)."""

    metric: str
    month: str
    consultant_id: str | None
    team_id: str | None
    amount: float = 1.0


def actual_for(activities: Iterable[Activity], *, scope: str, scope_id: str, month: str, metric: str) -> float:
    total = 0.0
    for a in activities:
        if a.metric != metric or a.month != month:
            continue
        if scope == "org" or (scope == "team" and a.team_id == scope_id) or (
                scope == "consultant" and a.consultant_id == scope_id):
            total += a.amount
    return total
