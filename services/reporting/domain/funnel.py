"""The sales funnel: how many leads reached each stage.

A lead counts at its current stage and at every earlier stage (it passed through them, even when it skipped
ahead: an online-shop buyer who goes straight to contract did reach "new" and "contract signed").
"""

from __future__ import annotations

import math
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
    return _percentiles(sorted(histogram.items()), (fraction,))[0]


def _percentiles(buckets: list[tuple[float, int]], fractions: tuple[float, ...]) -> list[float | None]:
    """Nearest-rank percentiles (``fractions`` ascending) of ``(bucket value, count)`` pairs sorted by value (a
    value may repeat: its counts are summed before the rank is compared, as in a histogram), in one walk."""
    total = 0
    for _, n in buckets:
        total += n
    if total <= 0:
        return [None] * len(fractions)
    ranks = [max(0, min(total - 1, math.ceil(fraction * total) - 1)) for fraction in fractions]
    out: list[float | None] = []
    wanted, rank = len(ranks), ranks[0]
    seen, i, size = 0, 0, len(buckets)
    while i < size:
        value, n = buckets[i]
        seen += n
        i += 1
        while i < size and buckets[i][0] == value:
            seen += buckets[i][1]
            i += 1
        while seen > rank:
            out.append(value)
            if len(out) == wanted:
                return out
            rank = ranks[len(out)]
    return out + [buckets[-1][0]] * (wanted - len(out))


# A measure key's meaning, parsed once per distinct key: a funnel by consultant builds ~50 reports from ~9k measure
# rows per request (100k leads), and splitting ``stay:<stage>:<bucket>`` and parsing the bucket's float on every
# request was half of its Python time (rpt-funnel-all's microbenchmark: 9.4 of ~20 ms). The keys are the summaries'
# measure vocabulary (stages × hour buckets, loss reasons, stages, competitors), so the table stays small; should it
# pass _PARSED_MAX (free-text reasons) it is emptied, which costs only the parsing again.
_STAY = "stay"
_BREAKDOWNS = ("lost_reason", "lost_stage", "lost_competitor")
_PARSED: dict[str, tuple[str, int, float, str] | None] = {}
_PARSED_MAX = 100_000
_UNPARSED = ("?", 0, 0.0, "?")  # not in _PARSED yet (compared by identity)
_STAGE_KEYS = tuple((f"entered:{stage}", f"reached:{stage}", f"current:{stage}") for stage in FUNNEL_STAGES)


def _parse_measure(key: str) -> tuple[str, int, float, str] | None:
    """``("stay", stage index, bucket, "")`` for a time-in-stage key of a known stage, ``(breakdown, 0, 0.0,
    value)`` for a loss breakdown key, None for the rest (read by name)."""
    head, _, rest = key.partition(":")
    parsed: tuple[str, int, float, str] | None = None
    if head == _STAY:
        stage, _, bucket = rest.rpartition(":")
        if stage in STAGE_RANK:
            parsed = (_STAY, STAGE_RANK[stage], float(bucket), "")
    elif head in _BREAKDOWNS:
        parsed = (head, 0, 0.0, rest)
    if len(_PARSED) >= _PARSED_MAX:
        _PARSED.clear()
    _PARSED[key] = parsed
    return parsed


def funnel_from_measures(measures: Mapping[str, int]) -> FunnelReport:
    """The funnel report from summed measures (``total``, ``entered:X``, ``reached:X``, ``current:X``,
    ``stay:X:<hours bucket>``, ``won``, ``lost``, ``invalid``, ``open``, ``lost_reason:R``, ``lost_stage:S``,
    ``lost_competitor:C``); see ``domain.ledger``."""
    # Time in stage as (bucket, count) pairs per stage, sorted once: the same nearest-rank percentiles as a
    # histogram per stage, without a Counter per stage and a dict update per key.
    stays: list[list[tuple[float, int]]] = [[] for _ in FUNNEL_STAGES]
    breakdown: dict[str, dict[str, int]] = {"lost_reason": {}, "lost_stage": {}, "lost_competitor": {}}
    parsed_of = _PARSED.get
    for key, n in measures.items():
        if not n:
            continue
        parsed = parsed_of(key, _UNPARSED)
        if parsed is _UNPARSED:
            parsed = _parse_measure(key)
        if parsed is None:
            continue
        kind, stage_index, bucket, value = parsed
        if kind == _STAY:
            stays[stage_index].append((bucket, n))
        else:
            into = breakdown[kind]
            into[value] = into.get(value, 0) + n
    stages: list[StageCounts] = []
    previous: int | None = None
    get = measures.get
    for stage, (entered, reached_key, current), buckets in zip(FUNNEL_STAGES, _STAGE_KEYS, stays, strict=True):
        reached = get(reached_key, 0)
        buckets.sort()
        median, p90 = _percentiles(buckets, (0.5, 0.9))
        stages.append(StageCounts(
            stage, get(entered, 0), reached, get(current, 0),
            None if previous is None else ratio(reached, previous), median, p90))
        previous = reached
    total = get("total", 0)
    won = get("won", 0)
    return FunnelReport(
        total_leads=total, stages=tuple(stages), won=won, lost=get("lost", 0),
        invalid=get("invalid", 0), open=get("open", 0), win_rate=ratio(won, total),
        lost_by_reason=breakdown["lost_reason"], lost_by_stage=breakdown["lost_stage"],
        lost_by_competitor=breakdown["lost_competitor"])
