"""FastStream wiring of an :class:`IdempotentConsumer`.

FastStream's default ack policy commits the offset *before* the handler runs (ACK_FIRST, auto-commit), which
loses messages on a crash. Here a batch subscriber acknowledges by hand (``AckPolicy.MANUAL``): an offset is
committed only after ``process_batch`` returned — i.e. after the database transaction that recorded the batch's
event ids committed — and a failure rewinds the partitions to the batch's first record so it is redelivered.

Offsets are committed at most every ``commit_interval`` seconds, not after every batch: at a low rate a batch is one
or two events, and an offset commit per batch (a coordinator round trip, plus FastStream's acknowledgement
middleware) was a large part of a consumer's fixed cost per batch (e2e-lowrate note, issue 14 item 3). What is
committed are the offsets *of processed batches* (never the consumer's current position, which runs ahead while a
batch is being applied). A crash redelivers at most the batches of the last interval; their event ids are recorded,
so they are skipped as duplicates — the consumer stays effectively-once.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from datetime import datetime
from typing import Any

import structlog
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.errors import ConsumerStoppedError, KafkaError
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage
from faststream.middlewares import AckPolicy

from shared.messaging.consumer import TRANSIENT_ERRORS, BatchResult, IdempotentConsumer
from shared.observability import tracing
from shared.observability.metrics import service_metrics

log = structlog.get_logger(__name__)

# Seconds between a subscriber's offset commits (see the module's docstring): the longest a crash can make it
# redeliver (as duplicates) and how long its committed offsets (consumer lag metrics) trail the database.
COMMIT_INTERVAL = 0.5


class OffsetCommits:
    """The offsets of processed batches, committed together at most every ``interval`` seconds (``0``: after every
    batch, waiting for it). One per subscriber: its batches are applied one at a time."""

    def __init__(self, name: str, interval: float) -> None:
        self._name = name
        self._interval = interval
        self._pending: dict[TopicPartition, int] = {}
        self._consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task[None] | None = None

    async def processed(self, consumer: AIOKafkaConsumer, records: Sequence[ConsumerRecord[Any, Any]]) -> None:
        """``records`` are applied and their database transaction committed: their offsets may be committed."""
        pending = self._pending
        for record in records:
            tp = TopicPartition(record.topic, record.partition)
            if record.offset >= pending.get(tp, -1):
                pending[tp] = record.offset + 1
        self._consumer = consumer
        if self._interval <= 0:
            await self.commit()
        elif self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._commit_later())

    async def _commit_later(self) -> None:
        try:
            await asyncio.sleep(self._interval)
        finally:
            self._task = None
        await self.commit()

    async def commit(self) -> None:
        """Commit what is pending now, for the partitions still assigned (a revoked one is its new owner's, which
        redelivers from the last commit: duplicates, skipped). A failed commit is logged and its offsets kept for
        the next: a later commit of the same partition carries a larger offset anyway."""
        consumer, offsets, self._pending = self._consumer, self._pending, {}
        if consumer is None or not offsets:
            return
        assigned = consumer.assignment()
        offsets = {tp: offset for tp, offset in offsets.items() if tp in assigned}
        if not offsets:
            return
        try:
            await consumer.commit(offsets)
        except (KafkaError, ConsumerStoppedError) as exc:
            log.warning("consumer.offset_commit_failed", consumer=self._name, error=repr(exc))
            for tp, offset in offsets.items():
                if offset > self._pending.get(tp, -1):
                    self._pending[tp] = offset


def _safe_headers(record: ConsumerRecord[Any, Any]) -> ConsumerRecord[Any, Any]:
    # FastStream decodes every header as strict UTF-8 while parsing; one binary header would make the whole
    # subscriber fail before our code sees the record. Parse a sanitised copy; the original bytes stay in
    # raw_message so a dead letter keeps them.
    headers = tuple((k, v.decode("utf-8", "replace").encode()) for k, v in record.headers)
    return dataclasses.replace(record, headers=headers)


async def _tolerant_batch_parser(
    records: tuple[ConsumerRecord[Any, Any], ...], original: Callable[..., Awaitable[Any]]
) -> Any:
    message = await original(tuple(_safe_headers(r) for r in records))
    message.raw_message = records
    return message


async def _raw_records(message: Any) -> Any:
    # The consumer parses values itself (and dead-letters what does not parse), so skip FastStream's decoding.
    return message.raw_message


def subscribe_idempotent(
    broker: KafkaBroker,
    consumer: IdempotentConsumer,
    topics: Sequence[str],
    *,
    group_id: str,
    max_records: int = 500,
    transient_backoff: float = 1.0,
    commit_interval: float = COMMIT_INTERVAL,
) -> None:
    """Register ``consumer`` on ``broker`` for ``topics`` as consumer group ``group_id``."""
    commits = OffsetCommits(consumer.name, commit_interval)
    subscriber = broker.subscriber(
        *topics,
        group_id=group_id,
        batch=True,
        max_records=max_records,
        batch_timeout_ms=50,
        auto_offset_reset="earliest",
        ack_policy=AckPolicy.MANUAL,
        parser=_tolerant_batch_parser,
        decoder=_raw_records,
        title=f"{group_id}:{','.join(topics)}",
    )
    stop = subscriber.stop

    async def commit_then_stop() -> None:
        # A graceful stop (a deploy) commits what was processed first, so the restart redelivers nothing.
        await commits.commit()
        await stop()

    subscriber.stop = commit_then_stop  # type: ignore[method-assign]

    @subscriber
    async def on_batch(message: KafkaMessage) -> None:
        records: tuple[ConsumerRecord[Any, Any], ...] = message.raw_message
        try:
            with _traced_batch(consumer.name, records):
                result = await consumer.process_batch(records)
        except Exception as exc:
            if isinstance(exc, TRANSIENT_ERRORS):
                # Back off before the nack rewinds the batch, so a database outage is not a hot loop.
                log.warning("consumer.transient_failure", consumer=consumer.name, error=repr(exc))
                await asyncio.sleep(transient_backoff)
            await message.nack()  # seek each partition back to the batch's first record: redelivered
            raise
        await commits.processed(message.consumer, records)
        _count(consumer.name, records, result)


def _header(record: ConsumerRecord[Any, Any], name: str) -> bytes | None:
    for key, value in record.headers:
        if key == name:
            return bytes(value)
    return None


def _count(consumer: str, records: Sequence[ConsumerRecord[Any, Any]], result: BatchResult) -> None:
    """Outcome counters, and the projection lag: from the batch's oldest event's recording in its event store
    (``ce_recordedtime``) to now, just after this batch's transaction committed."""
    metrics = service_metrics()
    for outcome, count in (("applied", result.applied), ("duplicate", result.duplicates),
                           ("ignored", result.ignored), ("dead_lettered", result.dead_lettered)):
        if count:
            metrics.consumer_events.labels(consumer, outcome).inc(count)
    recorded = _header(records[0], "ce_recordedtime") if records else None
    if recorded is not None:
        with contextlib.suppress(ValueError):
            lag = time.time() - datetime.fromisoformat(recorded.decode()).timestamp()
            metrics.projection_lag.labels(consumer).observe(max(lag, 0.0))


