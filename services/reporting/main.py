"""Composition root of the reporting service: consumes every service's topic into read models and serves
reports over HTTP. ``python -m services.reporting``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from faststream.kafka import KafkaBroker
from pydantic_settings import SettingsConfigDict

from services.reporting.adapters.read_model import PostgresLeadsReadModel
from services.reporting.api import reporting_router
from services.reporting.app.projections import LeadsProjection
from services.reporting.app.queries import FunnelQuery
from shared.logs import configure_logging
from shared.messaging.consumer import IdempotentConsumer
from shared.messaging.dead_letters import DeadLetters
from shared.messaging.relay import make_producer
from shared.messaging.subscriber import subscribe_idempotent
from shared.messaging.topics import dead_letter_topic, ensure_topics
from shared.runtime.bootstrap import database_ready, prepare_database, serve
from shared.runtime.http import dead_letter_router, health_router, install_error_handlers
from shared.settings import KafkaSettings, ServiceSettings, load_settings

SERVICE = "reporting"
MIGRATIONS = Path(__file__).parent / "migrations"
SOURCE_SERVICES = ("leads",)


class ReportingSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="REPORTING_", extra="ignore", frozen=True)

    service_name: str = SERVICE
    http_port: int = 8004
    consumer_group: str = "reporting"
    batch_size: int = 500


def create_app(settings: ReportingSettings, kafka: KafkaSettings) -> FastAPI:
    state: dict[str, Any] = {}

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        topics = [kafka.topic(s) for s in SOURCE_SERVICES]
        pool = await prepare_database(settings.database_url, service=SERVICE, migrations=MIGRATIONS,
                                      min_size=settings.db_pool_min, max_size=settings.db_pool_max)
        await ensure_topics(kafka.kafka_bootstrap_servers, [*topics, *map(dead_letter_topic, topics)])
        producer = make_producer(kafka.kafka_bootstrap_servers, client_id=f"{SERVICE}-dlq")
        await producer.start()
        read_model = PostgresLeadsReadModel(pool)
        dead_letters = DeadLetters(consumer=settings.consumer_group, producer=producer)
        consumer = IdempotentConsumer(
            name=settings.consumer_group, pool=pool, handlers={},
            batch_handlers=LeadsProjection(read_model).batch_handlers(), dead_letters=dead_letters,
        )
        broker = KafkaBroker(kafka.kafka_bootstrap_servers, client_id=SERVICE, logger=None)
        subscribe_idempotent(broker, consumer, topics, group_id=settings.consumer_group,
                             max_records=settings.batch_size)
        await broker.start()
        state.update(pool=pool, broker=broker, consumer=consumer)
        app.include_router(reporting_router(funnel=FunnelQuery(read_model)))
        app.include_router(dead_letter_router(consumer, dead_letters, pool))
        try:
            yield
        finally:
            await broker.stop()
            await producer.stop()
            await pool.close()

    async def ready() -> dict[str, Any]:
        broker = state.get("broker")
        consumer = state.get("consumer")
        return {
            "database": "pool" in state and await database_ready(state["pool"]),
            "consumer": {"ok": broker is not None and bool(broker.running),
                         "applied": consumer.applied if consumer else 0},
        }

    app = FastAPI(title="salesflow reporting", version="1", lifespan=lifespan)
    install_error_handlers(app)
    app.include_router(health_router(ready))
    return app


def main() -> None:
    settings = load_settings(ReportingSettings)
    kafka = load_settings(KafkaSettings)
    configure_logging(SERVICE, settings.log_level, settings.log_json)
    serve(create_app(settings, kafka), host=settings.http_host, port=settings.http_port)
