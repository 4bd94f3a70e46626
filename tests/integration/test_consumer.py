"""The idempotent consumer and dead letters, fed by a real Kafka broker through FastStream."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from typing import Any, ClassVar

import asyncpg
import orjson
import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from faststream.kafka import KafkaBroker

from shared.contracts.base import ContractRegistry, IntegrationEvent
from shared.messaging.connection import KafkaConnection
from shared.messaging.consumer import BatchResult, IdempotentConsumer
from shared.messaging.dead_letter_operations import DeadLetterOperations
from shared.messaging.dead_letters import DeadLetters
from shared.messaging.headers import EventHeaders
from shared.messaging.inbound import InboundEvent, KafkaRecord
from shared.messaging.relay import make_producer
from shared.messaging.subscriber import subscribe_idempotent
from shared.messaging.topics import dead_letter_topic, ensure_topics
from tests.support.infra import Infra
from tests.support.kafka import header, read_topic
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration

contracts = ContractRegistry()


class Counted(IntegrationEvent):
    event_type: ClassVar[str] = "salesflow.test.Counted"
    schema_version: ClassVar[int] = 1
    producer: ClassVar[str] = "test"
    n: int


contracts.add(Counted)


def message(key: str, n: int | None = None, *, event_id: uuid.UUID | None = None, value: bytes | None = None,
            event_type: str = Counted.event_type) -> tuple[bytes, bytes, list[tuple[str, bytes]]]:
    headers = EventHeaders(event_id=event_id or uuid.uuid4(), event_type=event_type, schema_version=1,
                           source="salesflow/test", subject=key, time=datetime.now(UTC),
                           correlation_id="corr").encode()
    return key.encode(), value if value is not None else orjson.dumps({"n": n}), headers


async def produce(
    kafka: KafkaConnection, topic: str, messages: Sequence[tuple[bytes, bytes, list[tuple[str, bytes]]]]
) -> None:
    producer = AIOKafkaProducer(**kafka.client_options(), enable_idempotence=True)
    await producer.start()
    try:
        for key, value, headers in messages:
            await producer.send_and_wait(topic, value, key=key, headers=headers)
    finally:
        await producer.stop()


class Effects:
    """The consumer's effect: one row per applied event. ``failing`` values raise in the handler."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool
        self.failing: set[int] = set()
        self.calls: dict[int, int] = {}

    async def handle(self, tx: asyncpg.Connection, event: InboundEvent) -> None:
        n = event.payload.n  # type: ignore[attr-defined]
        self.calls[n] = self.calls.get(n, 0) + 1
        await tx.execute("INSERT INTO effects (key, n) VALUES ($1, $2)", event.key, n)
        if n in self.failing:
            raise ValueError(f"handler bug for n={n}")

    async def rows(self) -> list[tuple[str, int]]:
        return [(r["key"], r["n"]) for r in await self.pool.fetch("SELECT key, n FROM effects ORDER BY id")]


class FlakyOnceConsumer(IdempotentConsumer):
    """Commits its first batch's effects, then fails before the offset commit: Kafka must redeliver."""

    batches = 0
    duplicates_seen = 0

    async def process_batch(self, records: Sequence[KafkaRecord]) -> BatchResult:
        result = await super().process_batch(records)
        self.batches += 1
        self.duplicates_seen += result.duplicates
        if self.batches == 1:
            raise ConnectionResetError("simulated crash after the database commit, before the offset commit")
        return result


