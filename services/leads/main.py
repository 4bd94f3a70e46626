"""Composition root of the leads service: settings → database → relay, timers, consumer → HTTP.
``python -m services.leads``."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from faststream.kafka import KafkaBroker
from pydantic_settings import SettingsConfigDict

from services.leads.adapters.campaigns import PostgresCampaignQueries
from services.leads.adapters.customer_history import PostgresCustomerHistory
from services.leads.adapters.customer_lists import read_customer_list
from services.leads.adapters.customer_search import PostgresCustomerSearch
from services.leads.adapters.import_jobs import PostgresImportJobs
from services.leads.adapters.outreach_queries import PostgresOutreachQueries
from services.leads.adapters.publishing import to_public_message
from services.leads.adapters.queries import PostgresLeadQueries
from services.leads.adapters.unit_of_work import postgres_leads_units_of_work
from services.leads.adapters.work_queue_queries import PostgresWorkQueueQueries
from services.leads.api import leads_router
from services.leads.app.calls import RecordCallHandler
from services.leads.app.campaigns import CampaignHandlers
from services.leads.app.commands import CaptureLeadHandler
from services.leads.app.customer_card import CustomerCardHandlers
from services.leads.app.customer_history import CustomerHistoryProjection
from services.leads.app.customer_overview import CustomerOverview
from services.leads.app.imports import ImportHandlers
from services.leads.app.intake import CallIntake, ShopIntake
from services.leads.app.lead_commands import LeadCommandHandlers
from services.leads.app.organisation import OrganisationHandlers
from services.leads.app.outreach import OutreachHandlers
from services.leads.app.reactions import Reactions
from services.leads.app.reception import ReceptionHandlers
from services.leads.app.test_drives import TestDriveHandlers, TestDrivePolicy
from services.leads.app.timers import LeadTimerHandlers, timers_for
from services.leads.campaign_api import campaign_router
from services.leads.customer_api import card_router
from services.leads.domain.customer_card import CardField, CardSchema
from services.leads.domain.policy import LeadPolicy
from services.leads.import_api import import_router
from services.leads.outreach_api import outreach_router
from services.leads.showroom_api import showroom_router
from services.leads.test_drive_api import test_drive_router
from services.leads.work_queue_api import work_queue_router
from shared.contracts.inbound import INBOUND_CALLS, INBOUND_SHOP
from shared.eventstore.store import PostgresEventStore
from shared.messaging.consumer import IdempotentConsumer
from shared.messaging.dead_letters import DeadLetters
from shared.messaging.inbound import handlers_in_turn
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

SERVICE = "leads"
CONFIG = Path(__file__).parent / "config"
MIGRATIONS = Path(__file__).parent / "migrations"
CONSUMED_SERVICES = ("orders", "aftersales")
INBOUND_TOPICS = (INBOUND_SHOP, INBOUND_CALLS)
"""Inbound integration topics (under the prefix) whose messages leads turns into commands (app/intake.py)."""


class LeadsSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="LEADS_", extra="ignore", frozen=True)

    service_name: str = SERVICE
    http_port: int = 8001
    relay_poll_interval: float = 1.0
    timer_poll_interval: float = 1.0
    consumer_group: str = "leads"  # the Kafka group id only: processed ids and dead letters are kept under SERVICE
    default_team_id: str | None = None
    pool_idle_days: float | None = None
    claim_cooldown_days: float | None = None
    # Shifts the service's clock (commands and timers). For demos and tests that need "two days later" without
    # waiting; never set in production.
    clock_offset_seconds: float = 0.0


def load_channels(path: Path = CONFIG / "channels.json") -> list[dict[str, str]]:
    channels: list[dict[str, str]] = json.loads(path.read_text())["channels"]
    return channels


def load_campaign_kinds(path: Path = CONFIG / "campaigns.json") -> list[dict[str, str]]:
    kinds: list[dict[str, str]] = json.loads(path.read_text())["kinds"]
    return kinds


def load_loss_reasons(path: Path = CONFIG / "loss_reasons.json") -> list[dict[str, str]]:
    reasons: list[dict[str, str]] = json.loads(path.read_text())["loss_reasons"]
    return reasons


def load_showroom(path: Path = CONFIG / "showroom.json") -> dict[str, list[dict[str, Any]]]:
    """Visit purposes and test-drive routes (data, not code)."""
    showroom: dict[str, list[dict[str, Any]]] = json.loads(path.read_text())
    return showroom


def load_card_schema(path: Path = CONFIG / "customer_card.json") -> CardSchema:
    """The customer card's fields (data: a field or a needs-analysis question is added there, not in code)."""
    specs = json.loads(path.read_text())["fields"]
    return CardSchema({f["name"]: CardField(
        name=f["name"], type=f["type"], choices=tuple(f.get("choices", ())), max_length=f.get("max_length", 200),
        minimum=f.get("minimum"), maximum=f.get("maximum"), max_items=f.get("max_items", 10),
        questions=tuple(q["code"] for q in f.get("questions", ()))) for f in specs})


