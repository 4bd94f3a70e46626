"""Helpers for the leads service's integration and e2e tests: databases that live for a whole test module,
the service wired in-process against real PostgreSQL with a fake clock, and publishing orders'/after-sales'
events onto Kafka exactly as those services' relays would."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import asyncpg
import orjson
from aiokafka import AIOKafkaProducer

from services.leads.adapters.customer_history import PostgresCustomerHistory
from services.leads.adapters.queries import PostgresLeadQueries
from services.leads.adapters.unit_of_work import postgres_leads_units_of_work
from services.leads.app.commands import CaptureLeadHandler
from services.leads.app.customer_card import CustomerCardHandlers
from services.leads.app.customer_history import CustomerHistoryProjection
from services.leads.app.customer_overview import CustomerOverview
from services.leads.app.lead_commands import LeadCommandHandlers
from services.leads.app.organisation import OrganisationHandlers
from services.leads.app.ports import CommandContext
from services.leads.app.reactions import Reactions
from services.leads.app.reception import ReceptionHandlers
from services.leads.app.test_drives import TestDriveHandlers
from services.leads.app.timers import LeadTimerHandlers, timers_for
from services.leads.domain.policy import LeadPolicy
from services.leads.main import (
    CONFIG,
    MIGRATIONS,
    load_card_schema,
    load_channels,
    load_showroom,
    load_test_drive_policy,
)
from shared.contracts.base import IntegrationEvent
from shared.eventstore.store import PostgresEventStore
from shared.messaging.connection import KafkaConnection
from shared.messaging.headers import EventHeaders
from shared.messaging.inbound import InboundEvent, handlers_in_turn
from shared.runtime.bootstrap import prepare_database
from shared.timers import TimerRunner
from tests.support.infra import RUN_ID, Infra

_counter = itertools.count(1)
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@asynccontextmanager
async def scratch_database(infra: Infra, hint: str) -> AsyncIterator[str]:
    """A database for as long as the context lasts (module-scoped fixtures), dropped afterwards."""
    name = f"t{RUN_ID}_{hint}_m{next(_counter)}"
    admin = await asyncpg.connect(infra.pg_admin_dsn)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    try:
        yield infra.dsn_for(name)
    finally:
        admin = await asyncpg.connect(infra.pg_admin_dsn)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


class FakeClock:
    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta


@dataclass
class LeadsInProcess:
    """The leads service's application layer over a real database, with a clock the test moves."""

    pool: asyncpg.Pool
    clock: FakeClock
    policy: LeadPolicy
    capture: CaptureLeadHandler
    commands: LeadCommandHandlers
    organisation: OrganisationHandlers
    queries: PostgresLeadQueries
    timers: TimerRunner
    reactions: Reactions
    reception: ReceptionHandlers
    test_drives: TestDriveHandlers
    cards: CustomerCardHandlers
    overview: CustomerOverview

    async def deliver(self, payload: IntegrationEvent, *, key: str, event_id: uuid.UUID | None = None,
                      at: datetime | None = None) -> None:
        """Apply one public event the way the idempotent consumer does: inside its transaction, with the handlers
        main wires (the reaction, then the customer page's read model)."""
        headers = EventHeaders(event_id=event_id or uuid.uuid4(), event_type=payload.event_type,
                               schema_version=payload.schema_version, source="test", subject=key,
                               time=at or datetime.now(UTC))
        event = InboundEvent(headers, payload, "test-topic", 0, 0)
        handlers = handlers_in_turn(self.reactions.handlers(),
                                    CustomerHistoryProjection(PostgresCustomerHistory(self.pool)).handlers())
        async with self.pool.acquire() as conn, conn.transaction():
            await handlers[payload.event_type](conn, event)

    async def history_types(self, lead_id: str) -> list[str]:
        return [str(h["event_type"]) for h in await self.queries.history(lead_id)]


def ctx(actor: str | None = None) -> CommandContext:
    return CommandContext(correlation_id=str(uuid.uuid4()), actor=actor)


@asynccontextmanager
async def leads_in_process(dsn: str, policy: LeadPolicy | None = None) -> AsyncIterator[LeadsInProcess]:
    pool = await prepare_database(dsn, service="leads", migrations=MIGRATIONS, min_size=2, max_size=30)
    try:
        policy = policy or LeadPolicy()
        clock = FakeClock()
        store = PostgresEventStore(pool)
        uow = postgres_leads_units_of_work(pool, store, partial(timers_for, policy=policy))
        counter = itertools.count(1)

        def new_id() -> str:
            return f"id-{next(counter)}-{uuid.uuid4().hex[:6]}"

        channels = {c["code"] for c in load_channels(CONFIG / "channels.json")}
        capture = CaptureLeadHandler(unit_of_work=uow, clock=clock, new_id=new_id, channels=channels,
                                     policy=policy)
        showroom = load_showroom(CONFIG / "showroom.json")
        queries = PostgresLeadQueries(pool, store)
        test_drives = TestDriveHandlers(unit_of_work=uow, clock=clock, new_id=new_id,
                                        policy=load_test_drive_policy(showroom), lead_policy=policy)
        yield LeadsInProcess(
            pool=pool, clock=clock, policy=policy, capture=capture,
            reactions=Reactions(unit_of_work=uow, capture=capture, clock=clock, channels=channels),
            commands=LeadCommandHandlers(unit_of_work=uow, clock=clock, new_id=new_id, policy=policy),
            organisation=OrganisationHandlers(unit_of_work=uow, clock=clock),
            queries=queries,
            timers=TimerRunner(pool=pool, clock=clock, handlers={**LeadTimerHandlers(
                unit_of_work=uow, clock=clock, policy=policy).handlers(), **test_drives.timer_handlers()}),
            reception=ReceptionHandlers(unit_of_work=uow, clock=clock, new_id=new_id, capture=capture, purposes={
                p["code"] for p in showroom["visit_purposes"]}),
            test_drives=test_drives,
            cards=CustomerCardHandlers(unit_of_work=uow, clock=clock, schema=load_card_schema()),
            overview=CustomerOverview(customers=queries, leads=queries, activity=PostgresCustomerHistory(pool)),
        )
    finally:
        await pool.close()


async def publish(kafka: KafkaConnection, topic: str, payload: IntegrationEvent, *, key: str, source: str,
                  event_id: uuid.UUID | None = None) -> uuid.UUID:
    """Produce one public event the way a salesflow relay does: CloudEvents headers, contract JSON, key."""
    event_id = event_id or uuid.uuid4()
    headers = EventHeaders(event_id=event_id, event_type=payload.event_type, schema_version=payload.schema_version,
                           source=source, subject=key, time=datetime.now(UTC), correlation_id=f"corr-{event_id}")
    producer = AIOKafkaProducer(**kafka.client_options(), enable_idempotence=True, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(topic, orjson.dumps(payload.model_dump(mode="json")), key=key.encode(),
                                     headers=headers.encode())
    finally:
        await producer.stop()
    return event_id


def body(record: Any) -> dict[str, Any]:
    parsed: dict[str, Any] = orjson.loads(record.value)
    return parsed
