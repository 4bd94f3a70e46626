"""Events the after-sales service stores. Stored names are explicit and stable; the public contracts are derived
from them in ``adapters/publishing.py`` (they may differ: e.g. customer names and phones stay private)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict

from shared.domain import DomainEvent, EventTypeRegistry

aftersales_events = EventTypeRegistry()


class PlannedVisit(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    visit_no: int
    label: str
    due_at: datetime
    overdue_at: datetime
    assignee_role: str


# --- care plans and return visits (stream care-plan-<order id>) ---

@aftersales_events.register
class CarePlanScheduled(DomainEvent):
    event_type = "CarePlanScheduled"

    plan_id: str
    order_id: str
    customer_id: str
    lead_id: str | None
    consultant_id: str | None
    customer_name: str | None
    customer_phone: str | None
    delivered_at: datetime
    visits: tuple[PlannedVisit, ...]
    team_id: str | None = None  # the order's selling team (Delivered.team_id): a manager's scope; None: any manager


@aftersales_events.register
class ReturnVisitCompleted(DomainEvent):
    event_type = "ReturnVisitCompleted"

    plan_id: str
    customer_id: str
    visit_no: int
    label: str
    score: int
    scale_min: int
    scale_max: int
    low_score: bool
    answers: dict[str, str]
    notes: str | None
    completed_by: str | None
    completed_at: datetime
    late: bool


@aftersales_events.register
class ReturnVisitOverdue(DomainEvent):
    event_type = "ReturnVisitOverdue"

    plan_id: str
    customer_id: str
    visit_no: int
    label: str
    due_at: datetime
    detected_at: datetime


@aftersales_events.register
class SatisfactionFollowUpOpened(DomainEvent):
    """A low score opened a follow-up task for the manager."""

    event_type = "SatisfactionFollowUpOpened"

    plan_id: str
    customer_id: str
    visit_no: int
    task_id: str
    score: int
    assignee_role: str
    opened_at: datetime


@aftersales_events.register
class SatisfactionFollowUpClosed(DomainEvent):
    """The manager followed up the unhappy customer and recorded the outcome."""

    event_type = "SatisfactionFollowUpClosed"

    plan_id: str
    customer_id: str
    visit_no: int
    task_id: str
    outcome: str
    closed_by: str | None
    closed_at: datetime


# --- complaints (stream complaint-<id>) ---

@aftersales_events.register
class ComplaintOpened(DomainEvent):
    event_type = "ComplaintOpened"

    complaint_id: str
    customer_id: str
    order_id: str | None
    category: str
    severity: str
    description: str
    opened_by: str | None
    opened_at: datetime
    acknowledge_due_at: datetime
    resolve_due_at: datetime


@aftersales_events.register
class ComplaintAcknowledged(DomainEvent):
    event_type = "ComplaintAcknowledged"

    complaint_id: str
    acknowledged_by: str | None
    acknowledged_at: datetime


@aftersales_events.register
class ComplaintResolved(DomainEvent):
    event_type = "ComplaintResolved"

    complaint_id: str
    resolution: str
    resolved_by: str | None
    resolved_at: datetime


@aftersales_events.register
class ComplaintReopened(DomainEvent):
    event_type = "ComplaintReopened"

    complaint_id: str
    reason: str
    reopened_by: str | None
    reopened_at: datetime
    cycle: int
    resolve_due_at: datetime


@aftersales_events.register
class ComplaintSlaBreached(DomainEvent):
    event_type = "ComplaintSlaBreached"

    complaint_id: str
    stage: str  # "acknowledge" | "resolve"
    cycle: int
    due_at: datetime
    detected_at: datetime


@aftersales_events.register
class ComplaintEscalated(DomainEvent):
    event_type = "ComplaintEscalated"

    complaint_id: str
    level: int
    escalated_to: str
    reason: str
    escalated_at: datetime


# --- referrals (stream referral-<id>) ---

@aftersales_events.register
class ReferralRegistered(DomainEvent):
    event_type = "ReferralRegistered"

    referral_id: str
    referrer_customer_id: str
    referrer_order_id: str | None
    prospect_name: str
    prospect_phone: str
    interest: str | None
    registered_by: str | None
    registered_at: datetime


@aftersales_events.register
class ReferralLeadLinked(DomainEvent):
    event_type = "ReferralLeadLinked"

    referral_id: str
    lead_id: str
    linked_at: datetime


@aftersales_events.register
class ReferralRewarded(DomainEvent):
    event_type = "ReferralRewarded"

    referral_id: str
    referrer_customer_id: str
    order_id: str
    lead_id: str
    points: int
    rewarded_at: datetime


# --- loyalty (stream loyalty-<customer id>) ---

@aftersales_events.register
class PointsAwarded(DomainEvent):
    event_type = "PointsAwarded"

    customer_id: str
    points: int
    reason: str
    reference: str
    balance_after: int
    awarded_at: datetime


@aftersales_events.register
class PointsRedeemed(DomainEvent):
    event_type = "PointsRedeemed"

    customer_id: str
    points: int
    reason: str
    reference: str
    balance_after: int
    redeemed_at: datetime
