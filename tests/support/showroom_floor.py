"""The leads service's showroom handlers (reception register, test drives, customer card) wired to one in-memory
store, for their unit tests: the way main wires them to PostgreSQL, with a clock the test moves."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

from services.leads.app import test_drives as td
from services.leads.app.commands import CaptureLeadHandler
from services.leads.app.customer_card import CustomerCardHandlers
from services.leads.app.lead_commands import LeadCommandHandlers
from services.leads.app.organisation import OrganisationHandlers
from services.leads.app.ports import CommandContext
from services.leads.app.reception import ReceptionHandlers
from services.leads.domain.lead import Lead
from services.leads.main import load_card_schema
from shared.auth.principal import Principal
from tests.support.leads import FakeClock
from tests.support.leads_memory import InMemoryLeads

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
PURPOSES = frozenset({"first_look", "test_drive", "negotiation"})
ROUTES = {"city_short": 20, "mixed_long": 45}


def as_caller(subject: str, role: str, team: str | None = "t1") -> CommandContext:
    """A command sent by a person with this role and team (the access rules apply)."""
    return CommandContext(correlation_id="corr", actor=subject,
                          caller=Principal(subject=subject, roles=frozenset({role}), team_id=team))


class ShowroomFloor:
    def __init__(self) -> None:
        self.store = InMemoryLeads()
        self.clock = FakeClock(T0)
        ids = (f"id-{n}" for n in itertools.count(1))
        new_id = lambda: next(ids)  # noqa: E731
        self.capture = CaptureLeadHandler(unit_of_work=self.store, clock=self.clock, new_id=new_id,
                                          channels={"website", "showroom"}, policy=self.store.policy,
                                          default_team_id="t1")
        self.commands = LeadCommandHandlers(unit_of_work=self.store, clock=self.clock, new_id=new_id,
                                            policy=self.store.policy)
        self.organisation = OrganisationHandlers(unit_of_work=self.store, clock=self.clock)
        self.reception = ReceptionHandlers(unit_of_work=self.store, clock=self.clock, new_id=new_id,
                                           capture=self.capture, purposes=PURPOSES)
        self.drives = td.TestDriveHandlers(unit_of_work=self.store, clock=self.clock, new_id=new_id,
                                           policy=td.TestDrivePolicy(ROUTES, timedelta(minutes=30)),
                                           lead_policy=self.store.policy)
        self.cards = CustomerCardHandlers(unit_of_work=self.store, clock=self.clock, schema=load_card_schema())

    def stream_types(self, stream_id: str) -> list[str]:
        return [e.event_type for e in self.store.events.events(stream_id)]

    async def load_lead(self, lead_id: str) -> Lead:
        async with self.store() as uow:
            lead = await uow.load(Lead, lead_id)
        assert lead is not None
        return lead
