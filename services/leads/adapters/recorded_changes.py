"""The one typed builder of ``leads_record_changes``' argument (migrations/rules/capture.sql, timers.sql).

The SQL functions read a JSON document by key; the keys and the row fields below are that protocol, written down
once. A unit of work appends rows as it projects its aggregates; :meth:`RecordedChanges.payload` is the document.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any, TypedDict

from services.leads.domain.lead import Lead
from services.leads.domain.work_queue import LEAD_WORK_KINDS, WorkItem
from shared.timer_model import timer_row


class CustomerRow(TypedDict):
    phone: str
    customer_id: str


class ExternalIdRow(TypedDict):
    source_system: str
    external_id: str
    lead_id: str


class ReferralRow(TypedDict):
    referral_id: str
    lead_id: str


class OrderRow(TypedDict):
    order_id: str
    lead_id: str


class ViewRow(TypedDict):
    """A ``leads_view`` row (read by ``jsonb_populate_recordset(NULL::leads_view, …)``: names are its columns)."""

    lead_id: str
    customer_id: str
    phone: str
    name: str
    channel: str
    interest: str | None
    status: str
    stage: str
    grade: str
    is_open: bool
    owner_id: str | None
    team_id: str | None
    pooled: bool
    released_by: str | None
    released_at: datetime | None
    follow_up_due_at: datetime | None
    overdue: bool
    loss_pending: bool
    order_id: str | None
    captured_at: datetime
    last_activity_at: datetime | None
    version: int
    lost_reason: str | None


class WorkItemRow(TypedDict):
    """A ``leads_work_items`` row (read by ``jsonb_populate_recordset``: names are its columns)."""

    item_id: str
    kind: str
    lead_id: str
    due_at: datetime
    overdue_at: datetime
    detail: str | None
    assignee_id: str | None


def work_item_row(item: WorkItem) -> WorkItemRow:
    return WorkItemRow(item_id=item.item_id, kind=item.kind.value, lead_id=item.lead_id, due_at=item.due_at,
                       overdue_at=item.overdue_at, detail=item.detail, assignee_id=item.assignee_id)


class DisarmedRow(TypedDict):
    lead_id: str
    kind: str


class ArmedTimerRow(TypedDict):
    timer_id: str
    kind: str
    due_at: str
    payload: dict[str, Any]
    lead_id: str


def view_row(lead: Lead) -> ViewRow:
    assert lead.captured_at is not None
    return ViewRow(
        lead_id=lead.id, customer_id=lead.customer_id, phone=lead.phone, name=lead.name, channel=lead.channel,
        interest=lead.interest, status=lead.status.value, stage=lead.stage.value, grade=lead.grade.value,
        is_open=lead.is_open, owner_id=lead.owner_id, team_id=lead.team_id, pooled=lead.pooled,
        released_by=lead.released_by, released_at=lead.released_at, follow_up_due_at=lead.follow_up_due_at,
        overdue=lead.is_overdue, loss_pending=lead.pending_loss is not None, order_id=lead.order_id,
        captured_at=lead.captured_at, last_activity_at=lead.last_activity_at, version=lead.version,
        lost_reason=lead.lost_reason,
    )


class MovedTimerRow(TypedDict):
    """A (lead, kind) whose timer gets a new due date: ``timer_id`` (the armed one) is moved while pending, else
    ``fresh_id`` is armed."""

    timer_id: str
    fresh_id: str
    kind: str
    due_at: str
    payload: dict[str, Any]
    lead_id: str


def moved_timer(timer_id: str, fresh_id: str, kind: str, due_at: datetime, payload: dict[str, Any],
                lead_id: str) -> MovedTimerRow:
    row = timer_row(fresh_id, kind, due_at, payload)
    return MovedTimerRow(timer_id=timer_id, fresh_id=fresh_id, kind=row["kind"], due_at=row["due_at"],
                         payload=row["payload"], lead_id=lead_id)


def armed_timer(timer_id: str, kind: str, due_at: datetime, payload: dict[str, Any], lead_id: str) -> ArmedTimerRow:
    row = timer_row(timer_id, kind, due_at, payload)
    return ArmedTimerRow(timer_id=row["timer_id"], kind=row["kind"], due_at=row["due_at"], payload=row["payload"],
                         lead_id=lead_id)


@dataclass(slots=True)
class RecordedChanges:
    """What one unit of work writes besides its events, by ``leads_record_changes`` key."""

    customers: list[CustomerRow] = field(default_factory=list)
    external_ids: list[ExternalIdRow] = field(default_factory=list)
    referrals: list[ReferralRow] = field(default_factory=list)
    orders: list[OrderRow] = field(default_factory=list)
    views: list[ViewRow] = field(default_factory=list)
    cancelled_timers: list[str] = field(default_factory=list)
    disarmed: list[DisarmedRow] = field(default_factory=list)
    armed: list[ArmedTimerRow] = field(default_factory=list)
    moved: list[MovedTimerRow] = field(default_factory=list)
    work_leads: list[str] = field(default_factory=list)
    work_kinds: list[str] = field(default_factory=list)
    work_items: list[WorkItemRow] = field(default_factory=list)
    finished_work: list[str] = field(default_factory=list)

    def replace_lead_work(self, lead_id: str, items: list[WorkItem]) -> None:
        """The lead's own work is what its state says now: its rows of those kinds are replaced by ``items``."""
        self.work_leads.append(lead_id)
        self.work_kinds[:] = [kind.value for kind in LEAD_WORK_KINDS]
        self.work_items.extend(work_item_row(item) for item in items)

    def payload(self) -> dict[str, list[Any]]:
        """The JSON document: only the keys with rows (the function skips a missing key, and starting a statement
        for an empty array costs more than the test). Empty when there is nothing to write."""
        return {f.name: rows for f in fields(self) if (rows := getattr(self, f.name))}
