"""Public events of the orders service (topic ``<prefix>.orders``, key = order id).

Money is in integer minor units (fen for CNY) with an ISO 4217 currency code: never floats.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from shared.contracts.base import IntegrationEvent, contract

# An open set on purpose: a new plan must not make older subscribers reject the event (a Literal would).
PAYMENT_PLANS = ("full", "deposit_balance", "financing")


class LineOption(BaseModel):
    """An option on a line (colour, package, accessory) and its price per unit."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    code: str = Field(description="option code")
    price_minor: int = Field(ge=0, description="price per unit of the line, in minor units")


class QuoteLine(BaseModel):
    """One line of a quote revision."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    product: str = Field(description="product or model code")
    description: str | None = Field(default=None, description="free text shown to the customer")
    options: list[LineOption] = Field(default_factory=list, description="options chosen on this line")
    quantity: int = Field(ge=1, description="number of units")
    unit_price_minor: int = Field(ge=0, description="base unit price before options and discount, minor units")
    line_total_minor: int = Field(ge=0, description="(unit price + options) × quantity, minor units")
    kind: str | None = Field(default=None, description=(
        "from the catalogue: model, trim, option, accessory (精品), insurance (保险), plates (上牌), financing, "
        "service; none for a hand-typed line"))
    catalogue_id: str | None = Field(default=None, description="the catalogue item; none for a hand-typed line")
    list_price_minor: int | None = Field(default=None, ge=0, description=(
        "the catalogue's list price per unit on the quote's date; a unit price below it is a discount"))


class OrderLine(BaseModel):
    """One line of a signed order."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    product: str = Field(description="product or model code")
    description: str | None = None
    quantity: int = Field(ge=1)
    unit_price_minor: int = Field(ge=0, description="unit price after line discounts, in minor units")
    options: list[LineOption] = Field(
        default_factory=list, description="options chosen (their prices are included in unit_price_minor)"
    )
    kind: str | None = Field(default=None, description=(
        "from the catalogue: model, trim, option, accessory (精品), insurance (保险), plates (上牌), financing, "
        "service; none for a hand-typed line"))
    catalogue_id: str | None = Field(default=None, description="the catalogue item; none for a hand-typed line")
    list_price_minor: int | None = Field(default=None, ge=0, description=(
        "the catalogue's list price per unit on the quote's date; a unit price below it is a discount"))


@contract("salesflow.orders.ContractSigned", version=1, producer="orders")
class ContractSignedV1(IntegrationEvent):
    """A contract was signed (step 6): the lead becomes an order. The leads service moves the lead to
    ``contract_signed``; reporting counts the deal."""

    order_id: str
    lead_id: str | None = Field(
        description="the lead this order closes; None for online-shop checkouts, which the leads service links to "
        "the customer's open lead (by phone) or to a new lead"
    )
    customer_id: str | None = None
    customer_name: str | None = Field(default=None, description="needed when lead_id is None")
    customer_phone: str | None = Field(default=None, description="E.164; the dedupe key when lead_id is None")
    consultant_id: str | None = None
    channel: str | None = Field(default=None, description="acquisition channel, e.g. online_shop")
    lines: list[OrderLine]
    total_minor: int = Field(ge=0)
    currency: str = Field(min_length=3, max_length=3, description="ISO 4217, e.g. CNY")
    payment_plan: str = Field(description="one of: full, deposit_balance, financing (may grow; tolerate others)")
    signed_at: datetime
    quote_id: str | None = Field(default=None, description="the accepted quote signed; None for shop checkouts")
    shop_order_id: str | None = Field(default=None, description="the online shop's order id, for shop checkouts")
    subtotal_minor: int | None = Field(default=None, ge=0, description="lines' total before the discount")
    discount_minor: int | None = Field(default=None, ge=0, description="discount granted on the whole order")


