"""From the public topics to the delivery queue: each consumed event becomes one delivery per active subscription
to its type, queued in the consumer's transaction (with the processed event id), so an event is queued once
however often Kafka delivers it. The body is the event as a subscriber sees it: id, type, version, source,
subject (the aggregate), time and the contract's data."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import orjson

from shared.contracts.base import IntegrationEvent
from shared.messaging.inbound import EventHandler, InboundEvent

Enqueue = Callable[[Any, str, str, bytes], Awaitable[int]]
"""(connection, event id, event type, body) → deliveries queued."""


def delivery_body(event: InboundEvent) -> bytes:
    h = event.headers
    return orjson.dumps({
        "event_id": str(h.event_id), "type": h.event_type, "schema_version": h.schema_version, "source": h.source,
        "subject": h.subject, "time": h.time.isoformat(), "data": event.payload.model_dump(mode="json"),
    })


class Fanout:
    def __init__(self, *, enqueue: Enqueue, contracts: Iterable[type[IntegrationEvent]]) -> None:
        self._enqueue = enqueue
        self._types = sorted({c.event_type for c in contracts})

    @property
    def event_types(self) -> list[str]:
        """The public event types a subscription may name."""
        return list(self._types)

    def handlers(self) -> dict[str, EventHandler]:
        return dict.fromkeys(self._types, self.on_event)

    async def on_event(self, conn: Any, event: InboundEvent) -> None:
        await self._enqueue(conn, str(event.headers.event_id), event.headers.event_type, delivery_body(event))
