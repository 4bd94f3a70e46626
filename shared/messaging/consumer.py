"""The idempotent batch consumer (DESIGN §3.3) with dead letters (DESIGN §3.4).

Three modules share the work: ``inbound`` decodes records (pure), this module applies batches, and
``dead_letter_operations`` re-applies or skips what was dead-lettered (ops).

Delivery from Kafka is at-least-once. For each batch of records the consumer opens one database transaction,
records the batch's event ids as processed (one statement, which also tells which ones were processed before:
those are skipped), applies the handlers *in the same transaction* and commits; only then is the Kafka offset
committed (by the caller: see ``shared.messaging.subscriber``). A crash anywhere before the database commit
redelivers the batch and redoes it; a crash after it redelivers events whose ids are recorded, which are
skipped. So every effect happens once.

Failures are sorted into three kinds:

* **transient** (database unreachable, serialization conflicts): the exception propagates, the batch is rolled
  back and redelivered; nothing is dead-lettered for a broken database;
* **poison** (headers or payload that do not parse): dead-lettered at once, retrying cannot help;
* **handler errors**: the batch is redone message by message inside savepoints, each failing message retried
  ``max_attempts`` times, then dead-lettered while the others commit.

A dead-lettered message *parks* its key: later messages with the same key (the same aggregate) are
dead-lettered as ``parked`` instead of being applied out of order, until ops retry or skip the failed one
(``shared.messaging.dead_letter_operations``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg
import structlog
from aiokafka.errors import KafkaError

from shared.contracts.base import ContractRegistry
from shared.contracts.base import registry as default_registry
from shared.db import Connection
from shared.eventstore.errors import StreamOrderConflictError
from shared.logs import bind_message_context
from shared.messaging.dead_letters import DeadLetters
from shared.messaging.inbound import (
    BatchEventHandler,
    EventHandler,
    InboundDecoder,
    InboundEvent,
    KafkaRecord,
    PoisonMessageError,
)

log = structlog.get_logger(__name__)

# Errors that say nothing about the message: retry the whole batch later instead of dead-lettering.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    KafkaError,  # publishing a dead letter failed: the broker is the problem, not the message
    asyncpg.InterfaceError,
    asyncpg.PostgresConnectionError,
    asyncpg.TransactionRollbackError,
    asyncpg.CannotConnectNowError,
    StreamOrderConflictError,
)


@dataclass(slots=True)
class _Item:
    record: KafkaRecord
    event: InboundEvent | None  # None: ignored (unknown type) or poison
    poison: str | None = None
    key: str | None = None

    def __post_init__(self) -> None:
        raw = self.record.key
        self.key = raw.decode("utf-8", "replace") if raw is not None else None


@dataclass(frozen=True, slots=True)
class PreparedBatch:
    """Records parsed by :meth:`IdempotentConsumer.prepare`, ready for :meth:`IdempotentConsumer.apply_prepared`."""

    items: list[_Item]


@dataclass(frozen=True, slots=True)
class BatchResult:
    applied: int
    duplicates: int
    ignored: int
    dead_lettered: int


class IdempotentConsumer:
    """Applies public events to a service's database exactly once per event id."""

    def __init__(
        self,
        *,
        name: str,
        pool: asyncpg.Pool,
        handlers: Mapping[str, EventHandler],
        dead_letters: DeadLetters,
        batch_handlers: Mapping[str, BatchEventHandler] | None = None,
        contracts: ContractRegistry = default_registry,
        max_attempts: int = 3,
        retry_backoff: float = 0.05,
    ) -> None:
        self.name = name
        self._handlers = dict(handlers)
        self._batch_handlers = dict(batch_handlers or {})
        if overlap := set(self._handlers) & set(self._batch_handlers):
            raise ValueError(f"event types with both a handler and a batch handler: {sorted(overlap)}")
        self.dead_letters = dead_letters
        self.pool = pool
        self.decoder = InboundDecoder({*self._handlers, *self._batch_handlers}, contracts)
        self._max_attempts = max_attempts
        self._retry_backoff = retry_backoff
        self.applied = 0

    async def process_batch(self, records: Sequence[KafkaRecord], *, durable: bool = True) -> BatchResult:
        """Apply a batch in one transaction. Returns counts; raises only transient errors (redeliver).

        ``durable=False`` commits without waiting for the WAL flush (``synchronous_commit = off``). Only for
        callers that do not commit Kafka offsets, like a replay: if the server crashes and loses the last
        commits, their event ids are lost with their effects and the next replay applies them again. A live
        subscriber must stay durable, because it commits offsets right after this returns."""
        return await self.apply_prepared(self.prepare(records), durable=durable)

    def prepare(self, records: Sequence[KafkaRecord]) -> PreparedBatch:
        """The CPU half of :meth:`process_batch`: parse the records, touching no database. A replay prepares the
        next batch while the previous one is being written (see ``shared.messaging.replay``)."""
        items = []
        decode = self.decoder.decode
        for record in records:
            try:
                items.append(_Item(record, decode(record)))
            except PoisonMessageError as exc:
                items.append(_Item(record, None, poison=str(exc)))
        return PreparedBatch(items)

    async def apply_prepared(self, batch: PreparedBatch, *, durable: bool = True) -> BatchResult:
        """The database half of :meth:`process_batch` (same contract): one transaction for the whole batch."""
        items = batch.items
        try:
            return await self._apply(items, isolate_failures=False, durable=durable)
        except TRANSIENT_ERRORS:
            raise
        except Exception as exc:  # a handler failed: redo one by one so only the culprit is dead-lettered
            log.warning("consumer.batch_failed", consumer=self.name, error=repr(exc), size=len(items))
            return await self._apply(items, isolate_failures=True, durable=durable)

    async def _apply(self, items: list[_Item], *, isolate_failures: bool, durable: bool) -> BatchResult:
        applied = duplicates = ignored = dead = 0
        async with self.pool.acquire() as conn, conn.transaction():
            if not durable:
                await conn.execute("SET LOCAL synchronous_commit TO off")
            ids = [i.event.headers.event_id for i in items if i.event is not None]
            # Claim the batch's event ids up front, in one statement: the ids inserted now are the ones not
            # processed before (a concurrent consumer of the same name waits on our rows, then sees them as
            # duplicates). Ids claimed but not applied (dead-lettered, parked) are released before the commit.
            fresh = set(await conn.fetchval(
                "WITH claimed AS (INSERT INTO processed_messages (consumer, event_id) "
                "SELECT $1, unnest($2::uuid[]) ON CONFLICT DO NOTHING RETURNING event_id) "
                "SELECT coalesce(array_agg(event_id), '{}') FROM claimed", self.name, ids,
            )) if ids else set()
            released: list[Any] = []
            keys = list({i.key for i in items if i.key is not None})
            parked = set(await self.dead_letters.open_keys(conn, keys))
            run: list[InboundEvent] = []  # consecutive events of one batch-handled type, applied together
            for item in items:
                key = item.key
                if item.poison is not None:
                    await self.dead_letters.record(conn, item.record, reason=item.poison, attempts=1, kind="failed")
                    if key is not None:
                        parked.add(key)
                    dead += 1
                    continue
                event = item.event
                if event is None:
                    ignored += 1
                    continue
                event_id = event.headers.event_id
                if event_id not in fresh:  # processed before, or earlier in this batch
                    duplicates += 1
                    continue
                fresh.discard(event_id)
                if key is not None and key in parked:
                    await self.dead_letters.record(
                        conn, item.record, reason="parked behind an earlier dead letter of the same key",
                        attempts=0, kind="parked",
                    )
                    released.append(event_id)
                    dead += 1
                    continue
                event_type = event.headers.event_type
                handler = self._batch_handlers.get(event_type)
                # Bound methods compare equal (not identical) when they are the same method of the same object.
                if run and (isolate_failures or handler != self._batch_handlers[run[0].headers.event_type]):
                    await self._apply_run(conn, run)
                    run = []
                if isolate_failures:
                    error = await self._apply_isolated(conn, event)
                    if error is not None:
                        await self.dead_letters.record(
                            conn, item.record, reason=error, attempts=self._max_attempts, kind="failed"
                        )
                        parked.add(event.key)
                        released.append(event_id)
                        dead += 1
                        continue
                elif handler is not None:
                    run.append(event)
                else:
                    await self.handle(conn, event)
                applied += 1
            if run:
                await self._apply_run(conn, run)
            if released:  # not applied: a later retry (ops) or redelivery must still find them unprocessed
                await conn.execute(
                    "DELETE FROM processed_messages WHERE consumer = $1 AND event_id = ANY($2::uuid[])",
                    self.name, released,
                )
        self.applied += applied
        return BatchResult(applied, duplicates, ignored, dead)

    async def handle(self, conn: Connection, event: InboundEvent) -> None:
        """Apply one event with its handler, in the caller's transaction (no duplicate check: see
        :mod:`shared.messaging.dead_letter_operations` for a caller that claims the id itself)."""
        with bind_message_context(
            event.headers.correlation_id, str(event.headers.event_id), event_type=event.headers.event_type
        ):
            handler = self._handlers.get(event.headers.event_type)
            if handler is not None:
                await handler(conn, event)
            else:
                await self._batch_handlers[event.headers.event_type](conn, [event])

    async def _apply_run(self, conn: Connection, run: list[InboundEvent]) -> None:
        await self._batch_handlers[run[0].headers.event_type](conn, run)

    async def _apply_isolated(self, conn: Connection, event: InboundEvent) -> str | None:
        """Try one event up to max_attempts times in savepoints; the last error's text if all failed."""
        error = "unknown"
        for attempt in range(1, self._max_attempts + 1):
            try:
                async with conn.transaction():  # a savepoint inside the batch transaction
                    await self.handle(conn, event)
                return None
            except TRANSIENT_ERRORS:
                raise
            except Exception as exc:
                error = f"{type(exc).__name__}: {exc}"
                log.warning("consumer.handler_failed", consumer=self.name, attempt=attempt, error=error,
                            event_id=str(event.headers.event_id))
                if attempt < self._max_attempts:
                    await asyncio.sleep(self._retry_backoff * attempt)
        return error
