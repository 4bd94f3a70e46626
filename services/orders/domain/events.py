"""Events the orders service stores (streams ``quote-<id>`` and ``order-<id>``). Stored names are stable and
explicit; ``adapters/publishing.py`` decides for each whether and how it becomes a public contract."""

from __future__ import annotations

from datetime import datetime

from services.orders.domain.lines import Approval, Discount, Line
from services.orders.domain.products import CatalogueItem
from shared.domain import DomainEvent, EventTypeRegistry

order_events = EventTypeRegistry()


# ---- quotes ------------------------------------------------------------------------------------------------


@order_events.register
class QuoteIssued(DomainEvent):
    event_type = "QuoteIssued"

    quote_id: str
    lead_id: str | None
    customer_id: str | None
    customer_name: str | None
    customer_phone: str | None
    consultant_id: str
    issued_by_role: str
    revision: int
    lines: tuple[Line, ...]
    discount: Discount | None
    approval: Approval | None
    subtotal_minor: int
    discount_minor: int
    total_minor: int
    currency: str
    valid_until: datetime
    issued_at: datetime
    # The team the quote is sold in (the issuing consultant's or manager's, from their token): a manager's scope.
    # None for quotes issued before teams were recorded and for a director's own quotes.
    team_id: str | None = None


@order_events.register
class QuoteRevised(DomainEvent):
    """A new revision replaces the terms; earlier revisions stay in the stream (the history)."""

    event_type = "QuoteRevised"

    quote_id: str
    revision: int
    revised_by_role: str
    lines: tuple[Line, ...]
    discount: Discount | None
    approval: Approval | None
    subtotal_minor: int
    discount_minor: int
    total_minor: int
    currency: str  # unchanged from the issue; repeated so each revision is self-contained
    valid_until: datetime
    reason: str | None
    revised_at: datetime


@order_events.register
class QuoteAccepted(DomainEvent):
    event_type = "QuoteAccepted"

    quote_id: str
    revision: int
    accepted_at: datetime


@order_events.register
class QuoteExpired(DomainEvent):
    event_type = "QuoteExpired"

    quote_id: str
    revision: int
    valid_until: datetime
    expired_at: datetime


@order_events.register
class QuoteConverted(DomainEvent):
    """The accepted quote became an order (private: ContractSigned on the order stream is the public fact)."""

    event_type = "QuoteConverted"

    quote_id: str
    order_id: str
    converted_at: datetime


# ---- orders ------------------------------------------------------------------------------------------------


@order_events.register
class ContractSigned(DomainEvent):
    event_type = "ContractSigned"

    order_id: str
    quote_id: str | None
    quote_revision: int | None
    shop_order_id: str | None
    lead_id: str | None
    customer_id: str | None
    customer_name: str | None
    customer_phone: str | None
    consultant_id: str | None
    channel: str | None
    lines: tuple[Line, ...]
    subtotal_minor: int
    discount_minor: int
    total_minor: int
    currency: str
    payment_plan: str
    signed_at: datetime
    team_id: str | None = None  # the quote's selling team (None for shop checkouts): a manager's scope


@order_events.register
class PaymentReceived(DomainEvent):
    event_type = "PaymentReceived"

    order_id: str
    payment_id: str
    kind: str
    amount_minor: int
    currency: str
    method: str | None
    reference: str | None
    paid_total_minor: int  # after this payment: subscribers need not sum
    received_at: datetime


@order_events.register
class FinancingApproved(DomainEvent):
    event_type = "FinancingApproved"

    order_id: str
    provider: str
    amount_minor: int
    currency: str
    reference: str | None
    approved_at: datetime


@order_events.register
class FinancingDeclined(DomainEvent):
    event_type = "FinancingDeclined"

    order_id: str
    provider: str
    reason: str
    declined_at: datetime


@order_events.register
class RefundIssued(DomainEvent):
    event_type = "RefundIssued"

    order_id: str
    refund_id: str
    amount_minor: int
    currency: str
    reason: str
    paid_total_minor: int  # after this refund
    refunded_at: datetime


@order_events.register
class OrderCancelled(DomainEvent):
    event_type = "OrderCancelled"

    order_id: str
    lead_id: str | None  # copied from the contract so subscribers need no state to route the event
    customer_id: str | None
    reason: str
    paid_minor: int
    refund_due_minor: int
    currency: str
    cancelled_at: datetime


@order_events.register
class DeliveryScheduled(DomainEvent):
    event_type = "DeliveryScheduled"

    order_id: str
    lead_id: str | None
    scheduled_for: datetime
    location: str | None
    previous: datetime | None  # set when this is a reschedule
    reason: str | None
    scheduled_at: datetime


@order_events.register
class Delivered(DomainEvent):
    event_type = "Delivered"

    # A snapshot of the contract's parties: after-sales plans return visits from this event alone.
    order_id: str
    lead_id: str | None
    customer_id: str | None
    customer_name: str | None
    customer_phone: str | None
    consultant_id: str | None
    total_minor: int
    currency: str
    delivered_at: datetime
    team_id: str | None = None  # the contract's selling team (see ContractSigned)
    vin: str | None = None  # the vehicle handed over (None: an order without an allocated vehicle)


@order_events.register
class VehicleAllocated(DomainEvent):
    """A vehicle (by VIN) was allocated to the order; the vehicle's stream records VehicleReserved in the same
    transaction."""

    event_type = "VehicleAllocated"

    order_id: str
    vin: str
    model: str
    trim: str | None
    colour: str | None
    vehicle_status: str  # the vehicle's logistics status then: pdi_done/arrived = from stock, else incoming
    allocated_at: datetime


@order_events.register
class VehicleDeallocated(DomainEvent):
    """The order gave its vehicle back; the vehicle's stream records VehicleReleased in the same transaction. A swap
    records this and then VehicleAllocated for the new vehicle, in one append."""

    event_type = "VehicleDeallocated"

    order_id: str
    vin: str
    reason: str  # a code: order_cancelled, released (the order keeps going without it), swapped
    deallocated_at: datetime
    note: str | None = None  # the person's why, for a release or a swap (None for a cancellation: it has its own)
    deallocated_by: str | None = None  # who released or swapped it
    replaced_by: str | None = None  # the VIN allocated in its place (reason swapped)


@order_events.register
class DeliveryChecklistItemCompleted(DomainEvent):
    """One item of the delivery checklist is done (PDI, invoice, insurance policy, …)."""

    event_type = "DeliveryChecklistItemCompleted"

    order_id: str
    item: str
    completed_by: str | None
    reference: str | None  # the invoice number, the policy number, the plate
    note: str | None
    completed_at: datetime


@order_events.register
class DeliveryChecklistItemReopened(DomainEvent):
    """A completed checklist item is open again (the invoice was wrong, the policy reissued, the plate belongs to the
    vehicle that was swapped away): it must be completed again before delivery."""

    event_type = "DeliveryChecklistItemReopened"

    order_id: str
    item: str
    reason: str
    reopened_by: str | None
    reopened_at: datetime


# ---- price list ----------------------------------------------------------------------------------------------


@order_events.register
class PriceListVersionPublished(DomainEvent):
    """A version of the catalogue with its list prices (stream ``price-list-<currency>``), in force from
    ``valid_from`` until ``valid_until`` (exclusive; None: until a later version starts)."""

    event_type = "PriceListVersionPublished"

    currency: str
    version_id: str
    valid_from: datetime
    valid_until: datetime | None
    items: tuple[CatalogueItem, ...]
    published_by: str
    published_at: datetime
