"""The full funnel from the ledger's measures: both meanings, outcomes, time in stage (histogram percentiles)."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

from hypothesis import example, given
from hypothesis import strategies as st

from services.reporting.domain.funnel import FUNNEL_STAGES, FunnelReport, funnel_from_measures, histogram_percentile
from services.reporting.domain.ledger import (
    LEAD_CREATED,
    LEAD_INVALIDATED,
    LOSS_APPROVED,
    STAGE_ADVANCED,
    ConsultantTeams,
    Fact,
    measures_at,
    stay_bucket,
)

T0 = datetime(2026, 3, 1, tzinfo=UTC)
END = datetime(2027, 1, 1, tzinfo=UTC)


def lead(lead_id: str, *moves: tuple[float, str], lost: tuple[float, str, str | None] | None = None,
         invalid: float | None = None) -> list[Fact]:
    facts = [Fact(f"{lead_id}-0", LEAD_CREATED, T0, {"lead_id": lead_id, "channel": "phone", "stage": "new"})]
    for n, (hours, stage) in enumerate(moves, start=1):
        facts.append(Fact(f"{lead_id}-{n}", STAGE_ADVANCED, T0 + timedelta(hours=hours),
                          {"lead_id": lead_id, "to_stage": stage}))
    if lost is not None:
        facts.append(Fact(f"{lead_id}-lost", LOSS_APPROVED, T0 + timedelta(hours=lost[0]),
                          {"lead_id": lead_id, "reason": lost[1], "competitor_model": lost[2]}))
    if invalid is not None:
        facts.append(Fact(f"{lead_id}-inv", LEAD_INVALIDATED, T0 + timedelta(hours=invalid), {"lead_id": lead_id}))
    return facts


def funnel(*groups: list[Fact]) -> FunnelReport:
    measures: Counter[str] = Counter()
    for facts in groups:
        for key, n in measures_at(facts, END, ConsultantTeams()).items():
            if key[0] == "funnel":
                measures[key[2]] += int(n)
    return funnel_from_measures(measures)


def test_a_back_move_keeps_the_furthest_stage_reached_but_changes_the_current_one() -> None:
    report = funnel(lead("a", (1, "negotiating"), (2, "visited")))
    stages = {s.stage: s for s in report.stages}

    assert stages["negotiating"].reached == 1
    assert stages["contract_signed"].reached == 0
    assert stages["visited"].current == 1
    assert stages["presented"].entered == 0
    assert stages["presented"].reached == 1


def test_time_in_stage_runs_from_an_entry_to_the_next_and_open_stays_are_not_counted() -> None:
    report = funnel(lead("a", (2, "contacted"), (12, "visited")), lead("b", (4, "contacted")))
    stages = {s.stage: s for s in report.stages}

    assert stages["new"].median_hours_in_stage == stay_bucket(2.0)  # nearest rank of [2, 4]
    assert stages["new"].p90_hours_in_stage == stay_bucket(4.0)
    assert stages["contacted"].median_hours_in_stage == stay_bucket(10.0)  # b is still in contacted
    assert stages["visited"].median_hours_in_stage is None


def test_losses_are_counted_by_reason_competitor_and_the_stage_at_the_loss() -> None:
    report = funnel(lead("a", (1, "presented"), (5, "contacted"), lost=(3, "price", "BYD Han")),
                    lead("b", invalid=0))

    assert (report.lost, report.invalid, report.open) == (1, 1, 0)
    assert report.lost_by_stage == {"presented": 1}
    assert report.lost_by_reason == {"price": 1}
    assert report.lost_by_competitor == {"BYD Han": 1}


@given(st.floats(0.001, 5000, allow_nan=False))
def test_a_stay_bucket_is_an_upper_bound_within_a_tenth(hours: float) -> None:
    bucket = stay_bucket(hours)
    assert bucket >= round(hours, 4) - 1e-4
    assert bucket <= max(hours * 1.1, 1 / 60) + 1e-4


@given(st.dictionaries(st.floats(0, 1000, allow_nan=False), st.integers(1, 5), min_size=1, max_size=30),
       st.floats(0.01, 1.0))
def test_the_histogram_percentile_is_a_bucket_with_at_least_that_share_at_or_below_it(
    histogram: dict[float, int], q: float,
) -> None:
    p = histogram_percentile(histogram, q)
    assert p in histogram
    total = sum(histogram.values())
    assert sum(n for v, n in histogram.items() if v <= p) >= q * total - 1e-9
    assert sum(n for v, n in histogram.items() if v < p) < q * total + 1e-9


@given(st.lists(st.lists(st.sampled_from(FUNNEL_STAGES), max_size=6), max_size=20))
def test_reached_never_increases_along_the_pipeline_and_entered_never_exceeds_reached(
    journeys: list[list[str]],
) -> None:
    report = funnel(*(lead(str(i), *((float(h), s) for h, s in enumerate(stages, start=1)))
                      for i, stages in enumerate(journeys)))
    reached = [s.reached for s in report.stages]

    assert reached == sorted(reached, reverse=True)
    assert all(s.entered <= s.reached for s in report.stages)
    assert sum(s.current for s in report.stages) == report.total_leads == len(journeys)




_STAY_KEYS = st.builds(lambda stage, bucket, spelling: f"stay:{stage}:{spelling(bucket)}",
                       st.sampled_from(FUNNEL_STAGES), st.sampled_from((0.5, 1.5, 2.25, 40.0, 1000.0)),
                       st.sampled_from((str, lambda b: f"{b:.3f}")))
_OTHER_KEYS = st.sampled_from(("total", "won", "lost", "invalid", "open", "lost_reason:price", "lost_stage:visited",
                               "lost_competitor:BYD Han", "stay:nowhere:2.0", *(f"{kind}:{s}" for s in FUNNEL_STAGES
                                                                               for kind in ("entered", "reached",
                                                                                            "current"))))


@given(st.lists(st.dictionaries(st.one_of(_STAY_KEYS, _OTHER_KEYS), st.integers(-2, 50), max_size=40), max_size=4))
@example([{"stay:new:1.5": 5, "stay:new:1.500": -3, "stay:new:40.0": 2}])  # one bucket spelt two ways
def test_the_report_from_measures_reads_time_in_stage_as_one_histogram_per_stage(
    measure_sets: list[dict[str, int]],
) -> None:
    # The report parses each key once and keeps (bucket, count) pairs rather than a histogram per stage; whatever
    # the keys (one bucket spelt two ways, zero and negative counts, an unknown stage), the percentiles must be
    # those of the stage's histogram, and a key's parse must not leak into another report.
    for measures in measure_sets:
        report = funnel_from_measures(measures)
        for stage in report.stages:
            histogram: Counter[float] = Counter()
            for key, n in measures.items():
                head, _, rest = key.partition(":")
                name, _, bucket = rest.rpartition(":")
                if head == "stay" and name == stage.stage and n:
                    histogram[float(bucket)] += n
            assert stage.median_hours_in_stage == histogram_percentile(histogram, 0.5)
            assert stage.p90_hours_in_stage == histogram_percentile(histogram, 0.9)
            assert (stage.entered, stage.reached, stage.current) == (
                measures.get(f"entered:{stage.stage}", 0), measures.get(f"reached:{stage.stage}", 0),
                measures.get(f"current:{stage.stage}", 0))
        assert report.lost_by_reason == ({"price": measures["lost_reason:price"]}
                                         if measures.get("lost_reason:price") else {})
