"""Replaying topics through the idempotent consumer with set-based batch handlers (how read models rebuild)."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer

from shared.db import Connection
from shared.messaging.consumer import IdempotentConsumer
from shared.messaging.dead_letters import DeadLetters
from shared.messaging.inbound import InboundEvent
from shared.messaging.relay import make_producer
from shared.messaging.replay import replay_topics
from shared.messaging.topics import ensure_topics
from tests.integration.test_consumer import Counted, contracts, message, produce
from tests.support.infra import Infra

pytestmark = pytest.mark.integration


class BatchEffects:
    """A batch handler that inserts a whole run at once, and fails for ``failing`` values."""

    def __init__(self) -> None:
        self.failing: set[int] = set()
        self.runs: list[int] = []

    async def handle_run(self, tx: Connection, events: list[InboundEvent]) -> None:
        self.runs.append(len(events))
        values = [e.payload.n for e in events]  # type: ignore[attr-defined]
        await tx.execute("INSERT INTO effects (key, n) SELECT $1, unnest($2::int[])", events[0].key, values)
        if self.failing & set(values):
            raise ValueError("bad value in run")


@pytest.fixture
async def producer(infra: Infra) -> AsyncIterator[AIOKafkaProducer]:
    started = make_producer(infra.kafka, client_id="test-replay")
    await started.start()
    yield started
    await started.stop()


async def consumer_for(
    producer: AIOKafkaProducer, pool: asyncpg.Pool, name: str, effects: BatchEffects
) -> IdempotentConsumer:
    await pool.execute("CREATE TABLE IF NOT EXISTS effects (id serial PRIMARY KEY, key text, n int)")
    return IdempotentConsumer(
        name=name, pool=pool, handlers={}, batch_handlers={Counted.event_type: effects.handle_run},
        dead_letters=DeadLetters(consumer=name, producer=producer), contracts=contracts, retry_backoff=0.01,
    )


async def rows(pool: asyncpg.Pool) -> list[int]:
    return [r["n"] for r in await pool.fetch("SELECT n FROM effects ORDER BY id")]


async def test_a_replay_applies_every_record_once_and_a_second_replay_changes_nothing(
    infra: Infra, pool: asyncpg.Pool, unique: str, producer: AIOKafkaProducer
) -> None:
    await ensure_topics(infra.kafka, [unique], partitions=1)
    await produce(infra.kafka, unique, [message("k", n) for n in range(250)])
    effects = BatchEffects()
    consumer = await consumer_for(producer, pool, f"{unique}-c", effects)
    progress: list[tuple[int, int]] = []
    first = await replay_topics(infra.kafka, [unique], consumer, batch_size=100,
                                progress=lambda done, total: progress.append((done, total)))
    assert (first.records, first.applied) == (250, 250)
    assert await rows(pool) == list(range(250))
    assert max(effects.runs) > 1  # applied in runs, not one by one
    assert progress[-1] == (250, 250)
    assert progress == sorted(progress)  # batches are applied one after the other, in fetch order
    assert gc.isenabled()  # the replay pauses automatic garbage collection only while it runs
    second = await replay_topics(infra.kafka, [unique], consumer)
    assert (second.applied, second.duplicates) == (0, 250)
    assert await rows(pool) == list(range(250))


async def test_a_failing_run_is_redone_one_by_one_and_only_the_culprit_is_dead_lettered(
    infra: Infra, pool: asyncpg.Pool, unique: str, producer: AIOKafkaProducer
) -> None:
    await ensure_topics(infra.kafka, [unique], partitions=1)
    await produce(infra.kafka, unique, [message("a", 1), message("a", 2), message("b", 3), message("b", 4)])
    effects = BatchEffects()
    effects.failing = {2}
    consumer = await consumer_for(producer, pool, f"{unique}-c", effects)
    result = await replay_topics(infra.kafka, [unique], consumer)
    assert (result.applied, result.dead_lettered) == (3, 1)
    assert sorted(await rows(pool)) == [1, 3, 4]
    assert await pool.fetchval("SELECT count(*) FROM dead_letters WHERE kind = 'failed'") == 1
