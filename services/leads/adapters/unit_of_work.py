"""The leads unit of work over PostgreSQL: the kernel's (``shared.unit_of_work.postgres``: load, one append,
commit) plus the service's lookups, query tables and timers, all in one transaction.

Order inside the transaction matters (see shared/eventstore/store.py): reads and advisory locks assign no
transaction id, so the first write is the append — every stream the command touched in *one* append call —
and the lookup rows, the ``leads_view`` rows and the timers are written after it, all in one call of
``leads_record_changes`` (migrations/rules/; its argument is built by adapters/recorded_changes.py). For a unit
of work of leads only, both go in one statement (``leads_append_recording``: the append, then the bookkeeping), and
a lead's armed timers are read with its stream (``read_stream``): a command on a lead is two statements of its own,
the load and the write. A unique
violation on a lookup key means a concurrent transaction won a race the advisory locks did not cover; it becomes
the kernel's RetryableConflictError and the whole unit of work is retried.

Each round trip costs CPU and latency (about 100 µs of the service's CPU on the bench machine), so a capture of
a new lead makes two of its own besides the group commit's: ``leads_lock_phone_and_take_ticket`` (the phone's
lock, the dedupe reads and, for a new lead only, the team's rotation ticket) and the folded append.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, NamedTuple

import asyncpg

from services.leads.adapters.outreach_queries import outreach_candidates, record_outreach_batch
from services.leads.adapters.recorded_changes import (
    CustomerRow,
    DisarmedRow,
    ExternalIdRow,
    OrderRow,
    RecordedChanges,
    ReferralRow,
    armed_timer,
    moved_timer,
    view_row,
    work_item_row,
)
from services.leads.app.ports import OutreachCandidate, PhoneLookup, TeamRotation
from services.leads.app.timers import TimerPlan
from services.leads.app.work_queue import LeadFilters
from services.leads.domain.campaign import Campaign
from services.leads.domain.campaign_events import CampaignSpendRecorded, campaign_events
from services.leads.domain.customer_card import CustomerCard
from services.leads.domain.customer_events import CustomerMerged, CustomerPhoneChanged, customer_events
from services.leads.domain.events import lead_events, organisation_events
from services.leads.domain.lead import Lead
from services.leads.domain.organisation import Consultant, Team
from services.leads.domain.outreach import OutreachBatch, outreach_events
from services.leads.domain.showroom_events import showroom_events
from services.leads.domain.test_drive import TestDriveVehicle
from services.leads.domain.visit import Visit
from services.leads.domain.work_queue import WorkItem, lead_work_items
from shared.db import Connection
from shared.domain import Aggregate
from shared.eventstore import AppendRequest, RecordedEvent
from shared.eventstore.store import FEED_COLUMNS, PostgresEventStore, recorded_from_row
from shared.unit_of_work.core import StreamCatalog
from shared.unit_of_work.postgres import PostgresUnitOfWork, PostgresUnitOfWorkFactory
from shared.unit_of_work.retry import RetryableConflictError

LEADS_STREAMS = StreamCatalog({
    Lead: ("lead-", lead_events),
    Team: ("team-", organisation_events),
    Consultant: ("consultant-", organisation_events),
    Visit: ("visit-", showroom_events),
    TestDriveVehicle: ("test-drive-vehicle-", showroom_events),
    CustomerCard: ("customer-", customer_events),
    Campaign: ("campaign-", campaign_events),
    OutreachBatch: ("outreach-batch-", outreach_events),
})

TimerPlanner = Callable[[Lead], Sequence[TimerPlan]]
"""Which timers a lead's state needs: the application's rule (``app.timers.timers_for``), handed in as data."""


# The event store's load (shared/eventstore/store.py) plus the lead's leads_timers rows, as one JSON array on the
# first event's row only (an uncorrelated subquery: computed once; JSON because asyncpg cannot decode a composite
# with a text-coded jsonb field). Parameters: the stream id, the lead id.
_LEAD_WITH_TIMERS = f"""
SELECT {FEED_COLUMNS},
       CASE WHEN version = 1 THEN (SELECT jsonb_agg(jsonb_build_object('kind', t.kind, 'timer_id', t.timer_id,
                                                           'due_at', t.due_at, 'payload', t.payload))
                                   FROM leads_timers t WHERE t.lead_id = $2) END AS armed