def load_call_center_agents(path: Path = CONFIG / "call_center_agents.json") -> dict[str, str]:
    agents: dict[str, str] = json.loads(path.read_text())["agents"]
    return agents


def load_test_drive_policy(showroom: dict[str, Any]) -> TestDrivePolicy:
    return TestDrivePolicy(route_minutes={r["code"]: int(r["minutes"]) for r in showroom["test_drive_routes"]},
                           no_show_grace=timedelta(minutes=showroom["no_show_grace_minutes"]))


def load_policy(settings: LeadsSettings, path: Path = CONFIG / "policy.json") -> LeadPolicy:
    data = json.loads(path.read_text())
    pool_days = settings.pool_idle_days if settings.pool_idle_days is not None else data["pool_idle_days"]
    cooldown = settings.claim_cooldown_days if settings.claim_cooldown_days is not None else \
        data["claim_cooldown_days"]
    return LeadPolicy(
        follow_up_intervals={g: timedelta(hours=h) for g, h in data["follow_up_interval_hours"].items()},
        pool_idle=timedelta(days=pool_days), claim_cooldown=timedelta(days=cooldown),
        loss_reasons=frozenset(r["code"] for r in load_loss_reasons()),
        no_show_follow_up=timedelta(hours=data["no_show_follow_up_hours"]),
        call_back_within=timedelta(minutes=data["call_back_within_minutes"]),
    )