@contextlib.contextmanager
def _traced_batch(consumer: str, records: Sequence[ConsumerRecord[Any, Any]]) -> Iterator[None]:
    """When tracing is on: a ``receive`` span for the batch, linked to every message's context, and, once it is
    done, a ``process`` span per traced message as a child of the message's context (same start and end as the
    batch: the messages were applied together), so the command's trace continues into this service."""
    if not tracing.enabled():
        yield
        return
    parents = [(r, (tp.decode("latin-1") if (tp := _header(r, tracing.TRACEPARENT)) else None)) for r in records]
    tracer = tracing.tracer()
    started = time.time_ns()
    with tracer.start_as_current_span(
        f"{consumer} receive", kind=tracing.SpanKind.CONSUMER, links=tracing.links_to([tp for _, tp in parents]),
        attributes={"messaging.system": "kafka", "messaging.consumer.group.name": consumer,
                    "messaging.batch.message_count": len(records)},
    ) as batch:
        yield
    ended = time.time_ns()
    for record, traceparent in parents:
        parent = tracing.context_from_traceparent(traceparent)
        if parent is None:
            continue
        span = tracer.start_span(
            f"{record.topic} process", context=parent, kind=tracing.SpanKind.CONSUMER, start_time=started,
            links=[tracing.Link(batch.get_span_context())],
            attributes={"messaging.system": "kafka", "messaging.destination.name": record.topic,
                        "messaging.consumer.group.name": consumer,
                        "messaging.kafka.offset": record.offset,
                        "messaging.destination.partition.id": str(record.partition)})
        span.end(end_time=ended)
