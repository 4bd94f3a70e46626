"""The long-running parts of one service process, started in its lifespan, reported by ``/health/ready`` and
stopped in reverse order at shutdown — one definition instead of one per service."""

from __future__ import annotations

from typing import Any

import asyncpg
from aiokafka import AIOKafkaProducer
from faststream.kafka import KafkaBroker

from shared.messaging.consumer import IdempotentConsumer
from shared.messaging.relay import OutboxRelay
from shared.runtime.bootstrap import Supervisor, database_ready
from shared.timers import TimerRunner


class ServiceComponents:
    """Holds what a service started; each part is optional (reporting has no relay, orders no consumer)."""

    def __init__(self) -> None:
        self.supervisor = Supervisor()
        self.pool: asyncpg.Pool | None = None
        self.producer: AIOKafkaProducer | None = None
        self.relay: OutboxRelay | None = None
        self.timers: TimerRunner | None = None
        self.broker: KafkaBroker | None = None
        self.consumer: IdempotentConsumer | None = None

    def run_relay(self, relay: OutboxRelay) -> None:
        self.relay = relay
        self.supervisor.start("relay", relay.run())

    def run_timers(self, timers: TimerRunner) -> None:
        self.timers = timers
        self.supervisor.start("timers", timers.run())

    async def start_consumer(self, broker: KafkaBroker, consumer: IdempotentConsumer) -> None:
        self.broker, self.consumer = broker, consumer
        await broker.start()

    async def readiness(self) -> dict[str, Any]:
        """Checks for ``/health/ready``. The relay stays "ok" while its task runs even if Kafka is away:
        commands are still stored safely (the event table is the outbox), so the service can take traffic;
        ``last_error`` says why publishing lags."""
        tasks = self.supervisor.healthy()
        checks: dict[str, Any] = {"database": self.pool is not None and await database_ready(self.pool)}
        if self.relay is not None:
            checks["relay"] = {"ok": tasks.get("relay", False), "leader": self.relay.is_leader,
                               "published": self.relay.published, "last_error": self.relay.last_error}
        if self.timers is not None:
            checks["timers"] = {"ok": tasks.get("timers", False), "fired": self.timers.fired}
        if self.broker is not None and self.consumer is not None:
            checks["consumer"] = {"ok": bool(self.broker.running), "applied": self.consumer.applied}
        return checks

    async def close(self) -> None:
        """Stop consuming first (no new work), then background tasks, then the producer and the pool."""
        if self.broker is not None:
            await self.broker.stop()
        await self.supervisor.stop()
        if self.producer is not None:
            await self.producer.stop()
        if self.pool is not None:
            await self.pool.close()
