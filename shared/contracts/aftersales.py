"""Public events of the after-sales service (topic ``<prefix>.aftersales``).

The message key (and ``ce_subject``) is the aggregate's id: the order id for care-plan events (one care plan per
delivered order), the complaint id, the referral id, the customer id for loyalty points. Values that may grow
(categories, severities, reasons, stages) are plain strings documented with their current set, never Literal
enums, so a new value does not make older subscribers reject the event. Personal data (names, phones) is only
published where a subscriber needs it (the leads service needs the referred prospect's).
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from shared.contracts.base import IntegrationEvent, contract

COMPLAINT_CATEGORIES = ("purchase", "delivery", "product", "service", "other")


@contract("salesflow.aftersales.ReferralRegistered", version=1, producer="aftersales")
class ReferralRegisteredV1(IntegrationEvent):
    """An existing customer referred a prospect (老客户转介绍). The leads service creates a lead with channel
    ``referral`` and the referrer attached."""

    referral_id: str = Field(description="idempotency key: one lead per referral")
    referrer_customer_id: str = Field(description="the referring customer")
    referrer_order_id: str | None = Field(default=None, description="the referrer's own order, if given")
    prospect_name: str = Field(description="the referred prospect's name")
    prospect_phone: str = Field(description="as given; the leads service normalises it")
    interest: str | None = Field(default=None, description="model or product the prospect is interested in")
    registered_at: datetime = Field(description="when the referral was registered")


class ScheduledVisitV1(BaseModel):
    """One return visit of a care plan."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    visit_no: int = Field(ge=1, description="1-based position in the plan, ordered by due time")
    label: str = Field(description="template label, e.g. D+1, D+7")
    due_at: datetime = Field(description="when the visit should happen")
    overdue_at: datetime = Field(description="when it counts as overdue (due time + grace)")
    assignee_role: str = Field(description="who does it: consultant or manager (may grow)")


@contract("salesflow.aftersales.CarePlanScheduled", version=1, producer="aftersales")
class CarePlanScheduledV1(IntegrationEvent):
    """A delivered order got its return-visit plan (回访计划); key = order id."""

    plan_id: str = Field(description="the care plan's id; equal to the order id")
    order_id: str = Field(description="the delivered order")
    customer_id: str = Field(description="empty if the Delivered event carried no customer id")
    lead_id: str | None = Field(default=None, description="the lead the order closed, if known")
    consultant_id: str | None = Field(default=None, description="the consultant who sold the order, if known")
    delivered_at: datetime = Field(description="when the order was handed over")
    visits: list[ScheduledVisitV1] = Field(description="the planned return visits, in due order")


@contract("salesflow.aftersales.ReturnVisitCompleted", version=1, producer="aftersales")
class ReturnVisitCompletedV1(IntegrationEvent):
    """A return visit was done and scored; key = order id."""

    plan_id: str = Field(description="the care plan's id; equal to the order id (message key)")
    customer_id: str = Field(description="the customer (empty if the Delivered event carried none)")
    visit_no: int = Field(description="1-based position of the visit in its plan")
    label: str = Field(description="template label of the visit, e.g. D+1")
    score: int = Field(description="satisfaction score on the scale given by scale_min..scale_max")
    scale_min: int = Field(description="lowest score of the scale in force")
    scale_max: int = Field(description="highest score of the scale in force")
    low_score: bool = Field(description="at or below the configured threshold; a follow-up task was opened")
    late: bool = Field(description="completed after the visit had become overdue")
    completed_by: str | None = Field(default=None, description="who did the visit")
    completed_at: datetime = Field(description="when the visit was recorded")


@contract("salesflow.aftersales.ReturnVisitOverdue", version=1, producer="aftersales")
class ReturnVisitOverdueV1(IntegrationEvent):
    """A return visit was not done in time (fired once by a durable timer); key = order id."""

    plan_id: str = Field(description="the care plan's id; equal to the order id (message key)")
    customer_id: str = Field(description="the customer (empty if the Delivered event carried none)")
    visit_no: int = Field(description="1-based position of the visit in its plan")
    label: str = Field(description="template label of the visit, e.g. D+1")
    due_at: datetime = Field(description="the limit that was missed")
    detected_at: datetime = Field(description="when the timer found the limit missed")


@contract("salesflow.aftersales.SatisfactionFollowUpOpened", version=1, producer="aftersales")
class SatisfactionFollowUpOpenedV1(IntegrationEvent):
    """A low satisfaction score opened a follow-up task for the manager; key = order id."""

    plan_id: str = Field(description="the care plan's id; equal to the order id (message key)")
    customer_id: str = Field(description="the customer (empty if the Delivered event carried none)")
    visit_no: int = Field(description="1-based position of the visit in its plan")
    task_id: str = Field(description="the follow-up task's id")
    score: int = Field(description="the satisfaction score")
    assignee_role: str = Field(description="manager (may grow)")
    opened_at: datetime = Field(description="when the follow-up or complaint was opened")


@contract("salesflow.aftersales.SatisfactionFollowUpClosed", version=1, producer="aftersales")
class SatisfactionFollowUpClosedV1(IntegrationEvent):
    """The manager closed a low-score follow-up task (the outcome text stays private); key = order id."""

    plan_id: str = Field(description="the care plan's id; equal to the order id (message key)")
    customer_id: str = Field(description="the customer")
    visit_no: int = Field(description="1-based position of the visit in its plan")
    task_id: str = Field(description="the follow-up task's id")
    closed_by: str | None = Field(default=None, description="who closed it")
    closed_at: datetime = Field(description="when it was closed")


