"""A relay wired for tests: every stored event is published under a test contract."""

from __future__ import annotations

from typing import Any, ClassVar, TypeVar

from shared.contracts.base import IntegrationEvent
from shared.eventstore import RecordedEvent
from shared.messaging.connection import KafkaConnection
from shared.messaging.relay import AfterPublish, OutboundMessage, OutboxRelay, make_producer, outbound_message

R = TypeVar("R", bound=OutboxRelay)


class TestPayload(IntegrationEvent):
    """Not registered: tests must not add to the public contract registry."""

    __test__ = False
    event_type: ClassVar[str] = "salesflow.test.Thing"
    schema_version: ClassVar[int] = 1
    producer: ClassVar[str] = "test"

    stream_id: str
    data: dict[str, Any]


def translate(event: RecordedEvent) -> OutboundMessage:
    payload = TestPayload(stream_id=event.stream_id, data=event.data)
    return outbound_message(event, payload, source="salesflow/test", subject=event.stream_id)


async def started_relay(
    dsn: str, kafka: KafkaConnection, topic: str, *, name: str = "test", poll_interval: float = 0.2,
    after_publish: AfterPublish | None = None, batch_size: int = 1000, relay_class: type[R] = OutboxRelay,  # type: ignore[assignment]
) -> R:
    producer = make_producer(kafka, client_id=f"test-relay-{name}")
    await producer.start()
    return relay_class(dsn=dsn, producer=producer, topic=topic, translate=translate, name=name,
                       poll_interval=poll_interval, after_publish=after_publish, batch_size=batch_size)


async def stop_relay(relay: OutboxRelay) -> None:
    await relay._producer.stop()
