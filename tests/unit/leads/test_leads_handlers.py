"""Every leads command through its handler on the in-memory unit of work (no database): what is stored, what is
refused, and that the kernel's rules hold — a pinned stale version is a conflict, unpinned ones are decided again,
and a refused capture takes no round-robin turn."""

from __future__ import annotations

import asyncio
import itertools
from datetime import UTC, datetime, timedelta

import pytest

from services.leads.app.commands import CaptureLead, CaptureLeadHandler
from services.leads.app.lead_commands import (
    ApproveLoss,
    AssignLead,
    ClaimLead,
    GradeLead,
    InvalidateLead,
    LeadCommandHandlers,
    LogFollowUp,
    MoveLeadStage,
    RecordAppointmentOutcome,
    RejectLoss,
    RequestLoss,
    ScheduleAppointment,
)
from services.leads.app.organisation import (
    DeactivateConsultant,
    MoveConsultantTeam,
    OrganisationHandlers,
    RegisterConsultant,
    RegisterTeam,
)
from services.leads.app.ports import CommandContext
from services.leads.app.timers import FOLLOW_UP_OVERDUE, POOL_RELEASE, LeadTimerHandlers
from services.leads.domain import errors
from services.leads.domain.lead import Lead
from shared.domain import InvalidFieldError
from shared.eventstore import ConcurrencyError
from shared.timer_model import Timer
from tests.support.leads_memory import InMemoryLeads

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
CHANNELS = {"website", "showroom", "referral", "online_shop"}


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


def ctx(actor: str | None = "c1") -> CommandContext:
    return CommandContext(correlation_id="corr", actor=actor)


class Leads:
    """The handlers wired to one in-memory store, as main wires them to PostgreSQL."""

    def __init__(self) -> None:
        self.store = InMemoryLeads()
        self.clock = Clock()
        ids = (f"id-{n}" for n in itertools.count(1))
        new_id = lambda: next(ids)  # noqa: E731
        self.capture = CaptureLeadHandler(unit_of_work=self.store, clock=self.clock, new_id=new_id,
                                          channels=CHANNELS, policy=self.store.policy)
        self.commands = LeadCommandHandlers(unit_of_work=self.store, clock=self.clock, new_id=new_id,
                                            policy=self.store.policy)
        self.organisation = OrganisationHandlers(unit_of_work=self.store, clock=self.clock)
        self.timers = LeadTimerHandlers(unit_of_work=self.store, clock=self.clock, policy=self.store.policy)

    async def team(self, team_id: str = "t1", consultants: tuple[str, ...] = ("c1", "c2"),
                   manager: str | None = "m1") -> None:
        await self.organisation.register_team(RegisterTeam(team_id, team_id), ctx())
        for consultant in consultants:
            await self.organisation.register_consultant(RegisterConsultant(consultant, consultant, team_id), ctx())
        if manager:
            await self.organisation.register_consultant(RegisterConsultant(manager, manager, team_id, "manager"),
                                                        ctx())

    async def lead(self, phone: str = "13800000001", **fields: object) -> Lead:
        command = CaptureLead(**{"name": "王", "phone": phone, "channel": "website", "team_id": "t1", **fields})
        return (await self.capture(command, ctx())).lead


@pytest.fixture
async def leads() -> Leads:
    world = Leads()
    await world.team()
    return world


async def test_a_capture_is_assigned_round_robin_and_stored_with_its_lookups(leads: Leads) -> None:
    first, second, third = [await leads.lead(f"1380000000{n}") for n in range(1, 4)]
    assert [first.owner_id, second.owner_id, third.owner_id] == ["c1", "c2", "c1"]
    assert leads.store.event_types(first.id) == ["LeadCreated", "LeadAssigned", "FollowUpScheduled"]
    assert leads.store.tables.customers["+8613800000001"] == first.customer_id
    assert (first.id, FOLLOW_UP_OVERDUE) in leads.store.tables.armed