@contract("salesflow.orders.OrderCancelled", version=1, producer="orders")
class OrderCancelledV1(IntegrationEvent):
    """An order was cancelled before delivery; ``refund_due_minor`` is what the customer gets back."""

    order_id: str
    lead_id: str | None = None
    customer_id: str | None = None
    reason: str
    refund_due_minor: int = Field(ge=0)
    currency: str = Field(min_length=3, max_length=3)
    cancelled_at: datetime


@contract("salesflow.orders.Delivered", version=1, producer="orders")
class DeliveredV1(IntegrationEvent):
    """The order was handed over (step 7). After-sales starts its return-visit plan from here."""

    order_id: str
    lead_id: str | None = None
    customer_id: str | None = None
    consultant_id: str | None = None
    customer_name: str | None = None
    customer_phone: str | None = Field(default=None, description="E.164, for return visits")
    total_minor: int = Field(ge=0)
    currency: str = Field(min_length=3, max_length=3)
    delivered_at: datetime
    team_id: str | None = Field(default=None, description="the team the order was sold in (none for shop "
                                                          "orders); after-sales scopes a manager's care plans by it")
    vin: str | None = Field(default=None, description="the vehicle handed over (none: the order sold no vehicle "
                                                      "from the catalogue)")


# ---- quotes (key = quote id) ---------------------------------------------------------------------------------


class _QuoteTerms(IntegrationEvent):
    quote_id: str = Field(description="the quote's id; also the message key and ce_subject")
    revision: int = Field(ge=1, description="1 for the first issue, +1 per revision")
    lines: list[QuoteLine] = Field(description="the lines of this revision")
    discount_kind: str | None = Field(default=None, description="amount or percent (may grow); None: no discount")
    discount_percent_bp: int | None = Field(default=None, description="for percent discounts, in basis points")
    discount_approved_by: str | None = Field(default=None, description="who approved a discount over the limit")
    subtotal_minor: int = Field(ge=0, description="lines' total before the discount, minor units")
    discount_minor: int = Field(ge=0, description="discount, minor units")
    total_minor: int = Field(ge=0, description="what the customer would pay, minor units")
    currency: str = Field(min_length=3, max_length=3, description="ISO 4217, e.g. CNY")
    valid_until: datetime = Field(description="the quote expires (QuoteExpired) at this moment unless signed")


@contract("salesflow.orders.QuoteIssued", version=1, producer="orders")
class QuoteIssuedV1(_QuoteTerms):
    """A consultant issued a quote (step 6, negotiation). Personal data stays in the orders service."""

    lead_id: str | None = Field(default=None, description="the lead being negotiated with")
    customer_id: str | None = Field(default=None, description="the customer, when known")
    consultant_id: str = Field(description="the consultant who issued the quote")
    issued_at: datetime = Field(description="when the quote was issued")


@contract("salesflow.orders.QuoteRevised", version=1, producer="orders")
class QuoteRevisedV1(_QuoteTerms):
    """New terms replace the previous revision; an acceptance of an earlier revision no longer counts."""

    reason: str | None = Field(default=None, description="why the terms were revised")
    revised_at: datetime = Field(description="when the revision was issued")


@contract("salesflow.orders.QuoteAccepted", version=1, producer="orders")
class QuoteAcceptedV1(IntegrationEvent):
    """The customer accepted the quote's current revision; it can now be signed while valid."""

    quote_id: str = Field(description="the quote's id; also the message key and ce_subject")
    revision: int = Field(ge=1, description="the revision concerned (1 = as first issued)")
    accepted_at: datetime = Field(description="when the customer accepted")


@contract("salesflow.orders.QuoteExpired", version=1, producer="orders")
class QuoteExpiredV1(IntegrationEvent):
    """The quote's validity passed before it was signed; it can no longer be signed."""

    quote_id: str = Field(description="the quote's id; also the message key and ce_subject")
    revision: int = Field(ge=1, description="the revision concerned (1 = as first issued)")
    valid_until: datetime = Field(description="the validity that passed")
    expired_at: datetime = Field(description="when the expiry was recorded (at or after valid_until)")


