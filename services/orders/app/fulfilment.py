"""Order lifecycle commands: cancel, schedule and reschedule delivery, deliver."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from pydantic import Field

from services.orders.app.common import OrderResult, OrdersHandler
from services.orders.app.ports import Clock, CommandContext, OrdersConfig, UnitOfWorkFactory
from services.orders.domain.order import Order
from shared.commands import ExpectedVersion


@dataclass(frozen=True, slots=True)
class CancelOrder:
    order_id: str
    reason: Annotated[str, Field(max_length=500)]
    expected_version: ExpectedVersion = None


@dataclass(frozen=True, slots=True)
class ScheduleDelivery:
    order_id: str
    scheduled_for: datetime
    location: Annotated[str | None, Field(max_length=200)] = None
    expected_version: ExpectedVersion = None


@dataclass(frozen=True, slots=True)
class RescheduleDelivery:
    order_id: str
    scheduled_for: datetime
    location: Annotated[str | None, Field(max_length=200)] = None
    reason: Annotated[str | None, Field(max_length=500, description="why the date moves")] = None
    expected_version: ExpectedVersion = None


@dataclass(frozen=True, slots=True)
class DeliverOrder:
    order_id: str
    expected_version: ExpectedVersion = None


class CancelOrderHandler(OrdersHandler):
    def __init__(self, *, unit_of_work: UnitOfWorkFactory, clock: Clock, config: OrdersConfig) -> None:
        super().__init__(unit_of_work=unit_of_work, clock=clock)
        self._refund_percent = config.refund_percent_of_paid

    async def __call__(self, command: CancelOrder, context: CommandContext) -> OrderResult:
        def change(order: Order, now: datetime) -> None:
            order.cancel(reason=command.reason, refund_percent_of_paid=self._refund_percent, now=now)
        return await self._change_order(command.order_id, command.expected_version, context, change)


class ScheduleDeliveryHandler(OrdersHandler):
    async def __call__(self, command: ScheduleDelivery, context: CommandContext) -> OrderResult:
        def change(order: Order, now: datetime) -> None:
            order.schedule_delivery(scheduled_for=command.scheduled_for, location=command.location, now=now)
        return await self._change_order(command.order_id, command.expected_version, context, change)


class RescheduleDeliveryHandler(OrdersHandler):
    async def __call__(self, command: RescheduleDelivery, context: CommandContext) -> OrderResult:
        def change(order: Order, now: datetime) -> None:
            order.reschedule_delivery(scheduled_for=command.scheduled_for, location=command.location,
                                      reason=command.reason, now=now)
        return await self._change_order(command.order_id, command.expected_version, context, change)


class DeliverOrderHandler(OrdersHandler):
    async def __call__(self, command: DeliverOrder, context: CommandContext) -> OrderResult:
        def change(order: Order, now: datetime) -> None:
            order.deliver(now=now)
        return await self._change_order(command.order_id, command.expected_version, context, change)
