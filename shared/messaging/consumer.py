"""The idempotent consumer (DESIGN §3.3) with dead letters (DESIGN §3.4).

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
dead-lettered as ``parked`` instead of being applied out of order, until ops retry or skip the failed one.
Unknown event types are ignored (contracts rule: consumers ignore what they do not know).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol

import asyncpg
import structlog
from aiokafka.errors import KafkaError
from pydantic import ValidationError

from shared.contracts.base import ContractRegistry, IntegrationEvent
from shared.contracts.base import registry as default_registry
from shared.db import Connection
from shared.eventstore.errors import StreamOrderConflictError
from shared.logs import bind_message_context
from shared.messaging.dead_letters import DeadLetters
from shared.messaging.headers import EventHeaders, MalformedHeadersError

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


class KafkaRecord(Protocol):
    """What the consumer needs of a Kafka record (aiokafka's ConsumerRecord, or a stored dead letter)."""

    @property
    def topic(self) -> str: ...
    @property
    def partition(self) -> int: ...
    @property
    def offset(self) -> int: ...
    @property
    def key(self) -> bytes | None: ...
    @property
    def value(self) -> bytes | None: ...
    @property
    def headers(self) -> Sequence[tuple[str, bytes]]: ...


class InboundEvent(NamedTuple):
    """A parsed public event as handlers see it (a NamedTuple: one is built per consumed message)."""

    headers: EventHeaders
    payload: IntegrationEvent
    topic: str
    partition: int
    offset: int

    @property
    def key(self) -> str:
        return self.headers.subject


EventHandler = Callable[[Connection, InboundEvent], Awaitable[None]]
BatchEventHandler = Callable[[Connection, list[InboundEvent]], Awaitable[None]]
"""Applies a run of consecutive events at once (set-based SQL: what makes rebuilds fast). A run is a stretch of
events whose types are registered with the *same* batch handler, so a projection that registers one handler for
many types gets whole batches. It must have the same effect as applying the events one by one, in order."""


class PoisonMessageError(ValueError):
    """The record cannot be parsed into a known event; retrying cannot help."""


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
        self._pool = pool
        self._handlers = dict(handlers)
        self._batch_handlers = dict(batch_handlers or {})
        if overlap := set(self._handlers) & set(self._batch_handlers):
            raise ValueError(f"event types with both a handler and a batch handler: {sorted(overlap)}")
        self._dead_letters = dead_letters
        self._contracts = contracts
        self._max_attempts = max_attempts
        self._retry_backoff = retry_backoff
        self.applied = 0

    def parse(self, record: KafkaRecord) -> InboundEvent | None:
        """Parse a record; ``None`` for event types this consumer does not handle. Raises PoisonMessageError."""
        try:
            headers = EventHeaders.decode(record.headers)
        except MalformedHeadersError as exc:
            raise PoisonMessageError(str(exc)) from None
        if headers.event_type not in self._handlers and headers.event_type not in self._batch_handlers:
            return None
        try:
            # pydantic parses the JSON bytes itself (in Rust): one pass instead of orjson.loads + validation.
            payload = self._contracts.parse_json(headers.event_type, headers.schema_version, record.value or b"")
        except ValidationError as exc:
            if any(e["type"] == "json_invalid" for e in exc.errors()):
                raise PoisonMessageError(f"value is not JSON: {exc.errors(include_url=False)[0]['msg']}") from None
            raise PoisonMessageError(f"payload does not match {headers.event_type} "
                                     f"v{headers.schema_version}: {exc.errors(include_url=False)}") from None
        if payload is None:  # a version of the type this build does not know
            return None
        return InboundEvent(headers, payload, record.topic, record.partition, record.offset)

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
        parse = self.parse
        for record in records:
            try:
                items.append(_Item(record, parse(record)))
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
        async with self._pool.acquire() as conn, conn.transaction():
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
            parked = set(await self._dead_letters.open_keys(conn, keys))
            run: list[InboundEvent] = []  # consecutive events of one batch-handled type, applied together
            for item in items:
                key = item.key
                if item.poison is not None:
                    await self._dead_letters.record(conn, item.record, reason=item.poison, attempts=1, kind="failed")
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
                    await self._dead_letters.record(
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
                        await self._dead_letters.record(
                            conn, item.record, reason=error, attempts=self._max_attempts, kind="failed"
                        )
                        parked.add(event.key)
                        released.append(event_id)
                        dead += 1
                        continue
                elif handler is not None:
                    run.append(event)
                else:
                    await self._handle(conn, event)
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

    async def _handle(self, conn: Connection, event: InboundEvent) -> None:
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
                    await self._handle(conn, event)
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

    # --- operations on dead letters (exposed by each service's admin API) ---

    async def retry_dead_letter(self, dead_letter_id: int) -> int:
        """Re-apply a dead letter and the messages parked behind it, in their original order, all in one
        transaction: if any still fails, nothing changes and the error is raised. Returns how many applied."""
        async with self._pool.acquire() as conn, conn.transaction():
            head, followers = await self._dead_letters.chain(conn, dead_letter_id)
            applied = await self._replay(conn, [head, *followers])
            await self._dead_letters.resolve(conn, [head["id"], *(f["id"] for f in followers)], "retried")
        return applied

    async def skip_dead_letter(self, dead_letter_id: int) -> int:
        """Give up on a dead letter for good and release the messages parked behind it (applied in order)."""
        async with self._pool.acquire() as conn, conn.transaction():
            head, followers = await self._dead_letters.chain(conn, dead_letter_id)
            await self._dead_letters.resolve(conn, [head["id"]], "skipped")
            applied = await self._replay(conn, followers)
            await self._dead_letters.resolve(conn, [f["id"] for f in followers], "retried")
        return applied

    async def _replay(self, conn: Connection, rows: Sequence[asyncpg.Record]) -> int:
        applied = 0
        for row in rows:
            event = self.parse(self._dead_letters.as_record(row))
            if event is None:
                continue
            inserted = await conn.fetchval(
                "INSERT INTO processed_messages (consumer, event_id) VALUES ($1, $2) "
                "ON CONFLICT DO NOTHING RETURNING true", self.name, event.headers.event_id,
            )
            if inserted:
                await self._handle(conn, event)
                applied += 1
        return applied
