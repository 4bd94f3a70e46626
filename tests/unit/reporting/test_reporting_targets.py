"""Targets: the aggregate's rules, attainment / variance rate / pace / forecast, and split checks."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import get_args, get_type_hints

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.reporting.app.commands import SetTarget
from services.reporting.app.reports import AttainmentQuery
from services.reporting.domain.targets import (
    TARGET_METRICS,
    Activity,
    Target,
    TargetLine,
    actual_for,
    attainment,
    check_splits,
)
from shared.domain import InvalidFieldError

NOW = datetime(2026, 3, 10, tzinfo=UTC)


def test_setting_a_target_records_an_event_and_setting_it_again_replaces_the_levels() -> None:
    target = Target("target:team:t1:2026-03:contracts")
    target.set(scope="team", scope_id="t1", month="2026-03", metric="contracts", base=20, stretch=25,
               parent_team=None, set_by="mgr", now=NOW)
    target.set(scope="team", scope_id="t1", month="2026-03", metric="contracts", base=22, stretch=None,
               parent_team=None, set_by="mgr", now=NOW)

    assert [e.base for e in target.pending_events] == [20, 22]  # type: ignore[attr-defined]
    assert target.current is not None
    assert target.current.base == 22


@pytest.mark.parametrize(("field", "kwargs"), [
    ("metric", {"metric": "happiness"}), ("month", {"month": "2026-13"}), ("stretch", {"stretch": 1}),
    ("base", {"base": -1}), ("scope_id", {"scope_id": ""}), ("parent_team", {"scope": "team", "parent_team": "t"}),
])
def test_a_target_refuses_bad_input_naming_the_field(field: str, kwargs: dict[str, object]) -> None:
    args: dict[str, object] = {"scope": "consultant", "scope_id": "c1", "month": "2026-03", "metric": "contracts",
                               "base": 5, "stretch": None, "parent_team": None, "set_by": None, "now": NOW}
    with pytest.raises(InvalidFieldError) as error:
        Target("x").set(**{**args, **kwargs})  # type: ignore[arg-type]
    assert error.value.field == field


@given(target=st.integers(1, 1000), actual=st.integers(0, 2000), day=st.integers(1, 31))
def test_attainment_variance_pace_and_forecast_follow_their_formulas(target: int, actual: int, day: int) -> None:
    today = datetime(2026, 3, day, tzinfo=UTC)
    a = attainment(TargetLine("consultant", "c1", "2026-03", "contracts", float(target)), float(actual), today)

    assert a.attainment == round(actual / target, 4)
    assert a.variance_rate == round((actual - target) / target, 4)  # 差异率
    assert a.pace_expected == round(target * day / 31, 4)
    assert a.forecast == round(actual / day * 31, 4)


def test_a_past_month_is_fully_elapsed_and_a_future_one_not_started() -> None:
    line = TargetLine("org", "", "2026-02", "revenue", 100.0)
    past = attainment(line, 50.0, NOW)
    future = attainment(TargetLine("org", "", "2026-04", "revenue", 100.0), 0.0, NOW)

    assert past.pace_expected == 100.0
    assert past.forecast == 50.0
    assert future.pace_expected == 0.0
    assert future.pace_ratio is None


def test_splits_that_do_not_add_up_to_the_team_target_are_flagged() -> None:
    lines = [TargetLine("team", "t1", "2026-03", "contracts", 20), TargetLine("team", "t2", "2026-03", "contracts", 9),
             TargetLine("consultant", "a", "2026-03", "contracts", 12, parent_team="t1"),
             TargetLine("consultant", "b", "2026-03", "contracts", 8, parent_team="t1"),
             TargetLine("consultant", "c", "2026-03", "contracts", 5, parent_team="t2")]
    checks = {c.team_id: c for c in check_splits(lines)}

    assert checks["t1"].adds_up
    assert checks["t1"].difference == 0
    assert not checks["t2"].adds_up
    assert checks["t2"].difference == -4


def test_actuals_roll_up_from_consultant_to_team_to_organisation() -> None:
    acts = [Activity("contracts", "2026-03", "a", "t1"), Activity("contracts", "2026-03", "b", "t1"),
            Activity("contracts", "2026-03", "c", "t2"), Activity("contracts", "2026-02", "a", "t1"),
            Activity("revenue", "2026-03", "a", "t1", 500.0)]

    assert actual_for(acts, scope="consultant", scope_id="a", month="2026-03", metric="contracts") == 1
    assert actual_for(acts, scope="team", scope_id="t1", month="2026-03", metric="contracts") == 2
    assert actual_for(acts, scope="org", scope_id="", month="2026-03", metric="contracts") == 3
    assert actual_for(acts, scope="org", scope_id="", month="2026-03", metric="revenue") == 500.0


def test_a_rate_kpi_target_is_a_level_for_the_whole_month_measured_by_the_rate_so_far() -> None:
    line = TargetLine("team", "t1", "2026-03", "invitation_to_visit_rate", 0.5)
    row = attainment(line, 0.4, NOW)  # ten days into March: a rate does not accrue like a count

    assert (row.actual, row.attainment, row.variance_rate) == (0.4, 0.8, -0.2)
    assert (row.pace_expected, row.pace_ratio, row.forecast) == (0.5, 0.8, 0.4)


def test_a_rate_kpi_with_nothing_to_divide_by_has_no_attainment_yet() -> None:
    row = attainment(TargetLine("org", "", "2026-03", "test_drive_rate", 0.3), None, NOW)

    assert (row.actual, row.attainment, row.variance_rate, row.pace_ratio) == (None, None, None, None)


def test_targets_accept_the_rate_kpis_but_not_the_ceilings() -> None:
    target = Target("target:org::2026-03:quote_to_contract_rate")
    target.set(scope="org", scope_id="", month="2026-03", metric="quote_to_contract_rate", base=0.4, stretch=None,
               parent_team=None, set_by="d", now=NOW)
    with pytest.raises(InvalidFieldError) as refused:
        target.set(scope="org", scope_id="", month="2026-03", metric="average_discount_rate", base=0.02,
                   stretch=None, parent_team=None, set_by="d", now=NOW)
    assert refused.value.field == "metric"


async def test_attainment_of_a_rate_target_divides_the_scopes_own_counters() -> None:
    counters: dict[tuple[str, ...], float] = {("invitations", "c1", "t1"): 4.0, ("invited_visits", "c1", "t1"): 3.0,
                ("invitations", "c2", "t2"): 6.0, ("invited_visits", "c2", "t2"): 1.0}

    class Summed:
        async def __call__(self, *, period: str, as_of: datetime | None = None) -> dict[tuple[str, ...], float]:
            return counters

    class Lines:
        async def lines(self, *, month: str | None = None, as_of: datetime | None = None) -> list[TargetLine]:
            return [TargetLine("consultant", "c1", "2026-03", "invitation_to_visit_rate", 0.5),
                    TargetLine("org", "", "2026-03", "invitation_to_visit_rate", 0.5),
                    TargetLine("team", "t3", "2026-03", "invitation_to_visit_rate", 0.5)]

    report = await AttainmentQuery(Summed(), Lines(), lambda: NOW)(month="2026-03")  # type: ignore[arg-type]

    assert [(r["scope_id"], r["actual"], r["attainment"]) for r in report["lines"]] == [
        ("c1", 0.75, 1.5), ("", 0.4, 0.8), ("t3", None, None)]


def test_the_set_target_command_offers_exactly_the_metrics_a_target_accepts() -> None:
    assert get_args(get_type_hints(SetTarget)["metric"]) == TARGET_METRICS