def create_app(settings: LeadsSettings, kafka: KafkaSettings) -> FastAPI:
    channels = load_channels()
    channel_codes = {c["code"] for c in channels}
    policy = load_policy(settings)
    clock = system_clock(settings.clock_offset_seconds)
    parts = ServiceComponents()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        topic = kafka.topic(SERVICE)
        inbound = [kafka.topic(s) for s in (*CONSUMED_SERVICES, *INBOUND_TOPICS)]
        pool = await prepare_database(settings.database_url, service=SERVICE, migrations=MIGRATIONS,
                                      min_size=settings.db_pool_min, max_size=settings.db_pool_max)
        await ensure_topics(kafka.connection, [topic, *inbound, *map(dead_letter_topic, inbound)])
        producer = make_producer(kafka.connection, client_id=f"{SERVICE}-relay")
        await producer.start()
        store = PostgresEventStore(pool)
        uow = postgres_leads_units_of_work(pool, store, partial(timers_for, policy=policy))
        queries = PostgresLeadQueries(pool, store)
        capture = CaptureLeadHandler(unit_of_work=uow, clock=clock, new_id=new_id, channels=channel_codes,
                                     policy=policy, default_team_id=settings.default_team_id)
        relay = OutboxRelay(dsn=settings.database_url, producer=producer, topic=topic,
                            translate=to_public_message, name=SERVICE, poll_interval=settings.relay_poll_interval)
        showroom = load_showroom()
        drives = TestDriveHandlers(unit_of_work=uow, clock=clock, new_id=new_id,
                                   policy=load_test_drive_policy(showroom), lead_policy=policy)
        timers = TimerRunner(pool=pool, clock=clock, poll_interval=settings.timer_poll_interval, handlers={
            **LeadTimerHandlers(unit_of_work=uow, clock=clock, policy=policy).handlers(),
            **drives.timer_handlers()})
        dead_letters = DeadLetters(consumer=SERVICE, producer=producer)
        customer_history = PostgresCustomerHistory(pool)
        consumer = IdempotentConsumer(
            name=SERVICE, pool=pool, dead_letters=dead_letters,
            # The process manager's reaction first, then the customer page's read model, in one transaction.
            handlers=handlers_in_turn(
                Reactions(unit_of_work=uow, capture=capture, clock=clock, channels=channel_codes).handlers(),
                CustomerHistoryProjection(customer_history).handlers(),
                ShopIntake(capture=capture).handlers(),
                CallIntake(record_call=RecordCallHandler(unit_of_work=uow, clock=clock, capture=capture, policy=policy,
                                                         agents=load_call_center_agents())).handlers()),
        )
        broker = KafkaBroker(kafka.kafka_bootstrap_servers, client_id=SERVICE, logger=None,
                             security=kafka.connection.faststream_security())
        subscribe_idempotent(broker, consumer, inbound, group_id=settings.consumer_group)
        await parts.start_consumer(broker, consumer, kafka=kafka.connection, topics=inbound)
        parts.pool, parts.producer = pool, producer
        parts.watch_pool()
        parts.run_relay(relay)
        parts.run_timers(timers)
        app.include_router(leads_router(
            capture=capture, commands=LeadCommandHandlers(unit_of_work=uow, clock=clock, new_id=new_id,
                                                          policy=policy),
            organisation=OrganisationHandlers(unit_of_work=uow, clock=clock), history=queries, queries=queries,
            channels=channels, loss_reasons=load_loss_reasons(), clock=clock,
        ))
        app.include_router(work_queue_router(
            lists=PostgresWorkQueueQueries(pool), clock=clock, channels=channel_codes,
            loss_reasons=policy.loss_reasons))
        app.include_router(outreach_router(
            outreach=OutreachHandlers(unit_of_work=uow, clock=clock, new_id=new_id, capture=capture, policy=policy,
                                      loss_reasons=policy.loss_reasons),
            queries=PostgresOutreachQueries(pool, clock)))
        app.include_router(showroom_router(
            reception=ReceptionHandlers(unit_of_work=uow, clock=clock, new_id=new_id, capture=capture,
                                        purposes={p["code"] for p in showroom["visit_purposes"]}),
            queries=queries, purposes=showroom["visit_purposes"], clock=clock,
        ))
        app.include_router(card_router(
            cards=CustomerCardHandlers(unit_of_work=uow, clock=clock, schema=load_card_schema()), queries=queries,
            search=PostgresCustomerSearch(pool),
            overview=CustomerOverview(customers=queries, leads=queries, activity=customer_history),
            card_fields=json.loads((CONFIG / "customer_card.json").read_text())["fields"]))
        app.include_router(test_drive_router(drives=drives, queries=queries, leads=queries,
                                             routes=showroom["test_drive_routes"], clock=clock))
        kinds = load_campaign_kinds()
        app.include_router(campaign_router(
            campaigns=CampaignHandlers(unit_of_work=uow, clock=clock, new_id=new_id,
                                       kinds={k["code"] for k in kinds}, channels=channel_codes),
            queries=PostgresCampaignQueries(pool), kinds=kinds))
        import_jobs = PostgresImportJobs(pool)
        imports = ImportHandlers(jobs=import_jobs, read_list=read_customer_list, capture=capture, clock=clock,
                                 new_id=new_id, default_team_id=settings.default_team_id)
        parts.supervisor.start("imports", imports.run())  # also resumes the jobs a crash interrupted
        app.include_router(import_router(imports=imports, jobs=import_jobs))
        app.include_router(dead_letter_router(consumer, dead_letters, pool))
        try:
            yield
        finally:
            await parts.close()

    return service_app(SERVICE, settings=settings, parts=parts, lifespan=lifespan)


def main() -> None:
    run_service(SERVICE, LeadsSettings, create_app)