async def test_a_refused_capture_takes_no_round_robin_turn(leads: Leads) -> None:
    first = await leads.lead("13800000001")
    with pytest.raises(InvalidFieldError) as refused:
        await leads.lead("13800000002", channel="carrier_pigeon")
    second = await leads.lead("13800000003")
    assert refused.value.field == "channel"
    assert (first.owner_id, second.owner_id) == ("c1", "c2")


async def test_the_same_inquiry_twice_is_one_lead_and_the_same_phone_again_is_a_touchpoint(leads: Leads) -> None:
    command = CaptureLead(name="王", phone="138 0000 0001", channel="website", team_id="t1",
                          source_system="crm", external_id="X-1")
    first, again = await leads.capture(command, ctx()), await leads.capture(command, ctx())
    other_channel = await leads.capture(CaptureLead(name="王", phone="+86 13800000001", channel="showroom"), ctx())
    assert (first.outcome, again.outcome, other_channel.outcome) == (
        "created", "duplicate_request", "duplicate_contact")
    assert again.lead.id == other_channel.lead.id == first.lead.id
    assert leads.store.event_types(first.lead.id).count("LeadCreated") == 1
    assert leads.store.event_types(first.lead.id)[-2:] == ["DuplicateContactRecorded", "OwnerReminded"]


async def test_an_unknown_team_is_refused_naming_the_field(leads: Leads) -> None:
    with pytest.raises(InvalidFieldError) as refused:
        await leads.lead(team_id="nope")
    assert refused.value.field == "team_id"
    assert leads.store.events.streams == {k: v for k, v in leads.store.events.streams.items()
                                          if not k.startswith("lead-")}


async def test_grading_logging_and_moving_a_lead_are_stored_in_order(leads: Leads) -> None:
    lead = await leads.lead()
    await leads.commands.grade_lead(GradeLead(lead.id, "H", "buys this week"), ctx())
    await leads.commands.log_follow_up(LogFollowUp(lead.id, "call", "interested"), ctx())
    await leads.commands.move_lead_stage(MoveLeadStage(lead.id, "visited"), ctx())
    types = leads.store.event_types(lead.id)
    assert [t for t in types if t in ("LeadGraded", "FollowUpLogged", "StageAdvanced")] == [
        "LeadGraded", "FollowUpLogged", "StageAdvanced", "StageAdvanced"]  # the follow-up moved it to contacted
    assert leads.store.tables.leads[lead.id].stage.value == "visited"


async def test_thirty_concurrent_unpinned_grade_changes_all_succeed(leads: Leads) -> None:
    lead = await leads.lead()
    results = await asyncio.gather(*(
        leads.commands.grade_lead(GradeLead(lead.id, "HABC"[i % 4], f"call {i}"), ctx()) for i in range(30)))
    assert len(results) == 30
    assert leads.store.event_types(lead.id).count("LeadGraded") == 30


async def test_a_pinned_stale_version_is_a_conflict_and_writes_nothing(leads: Leads) -> None:
    lead = await leads.lead()
    await leads.commands.grade_lead(GradeLead(lead.id, "H", "first", expected_version=lead.version), ctx())
    before = leads.store.event_types(lead.id)
    with pytest.raises(ConcurrencyError):
        await leads.commands.grade_lead(GradeLead(lead.id, "A", "stale", expected_version=lead.version), ctx())
    assert leads.store.event_types(lead.id) == before


async def test_a_missing_lead_is_not_found(leads: Leads) -> None:
    with pytest.raises(errors.LeadNotFoundError):
        await leads.commands.grade_lead(GradeLead("nope", "H", "x"), ctx())


async def test_appointments_are_scheduled_and_their_outcome_recorded(leads: Leads) -> None:
    lead = await leads.lead()
    scheduled = await leads.commands.schedule_appointment(
        ScheduleAppointment(lead.id, "test_drive", T0 + timedelta(days=1)), ctx())
    (appointment_id,) = scheduled.appointments
    leads.clock.now = T0 + timedelta(days=1, hours=1)
    await leads.commands.record_appointment_outcome(RecordAppointmentOutcome(lead.id, appointment_id, True), ctx())
    types = leads.store.event_types(lead.id)
    assert "AppointmentScheduled" in types
    assert "AppointmentAttended" in types


