"""Where each service's state is and what it consumes, read from the same environment the services read
(``<SERVICE>_DATABASE_URL``, ``<SERVICE>_HTTP_PORT``, ``<SERVICE>_CONSUMER_GROUP``, ``KAFKA_BOOTSTRAP_SERVERS``,
``SALESFLOW_TOPIC_PREFIX``; ``eval "$(deploy/native/stack.sh env)"`` sets the first and the broker for the
native stack). ``SALESFLOW_<SERVICE>_URL`` points the CLI at a service elsewhere than 127.0.0.1."""

from __future__ import annotations

import os
from dataclasses import dataclass

from services.aftersales.main import SOURCE_SERVICES as AFTERSALES_SOURCES
from services.leads.main import CONSUMED_SERVICES as LEADS_SOURCES
from services.leads.main import INBOUND_TOPICS as LEADS_INBOUND
from services.orders.main import INBOUND_TOPICS as ORDERS_INBOUND
from services.reporting.wiring import SOURCE_SERVICES as REPORTING_SOURCES
from shared.messaging.connection import KafkaConnection
from shared.settings import KafkaSettings, load_settings


@dataclass(frozen=True)
class Service:
    name: str
    default_port: int
    relays: bool  # publishes its own events through an outbox relay
    consumes: tuple[str, ...]  # the topics it consumes, under the prefix: services' and inbound ones
    migrations: str | None  # its migrations folder (package-relative), if it has one

    @property
    def prefix(self) -> str:
        return self.name.upper()

    @property
    def database_url(self) -> str | None:
        return os.environ.get(f"{self.prefix}_DATABASE_URL")

    @property
    def url(self) -> str:
        explicit = os.environ.get(f"SALESFLOW_{self.prefix}_URL")
        port = os.environ.get(f"{self.prefix}_HTTP_PORT", str(self.default_port))
        return (explicit or f"http://127.0.0.1:{port}").rstrip("/")

    @property
    def consumer_group(self) -> str | None:
        return os.environ.get(f"{self.prefix}_CONSUMER_GROUP", self.name) if self.consumes else None

    def consumed_topics(self) -> list[str]:
        return [topic(s) for s in self.consumes]


SERVICES = {s.name: s for s in (
    Service("leads", 8001, relays=True, consumes=(*LEADS_SOURCES, *LEADS_INBOUND), migrations="services.leads"),
    Service("orders", 8002, relays=True, consumes=ORDERS_INBOUND, migrations="services.orders"),
    Service("aftersales", 8003, relays=True, consumes=tuple(AFTERSALES_SOURCES), migrations="services.aftersales"),
    Service("reporting", 8004, relays=False, consumes=tuple(REPORTING_SOURCES), migrations="services.reporting"),
)}


def topic(service: str) -> str:
    return f"{os.environ.get('SALESFLOW_TOPIC_PREFIX', 'salesflow')}.{service}"


def kafka_connection() -> KafkaConnection | None:
    """The broker and principal from ``KAFKA_BOOTSTRAP_SERVERS`` / ``KAFKA_SECURITY_PROTOCOL`` / ``KAFKA_SASL_*``
    (``stack.sh env`` gives the admin's, which may read every group's offsets); None if no broker is set."""
    if not os.environ.get("KAFKA_BOOTSTRAP_SERVERS"):
        return None
    return load_settings(KafkaSettings).connection


def ops_token() -> str | None:
    """The bearer token the CLI sends to the services' admin endpoints (``SALESFLOW_OPS_TOKEN``)."""
    return os.environ.get("SALESFLOW_OPS_TOKEN")
