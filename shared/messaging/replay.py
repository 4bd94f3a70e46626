"""Replaying topics from the beginning through an :class:`IdempotentConsumer` — how read models are rebuilt.

No consumer group: partitions are assigned directly and read from their beginning up to the end offsets seen at
the start (a consistent snapshot of "everything published so far"). The same ``process_batch`` as the live
subscriber applies the records, so a rebuild and live consumption cannot disagree; what the live consumer already
applied in the same database is skipped as a duplicate.

Two things keep a replay from being slower than it has to be (measured with ``bench.run --only rebuild``):

* **pipelining**: while one batch's transaction runs in PostgreSQL, the next batch is fetched and parsed
  (``IdempotentConsumer.prepare``). Batches are still *applied* one after the other, in fetch order, so
  per-partition order and the consumer's duplicate and parking checks are exactly those of ``process_batch``;
* **garbage collection by the batch**: a batch allocates tens of thousands of objects (records, headers, payload
  models) that live until it is written, and the collector's automatic runs, triggered every few hundred
  allocations, kept traversing them: a third of the replay's CPU time in profiles. Automatic collection is paused
  during the replay and the young generations are collected explicitly every ``_COLLECT_EVERY`` records instead.
  Nearly everything a batch allocates is freed by reference counting when the batch is done; what the pause
  defers is only cyclic garbage, a few objects per batch, collected at those points (and when the replay ends).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer

from shared.messaging.connection import KafkaConnection
from shared.messaging.consumer import BatchResult, IdempotentConsumer
from shared.messaging.topics import topic_partitions

# Records between explicit collections during a replay: one collection traverses the ~100k objects of the batches
# in hand (~65 ms), so every 20 batches of 5000 costs under 1 ms per 1000 events.
_COLLECT_EVERY = 100_000

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
    kafka: KafkaConnection,
    topics: Sequence[str],
    consumer: IdempotentConsumer,
    *,
    batch_size: int = 5000,
    progress: Progress | None = None,
) -> ReplayResult:
    """Apply every record of ``topics`` published before the call, in per-partition order."""
    reader = AIOKafkaConsumer(
        **kafka.client_options(), group_id=None, enable_auto_commit=False,
        max_partition_fetch_bytes=8 * 1024 * 1024, fetch_max_bytes=64 * 1024 * 1024,
    )
    partitions = await topic_partitions(kafka, list(topics))
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
        writing: asyncio.Task[BatchResult] | None = None  # the previous batch's transaction, if still running
        writing_size = 0
        try:
            with _collect_between_batches() as collect:
                while remaining or writing is not None:
                    prepared = None
                    if remaining:
                        fetched = await reader.getmany(*remaining, timeout_ms=1000, max_records=batch_size)
                        records = [r for tp, part in fetched.items() for r in part if r.offset < end[tp]]
                        # Parsed while the previous batch's transaction is in flight (the CPU/IO overlap).
                        prepared = consumer.prepare(records) if records else None
                        for tp in list(remaining):
                            if await reader.position(tp) >= end[tp]:
                                remaining.discard(tp)
                    if writing is not None:
                        result = await writing
                        writing = None
                        applied += result.applied
                        duplicates += result.duplicates
                        ignored += result.ignored
                        dead += result.dead_lettered
                        done += writing_size
                        collect(writing_size)
                        if progress is not None:
                            progress(done, total)
                    if prepared is not None:
                        # Not durable: a replay commits no offsets, so a commit lost in a crash is simply replayed.
                        writing = asyncio.create_task(consumer.apply_prepared(prepared, durable=False))
                        writing_size = len(prepared.items)
        finally:
            if writing is not None:  # failed or cancelled while a batch was being written: do not leave it behind
                writing.cancel()
                with contextlib.suppress(Exception, asyncio.CancelledError):
                    await writing
        return ReplayResult(done, applied, duplicates, ignored, dead)
    finally:
        await reader.stop()


@contextlib.contextmanager
def _collect_between_batches() -> Iterator[Callable[[int], None]]:
    """Pause automatic cyclic garbage collection; yields ``collect(records_done)``, which collects the young
    generations once every ``_COLLECT_EVERY`` records."""
    was_enabled = gc.isenabled()
    gc.disable()
    since = 0

    def collect(records: int) -> None:
        nonlocal since
        since += records
        if since >= _COLLECT_EVERY:
            gc.collect(1)
            since = 0

    try:
        yield collect
    finally:
        if was_enabled:
            gc.enable()
