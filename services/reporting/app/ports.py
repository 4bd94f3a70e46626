"""Ports of the reporting service."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any, NamedTuple, Protocol

from services.reporting.domain.campaigns import CampaignInfo


class FactRow(NamedTuple):
    """A public event, stored as the fact it is (see migrations/0002_facts.sql and 0004_summaries.sql). A NamedTuple
    rather than a frozen dataclass: the projection builds one per event, and a frozen dataclass's ``__init__``
    costs three times as much (a rebuild builds hundreds of thousands)."""

    event_id: str
    event_type: str
    lead_id: str | None
    order_id: str | None
    consultant_id: str | None
    occurred_at: datetime
    data: dict[str, Any]
    source_recorded_at: datetime | None


class SummariesWriter(Protocol):
    async def apply(self, tx: Any, facts: Sequence[FactRow]) -> None:
        """Store the facts (a known event id is a no-op) and fold what they change into the summaries."""


class Summaries(Protocol):
    """What reports read. Implemented by the summary tables (``adapters.summaries.PostgresSummaries``) and by a
    fold of the raw facts (``FactFold``: audits and the equivalence test) — the two must agree exactly."""

    async def funnel(self, *, cohorts: Sequence[str] | None, as_of: datetime | None,
                     filters: Mapping[str, str | None], group_by: str | None) -> dict[str, Counter[str]]:
        """Funnel measures per group value ('' when not grouped), leads captured in the cohort months."""

    async def activity(self, *, start: date, end: date, as_of: datetime | None,
                       by: Sequence[str] = ("consultant",)) -> dict[tuple[Any, ...], float]:
        """Activity counters for days in [start, end): ``(metric, *values of by)`` → amount."""

    async def stock(self, *, as_of: datetime | None, now: datetime) -> Counter[tuple[str, str]]:
        """Open leads per owner: ``(consultant, measure)`` → count."""


class CampaignSummaries(Protocol):
    """What the campaign report reads (both implementations of :class:`Summaries` have it)."""

    async def campaign_flows(self, *, start: date, end: date, as_of: datetime | None,
                             by: Sequence[str] = ("channel", "campaign")) -> dict[tuple[Any, ...], float]:
        """Channel/campaign cost counters for days in [start, end): ``(metric, *values of by)`` → amount."""

    async def campaign_catalogue(self, *, as_of: datetime | None) -> Mapping[str, CampaignInfo]:
        """The campaigns as they stood at ``as_of`` (now: None), by id."""


class UnsupportedBySummariesError(Exception):
    """The summaries do not hold this cut (e.g. as_of over two funnel dimensions): fold the facts instead."""


class RebuildNeededError(Exception):
    """The read model lacks what a report sums (an upgrade added tables to it without ``salesflow rebuild``; see
    ``adapters.upgrade``): refused rather than answered wrong. The message names the reasons."""
