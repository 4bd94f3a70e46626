"""The leads unit of work in memory, for handler unit tests: the kernel's in-memory unit of work (the abstract
suite in tests/support/unit_of_work_contract.py holds it to PostgreSQL's rules) plus the leads lookups, the
rotation tickets and the armed timers, kept in dicts the way migrations/0003's functions keep them in tables."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Any

from services.leads.adapters.unit_of_work import LEADS_STREAMS
from services.leads.app.ports import CommandContext, PhoneLookup, TeamRotation
from services.leads.app.timers import timers_for
from services.leads.domain.campaign import Campaign
from services.leads.domain.customer_card import CustomerCard
from services.leads.domain.customer_events import CustomerMerged, CustomerPhoneChanged
from services.leads.domain.lead import Lead
from services.leads.domain.organisation import Consultant, Team
from services.leads.domain.policy import LeadPolicy
from services.leads.domain.test_drive import TestDriveVehicle
from services.leads.domain.visit import Visit
from services.leads.domain.work_queue import WorkItem
from shared.unit_of_work.memory import InMemoryEventStore, InMemoryTimers, InMemoryUnitOfWork
from shared.unit_of_work.retry import RetryableConflictError


@dataclass
class LeadsTables:
    """What leads_view, the lookup tables, the rotation sequences and leads_timers hold."""

    leads: dict[str, Lead] = field(default_factory=dict)  # leads_view, as the latest state of each lead
    customers: dict[str, str] = field(default_factory=dict)  # phone → customer
    external_ids: dict[tuple[str, str], str] = field(default_factory=dict)
    referrals: dict[str, str] = field(default_factory=dict)
    orders: dict[str, str] = field(default_factory=dict)
    teams: set[str] = field(default_factory=set)
    consultants: dict[str, Consultant] = field(default_factory=dict)  # in registration order
    tickets: dict[str, Iterator[int]] = field(default_factory=dict)
    armed: dict[tuple[str, str], tuple[datetime, dict[str, Any]]] = field(default_factory=dict)
    visits: dict[str, Visit] = field(default_factory=dict)  # leads_visits
    booking_vehicles: dict[str, str] = field(default_factory=dict)  # leads_test_drives: booking → vehicle
    campaigns: dict[str, Campaign] = field(default_factory=dict)  # leads_campaigns
    work: dict[str, WorkItem] = field(default_factory=dict)  # leads_work_items written by plan_work (return visits)


class InMemoryLeadsUnitOfWork(InMemoryUnitOfWork):
    def __init__(self, owner: InMemoryLeads) -> None:
        super().__init__(owner.events, owner.timer_table, LEADS_STREAMS)
        self._tables = owner.tables
        self._policy = owner.policy
        self._links: list[tuple[dict[Any, str], Any, str]] = []
        self._planned_work: list[WorkItem] = []
        self._finished_work: list[str] = []

    async def lock(self, key: str) -> None:
        """Nothing to lock: one event loop, and the commit below does not yield between its checks and writes."""

    async def lock_phone(self, phone: str, *, source_system: str | None = None,
                         external_id: str | None = None, rotation_team: str | None = None) -> PhoneLookup:
        # rotation_team is only a hint to take the ticket in the same round trip: take_rotation_ticket takes it here.
        t = self._tables
        open_leads = sorted((lead for lead in t.leads.values() if lead.phone == phone and lead.is_open),
                            key=lambda lead: lead.captured_at or datetime.min)
        return PhoneLookup(
            t.external_ids.get((source_system, external_id)) if source_system and external_id else None,
            open_leads[-1].id if open_leads else None, t.customers.get(phone))

    async def lead_for_referral(self, referral_id: str) -> str | None:
        return self._tables.referrals.get(referral_id)

    async def lead_for_order(self, order_id: str) -> str | None:
        return self._tables.orders.get(order_id)

    async def take_rotation_ticket(self, team_id: str) -> TeamRotation | None:
        t = self._tables
        if team_id not in t.teams:
            return None
        active = [c.id for c in t.consultants.values()
                  if c.team_id == team_id and c.active and c.role == "consultant"]
        return TeamRotation(active, next(t.tickets[team_id]))

    async def open_leads_owned_by(self, consultant_id: str) -> list[str]:
        owned = [lead for lead in self._tables.leads.values() if lead.owner_id == consultant_id and lead.is_open]
        return [lead.id for lead in sorted(owned, key=lambda lead: lead.captured_at or datetime.min)]

    async def leads_of_customer(self, customer_id: str) -> list[str]:
        leads = [lead for lead in self._tables.leads.values() if lead.customer_id == customer_id]
        return [lead.id for lead in sorted(leads, key=lambda lead: lead.captured_at or datetime.min)]

    async def vehicle_of_booking(self, booking_id: str) -> str | None:
        return self._tables.booking_vehicles.get(booking_id)

    async def visits_of_customer(self, customer_id: str) -> int:
        # Through the visits' leads, as the PostgreSQL unit of work: a merged duplicate's visits count.
        leads = self._tables.leads
        return sum(1 for visit in self._tables.visits.values()
                   if visit.lead_id in leads and leads[visit.lead_id].customer_id == customer_id)

    async def campaign_exists(self, campaign_id: str) -> bool:
        return campaign_id in self._tables.campaigns

    async def campaign_with_code(self, code: str) -> str | None:
        return next((c.id for c in self._tables.campaigns.values() if c.code == code), None)

    def link_customer(self, phone: str, customer_id: str) -> None:
        self._links.append((self._tables.customers, phone, customer_id))

    def link_external_id(self, source_system: str, external_id: str, lead_id: str) -> None:
        self._links.append((self._tables.external_ids, (source_system, external_id), lead_id))

    def link_referral(self, referral_id: str, lead_id: str) -> None:
        self._links.append((self._tables.referrals, referral_id, lead_id))

    def link_order(self, order_id: str, lead_id: str) -> None:
        self._links.append((self._tables.orders, order_id, lead_id))

    async def outreach_candidates(self, team_id: str, audience: str, filters: Any, *, now: datetime,
                                  limit: int) -> list[Any]:
        raise NotImplementedError("outreach batches select in SQL: tested against PostgreSQL "
                                  "(tests/integration/leads/test_leads_outreach_batches.py)")

    def plan_work(self, items: Sequence[WorkItem]) -> None:
        self._planned_work.extend(items)

    def finish_work(self, item_ids: Sequence[str]) -> None:
        self._finished_work.extend(item_ids)

    async def commit(self, context: CommandContext, now: datetime) -> dict[str, int]:
        for table, key, _ in self._links:  # the unique keys, checked before anything is written (as in SQL)
            if key in table:
                raise RetryableConflictError(f"lookup key {key!r} is taken")
        for visit in self.added:  # leads_visits' unique (customer_id, visit_number)
            if isinstance(visit, Visit) and any(
                    (v.customer_id, v.visit_number) == (visit.customer_id, visit.visit_number) and v.id != visit.id
                    for v in self._tables.visits.values()):
                raise RetryableConflictError(f"visit number {visit.visit_number} of {visit.customer_id} is taken")
        return await super().commit(context, now)

    async def after_append(self, now: datetime) -> None:
        t = self._tables
        for table, key, value in self._links:
            table[key] = value
        t.work.update((item.item_id, item) for item in self._planned_work)
        for item_id in self._finished_work:
            t.work.pop(item_id, None)
        for aggregate in self.added:
            if isinstance(aggregate, Lead):
                t.leads[aggregate.id] = aggregate
                for plan in timers_for(aggregate, self._policy):
                    if plan.due_at is None:
                        t.armed.pop((aggregate.id, plan.kind), None)
                    else:
                        t.armed[(aggregate.id, plan.kind)] = (plan.due_at, plan.payload)
            elif isinstance(aggregate, Team):
                t.teams.add(aggregate.id)
                t.tickets.setdefault(aggregate.id, itertools.count())
            elif isinstance(aggregate, Consultant):
                t.consultants[aggregate.id] = aggregate
            elif isinstance(aggregate, Visit):
                t.visits[aggregate.id] = aggregate
            elif isinstance(aggregate, CustomerCard):
                for event in aggregate.pending_events:
                    if isinstance(event, CustomerPhoneChanged):
                        t.customers.pop(event.previous_phone, None)
                        t.customers[event.phone] = aggregate.id
                    elif isinstance(event, CustomerMerged):
                        for phone, owner in list(t.customers.items()):
                            if owner == event.merged_customer_id:
                                t.customers[phone] = aggregate.id
                        t.customers.update(dict.fromkeys(event.phones, aggregate.id))
            elif isinstance(aggregate, Campaign):
                t.campaigns[aggregate.id] = aggregate
            elif isinstance(aggregate, TestDriveVehicle):
                t.booking_vehicles.update(dict.fromkeys(aggregate.touched_bookings(), aggregate.id))


class InMemoryLeads:
    """The unit-of-work factory (``leads()`` / ``leads(conn)``) and the tables the tests inspect."""

    def __init__(self, policy: LeadPolicy | None = None) -> None:
        self.events = InMemoryEventStore()
        self.timer_table = InMemoryTimers()
        self.tables = LeadsTables()
        self.policy = policy or LeadPolicy()
        self.timers_for = partial(timers_for, policy=self.policy)

    @asynccontextmanager
    async def __call__(self, conn: Any = None) -> AsyncIterator[InMemoryLeadsUnitOfWork]:
        yield InMemoryLeadsUnitOfWork(self)

    def event_types(self, lead_id: str) -> list[str]:
        return [e.event_type for e in self.events.events(LEADS_STREAMS.stream_id(Lead, lead_id))]
