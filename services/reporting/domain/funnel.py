"""The sales funnel: how many leads reached each stage.

A lead counts at its current stage and at every earlier stage (it passed through them, even when it skipped
ahead: an online-shop buyer who goes straight to contract did reach "new" and "contract signed").
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

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
class LeadHistory:
    """One lead as the events describe it up to the report's as-of moment. ``stages`` are the stage entries in
    time order (the stage at capture first); back-moves appear as entries into an earlier stage."""

    lead_id: str
    channel: str
    captured_at: datetime
    stages: tuple[tuple[datetime, str], ...]
    product: str | None = None
    owner_id: str | None = None
    team_id: str | None = None
    lost_at: datetime | None = None
    loss_reason: str | None = None
    competitor_model: str | None = None
    invalid_at: datetime | None = None
    grade: str = "N"

    @property
    def current_stage(self) -> str:
        return self.stages[-1][1] if self.stages else "new"

    @property
    def furthest_rank(self) -> int:
        return max((STAGE_RANK.get(s, 0) for _, s in self.stages), default=0)

    @property
    def entered(self) -> frozenset[str]:
        return frozenset(s for _, s in self.stages)

    @property
    def is_open(self) -> bool:
        return self.lost_at is None and self.invalid_at is None and self.furthest_rank < STAGE_RANK[WON_STAGE]

    def stage_at(self, moment: datetime) -> str:
        current = "new"
        for at, stage in self.stages:
            if at > moment:
                break
            current = stage
        return current


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


def percentile(values: list[float], fraction: float) -> float | None:
    """Nearest-rank percentile (no interpolation): the smallest value with at least ``fraction`` of the values at
    or below it."""
    if not values:
        return None
    ordered = sorted(values)
    index = max(0, min(len(ordered) - 1, math.ceil(fraction * len(ordered)) - 1))
    return round(ordered[index], 4)


def _durations(leads: Iterable[LeadHistory]) -> dict[str, list[float]]:
    """Hours spent in a stage: from its entry to the next entry (stays still open are not counted)."""
    out: dict[str, list[float]] = {s: [] for s in FUNNEL_STAGES}
    for lead in leads:
        for (at, stage), (next_at, _) in zip(lead.stages, lead.stages[1:], strict=False):
            if stage in out:
                out[stage].append((next_at - at).total_seconds() / 3600)
    return out


def funnel_report(leads: Iterable[LeadHistory]) -> FunnelReport:
    """Aggregate lead histories into the funnel. Unknown stages (a newer producer) count as entered but rank as
    "new" for the reached meaning, so a report never fails on them."""
    histories = list(leads)
    entered = Counter(s for lead in histories for s in lead.entered)
    furthest = Counter(lead.furthest_rank for lead in histories)
    current = Counter(lead.current_stage for lead in histories)
    durations = _durations(histories)
    stages: list[StageCounts] = []
    reached_from = 0
    reached: dict[str, int] = {}
    for rank in range(len(FUNNEL_STAGES) - 1, -1, -1):
        reached_from += furthest.get(rank, 0)
        reached[FUNNEL_STAGES[rank]] = reached_from
    previous: int | None = None
    for stage in FUNNEL_STAGES:
        stages.append(StageCounts(
            stage, entered.get(stage, 0), reached[stage], current.get(stage, 0),
            None if previous is None else ratio(reached[stage], previous),
            percentile(durations[stage], 0.5), percentile(durations[stage], 0.9),
        ))
        previous = reached[stage]
    won_rank = STAGE_RANK[WON_STAGE]
    won = sum(1 for lead in histories if lead.furthest_rank >= won_rank)
    lost = [lead for lead in histories if lead.lost_at is not None]
    invalid = sum(1 for lead in histories if lead.invalid_at is not None and lead.lost_at is None)
    return FunnelReport(
        total_leads=len(histories),
        stages=tuple(stages),
        won=won,
        lost=len(lost),
        invalid=invalid,
        open=sum(1 for lead in histories if lead.is_open),
        win_rate=ratio(won, len(histories)),
        lost_by_reason=dict(Counter(lead.loss_reason or "unknown" for lead in lost)),
        lost_by_stage=dict(Counter(lead.stage_at(lead.lost_at) for lead in lost if lead.lost_at is not None)),
        lost_by_competitor=dict(Counter(lead.competitor_model for lead in lost if lead.competitor_model)),
    )
