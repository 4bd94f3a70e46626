"""What the reporting service and its rebuild wire the same way: settings, migrations, the topics read, the
projection's consumer."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import asyncpg
from pydantic_settings import SettingsConfigDict

from services.reporting.adapters.summaries import PostgresSummaries
from services.reporting.app.projections import LeadsProjection
from shared.messaging.consumer import IdempotentConsumer
from shared.messaging.dead_letters import DeadLetters
from shared.settings import ServiceSettings

MIGRATIONS = Path(__file__).parent / "migrations"
SOURCE_SERVICES = ("leads", "orders", "aftersales")


class ReportingSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="REPORTING_", extra="ignore", frozen=True)

    service_name: str = "reporting"
    http_port: int = 8004
    consumer_group: str = "reporting"  # the Kafka group id only: processed ids and dead letters are kept under SERVICE
    batch_size: int = 500


def build_consumer(name: str, pool: Any, dead_letters: DeadLetters, *, bulk: bool = False) -> IdempotentConsumer:
    """The projection wired into an idempotent consumer (live service and rebuild use the same): every known
    type is registered with one batch handler (unknown types are still ignored), so a batch is one run.
    ``bulk``: the rebuild's replay, which stores facts only (``adapters.summaries.build_summaries`` folds them)."""
    projection = LeadsProjection(PostgresSummaries(pool, bulk=bulk))
    return IdempotentConsumer(name=name, pool=cast(asyncpg.Pool, pool), handlers={},
                              batch_handlers=projection.batch_handlers(), dead_letters=dead_letters)
