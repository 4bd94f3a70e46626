"""The full funnel over lead histories: both meanings, outcomes, time in stage."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from services.reporting.domain.funnel import FUNNEL_STAGES, LeadHistory, funnel_report, percentile

T0 = datetime(2026, 3, 1, tzinfo=UTC)


def lead(lead_id: str, *moves: tuple[int, str], **extra: object) -> LeadHistory:
    stages = ((T0, "new"), *((T0 + timedelta(hours=h), s) for h, s in moves))
    return LeadHistory(lead_id, "phone", T0, stages, **extra)  # type: ignore[arg-type]


def test_a_back_move_keeps_the_furthest_stage_reached_but_changes_the_current_one() -> None:
    report = funnel_report([lead("a", (1, "negotiating"), (2, "visited"))])
    stages = {s.stage: s for s in report.stages}

    assert stages["negotiating"].reached == 1
    assert stages["contract_signed"].reached == 0
    assert stages["visited"].current == 1
    assert stages["presented"].entered == 0
    assert stages["presented"].reached == 1


def test_time_in_stage_runs_from_an_entry_to_the_next_and_open_stays_are_not_counted() -> None:
    report = funnel_report([lead("a", (2, "contacted"), (12, "visited")), lead("b", (4, "contacted"))])
    stages = {s.stage: s for s in report.stages}

    assert stages["new"].median_hours_in_stage == 2.0  # nearest rank of [2, 4]
    assert stages["new"].p90_hours_in_stage == 4.0
    assert stages["contacted"].median_hours_in_stage == 10.0  # b is still in contacted: not counted
    assert stages["visited"].median_hours_in_stage is None


def test_losses_are_counted_by_reason_competitor_and_the_stage_at_the_loss() -> None:
    lost = lead("a", (1, "presented"), (5, "contacted"), lost_at=T0 + timedelta(hours=3), loss_reason="price",
                competitor_model="BYD Han")
    report = funnel_report([lost, lead("b", invalid_at=T0)])

    assert (report.lost, report.invalid, report.open) == (1, 1, 0)
    assert report.lost_by_stage == {"presented": 1}
    assert report.lost_by_reason == {"price": 1}
    assert report.lost_by_competitor == {"BYD Han": 1}


@given(st.lists(st.floats(0, 1000, allow_nan=False), min_size=1, max_size=50), st.floats(0.01, 1.0))
def test_the_percentile_is_a_value_with_at_least_that_share_at_or_below_it(values: list[float], q: float) -> None:
    p = percentile(values, q)
    assert p is not None
    assert sum(v <= p + 1e-4 for v in values) >= q * len(values) - 1e-9
    assert any(abs(v - p) < 1e-4 for v in values)


@given(st.lists(st.lists(st.sampled_from(FUNNEL_STAGES), max_size=6), max_size=20))
def test_reached_never_increases_along_the_pipeline_and_entered_never_exceeds_reached(
    journeys: list[list[str]],
) -> None:
    report = funnel_report([lead(str(i), *enumerate(stages, start=1)) for i, stages in enumerate(journeys)])
    reached = [s.reached for s in report.stages]

    assert reached == sorted(reached, reverse=True)
    assert all(s.entered <= s.reached for s in report.stages)
    assert sum(s.current for s in report.stages) == report.total_leads == len(journeys)
