"""The unit of work over PostgreSQL: event-store appends plus the service's lookup and query tables and timers,
all in one transaction.

Order inside the transaction matters (see shared/eventstore/store.py): reads and advisory locks assign no
transaction id, so the first write is the append — every stream the command touched in *one* append call —
and the lookup rows, the ``leads_view`` rows and the timers are written after it. A unique violation on a
lookup key means a concurrent transaction won a race the advisory locks did not cover; it becomes
LookupRaceError and the whole unit of work is retried.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

import asyncpg

from services.leads.app.ports import ActiveConsultant, CommandContext
from services.leads.app.retry import LookupRaceError
from services.leads.app.timers import timers_for
from services.leads.domain.events import lead_events, organisation_events
from services.leads.domain.lead import Lead
from services.leads.domain.organisation import Consultant, Team
from services.leads.domain.policy import LeadPolicy
from shared.db import Connection
from shared.domain import Aggregate, EventTypeRegistry
from shared.eventstore import AppendRequest, NewEvent, PostgresEventStore
from shared.timers import cancel_timer, schedule_timer


def stream_of(aggregate: Aggregate) -> str:
    return f"{aggregate.stream_type}-{aggregate.id}"


def lead_stream(lead_id: str) -> str:
    return f"lead-{lead_id}"


_UPSERT_VIEW = """
INSERT INTO leads_view (lead_id, customer_id, phone, name, channel, interest, status, stage, grade, is_open,
    owner_id, team_id, pooled, released_by, released_at, follow_up_due_at, overdue, loss_pending, order_id,
    captured_at, last_activity_at, version)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22)
ON CONFLICT (lead_id) DO UPDATE SET status = EXCLUDED.status, stage = EXCLUDED.stage, grade = EXCLUDED.grade,
    is_open = EXCLUDED.is_open, owner_id = EXCLUDED.owner_id, team_id = EXCLUDED.team_id,
    pooled = EXCLUDED.pooled, released_by = EXCLUDED.released_by, released_at = EXCLUDED.released_at,
    follow_up_due_at = EXCLUDED.follow_up_due_at, overdue = EXCLUDED.overdue,
    loss_pending = EXCLUDED.loss_pending, order_id = EXCLUDED.order_id,
    last_activity_at = EXCLUDED.last_activity_at, version = EXCLUDED.version
