"""FastStream wiring of an :class:`IdempotentConsumer`.

FastStream's default ack policy commits the offset *before* the handler runs (ACK_FIRST, auto-commit), which
loses messages on a crash. Here a batch subscriber uses ``NACK_ON_ERROR``: the offset is committed only after
``process_batch`` returned — i.e. after the database transaction committed — and a transient failure rewinds
the partitions to the batch's first record so it is redelivered.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import structlog
from aiokafka import ConsumerRecord
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage
from faststream.middlewares import AckPolicy

from shared.messaging.consumer import TRANSIENT_ERRORS, IdempotentConsumer

log = structlog.get_logger(__name__)


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
) -> None:
    """Register ``consumer`` on ``broker`` for ``topics`` as consumer group ``group_id``."""

    @broker.subscriber(
        *topics,
        group_id=group_id,
        batch=True,
        max_records=max_records,
        batch_timeout_ms=50,
        auto_offset_reset="earliest",
        ack_policy=AckPolicy.NACK_ON_ERROR,
        parser=_tolerant_batch_parser,
        decoder=_raw_records,
        title=f"{group_id}:{','.join(topics)}",
    )
    async def on_batch(message: KafkaMessage) -> None:
        records: tuple[ConsumerRecord[Any, Any], ...] = message.raw_message
        try:
            await consumer.process_batch(records)
        except TRANSIENT_ERRORS as exc:
            # Back off before the nack rewinds the batch, so a database outage is not a hot loop.
            log.warning("consumer.transient_failure", consumer=consumer.name, error=repr(exc))
            await asyncio.sleep(transient_backoff)
            raise
