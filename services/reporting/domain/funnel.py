"""The sales funnel: how many leads reached each stage.

A lead counts at its current stage and at every earlier stage (it passed through them, even when it skipped
ahead: an online-shop buyer who goes straight to contract did reach "new" and "contract signed").
"""

from __future__ import annotations

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
