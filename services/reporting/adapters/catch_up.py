"""Offsets for the rebuild's catch-up: remember where the bulk replay's snapshot ended, then apply only what
was published after it (instead of re-reading every topic from the beginning)."""

from __future__ import annotations

from aiokafka import AIOKafkaConsumer, TopicPartition

from shared.messaging.connection import KafkaConnection
from shared.messaging.consumer import IdempotentConsumer
from shared.messaging.topics import topic_partitions


def _reader(kafka: KafkaConnection) -> AIOKafkaConsumer:
    return AIOKafkaConsumer(**kafka.client_options(), group_id=None, enable_auto_commit=False,
                            max_partition_fetch_bytes=8 * 1024 * 1024, fetch_max_bytes=64 * 1024 * 1024)


async def end_offsets(kafka: KafkaConnection, topics: list[str]) -> dict[TopicPartition, int]:
    """The current end of every partition. Taken *before* the bulk replay starts, so anything published after
    it is at or beyond these offsets (the bulk replay's own, later snapshot may include some of it: the consumer
    skips those as duplicates)."""
    partitions = await topic_partitions(kafka, topics)
    if not partitions:
        return {}
    reader = _reader(kafka)
    await reader.start()
    try:
        return dict(await reader.end_offsets(partitions))
    finally:
        await reader.stop()


async def apply_since(kafka: KafkaConnection, topics: list[str], since: dict[TopicPartition, int],
                      consumer: IdempotentConsumer, *, batch_size: int = 5000) -> int:
    """Apply every record published after ``since`` up to the current end; partitions not in ``since`` from
    their beginning. Returns how many events were applied (not skipped as duplicates)."""
    partitions = await topic_partitions(kafka, topics)
    if not partitions:
        return 0
    reader = _reader(kafka)
    await reader.start()
    try:
        reader.assign(partitions)
        begin = await reader.beginning_offsets(partitions)
        end = await reader.end_offsets(partitions)
        for tp in partitions:
            reader.seek(tp, max(since.get(tp, begin[tp]), begin[tp]))
        remaining = {tp for tp in partitions if end[tp] > max(since.get(tp, begin[tp]), begin[tp])}
        applied = 0
        while remaining:
            fetched = await reader.getmany(*remaining, timeout_ms=1000, max_records=batch_size)
            records = [r for tp, part in fetched.items() for r in part if r.offset < end[tp]]
            if records:
                applied += (await consumer.process_batch(records, durable=False)).applied
            for tp in list(remaining):
                if await reader.position(tp) >= end[tp]:
                    remaining.discard(tp)
        return applied
    finally:
        await reader.stop()
