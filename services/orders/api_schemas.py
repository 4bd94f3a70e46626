"""Request bodies and response shapes of the orders HTTP API. Amounts are strict integers of minor units (fen):
a JSON float such as 10.5 or 100.0 is refused with 422, never rounded."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field, StrictInt

from services.orders.domain.lines import Discount, Line, LineOption
from services.orders.domain.money import percent_to_basis_points
from services.orders.domain.order import Order
from services.orders.domain.quote import Quote


class OptionIn(BaseModel):
    code: str = Field(min_length=1, max_length=60)
    price_minor: StrictInt = Field(default=0, description="per unit of the line, minor units")


class LineIn(BaseModel):
    product: str = Field(min_length=1, max_length=100, examples=["MODEL-Y-LR"])
    description: str | None = Field(default=None, max_length=200)
    options: list[OptionIn] = Field(default_factory=list)
    quantity: StrictInt = 1
    unit_price_minor: StrictInt = Field(description="base unit price in minor units (fen)", examples=[26390000])

    def to_domain(self) -> Line:
        return Line(product=self.product, description=self.description, quantity=self.quantity,
                    unit_price_minor=self.unit_price_minor,
                    options=tuple(LineOption(code=o.code, price_minor=o.price_minor) for o in self.options))


class DiscountIn(BaseModel):
    kind: str = Field(description="amount or percent", examples=["percent"])
    amount_minor: StrictInt | None = None
    percent: str | None = Field(default=None, description="decimal string, at most 2 decimals", examples=["2.5"])

    def to_domain(self) -> Discount:
        bp = percent_to_basis_points(self.percent) if self.percent is not None else None
        return Discount(kind=self.kind, amount_minor=self.amount_minor, percent_bp=bp)


class TermsIn(BaseModel):
    """The discount limit is the caller's, from the token's role (services/orders/app/access.py): a body cannot
    name a role or an approver."""

    lines: list[LineIn]
    discount: DiscountIn | None = None
    valid_until: datetime


class IssueQuoteIn(TermsIn):
    consultant_id: str = Field(min_length=1, max_length=60)
    currency: str = Field(min_length=3, max_length=3, examples=["CNY"])
    lead_id: str | None = Field(default=None, max_length=60)
    customer_id: str | None = Field(default=None, max_length=60)
    customer_name: str | None = Field(default=None, max_length=100)
    customer_phone: str | None = Field(default=None, max_length=40)


class ReviseQuoteIn(TermsIn):
    reason: str | None = Field(default=None, max_length=500)
    expected_version: int | None = None


class AcceptQuoteIn(BaseModel):
    revision: int | None = Field(default=None, description="the revision the customer accepted")
    expected_version: int | None = None


class SignContractIn(BaseModel):
    payment_plan: str = Field(description="full, deposit_balance or financing", examples=["deposit_balance"])
    expected_version: int | None = None


class PaymentIn(BaseModel):
    kind: str = Field(description="deposit, balance, full, down_payment or other", examples=["deposit"])
    amount_minor: StrictInt
    currency: str = Field(min_length=3, max_length=3)
    method: str | None = Field(default=None, max_length=40)
    reference: str | None = Field(default=None, max_length=100, description=(
        "the payment system's reference: a repeat with the same reference is recorded once (safe to retry)"))
    expected_version: int | None = None


class FinancingApprovalIn(BaseModel):
    provider: str = Field(max_length=100)
    amount_minor: StrictInt
    currency: str = Field(min_length=3, max_length=3)
    reference: str | None = Field(default=None, max_length=100)
    expected_version: int | None = None


class FinancingDeclineIn(BaseModel):
    provider: str = Field(max_length=100)
    reason: str = Field(max_length=500)
    expected_version: int | None = None


class RefundIn(BaseModel):
    amount_minor: StrictInt
    currency: str = Field(min_length=3, max_length=3)
    reason: str = Field(max_length=500)
    expected_version: int | None = None


class CancelIn(BaseModel):
    reason: str = Field(max_length=500)
    expected_version: int | None = None


class DeliveryIn(BaseModel):
    scheduled_for: datetime
    location: str | None = Field(default=None, max_length=200)
    reason: str | None = Field(default=None, max_length=500, description="for a reschedule")
    expected_version: int | None = None


class DeliverIn(BaseModel):
    expected_version: int | None = None


class CheckoutIn(BaseModel):
    shop_order_id: str = Field(min_length=1, max_length=100, description="the idempotency key")
    customer_name: str = Field(min_length=1, max_length=100)
    customer_phone: str = Field(min_length=1, max_length=40, description="any common format; stored as E.164")
    lines: list[LineIn]
    discount_minor: StrictInt = 0
    total_minor: StrictInt
    paid_minor: StrictInt
    currency: str = Field(min_length=3, max_length=3)
    lead_id: str | None = Field(default=None, max_length=60)
    customer_id: str | None = Field(default=None, max_length=60)
    consultant_id: str | None = Field(default=None, max_length=60)
    payment_reference: str | None = Field(default=None, max_length=100)


def quote_view(quote: Quote) -> dict[str, Any]:
    return {
        "quote_id": quote.id, "status": quote.status.value, "revision": quote.revision, "lead_id": quote.lead_id,
        "customer_id": quote.customer.customer_id, "customer_name": quote.customer.name,
        "customer_phone": quote.customer.phone, "consultant_id": quote.consultant_id,
        "lines": [line.model_dump() for line in quote.lines],
        "discount": quote.discount.model_dump() if quote.discount else None,
        "subtotal_minor": quote.subtotal_minor, "discount_minor": quote.discount_minor,
        "total_minor": quote.total_minor, "currency": quote.currency,
        "valid_until": quote.valid_until.isoformat() if quote.valid_until else None,
        "order_id": quote.order_id, "version": quote.version,
    }


def order_view(order: Order) -> dict[str, Any]:
    c = order.signed
    assert c is not None
    return {
        "order_id": order.id, "status": order.status.value, "quote_id": c.quote_id,
        "shop_order_id": c.shop_order_id, "lead_id": c.lead_id, "customer_id": c.customer_id,
        "customer_name": c.customer_name, "customer_phone": c.customer_phone, "consultant_id": c.consultant_id,
        "channel": c.channel, "lines": [line.model_dump() for line in c.lines], "subtotal_minor": c.subtotal_minor,
        "discount_minor": c.discount_minor, "total_minor": c.total_minor, "currency": c.currency,
        "payment_plan": c.payment_plan, "paid_minor": order.paid_minor, "financed_minor": order.financed_minor,
        "financing": order.financing.value, "outstanding_minor": order.outstanding_minor,
        "refund_due_minor": order.refund_due_minor,
        "delivery_scheduled_for": _iso(order.delivery_scheduled_for), "delivered_at": _iso(order.delivered_at),
        "signed_at": c.signed_at.isoformat(), "version": order.version,
    }


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None