# ---- money and delivery (key = order id) ---------------------------------------------------------------------


@contract("salesflow.orders.PaymentReceived", version=1, producer="orders")
class PaymentReceivedV1(IntegrationEvent):
    """Money received for an order."""

    order_id: str = Field(description="the order's id; also the message key and ce_subject")
    payment_id: str = Field(description="unique id of this payment")
    kind: str = Field(description="deposit, balance, full, down_payment, other (may grow; tolerate others)")
    amount_minor: int = Field(gt=0, description="this payment, minor units")
    currency: str = Field(min_length=3, max_length=3, description="ISO 4217, e.g. CNY")
    paid_total_minor: int = Field(ge=0, description="everything paid on the order so far, net of refunds")
    method: str | None = Field(default=None, description="e.g. online_shop, bank_transfer, card")
    received_at: datetime = Field(description="when the payment was recorded")


@contract("salesflow.orders.FinancingApproved", version=1, producer="orders")
class FinancingApprovedV1(IntegrationEvent):
    """A financing provider approved a loan covering ``amount_minor`` of the order."""

    order_id: str = Field(description="the order's id; also the message key and ce_subject")
    provider: str = Field(description="the financing provider (bank, finance company)")
    amount_minor: int = Field(gt=0, description="amount in minor units")
    currency: str = Field(min_length=3, max_length=3, description="ISO 4217, e.g. CNY")
    approved_at: datetime = Field(description="when the approval was recorded")


@contract("salesflow.orders.FinancingDeclined", version=1, producer="orders")
class FinancingDeclinedV1(IntegrationEvent):
    """A financing provider declined; the order stays open (another provider, other payment, or cancel)."""

    order_id: str = Field(description="the order's id; also the message key and ce_subject")
    provider: str = Field(description="the financing provider (bank, finance company)")
    reason: str = Field(description="why, in the words of whoever recorded it")
    declined_at: datetime = Field(description="when the decline was recorded")


@contract("salesflow.orders.RefundIssued", version=1, producer="orders")
class RefundIssuedV1(IntegrationEvent):
    """Money paid back to the customer (typically after a cancellation)."""

    order_id: str = Field(description="the order's id; also the message key and ce_subject")
    refund_id: str = Field(description="unique id of this refund")
    amount_minor: int = Field(gt=0, description="amount in minor units")
    currency: str = Field(min_length=3, max_length=3, description="ISO 4217, e.g. CNY")
    reason: str = Field(description="why, in the words of whoever recorded it")
    paid_total_minor: int = Field(ge=0, description="net paid on the order after this refund")
    refunded_at: datetime = Field(description="when the refund was recorded")


@contract("salesflow.orders.DeliveryScheduled", version=1, producer="orders")
class DeliveryScheduledV1(IntegrationEvent):
    """Delivery (handover) was scheduled, or rescheduled when ``previous_scheduled_for`` is set."""

    order_id: str = Field(description="the order's id; also the message key and ce_subject")
    lead_id: str | None = Field(default=None, description="the lead the order closes, when known")
    scheduled_for: datetime = Field(description="the agreed handover time")
    location: str | None = Field(default=None, description="where the handover takes place")
    previous_scheduled_for: datetime | None = Field(default=None, description="set on a reschedule")
    reason: str | None = Field(default=None, description="why it was rescheduled")
    scheduled_at: datetime = Field(description="when the (re)scheduling was recorded")


# ---- vehicle allocation and the delivery checklist (key = order id) ------------------------------------------


