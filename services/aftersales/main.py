"""Composition root of the after-sales service: settings → database → relay + timer runner + consumer → HTTP.
``python -m services.aftersales``."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from faststream.kafka import KafkaBroker
from pydantic import Field
from pydantic_settings import SettingsConfigDict

from services.aftersales.adapters.publishing import to_public_message
from services.aftersales.adapters.queries import PostgresCareQueries
from services.aftersales.adapters.repository import EventSourcedAftersales, postgres_aftersales_units_of_work
from services.aftersales.api import AftersalesHandlers, aftersales_router
from services.aftersales.app import commands as cmd
from services.aftersales.app.reactions import AftersalesReactions
from services.aftersales.app.timer_handlers import AftersalesTimers
from services.aftersales.app.timers import timer_plans
from services.aftersales.domain.policy import policy_from_dict
from shared.eventstore.store import PostgresEventStore
from shared.messaging.consumer import IdempotentConsumer
from shared.messaging.dead_letters import DeadLetters
from shared.messaging.relay import OutboxRelay, make_producer
from shared.messaging.subscriber import subscribe_idempotent
from shared.messaging.topics import dead_letter_topic, ensure_topics
from shared.runtime.bootstrap import prepare_database, run_service
from shared.runtime.clock import new_id, system_clock
from shared.runtime.components import ServiceComponents
from shared.runtime.http import dead_letter_router
from shared.runtime.service_app import service_app
from shared.settings import KafkaSettings, ServiceSettings
from shared.timers import TimerRunner

SERVICE = "aftersales"
MIGRATIONS = Path(__file__).parent / "migrations"
DEFAULT_CONFIG = Path(__file__).parent / "config" / "aftersales.json"
SOURCE_SERVICES = ("orders", "leads")  # Delivered from orders; LeadCreated (referral leads) from leads


class AftersalesSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="AFTERSALES_", extra="ignore", frozen=True)

    service_name: str = SERVICE
    http_port: int = 8003
    consumer_group: str = "aftersales"  # the Kafka group id only: processed ids and dead letters are kept under SERVICE
    batch_size: int = 200
    relay_poll_interval: float = 1.0
    timer_poll_interval: float = 1.0
    config_file: Path = Field(default=DEFAULT_CONFIG, description="care template, score scale, SLA, points rules")
    clock_offset_seconds: float = Field(
        default=0.0, description="shifts the service's clock (tests, drills): timers fire as if it were later")




def create_app(settings: AftersalesSettings, kafka: KafkaSettings) -> FastAPI:
    config: dict[str, Any] = json.loads(settings.config_file.read_text())
    policy = policy_from_dict(config)  # fail at start-up, not at the first delivery, if the data is bad
    clock = system_clock(settings.clock_offset_seconds)
    parts = ServiceComponents()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        own_topic = kafka.topic(SERVICE)
        sources = [kafka.topic(s) for s in SOURCE_SERVICES]
        pool = await prepare_database(settings.database_url, service=SERVICE, migrations=MIGRATIONS,
                                      min_size=settings.db_pool_min, max_size=settings.db_pool_max)
        await ensure_topics(kafka.connection,
                            [own_topic, dead_letter_topic(own_topic), *sources, *map(dead_letter_topic, sources)])
        producer = make_producer(kafka.connection, client_id=f"{SERVICE}-relay")
        await producer.start()
        store = EventSourcedAftersales(pool)
        units_of_work = postgres_aftersales_units_of_work(pool, PostgresEventStore(pool), timer_plans)
        relay = OutboxRelay(dsn=settings.database_url, producer=producer, topic=own_topic,
                            translate=to_public_message, name=SERVICE, poll_interval=settings.relay_poll_interval)
        timers = TimerRunner(pool=pool, handlers=AftersalesTimers(unit_of_work=units_of_work, clock=clock).handlers(),
                             clock=clock, poll_interval=settings.timer_poll_interval)
        dead_letters = DeadLetters(consumer=SERVICE, producer=producer)
        consumer = IdempotentConsumer(
            name=SERVICE, pool=pool, dead_letters=dead_letters,
            handlers=AftersalesReactions(unit_of_work=units_of_work, clock=clock, policy=policy).handlers(),
        )
        broker = KafkaBroker(kafka.kafka_bootstrap_servers, client_id=SERVICE, logger=None,
                             security=kafka.connection.faststream_security())
        subscribe_idempotent(broker, consumer, sources, group_id=settings.consumer_group,
                             max_records=settings.batch_size)
        parts.run_relay(relay)
        parts.run_timers(timers)
        await parts.start_consumer(broker, consumer, kafka=kafka.connection, topics=sources)
        parts.pool, parts.producer = pool, producer
        parts.watch_pool()

        def handler(cls: type[cmd.HandlerT]) -> cmd.HandlerT:
            return cls(unit_of_work=units_of_work, clock=clock, new_id=new_id, policy=policy)

        app.include_router(aftersales_router(
            handlers=AftersalesHandlers(
                complete_visit=handler(cmd.CompleteReturnVisitHandler),
                close_follow_up=handler(cmd.CloseSatisfactionFollowUpHandler),
                open_complaint=handler(cmd.OpenComplaintHandler),
                acknowledge_complaint=handler(cmd.AcknowledgeComplaintHandler),
                resolve_complaint=handler(cmd.ResolveComplaintHandler),
                reopen_complaint=handler(cmd.ReopenComplaintHandler),
                register_referral=handler(cmd.RegisterReferralHandler),
                redeem_points=handler(cmd.RedeemPointsHandler),
            ),
            store=store, history=store, queries=PostgresCareQueries(pool), clock=clock, config=config,
        ))
        app.include_router(dead_letter_router(consumer, dead_letters, pool))
        try:
            yield
        finally:
            await parts.close()

    return service_app(SERVICE, settings=settings, parts=parts, lifespan=lifespan)


def main() -> None:
    run_service(SERVICE, AftersalesSettings, create_app)
