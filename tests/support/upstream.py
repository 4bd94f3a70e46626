"""Publishing events as the upstream services (orders, leads) would: CloudEvents headers, the contract model's
JSON as value, key = aggregate id. Also builds the same records in memory for consumer-level tests."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import orjson
from aiokafka import AIOKafkaProducer

from shared.contracts.base import IntegrationEvent
from shared.messaging.connection import KafkaConnection
from shared.messaging.headers import EventHeaders

Message = tuple[bytes, bytes, list[tuple[str, bytes]]]


def upstream_message(payload: IntegrationEvent, *, key: str, event_id: uuid.UUID | None = None,
                     correlation_id: str | None = None) -> Message:
    headers = EventHeaders(
        event_id=event_id or uuid.uuid4(), event_type=payload.event_type, schema_version=payload.schema_version,
        source=f"salesflow/{payload.producer}", subject=key, time=datetime.now(UTC), correlation_id=correlation_id,
    )
    return key.encode(), orjson.dumps(payload.model_dump(mode="json")), headers.encode()


async def publish(kafka: KafkaConnection, topic: str, messages: Sequence[Message]) -> None:
    producer = AIOKafkaProducer(**kafka.client_options(), enable_idempotence=True, acks="all")
    await producer.start()
    try:
        for key, value, headers in messages:
            await producer.send_and_wait(topic, value, key=key, headers=headers)
    finally:
        await producer.stop()


@dataclass(frozen=True)
class FakeRecord:
    """A Kafka record as the idempotent consumer sees it, without a broker."""

    key: bytes | None
    value: bytes | None
    headers: Sequence[tuple[str, bytes]]
    topic: str = "test.upstream"
    partition: int = 0
    offset: int = field(default=0)


def as_record(message: Message, offset: int = 0) -> FakeRecord:
    key, value, headers = message
    return FakeRecord(key, value, headers, offset=offset)