async def test_a_manager_assigns_and_a_consultant_cannot(leads: Leads) -> None:
    lead = await leads.lead()
    with pytest.raises(errors.NotAManagerError):
        await leads.commands.assign_lead(AssignLead(lead.id, "c2"), ctx("c1"))
    assigned = await leads.commands.assign_lead(AssignLead(lead.id, "c2"), ctx("m1"))
    assert assigned.owner_id == "c2"


async def test_a_loss_is_requested_then_rejected_or_approved_by_a_manager(leads: Leads) -> None:
    kept, lost = await leads.lead("13800000001"), await leads.lead("13800000002")
    for lead in (kept, lost):
        await leads.commands.request_loss(RequestLoss(lead.id, "price"), ctx())
    with pytest.raises(errors.NotAManagerError):
        await leads.commands.approve_loss(ApproveLoss(lost.id), ctx("c1"))
    await leads.commands.reject_loss(RejectLoss(kept.id, "try again"), ctx("m1"))
    approved = await leads.commands.approve_loss(ApproveLoss(lost.id), ctx("m1"))
    assert not approved.is_open
    assert leads.store.tables.leads[kept.id].is_open


async def test_an_invalidated_lead_refuses_further_work(leads: Leads) -> None:
    lead = await leads.lead()
    await leads.commands.invalidate_lead(InvalidateLead(lead.id, "test entry"), ctx())
    with pytest.raises(errors.LeadClosedError):
        await leads.commands.grade_lead(GradeLead(lead.id, "H", "x"), ctx())


async def test_an_idle_lead_goes_to_the_pool_and_a_teammate_claims_it(leads: Leads) -> None:
    lead = await leads.lead()
    leads.clock.now = T0 + leads.store.policy.pool_idle + timedelta(minutes=1)
    due = Timer(timer_id="x", kind=POOL_RELEASE, due_at=leads.clock.now, payload={"lead_id": lead.id}, attempts=0)
    await leads.timers.pool_release(None, due)
    await leads.timers.pool_release(None, due)  # fired twice: released once
    assert leads.store.event_types(lead.id).count("LeadReleasedToPool") == 1
    claimed = await leads.commands.claim_lead(ClaimLead(lead.id, "c2"), ctx("c2"))
    assert (claimed.owner_id, claimed.pooled) == ("c2", False)


async def test_a_leaving_consultant_hands_their_leads_to_the_rest_of_the_team(leads: Leads) -> None:
    lead = await leads.lead()
    assert lead.owner_id == "c1"
    await leads.organisation.deactivate_consultant(DeactivateConsultant("c1"), ctx("m1"))
    assert leads.store.tables.leads[lead.id].owner_id == "c2"
    with pytest.raises(errors.ConsultantInactiveError):
        await leads.commands.claim_lead(ClaimLead(lead.id, "c1"), ctx("c1"))


async def test_moving_a_consultant_hands_their_leads_over_in_the_old_team(leads: Leads) -> None:
    await leads.team("t2", consultants=("c9",), manager=None)
    lead = await leads.lead()
    moved = await leads.organisation.move_consultant_team(MoveConsultantTeam("c1", "t2"), ctx("m1"))
    assert moved.team_id == "t2"
    assert leads.store.tables.leads[lead.id].owner_id == "c2"


async def test_registering_twice_is_refused(leads: Leads) -> None:
    with pytest.raises(errors.TeamAlreadyExistsError):
        await leads.organisation.register_team(RegisterTeam("t1", "again"), ctx())
    with pytest.raises(errors.ConsultantAlreadyExistsError):
        await leads.organisation.register_consultant(RegisterConsultant("c1", "c1", "t1"), ctx())
    with pytest.raises(InvalidFieldError):
        await leads.organisation.register_consultant(RegisterConsultant("c5", "c5", "nope"), ctx())
