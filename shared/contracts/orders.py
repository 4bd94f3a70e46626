"""Public events of the orders service (topic ``<prefix>.orders``, key = order id).

Money is in integer minor units (fen for CNY) with an ISO 4217 currency code: never floats.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from shared.contracts.base import IntegrationEvent, contract

# An open set on purpose: a new plan must not make older subscribers reject the event (a Literal would).
PAYMENT_PLANS = ("full", "deposit_balance", "financing")


class OrderLine(BaseModel):
    """One line of a signed order."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    product: str = Field(description="product or model code")
    description: str | None = None
    quantity: int = Field(ge=1)
    unit_price_minor: int = Field(ge=0, description="unit price after line discounts, in minor units")


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