@contract("salesflow.orders.VehicleAllocated", version=1, producer="orders")
class VehicleAllocatedV1(IntegrationEvent):
    """A vehicle from stock (or an incoming factory order) was allocated to the order; no vehicle is allocated to
    two orders at once."""

    order_id: str = Field(description="the order's id; also the message key")
    vin: str = Field(description="the vehicle's 17-character VIN")
    model: str = Field(description="catalogue id of the vehicle's model")
    trim: str | None = Field(default=None, description="catalogue id of its trim")
    colour: str | None = Field(default=None, description="catalogue id of its colour")
    vehicle_status: str = Field(description="the vehicle's logistics status at allocation: ordered, in_transit, "
                                            "arrived, pdi_done (may grow; tolerate others)")
    allocated_at: datetime


@contract("salesflow.orders.VehicleDeallocated", version=1, producer="orders")
class VehicleDeallocatedV1(IntegrationEvent):
    """The order gave its vehicle back (it is free stock again). A swap is this event (reason ``swapped``, naming
    the new vehicle in ``replaced_by``) followed by VehicleAllocated for the new vehicle, from one transaction and
    with the same time: apply them in stream order."""

    order_id: str = Field(description="the order's id; also the message key")
    vin: str
    reason: str = Field(description="why, a code: order_cancelled; released (the order goes on without a vehicle "
                                    "for now); swapped (another vehicle is allocated next) — may grow")
    deallocated_at: datetime
    note: str | None = Field(default=None, description="the person's reason for a release or a swap")
    deallocated_by: str | None = Field(default=None, description="who released or swapped it (the caller's "
                                                                 "subject); none for a cancellation")
    replaced_by: str | None = Field(default=None, description="reason swapped: the VIN allocated in its place")


@contract("salesflow.orders.DeliveryChecklistItemCompleted", version=1, producer="orders")
class DeliveryChecklistItemCompletedV1(IntegrationEvent):
    """One item of the delivery checklist (交车检查表) was completed."""

    order_id: str = Field(description="the order's id; also the message key")
    item: str = Field(description="the item's id in the department's checklist: pdi, invoice, insurance_policy, "
                                  "registration, documents_handed_over, customer_confirmation (configurable)")
    completed_by: str | None = Field(default=None, description="who completed it (the caller's subject)")
    reference: str | None = Field(default=None, description="the invoice / policy number, the plate, …")
    completed_at: datetime


@contract("salesflow.orders.DeliveryChecklistItemReopened", version=1, producer="orders")
class DeliveryChecklistItemReopenedV1(IntegrationEvent):
    """A completed delivery checklist item is open again: what its completion said (e.g. the registration item's
    plate in ``reference``) no longer holds, and the item must be completed again before delivery."""

    order_id: str = Field(description="the order's id; also the message key")
    item: str = Field(description="the item's id in the department's checklist (see DeliveryChecklistItemCompleted)")
    reason: str = Field(description="why it is reopened (free text)")
    reopened_by: str | None = Field(default=None, description="who reopened it (the caller's subject)")
    reopened_at: datetime


# ---- vehicle stock (key = VIN) -------------------------------------------------------------------------------


@contract("salesflow.orders.VehicleRegistered", version=1, producer="orders")
class VehicleRegisteredV1(IntegrationEvent):
    """A vehicle entered the dealership's stock (as a factory order, on its way, or arrived)."""

    vin: str = Field(description="the 17-character VIN; also the message key")
    model: str = Field(description="catalogue id of the model")
    trim: str | None = Field(default=None, description="catalogue id of the trim")
    colour: str | None = Field(default=None, description="catalogue id of the colour")
    status: str = Field(description="ordered, in_transit, arrived or pdi_done (may grow)")
    factory_order_ref: str | None = Field(default=None, description="the factory order number")
    registered_at: datetime


@contract("salesflow.orders.VehicleStatusChanged", version=1, producer="orders")
class VehicleStatusChangedV1(IntegrationEvent):
    """The vehicle moved on through logistics (ordered → in_transit → arrived → pdi_done)."""

    vin: str = Field(description="the VIN; also the message key")
    from_status: str
    to_status: str
    reference: str | None = Field(default=None, description="shipment, arrival note or PDI report reference")
    changed_at: datetime
