"""Replaying topics from the beginning through an :class:`IdempotentConsumer` — how read models are rebuilt.

No consumer group: partitions are assigned directly and read from their beginning up to the end offsets seen at
the start (a consistent snapshot of "everything published so far"). The same ``process_batch`` as the live
subscriber applies the records, so a rebuild and live consumption cannot disagree; what the live consumer already
applied in the same database is skipped as a duplicate.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer

from shared.messaging.consumer import IdempotentConsumer
from shared.messaging.topics import topic_partitions

Progress = Callable[[int, int], None]
"""Called after each batch with (records done, records in the snapshot)."""


@dataclass(frozen=True, slots=True)
class ReplayResult:
    records: int
    applied: int
    duplicates: int
    ignored: int
    dead_lettered: int


async def replay_topics(
    bootstrap_servers: str,
    topics: Sequence[str],
    consumer: IdempotentConsumer,
    *,
    batch_size: int = 5000,
    progress: Progress | None = None,
) -> ReplayResult:
    """Apply every record of ``topics`` published before the call, in per-partition order."""
    reader = AIOKafkaConsumer(
        bootstrap_servers=bootstrap_servers, group_id=None, enable_auto_commit=False,
        max_partition_fetch_bytes=8 * 1024 * 1024, fetch_max_bytes=64 * 1024 * 1024,
    )
    partitions = await topic_partitions(bootstrap_servers, list(topics))
    await reader.start()
    try:
        if not partitions:
            return ReplayResult(0, 0, 0, 0, 0)
        reader.assign(partitions)
        await reader.seek_to_beginning(*partitions)
        begin = await reader.beginning_offsets(partitions)
        end = await reader.end_offsets(partitions)
        total = sum(end[tp] - begin[tp] for tp in partitions)
        remaining = {tp for tp in partitions if end[tp] > begin[tp]}
        done = applied = duplicates = ignored = dead = 0
        while remaining:
            fetched = await reader.getmany(*remaining, timeout_ms=1000, max_records=batch_size)
            records = [r for tp, part in fetched.items() for r in part if r.offset < end[tp]]
            if records:
                # Not durable: a replay commits no offsets, so a commit lost in a crash is simply replayed.
                result = await consumer.process_batch(records, durable=False)
                applied += result.applied
                duplicates += result.duplicates
                ignored += result.ignored
                dead += result.dead_lettered
                done += len(records)
            for tp in list(remaining):
                if await reader.position(tp) >= end[tp]:
                    remaining.discard(tp)
            if progress is not None:
                progress(done, total)
        return ReplayResult(done, applied, duplicates, ignored, dead)
    finally:
        await reader.stop()
