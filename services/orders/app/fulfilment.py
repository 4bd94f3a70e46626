"""Order lifecycle commands: cancel, schedule and reschedule delivery, deliver."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from services.orders.app.common import OrderCommandHandler, OrderResult, load_order
from services.orders.app.ports import Clock, CommandContext, OrdersConfig, OrdersStore


@dataclass(frozen=True, slots=True)
class CancelOrder:
    order_id: str
    reason: str
    expected_version: int | None = None


@dataclass(frozen=True, slots=True)
class ScheduleDelivery:
    order_id: str
    scheduled_for: datetime
    location: str | None = None
    expected_version: int | None = None


@dataclass(frozen=True, slots=True)
class RescheduleDelivery:
    order_id: str
    scheduled_for: datetime
    location: str | None = None
    reason: str | None = None
    expected_version: int | None = None


@dataclass(frozen=True, slots=True)
class DeliverOrder:
    order_id: str
    expected_version: int | None = None


class CancelOrderHandler(OrderCommandHandler):
    def __init__(self, *, store: OrdersStore, clock: Clock, config: OrdersConfig) -> None:
        super().__init__(store=store, clock=clock)
        self._refund_percent = config.refund_percent_of_paid

    async def __call__(self, command: CancelOrder, context: CommandContext) -> OrderResult:
        now = self._clock()
        order = await load_order(self._store, command.order_id, command.expected_version)
        order.cancel(reason=command.reason, refund_percent_of_paid=self._refund_percent, now=now)
        return await self._commit(order, context, now)


class ScheduleDeliveryHandler(OrderCommandHandler):
    async def __call__(self, command: ScheduleDelivery, context: CommandContext) -> OrderResult:
        now = self._clock()
        order = await load_order(self._store, command.order_id, command.expected_version)
        order.schedule_delivery(scheduled_for=command.scheduled_for, location=command.location, now=now)
        return await self._commit(order, context, now)


class RescheduleDeliveryHandler(OrderCommandHandler):
    async def __call__(self, command: RescheduleDelivery, context: CommandContext) -> OrderResult:
        now = self._clock()
        order = await load_order(self._store, command.order_id, command.expected_version)
        order.reschedule_delivery(scheduled_for=command.scheduled_for, location=command.location,
                                  reason=command.reason, now=now)
        return await self._commit(order, context, now)


class DeliverOrderHandler(OrderCommandHandler):
    async def __call__(self, command: DeliverOrder, context: CommandContext) -> OrderResult:
        now = self._clock()
        order = await load_order(self._store, command.order_id, command.expected_version)
        order.deliver(now=now)
        return await self._commit(order, context, now)