class GatedConsumer(IdempotentConsumer):
    """Holds every batch, before its transaction begins, until the test opens that batch's gate."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.gates: list[asyncio.Event] = []

    async def process_batch(self, records: Sequence[KafkaRecord], *, durable: bool = True) -> BatchResult:
        gate = asyncio.Event()
        self.gates.append(gate)
        await gate.wait()
        return await super().process_batch(records, durable=durable)


@contextlib.asynccontextmanager
async def consuming(infra: Infra, pool: asyncpg.Pool, topic: str, effects: Effects,
                    consumer_cls: type[IdempotentConsumer] = IdempotentConsumer,
                    **subscribe: Any) -> AsyncIterator[IdempotentConsumer]:
    await pool.execute("CREATE TABLE IF NOT EXISTS effects (id serial PRIMARY KEY, key text, n int)")
    await ensure_topics(infra.kafka, [topic, dead_letter_topic(topic)])
    producer = make_producer(infra.kafka, client_id="test-dlq")
    await producer.start()
    consumer = consumer_cls(
        name=f"{topic}-consumer", pool=pool, handlers={Counted.event_type: effects.handle},
        dead_letters=DeadLetters(consumer=f"{topic}-consumer", producer=producer), contracts=contracts,
        retry_backoff=0.01,
    )
    broker = KafkaBroker(infra.kafka.bootstrap_servers, logger=None, security=infra.kafka.faststream_security())
    subscribe_idempotent(broker, consumer, [topic], group_id=f"{topic}-group", transient_backoff=0.05, **subscribe)
    await broker.start()
    try:
        yield consumer
    finally:
        await broker.stop()
        await producer.stop()


async def test_a_redelivered_batch_has_no_second_effect(infra: Infra, pool: asyncpg.Pool, unique: str) -> None:
    effects = Effects(pool)
    await produce(infra.kafka, unique, [message("k", n) for n in (1, 2, 3)])
    async with consuming(infra, pool, unique, effects, FlakyOnceConsumer) as consumer:
        await eventually(lambda: _applied_and_duplicates(consumer), until=lambda r: r == (3, r[1]) and r[1] >= 1,
                         what="a redelivered batch")
    assert isinstance(consumer, FlakyOnceConsumer)
    assert consumer.duplicates_seen >= 1  # Kafka really redelivered what the first batch had applied
    assert sorted(await effects.rows()) == [("k", 1), ("k", 2), ("k", 3)]
    assert consumer.applied == 3  # the redelivered events were recognised, not re-applied
    assert await pool.fetchval("SELECT count(*) FROM processed_messages") == 3


async def committed_offset(infra: Infra, group: str, topic: str) -> int | None:
    """The group's committed offset of the topic's partition that holds the test's one key (None: none yet)."""
    admin = AIOKafkaAdminClient(**infra.kafka.client_options())
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(group)
    finally:
        await admin.close()
    found = [o.offset for tp, o in offsets.items() if tp.topic == topic and o.offset >= 0]
    assert len(found) <= 1  # one key: one partition
    return found[0] if found else None


async def test_offsets_are_committed_after_the_batch_s_transaction_and_never_past_a_batch_being_applied(
    infra: Infra, pool: asyncpg.Pool, unique: str
) -> None:
    # Offsets are committed together every commit_interval, not per batch. What is committed must be the offsets of
    # batches already applied, not the consumer's position: that runs ahead as soon as the next batch is fetched.
    effects = Effects(pool)
    await produce(infra.kafka, unique, [message("k", n) for n in (1, 2)])
    group = f"{unique}-group"
    async with consuming(infra, pool, unique, effects, GatedConsumer, max_records=1, commit_interval=0.05) as c:
        assert isinstance(c, GatedConsumer)
        await eventually(lambda: asyncio.sleep(0, len(c.gates)), until=lambda n: n == 1, what="the first batch")
        assert await committed_offset(infra, group, unique) is None  # its transaction has not even begun
        c.gates[0].set()
        # The second batch is fetched (the position is now 2) and held before its transaction.
        await eventually(lambda: asyncio.sleep(0, len(c.gates)), until=lambda n: n == 2, what="the second batch")
        assert await eventually(lambda: committed_offset(infra, group, unique), until=lambda o: o is not None,
                                what="the first batch's offset commit") == 1
        assert await effects.rows() == [("k", 1)]
        c.gates[1].set()
        assert await eventually(lambda: committed_offset(infra, group, unique), until=lambda o: o == 2,
                                what="the second batch's offset commit") == 2
    assert await effects.rows() == [("k", 1), ("k", 2)]


async def test_a_graceful_stop_commits_the_processed_offsets_at_once(
    infra: Infra, pool: asyncpg.Pool, unique: str
) -> None:
    # With an interval far longer than the test, only the stop can have committed the offset.
    effects = Effects(pool)
    await produce(infra.kafka, unique, [message("k", n) for n in (1, 2)])
    async with consuming(infra, pool, unique, effects, commit_interval=600) as consumer:
        await eventually(lambda: asyncio.sleep(0, consumer.applied), until=lambda n: n == 2, what="both applied")
        assert await committed_offset(infra, f"{unique}-group", unique) is None
    assert await committed_offset(infra, f"{unique}-group", unique) == 2


async def _applied_and_duplicates(consumer: IdempotentConsumer) -> tuple[int, int]:
    return consumer.applied, getattr(consumer, "duplicates_seen", 0)


