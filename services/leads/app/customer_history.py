"""The customer page's read model of the other services (issue 18): what orders and aftersales publish about a
customer's leads, orders and after-sales care, kept by the leads service because it owns the customer (services
never read each other's tables; DESIGN §3).

Each public event the consumer hands here becomes one :class:`CustomerActivity` — a line of the customer's
timeline — and, for orders, a change of the order's current state (status, total, what has been paid) or, for
points, the customer's latest balance. The rows keep the lead, order and customer ids the publisher named (a
checkout's customer id may be the shop's); the page finds them through the customer's leads when it is read
(adapters/customer_overview.py), so a merge or a late order → lead link needs no rewrite. Events that name only
their quote, complaint or referral (QuoteAccepted, ComplaintResolved, …) take the ids of the first event about
that subject; a subject's events share its message key, so they arrive in order.

The handlers run in the idempotent consumer's transaction after the process manager's reaction to the same event
(``shared.messaging.inbound.handlers_in_turn``); the event id is the row's key, so a replay writes nothing twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol
from uuid import UUID

from services.leads.app.customer_search import normalise_plate
from shared.contracts import aftersales as a
from shared.contracts import orders as o
from shared.contracts.base import IntegrationEvent
from shared.messaging.inbound import EventHandler, InboundEvent

# Personal data of the event's people (the page shows the customer's own from the leads) and bulky detail.
_LEFT_OUT = frozenset({"customer_phone", "customer_name", "prospect_phone", "lines", "visits"})
_SUBJECTS = ("quote_id", "complaint_id", "referral_id")
PLATE_ITEM = "registration"  # the delivery checklist's item whose reference is the plate (orders' README)


@dataclass(frozen=True, slots=True)
class CustomerActivity:
    """One line of a customer's timeline from another service."""

    event_id: UUID
    source: str  # the publishing service
    event_type: str  # the contract's short name: PaymentReceived
    occurred_at: datetime
    lead_id: str | None
    order_id: str | None
    customer_ref: str | None  # the customer id as the publisher named it
    subject: str | None  # the quote, complaint or referral it is about
    summary: dict[str, Any]


@dataclass(frozen=True, slots=True)
class OrderChange:
    """What an orders event changes in the order's current state (None: unchanged)."""

    order_id: str
    at: datetime
    lead_id: str | None = None
    customer_ref: str | None = None
    status: str | None = None
    total_minor: int | None = None
    paid_minor: int | None = None
    currency: str | None = None
    signed_at: datetime | None = None
    vin: str | None = None
    vin_released: bool = False  # the order gave its vehicle back
    plate: str | None = None
    plate_released: bool = False  # the registration item was reopened: its plate no longer holds


@dataclass(frozen=True, slots=True)
class PointsBalance:
    customer_ref: str
    balance: int
    at: datetime


@dataclass(frozen=True, slots=True)
class Recorded:
    activity: CustomerActivity
    order: OrderChange | None = None
    points: PointsBalance | None = None


class CustomerHistoryWriter(Protocol):
    async def record(self, conn: Any, recorded: Recorded) -> None:
        """Store the activity (once per event id; a subject-only event takes its subject's ids), the order change
        and the points balance, in the caller's transaction."""


def _customer(value: str | None) -> str | None:
    return value or None  # aftersales says "" when the Delivered event carried no customer id


def _order_change(payload: IntegrationEvent, at: datetime) -> OrderChange | None:
    match payload:
        case o.ContractSignedV1():
            return OrderChange(payload.order_id, at, lead_id=payload.lead_id, customer_ref=payload.customer_id,
                               status="contract_signed", total_minor=payload.total_minor, currency=payload.currency,
                               signed_at=payload.signed_at)
        case o.PaymentReceivedV1() | o.RefundIssuedV1():
            return OrderChange(payload.order_id, at, paid_minor=payload.paid_total_minor, currency=payload.currency)
        case o.OrderCancelledV1():
            return OrderChange(payload.order_id, at, lead_id=payload.lead_id, customer_ref=payload.customer_id,
                               status="cancelled")
        case o.DeliveryScheduledV1():
            return OrderChange(payload.order_id, at, lead_id=payload.lead_id, status="delivery_scheduled")
        case o.DeliveredV1():
            return OrderChange(payload.order_id, at, lead_id=payload.lead_id, customer_ref=payload.customer_id,
                               status="delivered", total_minor=payload.total_minor, currency=payload.currency,
                               vin=payload.vin)
        case o.VehicleAllocatedV1():
            return OrderChange(payload.order_id, at, vin=payload.vin)
        case o.VehicleDeallocatedV1():
            return OrderChange(payload.order_id, at, vin_released=True)
        case o.DeliveryChecklistItemCompletedV1() if payload.item == PLATE_ITEM and payload.reference:
            return OrderChange(payload.order_id, at, plate=normalise_plate(payload.reference))
        case o.DeliveryChecklistItemReopenedV1() if payload.item == PLATE_ITEM:
            return OrderChange(payload.order_id, at, plate_released=True)
    return None


