"""Dead letters: records a consumer gave up on, kept in its database and published to ``<topic>.dlq``.

The table is the source of truth (it parks later messages of the same key and is what ops list, retry and
skip); the topic lets other tools watch failures. Each dead-letter message carries the original value and
headers plus ``dlq_reason``, ``dlq_consumer``, ``dlq_kind``, ``dlq_attempts`` and the origin
``dlq_topic`` / ``dlq_partition`` / ``dlq_offset``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

import asyncpg
import structlog
from aiokafka import AIOKafkaProducer

from shared.db import Connection
from shared.messaging.headers import EventHeaders, MalformedHeadersError, headers_as_text
from shared.messaging.topics import dead_letter_topic

if TYPE_CHECKING:
    from shared.messaging.inbound import KafkaRecord

log = structlog.get_logger(__name__)

DeadLetterKind = Literal["failed", "parked"]


@dataclass(frozen=True, slots=True)
class StoredRecord:
    """A dead letter rebuilt as a Kafka record, so the consumer can replay it."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: Sequence[tuple[str, bytes]]


@dataclass(frozen=True, slots=True)
class DeadLetter:
    id: int
    consumer: str
    topic: str
    partition: int
    offset: int
    message_key: str | None
    event_id: str | None
    event_type: str | None
    reason: str
    attempts: int
    kind: str
    status: str
    created_at: datetime

    def as_dict(self) -> dict[str, Any]:
        return {f: getattr(self, f) for f in self.__dataclass_fields__}


class DeadLetters:
    """Dead-letter store and publisher for one consumer."""

    def __init__(self, *, consumer: str, producer: AIOKafkaProducer) -> None:
        self.consumer = consumer
        self._producer = producer

    async def open_keys(self, conn: Connection, keys: list[str]) -> list[str]:
        """Which of these keys are parked behind an open dead letter."""
        if not keys:
            return []
        result: list[str] = await conn.fetchval(
            "SELECT coalesce(array_agg(DISTINCT message_key), '{}') FROM dead_letters "
            "WHERE consumer = $1 AND status = 'open' AND message_key = ANY($2::text[])",
            self.consumer, keys,
        )
        return result

    async def record(
        self, conn: Connection, record: KafkaRecord, *, reason: str, attempts: int, kind: DeadLetterKind
    ) -> None:
        """Store the dead letter (in the caller's transaction) and publish it to the DLQ topic, waiting for the
        broker's ack before the transaction commits. A crash in between may publish it twice, never lose it."""
        try:
            meta: EventHeaders | None = EventHeaders.decode(record.headers)
        except MalformedHeadersError:
            meta = None
        key = record.key.decode("utf-8", "replace") if record.key is not None else None
        inserted = await conn.fetchval(
            """INSERT INTO dead_letters (consumer, topic, partition, "offset", message_key, event_id, event_type,
                                         reason, attempts, kind, headers, value)
               VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12)
               ON CONFLICT ON CONSTRAINT dead_letters_record_unique DO NOTHING RETURNING id""",
            self.consumer, record.topic, record.partition, record.offset, key,
            str(meta.event_id) if meta else None, meta.event_type if meta else None,
            reason, attempts, kind, headers_as_text(record.headers), record.value,
        )
        if inserted is None:
            return  # a redelivery of a record already dead-lettered
        extra = {
            "dlq_reason": reason, "dlq_consumer": self.consumer, "dlq_kind": kind, "dlq_attempts": str(attempts),
            "dlq_topic": record.topic, "dlq_partition": str(record.partition), "dlq_offset": str(record.offset),
        }
        headers = [*record.headers, *((k, v.encode()) for k, v in extra.items())]
        await self._producer.send_and_wait(
            dead_letter_topic(record.topic), value=record.value, key=record.key, headers=headers
        )
        log.error("consumer.dead_lettered", consumer=self.consumer, kind=kind, reason=reason,
                  topic=record.topic, partition=record.partition, offset=record.offset, key=key)

    async def find(self, pool: asyncpg.Pool, *, status: str | None = "open", limit: int = 100) -> list[DeadLetter]:
        rows = await pool.fetch(
            """SELECT id, consumer, topic, partition, "offset", message_key, event_id, event_type, reason,
                      attempts, kind, status, created_at
               FROM dead_letters WHERE consumer = $1 AND ($2::text IS NULL OR status = $2) ORDER BY id LIMIT $3""",
            self.consumer, status, limit,
        )
        return [DeadLetter(**dict(r)) for r in rows]

    async def chain(self, conn: Connection, dead_letter_id: int) -> tuple[asyncpg.Record, list[asyncpg.Record]]:
        """The open dead letter ``id`` and the open letters parked behind it (same key, later), locked."""
        head = await conn.fetchrow(
            "SELECT * FROM dead_letters WHERE id = $1 AND consumer = $2 AND status = 'open' FOR UPDATE",
            dead_letter_id, self.consumer,
        )
        if head is None:
            raise LookupError(f"no open dead letter {dead_letter_id} for consumer {self.consumer}")
        followers = await conn.fetch(
            """SELECT * FROM dead_letters WHERE consumer = $1 AND status = 'open' AND id > $2
                   AND message_key IS NOT DISTINCT FROM $3 ORDER BY id FOR UPDATE""",
            self.consumer, dead_letter_id, head["message_key"],
        ) if head["message_key"] is not None else []
        return head, list(followers)

    @staticmethod
    def as_record(row: asyncpg.Record) -> StoredRecord:
        return StoredRecord(
            topic=row["topic"], partition=row["partition"], offset=row["offset"],
            key=row["message_key"].encode() if row["message_key"] is not None else None,
            value=row["value"], headers=[(k, v.encode()) for k, v in row["headers"].items()],
        )

    @staticmethod
    async def resolve(conn: Connection, ids: list[int], status: Literal["retried", "skipped"]) -> None:
        await conn.execute(
            "UPDATE dead_letters SET status = $2, resolved_at = now() WHERE id = ANY($1::bigint[])", ids, status
        )
