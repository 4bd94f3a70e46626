"""Reading topics in tests."""

from __future__ import annotations

import time
import uuid
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRecord
from aiokafka.admin import AIOKafkaAdminClient

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


# Topics per DeleteTopics request: a whole run's topics in one request can outlast the request timeout.
_DELETE_BATCH = 200


async def delete_topics_starting_with(kafka: KafkaConnection, prefix: str) -> int:
    """Delete every topic whose name starts with ``prefix`` (a test run's own topics), returning how many.
    Why: every run creates its own topics (and every e2e service its DLQs), and the broker keeps a file handle
    per partition segment, so without this the shared development broker runs out of file handles after a
    dozen runs and stops ("Too many open files")."""
    if not prefix:
        raise ValueError("an empty prefix would delete every topic")
    admin = AIOKafkaAdminClient(**kafka.client_options())
    await admin.start()
    try:
        doomed = sorted(t for t in await admin.list_topics() if t.startswith(prefix))
        for start in range(0, len(doomed), _DELETE_BATCH):
            await admin.delete_topics(doomed[start:start + _DELETE_BATCH], timeout_ms=60_000)
    finally:
        await admin.close()
    return len(doomed)
