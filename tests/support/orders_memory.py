"""An in-memory OrdersStore for handler tests: same contract as the PostgreSQL adapter (expected versions,
all-or-nothing commits, the shop-order key), no database."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from services.orders.app.ports import Changes, CheckoutAlreadyRecordedError, CommandContext
from services.orders.domain.order import Order
from services.orders.domain.quote import Quote
from shared.domain import DomainEvent
from shared.eventstore import ConcurrencyError


class InMemoryOrders:
    def __init__(self) -> None:
        self.streams: dict[str, list[DomainEvent]] = {}
        self.shop_orders: dict[str, str] = {}
        self.timers: dict[str, datetime] = {}
        self.commits = 0

    async def quote(self, quote_id: str) -> Quote | None:
        events = self.streams.get(f"quote-{quote_id}")
        return Quote.rehydrate(quote_id, events) if events else None

    async def order(self, order_id: str) -> Order | None:
        events = self.streams.get(f"order-{order_id}")
        return Order.rehydrate(order_id, events) if events else None

    async def order_for_shop_order(self, shop_order_id: str) -> str | None:
        return self.shop_orders.get(shop_order_id)

    async def commit(self, changes: Changes, *, context: CommandContext, now: datetime) -> dict[str, int]:
        if changes.shop_order is not None and changes.shop_order[0] in self.shop_orders:
            raise CheckoutAlreadyRecordedError(changes.shop_order[0], self.shop_orders[changes.shop_order[0]])
        for aggregate in changes.aggregates:  # check everything before writing anything
            stream = f"{aggregate.stream_type}-{aggregate.id}"
            actual = len(self.streams.get(stream, []))
            if actual != aggregate.loaded_version:
                raise ConcurrencyError(stream, aggregate.loaded_version, actual)
        versions = {}
        for aggregate in changes.aggregates:
            stream = f"{aggregate.stream_type}-{aggregate.id}"
            self.streams.setdefault(stream, []).extend(aggregate.pending_events)
            versions[stream] = len(self.streams[stream])
        if changes.shop_order is not None:
            self.shop_orders[changes.shop_order[0]] = changes.shop_order[1]
        for quote_id, due in changes.schedule_expiry:
            self.timers[quote_id] = due
        for quote_id in changes.cancel_expiry:
            self.timers.pop(quote_id, None)
        self.commits += 1
        return versions

    def event_types(self, stream: str) -> list[str]:
        return [e.event_type for e in self.streams.get(stream, [])]

    def all_events(self) -> list[Any]:
        return [e for events in self.streams.values() for e in events]
