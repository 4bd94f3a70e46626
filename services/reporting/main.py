"""Composition root of the reporting service: consumes every service's topic into read models and serves
reports over HTTP. ``python -m services.reporting`` (``python -m services.reporting rebuild`` rebuilds: see
``services.reporting.rebuild``)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime

import structlog
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from faststream.kafka import KafkaBroker

from services.reporting.adapters.exports import to_csv, to_xlsx
from services.reporting.adapters.generations import ActiveSchemaPool
from services.reporting.adapters.plans import load_plans
from services.reporting.adapters.summaries import FactFold, PostgresSummaries
from services.reporting.adapters.targets import PostgresTargetRepository, postgres_targets_units_of_work
from services.reporting.adapters.upgrade import ReadModelCheck
from services.reporting.api import dashboard_router, reporting_router
from services.reporting.app.analysis import AfterSalesQuery, KpiReportQuery, MonthlyAnalysisQuery
from services.reporting.app.cache import WatermarkCache
from services.reporting.app.campaigns import CampaignReportQuery
from services.reporting.app.commands import SetTargetHandler
from services.reporting.app.ports import RebuildNeededError
from services.reporting.app.queries import FunnelQuery, FunnelReportQuery
from services.reporting.app.reports import (
    Activities,
    AttainmentQuery,
    CommissionQuery,
    DailyReportQuery,
    GradeTableQuery,
)
from services.reporting.wiring import MIGRATIONS, SOURCE_SERVICES, ReportingSettings, build_consumer
from shared.messaging.dead_letters import DeadLetters
from shared.messaging.relay import make_producer
from shared.messaging.subscriber import subscribe_idempotent
from shared.messaging.topics import dead_letter_topic, ensure_topics
from shared.runtime.bootstrap import prepare_database, run_service
from shared.runtime.components import ServiceComponents
from shared.runtime.http import dead_letter_router, error_body
from shared.runtime.service_app import service_app
from shared.settings import KafkaSettings

SERVICE = "reporting"
log = structlog.get_logger(__name__)


def utcnow() -> datetime:
    return datetime.now(UTC)


def create_app(settings: ReportingSettings, kafka: KafkaSettings) -> FastAPI:
    parts = ServiceComponents()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        topics = [kafka.topic(s) for s in SOURCE_SERVICES]
        pool = await prepare_database(settings.database_url, service=SERVICE, migrations=MIGRATIONS,
                                      min_size=settings.db_pool_min, max_size=settings.db_pool_max)
        await ensure_topics(kafka.connection, [*topics, *map(dead_letter_topic, topics)])
        producer = make_producer(kafka.connection, client_id=f"{SERVICE}-dlq")
        await producer.start()
        # Queries and the live consumer go through the active generation (see adapters.generations).
        active = ActiveSchemaPool(pool)
        # An upgrade whose migrations the read model needs a rebuild for (adapters.upgrade): said at start, in
        # /health/ready, and by every `as_of` read, which refuses until `salesflow rebuild` has run.
        read_model = ReadModelCheck(pool, MIGRATIONS)
        if problems := await read_model.problems():
            log.warning("reporting.rebuild_needed", reasons=problems)
        parts.checks["read_model"] = read_model.readiness
        summaries = PostgresSummaries(active, as_of_guard=read_model.require)
        dead_letters = DeadLetters(consumer=SERVICE, producer=producer)
        consumer = build_consumer(SERVICE, active, dead_letters)
        broker = KafkaBroker(kafka.kafka_bootstrap_servers, client_id=SERVICE, logger=None,
                             security=kafka.connection.faststream_security())
        subscribe_idempotent(broker, consumer, topics, group_id=settings.consumer_group,
                             max_records=settings.batch_size)
        parts.pool, parts.producer = pool, producer
        parts.watch_pool()
        await parts.start_consumer(broker, consumer, kafka=kafka.connection,
                                   topics=topics)
        targets = PostgresTargetRepository(pool)
        plans, default_plan = load_plans()
        activities = Activities(summaries)
        attainment = AttainmentQuery(activities, targets, utcnow)

        async def processed(event_id: str) -> bool:
            return await summaries.has_processed(SERVICE, event_id)

        app.include_router(reporting_router(
            funnel=FunnelQuery(summaries),
            funnel_report=FunnelReportQuery(summaries, FactFold(active), summaries.watermark),
            attainment=attainment, monthly=MonthlyAnalysisQuery(summaries, attainment),
            aftersales=AfterSalesQuery(summaries), kpi_report=KpiReportQuery(summaries),
            campaigns=CampaignReportQuery(summaries),
            commission=CommissionQuery(activities, targets, plans, default_plan),
            grades=GradeTableQuery(summaries, utcnow), daily=DailyReportQuery(summaries),
            targets=targets, set_target=SetTargetHandler(postgres_targets_units_of_work(pool), utcnow),
            processed=processed, watermark=summaries.watermark, csv_writer=to_csv, xlsx_writer=to_xlsx,
            cache=WatermarkCache(summaries.watermark), consultant_teams=summaries.consultant_teams,
        ))
        app.include_router(dashboard_router())
        app.include_router(dead_letter_router(consumer, dead_letters, pool))
        try:
            yield
        finally:
            await parts.close()

    app = service_app(SERVICE, settings=settings, parts=parts, lifespan=lifespan, browser_home="/dashboard")

    @app.exception_handler(RebuildNeededError)
    async def on_rebuild_needed(_: Request, exc: RebuildNeededError) -> JSONResponse:
        # 503: the read model cannot answer this until an operator rebuilds it; not the caller's error.
        return JSONResponse(status_code=503, content=error_body("rebuild_needed", str(exc)))

    return app


def main() -> None:
    run_service(SERVICE, ReportingSettings, create_app)
