"""The sales funnel: how many leads reached each stage.

A lead counts at its current stage and at every earlier stage (it passed through them, even when it skipped
ahead: an online-shop buyer who goes straight to contract did reach "new" and "contract signed").
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass

FUNNEL_STAGES: tuple[str, ...] = (
    "new", "contacted", "visited", "needs_analysed", "presented", "test_driven", "negotiating",
    "contract_signed", "delivered",
)


@dataclass(frozen=True, slots=True)
class FunnelStep:
    stage: str
    current: int  # leads whose current stage is this one
    reached: int  # leads at this stage or further
    conversion_from_previous: float | None  # reached / previous step's reached


def build_funnel(current_by_stage: Mapping[str, int]) -> list[FunnelStep]:
    """Funnel steps in pipeline order from counts of leads per current stage. Unknown stages are an error:
    reporting must know every stage the leads service can emit."""
    unknown = set(current_by_stage) - set(FUNNEL_STAGES)
    if unknown:
        raise ValueError(f"unknown stages: {sorted(unknown)}")
    steps: list[FunnelStep] = []
    reached = 0
    reached_by_stage: dict[str, int] = {}
    for stage in reversed(FUNNEL_STAGES):
        reached += current_by_stage.get(stage, 0)
        reached_by_stage[stage] = reached
    previous: int | None = None
    for stage in FUNNEL_STAGES:
        here = reached_by_stage[stage]
        conversion = None if previous in (None, 0) else round(here / previous, 4)
        steps.append(FunnelStep(stage, current_by_stage.get(stage, 0), here, conversion))
        previous = here
    return steps


# --- the full funnel (issue #6): both meanings, outcomes, time in stage --------------------------------------------

STAGE_RANK: dict[str, int] = {stage: rank for rank, stage in enumerate(FUNNEL_STAGES)}
WON_STAGE = "contract_signed"


@dataclass(frozen=True, slots=True)
class StageCounts:
    stage: str
    entered: int  # leads with an entry into this stage (the "entered stage X" meaning)
    reached: int  # leads whose furthest stage is this one or later (the "reached at least X" meaning)
    current: int  # leads whose latest stage is this one
    conversion_from_previous: float | None  # reached / previous stage's reached
    median_hours_in_stage: float | None
    p90_hours_in_stage: float | None


@dataclass(frozen=True, slots=True)
class FunnelReport:
    total_leads: int
    stages: tuple[StageCounts, ...]
    won: int
    lost: int
    invalid: int
    open: int
    win_rate: float | None  # won / total
    lost_by_reason: dict[str, int]
    lost_by_stage: dict[str, int]
    lost_by_competitor: dict[str, int]


def ratio(numerator: float, denominator: float) -> float | None:
    return None if denominator == 0 else round(numerator / denominator, 4)


# --- the funnel from summary measures (issue #12) ------------------------------------------------------------------

def histogram_percentile(histogram: Mapping[float, int], fraction: float) -> float | None:
    """Nearest-rank percentile over a histogram {bucket value: count}."""
    total = sum(histogram.values())
    if total <= 0:
        return None
    rank = max(0, min(total - 1, math.ceil(fraction * total) - 1))
    seen = 0
    for value in sorted(histogram):
        seen += histogram[value]
        if seen > rank:
            return value
    return max(histogram)


def funnel_from_measures(measures: Mapping[str, int]) -> FunnelReport:
    """The funnel report from summed measures (``total``, ``entered:X``, ``reached:X``, ``current:X``,
    ``stay:X:<hours bucket>``, ``won``, ``lost``, ``invalid``, ``open``, ``lost_reason:R``, ``lost_stage:S``,
    ``lost_competitor:C``); see ``domain.ledger``."""
    stays: dict[str, Counter[float]] = {s: Counter() for s in FUNNEL_STAGES}
    breakdown: dict[str, dict[str, int]] = {"lost_reason": {}, "lost_stage": {}, "lost_competitor": {}}
    for key, n in measures.items():
        if not n:
            continue
        head, _, rest = key.partition(":")
        if head == "stay":
            stage, _, bucket = rest.rpartition(":")
            if stage in stays:
                stays[stage][float(bucket)] += n
        elif head in breakdown:
            breakdown[head][rest] = breakdown[head].get(rest, 0) + n
    stages: list[StageCounts] = []
    previous: int | None = None
    for stage in FUNNEL_STAGES:
        reached = measures.get(f"reached:{stage}", 0)
        stages.append(StageCounts(
            stage, measures.get(f"entered:{stage}", 0), reached, measures.get(f"current:{stage}", 0),
            None if previous is None else ratio(reached, previous),
            histogram_percentile(stays[stage], 0.5), histogram_percentile(stays[stage], 0.9)))
        previous = reached
    total = measures.get("total", 0)
    won = measures.get("won", 0)
    return FunnelReport(
        total_leads=total, stages=tuple(stages), won=won, lost=measures.get("lost", 0),
        invalid=measures.get("invalid", 0), open=measures.get("open", 0), win_rate=ratio(won, total),
        lost_by_reason=breakdown["lost_reason"], lost_by_stage=breakdown["lost_stage"],
        lost_by_competitor=breakdown["lost_competitor"])
