"""The funnel counts a lead at its current stage and at every stage before it."""

from __future__ import annotations

from itertools import pairwise

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.reporting.domain.funnel import FUNNEL_STAGES, FunnelStep, build_funnel


def test_the_funnel_lists_every_stage_in_pipeline_order_even_when_empty() -> None:
    steps = build_funnel({})

    assert [s.stage for s in steps] == [
        "new",
        "contacted",
        "visited",
        "needs_analysed",
        "presented",
        "test_driven",
        "negotiating",
        "contract_signed",
        "delivered",
    ]
    assert all(s.current == 0 and s.reached == 0 for s in steps)
    assert all(s.conversion_from_previous is None for s in steps)


def test_the_funnel_order_does_not_depend_on_the_order_of_the_input() -> None:
    forward = build_funnel({"new": 1, "visited": 2, "delivered": 3})
    backward = build_funnel({"delivered": 3, "visited": 2, "new": 1})

    assert forward == backward


def test_a_lead_counts_at_its_current_stage_and_at_every_earlier_stage() -> None:
    steps = {s.stage: s for s in build_funnel({"contract_signed": 1})}

    assert [steps[stage].reached for stage in FUNNEL_STAGES] == [1, 1, 1, 1, 1, 1, 1, 1, 0]
    assert steps["contract_signed"].current == 1
    assert steps["new"].current == 0


def test_reached_is_the_sum_of_current_counts_from_that_stage_onwards() -> None:
    steps = build_funnel({"new": 10, "contacted": 5, "visited": 3, "negotiating": 2, "delivered": 1})

    assert [(s.stage, s.current, s.reached) for s in steps] == [
        ("new", 10, 21),
        ("contacted", 5, 11),
        ("visited", 3, 6),
        ("needs_analysed", 0, 3),
        ("presented", 0, 3),
        ("test_driven", 0, 3),
        ("negotiating", 2, 3),
        ("contract_signed", 0, 1),
        ("delivered", 1, 1),
    ]


def test_conversion_is_reached_over_the_previous_stages_reached_rounded_to_four_places() -> None:
    steps = build_funnel({"new": 1, "contacted": 1, "visited": 1})

    assert [s.conversion_from_previous for s in steps[:4]] == [None, 0.6667, 0.5, 0.0]


def test_the_first_stage_has_no_conversion() -> None:
    assert build_funnel({"new": 5})[0].conversion_from_previous is None


def test_conversion_after_an_empty_stage_is_none_rather_than_a_division_by_zero() -> None:
    steps = build_funnel({"new": 4})

    assert steps[1].conversion_from_previous == 0.0  # 0 of 4
    assert all(s.conversion_from_previous is None for s in steps[2:])  # previous reached is 0


def test_a_funnel_where_everyone_was_delivered_converts_fully_at_every_step() -> None:
    steps = build_funnel({"delivered": 7})

    assert all(s.reached == 7 for s in steps)
    assert [s.conversion_from_previous for s in steps[1:]] == [1.0] * (len(FUNNEL_STAGES) - 1)


def test_steps_are_frozen_value_objects() -> None:
    step = build_funnel({"new": 1})[0]

    assert step == FunnelStep("new", 1, 1, None)
    with pytest.raises(AttributeError):
        step.reached = 2  # type: ignore[misc]


@pytest.mark.parametrize("unknown", ["lost", "New", "", "contract-signed"])
def test_an_unknown_stage_raises_value_error_naming_it(unknown: str) -> None:
    with pytest.raises(ValueError, match="unknown stages") as caught:
        build_funnel({"new": 1, unknown: 2})

    assert repr(unknown) in str(caught.value)


_counts = st.dictionaries(st.sampled_from(FUNNEL_STAGES), st.integers(min_value=0, max_value=10**9))


@given(_counts)
def test_reached_never_increases_along_the_funnel(counts: dict[str, int]) -> None:
    reached = [s.reached for s in build_funnel(counts)]

    assert all(earlier >= later for earlier, later in pairwise(reached))


@given(_counts)
def test_everyone_reached_the_first_stage(counts: dict[str, int]) -> None:
    steps = build_funnel(counts)

    assert steps[0].reached == sum(counts.values())
    assert steps[-1].reached == counts.get("delivered", 0)


@given(_counts)
def test_current_counts_are_passed_through_and_conversion_stays_between_zero_and_one(
    counts: dict[str, int],
) -> None:
    steps = build_funnel(counts)

    assert {s.stage: s.current for s in steps if s.current} == {k: v for k, v in counts.items() if v}
    for previous, step in pairwise(steps):
        if previous.reached == 0:
            assert step.conversion_from_previous is None
        else:
            assert step.conversion_from_previous == round(step.reached / previous.reached, 4)
            assert 0.0 <= step.conversion_from_previous <= 1.0
