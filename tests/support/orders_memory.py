"""The orders unit of work in memory, for handler tests: the kernel's in-memory unit of work (same contract as
PostgreSQL: expected versions, all-or-nothing commits; see tests/support/unit_of_work_contract.py) plus the
shop-order key, no database."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

from services.orders.adapters.repository import ORDERS_STREAMS
from services.orders.app.ports import CheckoutAlreadyRecordedError, CommandContext, RecordedCheckout
from services.orders.domain.vehicle import LOGISTICS_ORDER, Vehicle, VehicleSpec
from shared.unit_of_work.memory import InMemoryEventStore, InMemoryTimers, InMemoryUnitOfWork


class InMemoryOrdersUnitOfWork(InMemoryUnitOfWork):
    def __init__(self, orders: InMemoryOrders) -> None:
        super().__init__(orders.events, orders.timer_table, ORDERS_STREAMS)
        self._orders = orders
        self._shop_order: tuple[str, RecordedCheckout] | None = None

    async def recorded_checkout(self, shop_order_id: str) -> RecordedCheckout | None:
        return await self._orders.recorded_checkout(shop_order_id)

    def claim_shop_order(self, shop_order_id: str, order_id: str, terms: dict[str, Any]) -> None:
        self._shop_order = (shop_order_id, RecordedCheckout(order_id, terms))

    async def free_vehicles(self, spec: VehicleSpec, limit: int) -> list[str]:
        """The PostgreSQL adapter's candidate order (vehicle_stock), computed from the vehicle streams."""
        free = []
        for stream_id in list(self._orders.streams):
            if stream_id.startswith("vehicle-"):
                vehicle = await self.load(Vehicle, stream_id.removeprefix("vehicle-"))
                if vehicle and vehicle.order_id is None and not vehicle.delivered and spec.matches(
                        vehicle.model, vehicle.trim, vehicle.colour):
                    free.append(vehicle)
        free.sort(key=lambda v: (-LOGISTICS_ORDER.index(v.logistics), v.registered_at, v.id))
        return [v.id for v in free[:limit]]

    async def commit(self, context: CommandContext, now: datetime) -> dict[str, int]:
        claimed = self._orders.shop_orders
        if self._shop_order is not None and self._shop_order[0] in claimed:
            raise CheckoutAlreadyRecordedError(self._shop_order[0], claimed[self._shop_order[0]])
        versions = await super().commit(context, now)
        if self._shop_order is not None:
            claimed[self._shop_order[0]] = self._shop_order[1]
        if versions:
            self._orders.commits += 1
        return versions


class InMemoryOrders:
    """The unit-of-work factory (``orders()`` / ``orders(conn)``) and what the tests inspect."""

    def __init__(self, events: InMemoryEventStore | None = None,
                 shop_orders: dict[str, RecordedCheckout] | None = None) -> None:
        self.events = events or InMemoryEventStore()
        self.timer_table = InMemoryTimers()
        self.shop_orders = shop_orders if shop_orders is not None else {}
        self.commits = 0

    @asynccontextmanager
    async def __call__(self, conn: Any = None) -> AsyncIterator[InMemoryOrdersUnitOfWork]:
        yield InMemoryOrdersUnitOfWork(self)

    async def recorded_checkout(self, shop_order_id: str) -> RecordedCheckout | None:
        return self.shop_orders.get(shop_order_id)

    @property
    def timers(self) -> dict[str, datetime]:
        """Pending quote-expiry timers: quote id → due."""
        return {str(t.payload["quote_id"]): t.due_at for t in self.timer_table.pending.values()}

    @property
    def streams(self) -> dict[str, Any]:
        return self.events.streams

    def event_types(self, stream: str) -> list[str]:
        return [e.event_type for e in self.events.events(stream)]
