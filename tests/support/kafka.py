"""Reading topics in tests."""

from __future__ import annotations

import time
import uuid
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRecord

from shared.messaging.connection import KafkaConnection


async def read_topic(
    kafka: KafkaConnection, topic: str, *, expect: int, timeout: float = 30.0
) -> list[ConsumerRecord[Any, Any]]:
    """Read a topic from the beginning until at least ``expect`` records arrived (fails after ``timeout``).
    Returns the records in (partition, offset) order."""
    consumer = AIOKafkaConsumer(
        topic, **kafka.client_options(), group_id=f"test-reader-{uuid.uuid4().hex[:8]}",
        auto_offset_reset="earliest", enable_auto_commit=False,
    )
    await consumer.start()
    records: list[ConsumerRecord[Any, Any]] = []
    deadline = time.monotonic() + timeout
    try:
        while len(records) < expect:
            if time.monotonic() > deadline:
                raise AssertionError(f"{topic}: expected {expect} records, got {len(records)} in {timeout}s")
            batch = await consumer.getmany(timeout_ms=200)
            for part in batch.values():
                records.extend(part)
    finally:
        await consumer.stop()
    return sorted(records, key=lambda r: (r.partition, r.offset))


def header(record: ConsumerRecord[Any, Any], name: str) -> str | None:
    for key, value in record.headers:
        if key == name:
            return bytes(value).decode()
    return None
