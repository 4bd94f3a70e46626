"""Composition root of the leads service: settings → database → relay → HTTP. ``python -m services.leads``."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from pydantic_settings import SettingsConfigDict

from services.leads.adapters.publishing import to_public_message
from services.leads.adapters.repository import EventSourcedLeads
from services.leads.api import leads_router
from services.leads.app.commands import CaptureLeadHandler
from shared.eventstore import PostgresEventStore
from shared.logs import configure_logging
from shared.messaging.relay import OutboxRelay, make_producer
from shared.messaging.topics import ensure_topics
from shared.runtime.bootstrap import Supervisor, database_ready, prepare_database, serve
from shared.runtime.http import health_router, install_error_handlers
from shared.settings import KafkaSettings, ServiceSettings, load_settings

SERVICE = "leads"
CHANNELS_FILE = Path(__file__).parent / "config" / "channels.json"


class LeadsSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="LEADS_", extra="ignore", frozen=True)

    service_name: str = SERVICE
    http_port: int = 8001
    relay_poll_interval: float = 1.0


def load_channels(path: Path = CHANNELS_FILE) -> list[dict[str, str]]:
    channels: list[dict[str, str]] = json.loads(path.read_text())["channels"]
    return channels


def utc_now() -> datetime:
    return datetime.now(UTC)


def new_id() -> str:
    return str(uuid.uuid4())


def create_app(settings: LeadsSettings, kafka: KafkaSettings) -> FastAPI:
    channels = load_channels()
    state: dict[str, Any] = {}
    supervisor = Supervisor()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        topic = kafka.topic(SERVICE)
        pool = await prepare_database(settings.database_url, service=SERVICE, migrations=None,
                                      min_size=settings.db_pool_min, max_size=settings.db_pool_max)
        await ensure_topics(kafka.kafka_bootstrap_servers, [topic])
        producer = make_producer(kafka.kafka_bootstrap_servers, client_id=f"{SERVICE}-relay")
        await producer.start()
        store = PostgresEventStore(pool)
        leads = EventSourcedLeads(store)
        relay = OutboxRelay(dsn=settings.database_url, producer=producer, topic=topic,
                            translate=to_public_message, name=SERVICE,
                            poll_interval=settings.relay_poll_interval)
        state.update(pool=pool, relay=relay)
        supervisor.start("relay", relay.run())
        app.include_router(leads_router(
            capture=CaptureLeadHandler(leads=leads, clock=utc_now, new_id=new_id,
                                       channels={c["code"] for c in channels}),
            leads=leads, history=leads, channels=channels,
        ))
        try:
            yield
        finally:
            await supervisor.stop()
            await producer.stop()
            await pool.close()

    async def ready() -> dict[str, Any]:
        relay = state.get("relay")
        return {
            "database": "pool" in state and await database_ready(state["pool"]),
            "relay": {"ok": all(supervisor.healthy().values()) and relay is not None,
                      "leader": bool(relay and relay.is_leader), "published": relay.published if relay else 0},
        }

    app = FastAPI(title="salesflow leads", version="1", lifespan=lifespan)
    install_error_handlers(app)
    app.include_router(health_router(ready))
    return app


def main() -> None:
    settings = load_settings(LeadsSettings)
    kafka = load_settings(KafkaSettings)
    configure_logging(SERVICE, settings.log_level, settings.log_json)
    serve(create_app(settings, kafka), host=settings.http_host, port=settings.http_port)
