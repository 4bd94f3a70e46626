"""Outreach batches (issue 17, item 5): a manager turns a filtered list of dormant or lost customers into follow-up
tasks dealt round robin to consultants. The batch is an aggregate of its own (stream ``outreach-batch-<id>``) that
records what was decided, once; each customer's task is recorded on the lead it concerns, by the lead's own
commands (``Lead.capture`` for a lost customer's reactivation, ``Lead.hand_over_for_outreach`` for a dormant lead),
in the same unit of work."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict

from shared.domain import Aggregate, DomainEvent, EventTypeRegistry, InvalidFieldError

outreach_events = EventTypeRegistry()

MAX_BATCH_CUSTOMERS = 500
"""A batch is one transaction; more matching customers than this is refused (narrow the filters)."""
MAX_BATCH_CONSULTANTS = 50


class Audience(StrEnum):
    LOST = "lost"  # customers whose leads are all closed and the newest was lost (战败): reactivated
    DORMANT = "dormant"  # open leads without activity for idle_days (pooled or owned): handed over, follow-up due


class TaskAction(StrEnum):
    REACTIVATED = "reactivated"  # a new lead of the same customer, as the dedupe rule reactivates a known customer
    SCHEDULED = "scheduled"  # the dormant lead claimed / reassigned to the consultant, its next follow-up due


class OutreachTask(BaseModel):
    """One customer's task: the lead it was selected by, the lead that carries the follow-up (the new lead of a
    reactivation, else the same), the consultant, what was done."""

    model_config = ConfigDict(frozen=True)

    customer_id: str
    source_lead_id: str
    lead_id: str
    consultant_id: str
    action: str


@outreach_events.register
class OutreachBatchCreated(DomainEvent):
    """A manager's outreach batch: the filters it was built from, the consultants in rotation order, the due time of
    every task, the counts and the tasks themselves."""

    event_type = "OutreachBatchCreated"

    batch_id: str
    team_id: str
    audience: str
    filters: dict[str, Any]
    consultant_ids: list[str]
    due_at: datetime
    note: str | None = None
    created_by: str | None = None
    created_at: datetime
    selected: int
    reactivated: int
    scheduled: int
    tasks: list[OutreachTask]


def check_consultant_ids(consultant_ids: list[str]) -> list[str]:
    if not consultant_ids:
        raise InvalidFieldError("consultant_ids", "name at least one consultant")
    if len(consultant_ids) > MAX_BATCH_CONSULTANTS:
        raise InvalidFieldError("consultant_ids", f"at most {MAX_BATCH_CONSULTANTS} consultants")
    if len(set(consultant_ids)) != len(consultant_ids):
        raise InvalidFieldError("consultant_ids", "a consultant is named twice")
    return consultant_ids


class OutreachBatch(Aggregate):
    stream_type = "outreach-batch"

    def __init__(self, aggregate_id: str) -> None:
        super().__init__(aggregate_id)
        self.created: OutreachBatchCreated | None = None

    @classmethod
    def create(cls, *, batch_id: str, team_id: str, audience: Audience, filters: dict[str, Any],
               consultant_ids: list[str], due_at: datetime, note: str | None, by: str | None, now: datetime,
               tasks: list[OutreachTask]) -> OutreachBatch:
        batch = cls(batch_id)
        batch._record(OutreachBatchCreated(
            batch_id=batch_id, team_id=team_id, audience=audience.value, filters=filters,
            consultant_ids=check_consultant_ids(consultant_ids), due_at=due_at, note=note, created_by=by,
            created_at=now, selected=len(tasks),
            reactivated=sum(t.action == TaskAction.REACTIVATED for t in tasks),
            scheduled=sum(t.action == TaskAction.SCHEDULED for t in tasks), tasks=tasks))
        return batch

    def _apply(self, event: DomainEvent) -> None:
        match event:
            case OutreachBatchCreated():
                self.created = event
            case _:
                raise TypeError(f"OutreachBatch cannot apply {type(event).__name__}")