def _lead_of(payload: IntegrationEvent) -> str | None:
    if isinstance(payload, a.ReferralRewardedV1):
        return None  # the referred prospect's lead: the reward is the referrer's
    return getattr(payload, "lead_id", None) or None


def _order_of(payload: IntegrationEvent) -> str | None:
    """The order an event is about, for the customer who bought it."""
    match payload:
        case a.ReferralRewardedV1():
            return None  # the referred prospect's order: the referrer's page shows the reward, not that order
        case a.ReferralRegisteredV1():
            return payload.referrer_order_id
        case a.PointsAwardedV1() if payload.reference.startswith("delivery:"):
            return payload.reference.removeprefix("delivery:")
    value = getattr(payload, "order_id", None) or getattr(payload, "plan_id", None)  # a care plan is its order's
    return str(value) if value else None


def translate(payload: IntegrationEvent, *, event_id: UUID, occurred_at: datetime) -> Recorded:
    """The timeline line and state changes one public event makes (pure)."""
    customer = _customer(getattr(payload, "customer_id", None) or getattr(payload, "referrer_customer_id", None))
    subject = next((str(v) for name in _SUBJECTS if (v := getattr(payload, name, None))), None)
    activity = CustomerActivity(
        event_id=event_id, source=payload.producer, event_type=payload.event_type.rsplit(".", 1)[-1],
        occurred_at=occurred_at, lead_id=_lead_of(payload), order_id=_order_of(payload),
        customer_ref=customer, subject=subject,
        summary=payload.model_dump(mode="json", exclude=set(_LEFT_OUT)))
    points = None
    if isinstance(payload, a.PointsAwardedV1 | a.PointsRedeemedV1) and customer is not None:
        points = PointsBalance(customer, payload.balance_after, occurred_at)
    return Recorded(activity, _order_change(payload, occurred_at), points)


ORDERS_EVENTS: tuple[type[IntegrationEvent], ...] = (
    o.QuoteIssuedV1, o.QuoteRevisedV1, o.QuoteAcceptedV1, o.QuoteExpiredV1, o.ContractSignedV1, o.PaymentReceivedV1,
    o.FinancingApprovedV1, o.FinancingDeclinedV1, o.RefundIssuedV1, o.VehicleAllocatedV1, o.VehicleDeallocatedV1,
    o.DeliveryChecklistItemCompletedV1, o.DeliveryChecklistItemReopenedV1, o.DeliveryScheduledV1, o.DeliveredV1,
    o.OrderCancelledV1)
AFTERSALES_EVENTS: tuple[type[IntegrationEvent], ...] = (
    a.CarePlanScheduledV1, a.ReturnVisitCompletedV1, a.ReturnVisitOverdueV1, a.SatisfactionFollowUpOpenedV1,
    a.SatisfactionFollowUpClosedV1, a.ComplaintOpenedV1, a.ComplaintAcknowledgedV1, a.ComplaintResolvedV1,
    a.ComplaintReopenedV1, a.ComplaintSlaBreachedV1, a.ComplaintEscalatedV1, a.ReferralRegisteredV1,
    a.ReferralRewardedV1, a.PointsAwardedV1, a.PointsRedeemedV1)


class CustomerHistoryProjection:
    """The consumer's handlers that keep the read model."""

    def __init__(self, writer: CustomerHistoryWriter) -> None:
        self._writer = writer

    def handlers(self) -> dict[str, EventHandler]:
        return {contract.event_type: self._apply for contract in (*ORDERS_EVENTS, *AFTERSALES_EVENTS)}

    async def _apply(self, conn: Any, event: InboundEvent) -> None:
        await self._writer.record(conn, translate(event.payload, event_id=event.headers.event_id,
                                                  occurred_at=event.headers.time))