FROM events WHERE stream_id = $1 AND version > 0 ORDER BY version
"""


_APPEND_RECORDING = "SELECT stream_id, new_version FROM leads_append_recording($1::jsonb, $2::jsonb)"


def lead_stream(lead_id: str) -> str:
    return LEADS_STREAMS.stream_id(Lead, lead_id)


class ArmedRow(NamedTuple):
    """A lead's ``leads_timers`` row of one kind: the timer that stands for it now."""

    timer_id: str
    due_at: datetime
    payload: Any


class PostgresLeadsUnitOfWork(PostgresUnitOfWork):
    def __init__(self, conn: Connection, store: PostgresEventStore, plan_timers: TimerPlanner) -> None:
        super().__init__(conn, store, LEADS_STREAMS)
        self._conn = conn
        self._store = store
        self._timers_needed = plan_timers
        self._changes = RecordedChanges()
        self._armed: dict[str, dict[str, ArmedRow]] = {}  # lead id -> kind -> its leads_timers row
        self._tickets: dict[str, TeamRotation | None] = {}  # team id -> the ticket lock_phone took (None: unknown)

    # --- reads ---

    async def read_stream(self, cls: type[Aggregate], aggregate_id: str, stream_id: str) -> list[RecordedEvent]:
        """A lead's events and its armed timers in one statement (the timers ride on the first row), so arming
        its timers at commit needs no query of its own. Read with the stream, not after the append as before:
        the same thing, because leads_timers rows change only with the lead's events — a writer that changed them
        since this read also appended to the stream, and this unit of work's append is then a version conflict."""
        if cls is not Lead:
            return await super().read_stream(cls, aggregate_id, stream_id)
        rows = await self._conn.fetch(_LEAD_WITH_TIMERS, stream_id, aggregate_id)
        if rows:
            self._armed[aggregate_id] = {t["kind"]: ArmedRow(t["timer_id"], datetime.fromisoformat(t["due_at"]),
                                                             t["payload"]) for t in rows[0]["armed"] or ()}
        return [recorded_from_row(r) for r in rows]

    async def lock(self, key: str) -> None:
        await self._conn.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 7245))", key)

    async def _lookup(self, sql: str, *args: Any) -> str | None:
        value = await self._conn.fetchval(sql, *args)
        return str(value) if value is not None else None

    async def lock_phone(
        self, phone: str, *, source_system: str | None = None, external_id: str | None = None,
        rotation_team: str | None = None,
    ) -> PhoneLookup:
        if rotation_team is None:
            row = await self._conn.fetchrow("SELECT * FROM leads_lock_phone($1, $2, $3)", phone, source_system,
                                            external_id)
        else:  # a new lead's ticket in the same round trip (about 100 µs of CPU a capture); see take_rotation_ticket
            row = await self._conn.fetchrow("SELECT * FROM leads_lock_phone_and_take_ticket($1, $2, $3, $4)", phone,
                                            source_system, external_id, rotation_team)
            if row is not None and row["ticket_taken"]:
                self._tickets[rotation_team] = (TeamRotation(list(row["consultant_ids"]), row["ticket"])
                                                if row["team_known"] else None)
        assert row is not None
        return PhoneLookup(row["external_id_lead"], row["open_lead"], row["known_customer"])

    async def lead_for_referral(self, referral_id: str) -> str | None:
        return await self._lookup("SELECT lead_id FROM leads_referrals WHERE referral_id = $1", referral_id)

    async def lead_for_order(self, order_id: str) -> str | None:
        return await self._lookup("SELECT lead_id FROM leads_orders WHERE order_id = $1", order_id)

    async def take_rotation_ticket(self, team_id: str) -> TeamRotation | None:
        if team_id in self._tickets:  # taken with the phone's lock (lock_phone's rotation_team): used once
            return self._tickets.pop(team_id)
        row = await self._conn.fetchrow("SELECT * FROM leads_take_rotation_ticket($1)", team_id)
        assert row is not None
        if not row["team_known"]:
            return None
        return TeamRotation(list(row["consultant_ids"]), row["ticket"])

    async def open_leads_owned_by(self, consultant_id: str) -> list[str]:
        rows = await self._conn.fetch(
            "SELECT lead_id FROM leads_view WHERE owner_id = $1 AND is_open ORDER BY captured_at", consultant_id)
        return [r["lead_id"] for r in rows]

    async def leads_of_customer(self, customer_id: str) -> list[str]:
        rows = await self._conn.fetch("SELECT lead_id FROM leads_view WHERE customer_id = $1 ORDER BY captured_at",
                                      customer_id)
        return [r["lead_id"] for r in rows]

    async def vehicle_of_booking(self, booking_id: str) -> str | None:
        return await self._lookup("SELECT vehicle_id FROM leads_test_drives WHERE booking_id = $1", booking_id)

    async def visits_of_customer(self, customer_id: str) -> int:
        # Through the customer's leads, not leads_visits.customer_id: a register row keeps the customer it was
        # recorded for, and after a merge the duplicate's visits are the survivor's history (leads_view follows
        # LeadCustomerMerged). Survivor's own numbers stay below the merged count, so UNIQUE (customer_id,
        # visit_number) still holds for the next one.
        count = await self._conn.fetchval(
            "SELECT count(*) FROM leads_visits v JOIN leads_view l ON l.lead_id = v.lead_id WHERE l.customer_id = $1",
            customer_id)
        return int(count)

    async def campaign_exists(self, campaign_id: str) -> bool:
        return await self._lookup("SELECT campaign_id FROM leads_campaigns WHERE campaign_id = $1",
                                  campaign_id) is not None

    async def campaign_with_code(self, code: str) -> str | None:
        return await self._lookup("SELECT campaign_id FROM leads_campaigns WHERE code = $1", code)


    async def outreach_candidates(self, team_id: str, audience: str, filters: LeadFilters, *, now: datetime,
                                  limit: int) -> list[OutreachCandidate]:
        return await outreach_candidates(self._conn, team_id, audience, filters, now=now, limit=limit)

    # --- queued writes ---

    def link_customer(self, phone: str, customer_id: str) -> None:
        self._changes.customers.append(CustomerRow(phone=phone, customer_id=customer_id))

    def link_external_id(self, source_system: str, external_id: str, lead_id: str) -> None:
        self._changes.external_ids.append(
            ExternalIdRow(source_system=source_system, external_id=external_id, lead_id=lead_id))

    def link_referral(self, referral_id: str, lead_id: str) -> None:
        self._changes.referrals.append(ReferralRow(referral_id=referral_id, lead_id=lead_id))

    def link_order(self, order_id: str, lead_id: str) -> None:
        self._changes.orders.append(OrderRow(order_id=order_id, lead_id=lead_id))

    def plan_work(self, items: Sequence[WorkItem]) -> None:
        self._changes.work_items.extend(work_item_row(item) for item in items)

    def finish_work(self, item_ids: Sequence[str]) -> None:
        self._changes.finished_work.extend(item_ids)

    async def append_and_project(self, requests: Sequence[AppendRequest], now: datetime) -> dict[str, int]:
        """A unit of work of leads only (the commands on a lead, the timers): its rows need no statement of their
        own, so the append and ``leads_record_changes`` go in one statement (``leads_append_recording``). Other
        aggregates' projections write statements of their own, which must come after the append: the kernel's
        order then."""
        if not requests or not all(isinstance(a, Lead) for a in self.added):
            return await super().append_and_project(requests, now)
        for lead in self.added:
            assert isinstance(lead, Lead)
            await self._project_lead(lead)
        try:
            return await self._store.append(requests, conn=self._conn, through=_APPEND_RECORDING,
                                            args=(self._changes.payload(),))
        except asyncpg.UniqueViolationError as exc:  # as in after_append: a lookup key a concurrent writer took
            raise RetryableConflictError(str(exc)) from exc

    async def after_append(self, now: datetime) -> None:
        """Lookup rows, ``leads_view`` rows and the leads' timers in one call of ``leads_record_changes``. A unique
        violation on a lookup key means a concurrent transaction won a race the locks did not cover: the unit of
        work is retried and then sees the other's row."""
        try:
            for aggregate in self.added:
                await self._project(aggregate)
            if payload := self._changes.payload():
                await self._conn.execute("SELECT leads_record_changes($1::jsonb)", payload)
        except asyncpg.UniqueViolationError as exc:
            raise RetryableConflictError(str(exc)) from exc

    async def _project(self, aggregate: Aggregate) -> None:
        if isinstance(aggregate, Lead):
            await self._project_lead(aggregate)
        elif isinstance(aggregate, Team):  # rare (organisation changes): a statement of their own is fine
            await self._conn.execute("INSERT INTO leads_teams (team_id, name) VALUES ($1, $2) "
                                     "ON CONFLICT (team_id) DO UPDATE SET name = EXCLUDED.name",
                                     aggregate.id, aggregate.name)
            await self._conn.execute("SELECT leads_create_rotation($1)", aggregate.id)
        elif isinstance(aggregate, Consultant):
            await self._conn.execute(
                """INSERT INTO leads_consultants (consultant_id, team_id, name, role, active)
                   VALUES ($1, $2, $3, $4, $5) ON CONFLICT (consultant_id) DO UPDATE SET
                   team_id = EXCLUDED.team_id, active = EXCLUDED.active""",
                aggregate.id, aggregate.team_id, aggregate.name, aggregate.role, aggregate.active)
        elif isinstance(aggregate, Visit):  # a register entry: a statement of its own, like the organisation's
            await self._project_visit(aggregate)
        elif isinstance(aggregate, TestDriveVehicle):
            await self._project_vehicle(aggregate)
        elif isinstance(aggregate, CustomerCard):
            await self._index_customer_phones(aggregate)
        elif isinstance(aggregate, Campaign):
            await self._project_campaign(aggregate)
        elif isinstance(aggregate, OutreachBatch):  # rare (a manager's batch): statements of its own
            await record_outreach_batch(self._conn, aggregate)

    async def _project_campaign(self, campaign: Campaign) -> None:
        """The campaign's row (a code taken meanwhile is a unique violation: the unit of work is retried) and its
        new spend entries."""
        await self._conn.execute(
            """INSERT INTO leads_campaigns (campaign_id, code, name, kind, channel, starts_on, ends_on,
                   budget_minor, currency, spent_minor, created_at, version)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
               ON CONFLICT (campaign_id) DO UPDATE SET name = EXCLUDED.name, kind = EXCLUDED.kind,
                   channel = EXCLUDED.channel, starts_on = EXCLUDED.starts_on, ends_on = EXCLUDED.ends_on,
                   budget_minor = EXCLUDED.budget_minor, spent_minor = EXCLUDED.spent_minor,
                   version = EXCLUDED.version""",
            campaign.id, campaign.code, campaign.name, campaign.kind, campaign.channel, campaign.starts_on,
            campaign.ends_on, campaign.budget_minor, campaign.currency, campaign.spent_minor, campaign.created_at,
            campaign.version)
        entries = [e for e in campaign.pending_events if isinstance(e, CampaignSpendRecorded)]
        if entries:
            await self._conn.executemany(
                """INSERT INTO leads_campaign_spend (entry_id, campaign_id, amount_minor, currency, spent_at, note,
                       recorded_by, recorded_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)""",
                [(e.entry_id, e.campaign_id, e.amount_minor, e.currency, e.spent_at, e.note, e.recorded_by,
                  e.recorded_at) for e in entries])

    async def _index_customer_phones(self, card: CustomerCard) -> None:
        """The dedupe index follows a phone change (the old number is no longer the customer's, the new one is) and a
        merge (the duplicate's numbers are the survivor's); the command holds the numbers' capture locks, so no
        capture reads the rows in between."""
        for event in card.pending_events:
            if isinstance(event, CustomerPhoneChanged):
                await self._conn.execute("DELETE FROM leads_customers WHERE phone = $1 AND customer_id = $2",
                                         event.previous_phone, card.id)
                await self._conn.execute(
                    "INSERT INTO leads_customers (phone, customer_id) VALUES ($1, $2) "
                    "ON CONFLICT (phone) DO UPDATE SET customer_id = EXCLUDED.customer_id", event.phone, card.id)
            elif isinstance(event, CustomerMerged):  # the duplicate's numbers now find the survivor
                await self._conn.execute("UPDATE leads_customers SET customer_id = $1 WHERE customer_id = $2",
                                         card.id, event.merged_customer_id)
                await self._conn.executemany(
                    "INSERT INTO leads_customers (phone, customer_id) VALUES ($1, $2) "
                    "ON CONFLICT (phone) DO UPDATE SET customer_id = EXCLUDED.customer_id",
                    [(phone, card.id) for phone in event.phones])
                # The customer page finds what other services published under the duplicate's id.
                await self._conn.execute(
                    "INSERT INTO leads_customer_merges (merged_customer_id, survivor_id) VALUES ($1, $2) "
                    "ON CONFLICT (merged_customer_id) DO UPDATE SET survivor_id = EXCLUDED.survivor_id",
                    event.merged_customer_id, card.id)

    async def _project_vehicle(self, vehicle: TestDriveVehicle) -> None:
        await self._conn.execute(
            """INSERT INTO leads_test_drive_vehicles (vehicle_id, model, trim, colour, plate, vin, registered_at,
                   version) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
               ON CONFLICT (vehicle_id) DO UPDATE SET version = EXCLUDED.version""",
            vehicle.id, vehicle.model, vehicle.trim, vehicle.colour, vehicle.plate, vehicle.vin, vehicle.registered_at,
            vehicle.version)
        touched = [(booking_id, vehicle.bookings[booking_id]) for booking_id in vehicle.touched_bookings()]
        if touched:
            await self._conn.executemany(
                """INSERT INTO leads_test_drives (booking_id, vehicle_id, lead_id, starts_at, ends_at, route, status,
                       booked_by, started_at, ended_at, feedback_score, feedback_note)
                   VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
                   ON CONFLICT (booking_id) DO UPDATE SET status = EXCLUDED.status,
                       vehicle_id = EXCLUDED.vehicle_id, starts_at = EXCLUDED.starts_at, ends_at = EXCLUDED.ends_at,
                       route = EXCLUDED.route,
                       started_at = EXCLUDED.started_at, ended_at = EXCLUDED.ended_at,
                       feedback_score = EXCLUDED.feedback_score, feedback_note = EXCLUDED.feedback_note""",
                [(booking_id, vehicle.id, b.lead_id, b.starts_at, b.ends_at, b.route, b.status, b.booked_by,
                  b.started_at, b.ended_at, b.feedback_score, b.feedback_note) for booking_id, b in touched])

    async def _project_visit(self, visit: Visit) -> None:
        await self._conn.execute(
            """INSERT INTO leads_visits (visit_id, lead_id, customer_id, visit_number, first_visit, party_size,
                   purpose, receptionist_id, consultant_id, team_id, walk_in_lead, arrived_at, departed_at,
                   duration_minutes, version)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
               ON CONFLICT (visit_id) DO UPDATE SET departed_at = EXCLUDED.departed_at,
                   duration_minutes = EXCLUDED.duration_minutes, version = EXCLUDED.version""",
            visit.id, visit.lead_id, visit.customer_id, visit.visit_number, visit.first_visit, visit.party_size,
            visit.purpose, visit.receptionist_id, visit.consultant_id, visit.team_id, visit.walk_in_lead,
            visit.arrived_at, visit.departed_at, visit.duration_minutes, visit.version)

    async def _project_lead(self, lead: Lead) -> None:
        self._changes.views.append(view_row(lead))
        self._changes.replace_lead_work(lead.id, lead_work_items(lead))
        await self._arm_timers(lead)

    async def _arm_timers(self, lead: Lead) -> None:
        """Keep exactly one pending timer per (lead, kind) at the due date the lead's state needs."""
        plans = self._timers_needed(lead)
        # Read with the lead's stream (read_stream); nothing for a lead created in this unit of work.
        armed_by_kind = {} if lead.loaded_version == 0 else self._armed.get(lead.id)
        if armed_by_kind is None:  # a lead not loaded through read_stream: one query for every kind
            rows = await self._conn.fetch("SELECT kind, timer_id, due_at, payload FROM leads_timers WHERE lead_id = $1",
                                          lead.id)
            armed_by_kind = {r["kind"]: ArmedRow(r["timer_id"], r["due_at"], r["payload"]) for r in rows}
        for plan in plans:
            armed = armed_by_kind.get(plan.kind)
            if armed is not None and (armed.due_at, armed.payload) == (plan.due_at, plan.payload):
                continue  # unchanged
            if plan.due_at is None:
                if armed is not None:
                    self._changes.cancelled_timers.append(armed.timer_id)
                    self._changes.disarmed.append(DisarmedRow(lead_id=lead.id, kind=plan.kind))
                continue
            # The lead's version is unique per commit, so the id is fresh: a cancelled or fired timer id is
            # never reused (the kernel only moves pending timers).
            timer_id = f"{plan.kind}:{lead.id}:v{lead.version}"
            if armed is not None:  # moved in place while pending, else the fresh id (rules/timers.sql, "moved")
                self._changes.moved.append(
                    moved_timer(armed.timer_id, timer_id, plan.kind, plan.due_at, plan.payload, lead.id))
            else:
                self._changes.armed.append(armed_timer(timer_id, plan.kind, plan.due_at, plan.payload, lead.id))


def postgres_leads_units_of_work(
    pool: asyncpg.Pool, store: PostgresEventStore, plan_timers: TimerPlanner
) -> PostgresUnitOfWorkFactory[PostgresLeadsUnitOfWork]:
    """``factory()`` opens a transaction from the pool; ``factory(conn)`` joins the caller's transaction."""
    return PostgresUnitOfWorkFactory(pool, lambda conn: PostgresLeadsUnitOfWork(conn, store, plan_timers))