async def test_the_same_event_published_twice_is_applied_once(infra: Infra, pool: asyncpg.Pool, unique: str) -> None:
    effects = Effects(pool)
    event_id = uuid.uuid4()
    await produce(infra.kafka, unique,
                  [message("k", 1, event_id=event_id), message("k", 1, event_id=event_id), message("k", 2)])
    async with consuming(infra, pool, unique, effects):
        await eventually(effects.rows, until=lambda rows: ("k", 2) in rows, what="the last event")
    assert await effects.rows() == [("k", 1), ("k", 2)]


async def test_a_poison_message_goes_to_the_dead_letter_topic_and_the_consumer_carries_on(
    infra: Infra, pool: asyncpg.Pool, unique: str
) -> None:
    effects = Effects(pool)
    await produce(infra.kafka, unique, [message("bad", value=b"{not json"), message("good", 7)])
    async with consuming(infra, pool, unique, effects):
        await eventually(effects.rows, until=lambda rows: rows == [("good", 7)], what="the good message")
        dead = await read_topic(infra.kafka, dead_letter_topic(unique), expect=1)
    assert dead[0].key == b"bad"
    assert dead[0].value == b"{not json"
    assert "value is not JSON" in (header(dead[0], "dlq_reason") or "")
    assert header(dead[0], "dlq_topic") == unique
    assert header(dead[0], "dlq_offset") is not None
    assert header(dead[0], "ce_type") == Counted.event_type  # the original headers travel along


async def test_a_failing_handler_is_retried_then_dead_lettered_and_later_messages_of_its_key_are_parked(
    infra: Infra, pool: asyncpg.Pool, unique: str
) -> None:
    effects = Effects(pool)
    effects.failing = {13}
    await produce(infra.kafka, unique,
                  [message("k1", 1), message("k1", 13), message("k1", 2), message("k2", 5)])
    async with consuming(infra, pool, unique, effects) as consumer:
        await eventually(effects.rows, until=lambda rows: ("k1", 1) in rows and ("k2", 5) in rows,
                         what="the healthy messages")
        await eventually(lambda: _dead_letters(pool), until=lambda d: len(d) == 2, what="two dead letters")
        letters = await _dead_letters(pool)
        assert [(d["kind"], d["attempts"]) for d in letters] == [("failed", 3), ("parked", 0)]
        assert "handler bug for n=13" in letters[0]["reason"]
        assert sorted(await effects.rows()) == [("k1", 1), ("k2", 5)]  # 13's effect rolled back, 2 parked

        effects.failing.clear()  # ops fixed the bug: retry the failed one and release what waited behind it
        assert (await DeadLetterOperations(consumer).retry(letters[0]["id"])).applied == 2
    assert [n for key, n in await effects.rows() if key == "k1"] == [1, 13, 2]
    assert {d["status"] for d in await _dead_letters(pool)} == {"retried"}
    dlq = await read_topic(infra.kafka, dead_letter_topic(unique), expect=2)
    assert [header(r, "dlq_kind") for r in dlq] == ["failed", "parked"]


async def test_event_types_the_consumer_does_not_know_are_ignored(
    infra: Infra, pool: asyncpg.Pool, unique: str
) -> None:
    effects = Effects(pool)
    await produce(infra.kafka, unique,
                  [message("k", 1, event_type="salesflow.test.SomethingNew"), message("k", 2)])
    async with consuming(infra, pool, unique, effects):
        await eventually(effects.rows, until=lambda rows: rows == [("k", 2)], what="the known event")
    assert await pool.fetchval("SELECT count(*) FROM dead_letters") == 0


async def _dead_letters(pool: asyncpg.Pool) -> list[dict[str, Any]]:
    rows = await pool.fetch("SELECT id, kind, attempts, reason, status FROM dead_letters ORDER BY id")
    return [dict(r) for r in rows]


async def test_a_message_beyond_the_contracts_size_bound_is_dead_lettered_not_applied(
    infra: Infra, pool: asyncpg.Pool, unique: str
) -> None:
    effects = Effects(pool)
    oversized = b'{"n": 1, "name": "' + b"x" * 900_000 + b'"}'
    await produce(infra.kafka, unique, [message("big", value=oversized), message("good", 7)])
    async with consuming(infra, pool, unique, effects):
        await eventually(effects.rows, until=lambda rows: rows == [("good", 7)], what="the good message")
        dead = await read_topic(infra.kafka, dead_letter_topic(unique), expect=1)
    assert dead[0].key == b"big"
    assert "bytes; at most" in (header(dead[0], "dlq_reason") or "")
    assert await effects.rows() == [("good", 7)]