@contract("salesflow.aftersales.ComplaintOpened", version=1, producer="aftersales")
class ComplaintOpenedV1(IntegrationEvent):
    """A customer complaint was opened; key = complaint id."""

    complaint_id: str = Field(description="the complaint's id (message key)")
    customer_id: str = Field(description="the customer (empty if the Delivered event carried none)")
    order_id: str | None = Field(default=None, description="the delivered order")
    category: str = Field(description="one of: purchase, delivery, product, service, other (may grow)")
    severity: str = Field(description="one of: low, medium, high, critical (may grow)")
    opened_by: str | None = Field(default=None, description="who recorded the complaint")
    opened_at: datetime = Field(description="when the follow-up or complaint was opened")
    acknowledge_due_at: datetime = Field(description="SLA: acknowledge by then")
    resolve_due_at: datetime = Field(description="SLA: resolve by then")


@contract("salesflow.aftersales.ComplaintAcknowledged", version=1, producer="aftersales")
class ComplaintAcknowledgedV1(IntegrationEvent):
    complaint_id: str = Field(description="the complaint's id (message key)")
    acknowledged_by: str | None = Field(default=None, description="who acknowledged it")
    acknowledged_at: datetime = Field(description="when it was acknowledged")


@contract("salesflow.aftersales.ComplaintResolved", version=1, producer="aftersales")
class ComplaintResolvedV1(IntegrationEvent):
    complaint_id: str = Field(description="the complaint's id (message key)")
    resolution: str = Field(description="what was done about it")
    resolved_by: str | None = Field(default=None, description="who resolved it")
    resolved_at: datetime = Field(description="when it was resolved")


@contract("salesflow.aftersales.ComplaintReopened", version=1, producer="aftersales")
class ComplaintReopenedV1(IntegrationEvent):
    """A resolved complaint was reopened; a new resolve deadline starts (``cycle`` counts the openings)."""

    complaint_id: str = Field(description="the complaint's id (message key)")
    reason: str = Field(description="why")
    reopened_by: str | None = Field(default=None, description="who reopened it")
    reopened_at: datetime = Field(description="when it was reopened")
    cycle: int = Field(ge=2)
    resolve_due_at: datetime = Field(description="the new resolve limit")


@contract("salesflow.aftersales.ComplaintSlaBreached", version=1, producer="aftersales")
class ComplaintSlaBreachedV1(IntegrationEvent):
    """An SLA limit was missed (fired once by a durable timer); always followed by ComplaintEscalated."""

    complaint_id: str = Field(description="the complaint's id (message key)")
    stage: str = Field(description="acknowledge or resolve (may grow)")
    cycle: int = Field(description="which opening of the complaint (1 = first, 2 after one reopening, …)")
    due_at: datetime = Field(description="the limit that was missed")
    detected_at: datetime = Field(description="when the timer found the limit missed")


@contract("salesflow.aftersales.ComplaintEscalated", version=1, producer="aftersales")
class ComplaintEscalatedV1(IntegrationEvent):
    """The complaint was escalated one level after an SLA breach."""

    complaint_id: str = Field(description="the complaint's id (message key)")
    level: int = Field(ge=1)
    escalated_to: str = Field(description="role: service_manager, general_manager (may grow)")
    reason: str = Field(description="why")
    escalated_at: datetime = Field(description="when it was escalated")


@contract("salesflow.aftersales.ReferralRewarded", version=1, producer="aftersales")
class ReferralRewardedV1(IntegrationEvent):
    """The referred prospect's order was delivered and the referrer earned points; key = referral id."""

    referral_id: str = Field(description="the referral (message key)")
    referrer_customer_id: str = Field(description="the referring customer")
    order_id: str = Field(description="the delivered order")
    lead_id: str = Field(description="the lead the order closed, if known")
    points: int = Field(description="number of points")
    rewarded_at: datetime = Field(description="when the referrer was rewarded")


@contract("salesflow.aftersales.PointsAwarded", version=1, producer="aftersales")
class PointsAwardedV1(IntegrationEvent):
    """Loyalty points were added to a customer's balance; key = customer id."""

    customer_id: str = Field(description="the customer (empty if the Delivered event carried none)")
    points: int = Field(gt=0)
    reason: str = Field(description="delivery or referral (may grow)")
    reference: str = Field(description="what earned them, e.g. delivery:<order id>, referral:<referral id>")
    balance_after: int = Field(ge=0)
    awarded_at: datetime = Field(description="when the points were added")


@contract("salesflow.aftersales.PointsRedeemed", version=1, producer="aftersales")
class PointsRedeemedV1(IntegrationEvent):
    """Loyalty points were spent; the balance never goes below zero. Key = customer id."""

    customer_id: str = Field(description="the customer (empty if the Delivered event carried none)")
    points: int = Field(gt=0)
    reason: str = Field(description="why")
    reference: str = Field(description="the redemption's idempotency key")
    balance_after: int = Field(ge=0)
    redeemed_at: datetime = Field(description="when the points were spent")
