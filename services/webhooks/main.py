"""Composition root of the webhooks service: settings → database → consumer of the public topics (fan-out to the
delivery queue, and the notification rules) + the webhook and notification dispatchers → HTTP.
``python -m services.webhooks``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from fastapi import FastAPI
from faststream.kafka import KafkaBroker
from pydantic_settings import SettingsConfigDict

from services.webhooks.adapters.sender import HttpSender
from services.webhooks.adapters.store import PostgresDeliveryQueue, PostgresSubscriptions, enqueue
from services.webhooks.api import webhooks_router
from services.webhooks.app.dispatch import Dispatcher, RetryPolicy
from services.webhooks.app.fanout import Fanout
from services.webhooks.notifications.adapters.channels import RobotSender, SmtpSender
from services.webhooks.notifications.adapters.store import (
    PostgresDigestSource,
    PostgresDirectory,
    PostgresNotificationLog,
    PostgresRecipients,
)
from services.webhooks.notifications.api import notifications_router
from services.webhooks.notifications.app.delivering import NotificationDispatcher
from services.webhooks.notifications.app.digests import DigestRunner
from services.webhooks.notifications.app.raising import NotificationRaiser
from services.webhooks.notifications.domain.digest import DigestSchedule
from services.webhooks.notifications.domain.quiet_hours import QuietHours
from shared.contracts import registry
from shared.messaging.consumer import IdempotentConsumer
from shared.messaging.dead_letters import DeadLetters
from shared.messaging.inbound import EventHandler, InboundEvent
from shared.messaging.relay import make_producer
from shared.messaging.subscriber import subscribe_idempotent
from shared.messaging.topics import dead_letter_topic, ensure_topics
from shared.runtime.bootstrap import prepare_database, run_service
from shared.runtime.clock import new_id, system_clock
from shared.runtime.components import ServiceComponents
from shared.runtime.http import dead_letter_router
from shared.runtime.service_app import service_app
from shared.settings import KafkaSettings, ServiceSettings

SERVICE = "webhooks"
MIGRATIONS = Path(__file__).parent / "migrations"
SOURCE_SERVICES = ("leads", "orders", "aftersales")
"""The public topics whose events can be subscribed to."""


class WebhooksSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="WEBHOOKS_", extra="ignore", frozen=True)

    service_name: str = SERVICE
    http_port: int = 8005
    consumer_group: str = "webhooks"  # the Kafka group id only: processed ids and dead letters are kept under SERVICE
    poll_interval: float = 0.5
    http_timeout: float = 10.0
    attempts_per_round: int = 3
    attempt_wait_seconds: float = 0.2
    attempt_wait_max_seconds: float = 2.0
    round_backoff_seconds: float = 5.0
    round_backoff_max_seconds: float = 3600.0
    max_rounds: int = 8
    # Notifications (services/webhooks/notifications): the department's time zone and default quiet hours
    # ("HH:MM-HH:MM" local, "" none), and the SMTP relay the e-mails go through.
    notify_timezone: str = "Asia/Shanghai"
    notify_quiet_hours: str = "22:00-08:00"
    notify_digest_at: str = "18:00"  # the managers' daily digest, local time ("" none)
    notify_digest_poll_interval: float = 30.0
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 25
    smtp_sender: str = "salesflow@localhost"
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_starttls: bool = False


def all_of(handlers: dict[str, EventHandler], more: dict[str, EventHandler]) -> dict[str, EventHandler]:
    """One handler per event type doing what each set does for it, in order (the consumer takes one per type)."""
    combined = dict(handlers)
    for event_type, handler in more.items():
        first = combined.get(event_type)
        if first is None:
            combined[event_type] = handler
            continue

        async def both(conn: Any, event: InboundEvent, first: EventHandler = first,
                       then: EventHandler = handler) -> None:
            await first(conn, event)
            await then(conn, event)

        combined[event_type] = both
    return combined


def create_app(settings: WebhooksSettings, kafka: KafkaSettings) -> FastAPI:
    clock = system_clock()
    parts = ServiceComponents()
    contracts = [c for c in registry if c.producer in SOURCE_SERVICES]
    policy = RetryPolicy(
        attempts_per_round=settings.attempts_per_round, attempt_wait_seconds=settings.attempt_wait_seconds,
        attempt_wait_max_seconds=settings.attempt_wait_max_seconds,
        round_backoff_seconds=settings.round_backoff_seconds,
        round_backoff_max_seconds=settings.round_backoff_max_seconds, max_rounds=settings.max_rounds)
    zone = ZoneInfo(settings.notify_timezone)  # fail at start-up on a bad zone or span, not at the first event
    department_quiet_hours = QuietHours.parse(settings.notify_quiet_hours, field="WEBHOOKS_NOTIFY_QUIET_HOURS")
    digest_schedule = DigestSchedule.parse(settings.notify_digest_at, field="WEBHOOKS_NOTIFY_DIGEST_AT")

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        sources = [kafka.topic(s) for s in SOURCE_SERVICES]
        pool = await prepare_database(settings.database_url, service=SERVICE, migrations=MIGRATIONS,
                                      min_size=settings.db_pool_min, max_size=settings.db_pool_max)
        await ensure_topics(kafka.connection, [*sources, *map(dead_letter_topic, sources)])
        producer = make_producer(kafka.connection, client_id=f"{SERVICE}-dead-letters")
        await producer.start()
        fanout = Fanout(enqueue=enqueue, contracts=contracts)
        directory, recipients = PostgresDirectory(), PostgresRecipients(pool)
        notifications = PostgresNotificationLog(pool)
        raiser = NotificationRaiser(directory=directory, recipients=recipients, notifications=notifications,
                                    clock=clock, zone=zone, quiet_hours=department_quiet_hours)
        dead_letters = DeadLetters(consumer=SERVICE, producer=producer)
        consumer = IdempotentConsumer(name=SERVICE, pool=pool, dead_letters=dead_letters,
                                      handlers=all_of(fanout.handlers(), raiser.handlers()))
        broker = KafkaBroker(kafka.kafka_bootstrap_servers, client_id=SERVICE, logger=None,
                             security=kafka.connection.faststream_security())
        subscribe_idempotent(broker, consumer, sources, group_id=settings.consumer_group)
        await parts.start_consumer(broker, consumer, kafka=kafka.connection, topics=sources)
        parts.pool, parts.producer = pool, producer
        parts.watch_pool()
        sender = HttpSender(timeout=settings.http_timeout)
        dispatcher = Dispatcher(queue=PostgresDeliveryQueue(pool), send=sender, clock=clock, policy=policy,
                                poll_interval=settings.poll_interval)
        parts.supervisor.start("dispatcher", dispatcher.run())
        robots = httpx.AsyncClient(timeout=settings.http_timeout, follow_redirects=False)
        smtp = SmtpSender(host=settings.smtp_host, port=settings.smtp_port, sender=settings.smtp_sender,
                          username=settings.smtp_username, password=settings.smtp_password,
                          starttls=settings.smtp_starttls, timeout=settings.http_timeout)
        notifier = NotificationDispatcher(
            notifications=notifications, clock=clock, policy=policy, poll_interval=settings.poll_interval,
            channels={"wecom": RobotSender(robots, "wecom"), "dingtalk": RobotSender(robots, "dingtalk"),
                      "email": smtp})
        parts.supervisor.start("notifications", notifier.run())
        if digest_schedule is not None:
            digests = DigestRunner(source=PostgresDigestSource(pool), raiser=raiser, schedule=digest_schedule,
                                   clock=clock, zone=zone, poll_interval=settings.notify_digest_poll_interval)
            parts.supervisor.start("digests", digests.run())
        app.include_router(webhooks_router(subscriptions=PostgresSubscriptions(pool),
                                           event_types=fanout.event_types, new_id=new_id))
        app.include_router(notifications_router(recipients=recipients, directory=directory,
                                                notifications=notifications, pool=pool))
        app.include_router(dead_letter_router(consumer, dead_letters, pool))
        try:
            yield
        finally:
            await parts.close()
            await sender.close()
            await robots.aclose()

    return service_app(SERVICE, settings=settings, parts=parts, lifespan=lifespan)


def main() -> None:
    run_service(SERVICE, WebhooksSettings, create_app)