"""


class PostgresUnitOfWork:
    def __init__(self, conn: Connection, store: PostgresEventStore, policy: LeadPolicy) -> None:
        self._conn = conn
        self._store = store
        self._policy = policy
        self._aggregates: dict[str, Aggregate] = {}
        self._links: list[tuple[str, tuple[Any, ...]]] = []
        self._cursors: dict[str, int] = {}

    # --- reads ---

    async def lock(self, key: str) -> None:
        await self._conn.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 7245))", key)

    async def _load(self, stream_id: str, registry: EventTypeRegistry) -> list[Any]:
        records = await self._store.load(stream_id, conn=self._conn)
        return [registry.decode(r.event_type, r.data) for r in records]

    async def lead(self, lead_id: str) -> Lead | None:
        events = await self._load(lead_stream(lead_id), lead_events)
        if not events:
            return None
        return Lead.rehydrate(lead_id, events)

    async def team(self, team_id: str) -> Team | None:
        events = await self._load(f"team-{team_id}", organisation_events)
        return Team.rehydrate(team_id, events) if events else None

    async def consultant(self, consultant_id: str) -> Consultant | None:
        events = await self._load(f"consultant-{consultant_id}", organisation_events)
        return Consultant.rehydrate(consultant_id, events) if events else None

    async def _lookup(self, sql: str, *args: Any) -> str | None:
        value = await self._conn.fetchval(sql, *args)
        return str(value) if value is not None else None

    async def customer_for_phone(self, phone: str) -> str | None:
        return await self._lookup("SELECT customer_id FROM leads_customers WHERE phone = $1", phone)

    async def open_lead_for_phone(self, phone: str) -> str | None:
        return await self._lookup(
            "SELECT lead_id FROM leads_view WHERE phone = $1 AND is_open ORDER BY captured_at DESC LIMIT 1", phone)

    async def lead_for_external_id(self, source_system: str, external_id: str) -> str | None:
        return await self._lookup("SELECT lead_id FROM leads_external_ids WHERE source_system = $1 "
                                  "AND external_id = $2", source_system, external_id)

    async def lead_for_referral(self, referral_id: str) -> str | None:
        return await self._lookup("SELECT lead_id FROM leads_referrals WHERE referral_id = $1", referral_id)

    async def lead_for_order(self, order_id: str) -> str | None:
        return await self._lookup("SELECT lead_id FROM leads_orders WHERE order_id = $1", order_id)

    async def active_consultants(self, team_id: str) -> list[ActiveConsultant]:
        rows = await self._conn.fetch(
            "SELECT consultant_id, seq FROM leads_consultants WHERE team_id = $1 AND active "
            "AND role = 'consultant' ORDER BY seq", team_id)
        return [ActiveConsultant(r["consultant_id"], r["seq"]) for r in rows]

    async def assignment_cursor(self, team_id: str) -> int | None:
        if team_id in self._cursors:  # moved earlier in this unit of work (several handovers)
            return self._cursors[team_id]
        value = await self._conn.fetchval("SELECT last_seq FROM leads_assignment_cursors WHERE team_id = $1",
                                          team_id)
        return int(value) if value is not None else None

    async def open_leads_owned_by(self, consultant_id: str) -> list[str]:
        rows = await self._conn.fetch(
            "SELECT lead_id FROM leads_view WHERE owner_id = $1 AND is_open ORDER BY captured_at", consultant_id)
        return [r["lead_id"] for r in rows]

    # --- queued writes ---

    def add(self, aggregate: Aggregate) -> None:
        self._aggregates[stream_of(aggregate)] = aggregate

    def link_customer(self, phone: str, customer_id: str) -> None:
        self._links.append(("INSERT INTO leads_customers (phone, customer_id) VALUES ($1, $2)", (phone, customer_id)))

    def link_external_id(self, source_system: str, external_id: str, lead_id: str) -> None:
        self._links.append(("INSERT INTO leads_external_ids (source_system, external_id, lead_id) "
                            "VALUES ($1, $2, $3)", (source_system, external_id, lead_id)))

    def link_referral(self, referral_id: str, lead_id: str) -> None:
        self._links.append(("INSERT INTO leads_referrals (referral_id, lead_id) VALUES ($1, $2)",
                            (referral_id, lead_id)))

    def link_order(self, order_id: str, lead_id: str) -> None:
        self._links.append(("INSERT INTO leads_orders (order_id, lead_id) VALUES ($1, $2)", (order_id, lead_id)))

    def move_assignment_cursor(self, team_id: str, seq: int) -> None:
        self._cursors[team_id] = seq

    async def commit_changes(self, context: CommandContext, now: datetime) -> None:
        metadata = context.metadata()
        requests = [
            AppendRequest(stream_id, aggregate.stream_type, aggregate.loaded_version, tuple(
                NewEvent(event_id=uuid.uuid4(), event_type=e.event_type, schema_version=e.schema_version,
                         data=e.model_dump(mode="json"), occurred_at=now, metadata=metadata)
                for e in aggregate.pending_events))
            for stream_id, aggregate in self._aggregates.items() if aggregate.pending_events
        ]
        if requests:
            await self._store.append(requests, conn=self._conn)  # first write of the transaction
        try:
            for sql, args in self._links:
                await self._conn.execute(sql, *args)
        except asyncpg.UniqueViolationError as exc:
            raise LookupRaceError(str(exc)) from exc
        for team_id, seq in self._cursors.items():
            await self._conn.execute(
                "INSERT INTO leads_assignment_cursors (team_id, last_seq) VALUES ($1, $2) "
                "ON CONFLICT (team_id) DO UPDATE SET last_seq = EXCLUDED.last_seq", team_id, seq)
        for aggregate in self._aggregates.values():
            await self._project(aggregate)

    async def _project(self, aggregate: Aggregate) -> None:
        if isinstance(aggregate, Lead):
            await self._project_lead(aggregate)
        elif isinstance(aggregate, Team):
            await self._conn.execute("INSERT INTO leads_teams (team_id, name) VALUES ($1, $2) "
                                     "ON CONFLICT (team_id) DO UPDATE SET name = EXCLUDED.name",
                                     aggregate.id, aggregate.name)
        elif isinstance(aggregate, Consultant):
            await self._conn.execute(
                """INSERT INTO leads_consultants (consultant_id, team_id, name, role, active)
                   VALUES ($1, $2, $3, $4, $5) ON CONFLICT (consultant_id) DO UPDATE SET
                   team_id = EXCLUDED.team_id, active = EXCLUDED.active""",
                aggregate.id, aggregate.team_id, aggregate.name, aggregate.role, aggregate.active)

    async def _project_lead(self, lead: Lead) -> None:
        assert lead.captured_at is not None
        await self._conn.execute(
            _UPSERT_VIEW, lead.id, lead.customer_id, lead.phone, lead.name, lead.channel, lead.interest,
            lead.status.value, lead.stage.value, lead.grade.value, lead.is_open, lead.owner_id, lead.team_id,
            lead.pooled, lead.released_by, lead.released_at, lead.follow_up_due_at, lead.is_overdue,
            lead.pending_loss is not None, lead.order_id, lead.captured_at, lead.last_activity_at, lead.version,
        )
        await self._arm_timers(lead)

    async def _arm_timers(self, lead: Lead) -> None:
        """Keep exactly one pending timer per (lead, kind) at the due date the lead's state needs."""
        plans = timers_for(lead, self._policy)
        # One query for every kind; none at all for a lead created in this unit of work (nothing can be armed).
        armed_by_kind = {} if lead.loaded_version == 0 else {
            r["kind"]: r for r in await self._conn.fetch(
                "SELECT kind, timer_id, due_at, payload FROM leads_timers WHERE lead_id = $1", lead.id)
        }
        for plan in plans:
            armed = armed_by_kind.get(plan.kind)
            if armed is not None and (armed["due_at"], armed["payload"]) == (plan.due_at, plan.payload):
                continue  # unchanged
            if armed is not None:
                await cancel_timer(self._conn, armed["timer_id"])
            if plan.due_at is None:
                await self._conn.execute("DELETE FROM leads_timers WHERE lead_id = $1 AND kind = $2",
                                         lead.id, plan.kind)
                continue
            # The lead's version is unique per commit, so the id is fresh: a cancelled or fired timer id is
            # never reused (the kernel only moves pending timers).
            timer_id = f"{plan.kind}:{lead.id}:v{lead.version}"
            await schedule_timer(self._conn, timer_id, plan.kind, plan.due_at, plan.payload)
            await self._conn.execute(
                "INSERT INTO leads_timers (lead_id, kind, timer_id, due_at, payload) VALUES ($1, $2, $3, $4, $5) "
                "ON CONFLICT (lead_id, kind) DO UPDATE SET timer_id = EXCLUDED.timer_id, due_at = EXCLUDED.due_at, "
                "payload = EXCLUDED.payload", lead.id, plan.kind, timer_id, plan.due_at, plan.payload)


class PostgresUnitOfWorkFactory:
    """``factory()`` opens a transaction from the pool; ``factory(conn)`` joins the caller's transaction."""

    def __init__(self, pool: asyncpg.Pool, store: PostgresEventStore, policy: LeadPolicy) -> None:
        self._pool = pool
        self._store = store
        self._policy = policy

    @asynccontextmanager
    async def __call__(self, conn: Any = None) -> AsyncIterator[PostgresUnitOfWork]:
        if conn is not None:
            yield PostgresUnitOfWork(conn, self._store, self._policy)
            return
        async with self._pool.acquire() as own, own.transaction():
            yield PostgresUnitOfWork(own, self._store, self._policy)
