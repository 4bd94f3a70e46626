"""Money commands on an order: payments, financing decisions, refunds."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from pydantic import Field, StrictInt

from services.orders.app.common import OrderResult, OrdersHandler
from services.orders.app.ports import CommandContext
from services.orders.domain.order import Order, PaymentDetails
from shared.commands import ExpectedVersion

Currency = Annotated[str, Field(min_length=3, max_length=3)]
Reason = Annotated[str, Field(max_length=500)]


@dataclass(frozen=True, slots=True)
class RecordPayment:
    order_id: str
    kind: Annotated[str, Field(description="deposit, balance, full, down_payment or other", examples=["deposit"])]
    amount_minor: StrictInt
    currency: Currency
    method: Annotated[str | None, Field(max_length=40)] = None
    reference: Annotated[str | None, Field(max_length=100, description=(
        "the payment system's reference: a repeat with the same reference is recorded once (safe to retry)"))] = None
    expected_version: ExpectedVersion = None


@dataclass(frozen=True, slots=True)
class ApproveFinancing:
    order_id: str
    provider: Annotated[str, Field(max_length=100)]
    amount_minor: StrictInt
    currency: Currency
    reference: Annotated[str | None, Field(max_length=100)] = None
    expected_version: ExpectedVersion = None


@dataclass(frozen=True, slots=True)
class DeclineFinancing:
    order_id: str
    provider: Annotated[str, Field(max_length=100)]
    reason: Reason
    expected_version: ExpectedVersion = None


@dataclass(frozen=True, slots=True)
class RefundPayment:
    order_id: str
    amount_minor: StrictInt
    currency: Currency
    reason: Reason
    expected_version: ExpectedVersion = None


class RecordPaymentHandler(OrdersHandler):
    async def __call__(self, command: RecordPayment, context: CommandContext) -> OrderResult:
        def change(order: Order, now: datetime) -> None:
            # False for a retry of a payment already recorded under this reference: nothing new is appended.
            order.pay(PaymentDetails(self._new_id(), command.kind, command.amount_minor, command.currency,
                                     command.method, command.reference), now=now)
        return await self._change_order(command.order_id, command.expected_version, context, change)


class ApproveFinancingHandler(OrdersHandler):
    async def __call__(self, command: ApproveFinancing, context: CommandContext) -> OrderResult:
        def change(order: Order, now: datetime) -> None:
            order.approve_financing(provider=command.provider, amount_minor=command.amount_minor,
                                    currency=command.currency, reference=command.reference, now=now)
        return await self._change_order(command.order_id, command.expected_version, context, change)


class DeclineFinancingHandler(OrdersHandler):
    async def __call__(self, command: DeclineFinancing, context: CommandContext) -> OrderResult:
        def change(order: Order, now: datetime) -> None:
            order.decline_financing(provider=command.provider, reason=command.reason, now=now)
        return await self._change_order(command.order_id, command.expected_version, context, change)


class RefundPaymentHandler(OrdersHandler):
    async def __call__(self, command: RefundPayment, context: CommandContext) -> OrderResult:
        def change(order: Order, now: datetime) -> None:
            order.refund(refund_id=self._new_id(), amount_minor=command.amount_minor, currency=command.currency,
                         reason=command.reason, now=now)
        return await self._change_order(command.order_id, command.expected_version, context, change)
