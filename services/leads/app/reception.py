"""The reception register (到店登记): a visitor's arrival and departure.

An arrival is registered either for a known lead (``lead_id``) or for a walk-in by name and phone: the phone's open
lead if there is one (dedupe, as a capture), otherwise a new lead with channel ``showroom`` — captured in the same
transaction as the visit, so a refused registration leaves no lead behind. Whether it is the customer's first
visit is computed from the register while holding the customer's lock, so two receptionists registering the same
customer at once cannot both record a first visit (the register's unique (customer, visit number) backs that up).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from pydantic import Field

from services.leads.app import access
from services.leads.app.campaigns import AttributionFields, resolve_attribution
from services.leads.app.commands import CaptureLead, CaptureLeadHandler
from services.leads.app.ports import Clock, CommandContext, IdFactory, UnitOfWork, UnitOfWorkFactory
from services.leads.domain import errors
from services.leads.domain.campaign import Attribution
from services.leads.domain.lead import CaptureFields, Lead
from services.leads.domain.organisation import Consultant
from services.leads.domain.visit import MAX_PARTY_SIZE, Visit, check_party_size, check_purpose
from shared.commands import ExpectedVersion
from shared.domain import InvalidFieldError
from shared.unit_of_work.retry import CommandRunner

WALK_IN_CHANNEL = "showroom"


@dataclass(frozen=True, slots=True)
class RegisterVisit(AttributionFields):
    """A visitor's arrival. The campaign and UTM fields are the capture's: a walk-in that creates a lead carries them
    into its LeadCreated; a visit of an existing lead may name the lead's own campaign or none (the lead keeps its
    attribution; another campaign is refused)."""

    party_size: Annotated[int, Field(ge=1, le=MAX_PARTY_SIZE, description="how many people came", examples=[2])]
    purpose: Annotated[str, Field(min_length=1, max_length=40, description="a code from GET /v1/visit-purposes",
                                  examples=["first_look"])]
    lead_id: Annotated[str | None, Field(max_length=100, description="the visitor's lead; without it, a walk-in "
                                                                     "given by name and phone")] = None
    name: Annotated[str | None, Field(max_length=100, description="walk-in: the visitor's name")] = None
    phone: Annotated[str | None, Field(max_length=40, description="walk-in: any common format")] = None
    interest: Annotated[str | None, Field(max_length=200, description="walk-in: model of interest")] = None
    team_id: Annotated[str | None, Field(  # default: the service's default team
        max_length=100, description="walk-in: the new lead's team")] = None
    consultant_id: Annotated[str | None, Field(
        max_length=100, description="who receives the visitor (default: the lead's owner)")] = None


@dataclass(frozen=True, slots=True)
class RecordDeparture:
    visit_id: str
    expected_version: ExpectedVersion = None


@dataclass(frozen=True, slots=True)
class VisitRegistered:
    visit: Visit
    lead: Lead
    lead_outcome: str  # existing | created (a walk-in captured a new lead) | reactivated


def visit_lock(customer_id: str) -> str:
    return f"leads.visits:{customer_id}"


class ReceptionHandlers:
    def __init__(self, *, unit_of_work: UnitOfWorkFactory, clock: Clock, new_id: IdFactory,
                 capture: CaptureLeadHandler, purposes: Collection[str]) -> None:
        self._commands: CommandRunner[UnitOfWork] = CommandRunner(unit_of_work, clock)
        self._new_id = new_id
        self._capture = capture
        self._purposes = purposes

    async def register_visit(self, command: RegisterVisit, context: CommandContext) -> VisitRegistered:
        if context.caller is not None:
            access.require_reception(context.caller)
        check_party_size(command.party_size)
        check_purpose(command.purpose, self._purposes)
        walk_in = self._walk_in(command)

        async def decide(uow: UnitOfWork, now: datetime) -> VisitRegistered:
            # As in a capture: the campaign is checked before the phone lock or a rotation ticket.
            attribution = await resolve_attribution(uow, command)
            if walk_in is None:
                assert command.lead_id is not None
                lead = await uow.get(Lead, command.lead_id, missing=lambda: errors.LeadNotFoundError(
                    f"no lead {command.lead_id}", lead_id=command.lead_id))
                if context.caller is not None:
                    access.require_visible(context.caller, lead.id, owner_id=lead.owner_id, team_id=lead.team_id,
                                           pooled=lead.pooled)
                outcome = "existing"
            else:
                lead, outcome = await self._lead_of_walk_in(uow, walk_in, now, attribution)
            consultant_id = await self._receiving_consultant(uow, command.consultant_id, lead)
            await uow.lock(visit_lock(lead.customer_id))  # after the phone lock (walk-ins): one lock order
            earlier = await uow.visits_of_customer(lead.customer_id)
            visit = Visit.arrive(
                visit_id=self._new_id(), lead_id=lead.id, customer_id=lead.customer_id, earlier_visits=earlier,
                party_size=command.party_size, purpose=command.purpose, known_purposes=self._purposes,
                receptionist_id=context.actor, consultant_id=consultant_id, team_id=lead.team_id,
                walk_in_lead=outcome != "existing", now=now,
            )
            lead.record_showroom_visit(visit_id=visit.id, visit_number=visit.visit_number,
                                       first_visit=visit.first_visit, consultant_id=consultant_id,
                                       by=context.actor, now=now, campaign_id=attribution.campaign_id)
            uow.add(lead)
            uow.add(visit)
            return VisitRegistered(visit, lead, outcome)

        return await self._commands.run(decide, context)

    async def record_departure(self, command: RecordDeparture, context: CommandContext) -> Visit:
        async def decide(uow: UnitOfWork, now: datetime) -> Visit:
            visit = await uow.get(Visit, command.visit_id, expected_version=command.expected_version,
                                  missing=lambda: errors.VisitNotFoundError(f"no visit {command.visit_id}",
                                                                            visit_id=command.visit_id))
            if context.caller is not None:
                access.require_visit(context.caller, visit.id, receptionist_id=visit.receptionist_id,
                                     consultant_id=visit.consultant_id, team_id=visit.team_id)
            visit.depart(by=context.actor, now=now)
            return visit
        return await self._commands.run(decide, context, expected_version=command.expected_version)

    def _walk_in(self, command: RegisterVisit) -> tuple[CaptureLead, CaptureFields] | None:
        """The capture a walk-in registration implies, validated before any lock (None: a known lead)."""
        if command.lead_id is not None:
            if command.name is not None or command.phone is not None:
                raise InvalidFieldError("lead_id", "give either lead_id or a walk-in's name and phone, not both")
            return None
        if not command.name or not command.phone:
            raise InvalidFieldError("phone" if command.name else "name",
                                    "a walk-in without lead_id needs a name and a phone")
        capture = CaptureLead(name=command.name, phone=command.phone, channel=WALK_IN_CHANNEL,
                              interest=command.interest, team_id=command.team_id)
        return capture, self._capture.validate(capture)

    async def _lead_of_walk_in(self, uow: UnitOfWork, walk_in: tuple[CaptureLead, CaptureFields], now: datetime,
                               attribution: Attribution) -> tuple[Lead, str]:
        """The phone's open lead, or a new showroom lead carrying the visit's campaign and UTM (the same customer if
        the phone is known)."""
        capture, fields = walk_in
        # No open lead means a new one: its rotation ticket may come with the lock (one round trip).
        found = await uow.lock_phone(fields.phone, rotation_team=self._capture.rotation_team(capture))
        if found.open_lead is not None:
            lead = await uow.load(Lead, found.open_lead)
            assert lead is not None, "the lead index points at a missing stream"
            return lead, "existing"
        lead = await self._capture.create(uow, capture, fields, now, known_customer=found.known_customer,
                                          attribution=attribution)
        return lead, "reactivated" if found.known_customer is not None else "created"

    @staticmethod
    async def _receiving_consultant(uow: UnitOfWork, consultant_id: str | None, lead: Lead) -> str | None:
        if consultant_id is None:
            return lead.owner_id
        consultant = await uow.load(Consultant, consultant_id)
        if consultant is None:
            raise errors.ConsultantNotFoundError(f"no consultant {consultant_id}", consultant_id=consultant_id)
        if not consultant.active:
            raise errors.ConsultantInactiveError(f"consultant {consultant_id} is inactive")
        return consultant.id
