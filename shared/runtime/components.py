"""The long-running parts of one service process, started in its lifespan, reported by ``/health/ready`` and
stopped in reverse order at shutdown — one definition instead of one per service."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import asyncpg
import structlog
from aiokafka import AIOKafkaProducer
from faststream.kafka import KafkaBroker

from shared.messaging.connection import KafkaConnection
from shared.messaging.consumer import IdempotentConsumer
from shared.messaging.relay import OutboxRelay
from shared.observability import probes
from shared.observability.metrics import service_metrics
from shared.runtime.bootstrap import Supervisor, database_ready
from shared.timers import TimerRunner

log = structlog.get_logger(__name__)

PROBE_TIMEOUT_S = 3.0
POOL_SAMPLE_INTERVAL_S = 5.0


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
        self._lag_probe: probes.ConsumerLagProbe | None = None
        self._lag_topics: list[str] = []
        # A service's own readiness checks, by name (reporting: whether its read model needs a rebuild).
        self.checks: dict[str, Callable[[], Awaitable[dict[str, Any]]]] = {}

    def run_relay(self, relay: OutboxRelay) -> None:
        self.relay = relay
        self.supervisor.start("relay", relay.run())

    def run_timers(self, timers: TimerRunner) -> None:
        self.timers = timers
        self.supervisor.start("timers", timers.run())

    async def start_consumer(self, broker: KafkaBroker, consumer: IdempotentConsumer, *,
                             kafka: KafkaConnection | None = None, topics: Sequence[str] = ()) -> None:
        """Start consuming; with ``kafka`` and ``topics``, ``/metrics`` reports the group's lag on
        them (the consumer's name is its group)."""
        self.broker, self.consumer = broker, consumer
        if kafka is not None and topics:
            self._lag_probe, self._lag_topics = probes.ConsumerLagProbe(kafka), list(topics)
        await broker.start()

    def watch_pool(self) -> None:
        """Keep this process's pool gauges fresh (each worker writes its own; a scrape sums them)."""
        self.supervisor.start("pool-metrics", self._sample_pool_forever())

    async def _sample_pool_forever(self) -> None:
        while True:
            self._sample_pool()
            await asyncio.sleep(POOL_SAMPLE_INTERVAL_S)

    def _sample_pool(self) -> None:
        if self.pool is None:
            return
        gauge = service_metrics().pool_connections
        size, idle = self.pool.get_size(), self.pool.get_idle_size()
        gauge.labels("in_use").set(size - idle)
        gauge.labels("idle").set(idle)
        gauge.labels("max").set(self.pool.get_max_size())

    async def sample_metrics(self) -> None:
        """Measure the lags for a scrape: relay (database), consumer groups (broker), dead letters, timers.
        A probe that fails or hangs counts in ``salesflow_metrics_sample_errors_total`` and leaves its gauges
        as they were; the scrape still answers."""
        self._sample_pool()
        if self.pool is None:
            return
        metrics = service_metrics()
        pool = self.pool

        async def relay() -> None:
            if self.relay is not None:
                lag = await probes.relay_lag(pool, self.relay.name)
                metrics.relay_events_behind.labels(self.relay.name).set(lag.events_behind)
                metrics.relay_oldest_unpublished_age.labels(self.relay.name).set(lag.oldest_unpublished_age_s)

        async def dead_letters() -> None:
            counts = await probes.open_dead_letters(pool)
            if self.consumer is not None:
                counts.setdefault(self.consumer.name, 0)
            for consumer, count in counts.items():
                metrics.dead_letters_open.labels(consumer).set(count)

        async def timers() -> None:
            if self.timers is not None:
                backlog = await probes.timer_backlog(pool)
                metrics.timers_due.set(backlog.due)
                metrics.timers_late.set(backlog.late_s)

        async def consumer_lag() -> None:
            if self._lag_probe is not None and self.consumer is not None:
                for p in await self._lag_probe.lag(self.consumer.name, self._lag_topics):
                    metrics.consumer_lag.labels(self.consumer.name, p.topic, str(p.partition)).set(p.lag)

        probes_by_name: dict[str, Callable[[], Awaitable[None]]] = {
            "relay": relay, "dead_letters": dead_letters, "timers": timers, "consumer_lag": consumer_lag}
        results = await asyncio.gather(
            *(asyncio.wait_for(probe(), PROBE_TIMEOUT_S) for probe in probes_by_name.values()),
            return_exceptions=True)
        for name, result in zip(probes_by_name, results, strict=True):
            if isinstance(result, BaseException):
                metrics.sample_errors.labels(name).inc()
                log.warning("metrics.sample_failed", probe=name, error=repr(result))

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
        for name, check in self.checks.items():
            try:
                checks[name] = await asyncio.wait_for(check(), PROBE_TIMEOUT_S)
            except Exception as exc:  # a failing check is an unready answer, not a 500 from the probe
                checks[name] = {"ok": False, "error": repr(exc)}
        return checks

    async def close(self) -> None:
        """Stop consuming first (no new work), then background tasks, then the producer and the pool."""
        if self.broker is not None:
            await self.broker.stop()
        await self.supervisor.stop()
        if self._lag_probe is not None:
            await self._lag_probe.close()
        if self.producer is not None:
            await self.producer.stop()
        if self.pool is not None:
            await self.pool.close()
