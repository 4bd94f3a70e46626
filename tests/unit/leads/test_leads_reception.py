"""The reception register's commands on the in-memory unit of work: a walk-in becomes a showroom lead, a known
customer's second visit is a repeat, the lead moves to visited, departures are recorded once, refusals store
nothing, and the access rules hold."""

from __future__ import annotations

from datetime import timedelta

import pytest

from services.leads.app.commands import CaptureLead
from services.leads.app.lead_commands import InvalidateLead
from services.leads.app.organisation import DeactivateConsultant, RegisterConsultant, RegisterTeam
from services.leads.app.ports import CommandContext
from services.leads.app.reception import RecordDeparture, RegisterVisit
from services.leads.domain import errors
from services.leads.domain.visit import Visit
from shared.auth.errors import ForbiddenError
from shared.auth.principal import Principal
from shared.domain import InvalidFieldError
from shared.eventstore import ConcurrencyError
from tests.support.showroom_floor import PURPOSES, T0, ShowroomFloor, as_caller


def ctx(actor: str | None = "r1") -> CommandContext:
    return CommandContext(correlation_id="corr", actor=actor)


class Floor(ShowroomFloor):
    def visit_types(self, visit_id: str) -> list[str]:
        return self.stream_types(f"visit-{visit_id}")


@pytest.fixture
async def floor() -> Floor:
    world = Floor()
    await world.organisation.register_team(RegisterTeam("t1", "t1"), ctx())
    for consultant in ("c1", "c2"):
        await world.organisation.register_consultant(RegisterConsultant(consultant, consultant, "t1"), ctx())
    return world


def walk_in(phone: str = "138 0000 0001", **changes: object) -> RegisterVisit:
    return RegisterVisit(**{"party_size": 2, "purpose": "first_look", "name": "王先生", "phone": phone, **changes})


async def test_a_walk_in_without_a_lead_gets_a_showroom_lead_and_a_first_visit(floor: Floor) -> None:
    registered = await floor.reception.register_visit(walk_in(), ctx())
    visit, lead = registered.visit, registered.lead
    assert registered.lead_outcome == "created"
    assert (lead.channel, lead.phone, lead.owner_id, lead.stage.value) == ("showroom", "+8613800000001", "c1",
                                                                            "visited")
    assert (visit.lead_id, visit.customer_id, visit.visit_number, visit.first_visit) == (
        lead.id, lead.customer_id, 1, True)
    assert (visit.receptionist_id, visit.consultant_id, visit.party_size, visit.walk_in_lead) == ("r1", "c1", 2, True)
    assert floor.store.event_types(lead.id)[-2:] == ["ShowroomVisitRecorded", "StageAdvanced"]
    assert floor.visit_types(visit.id) == ["VisitArrived"]
    assert floor.store.tables.visits[visit.id].arrived_at == T0


async def test_a_walk_in_with_an_open_lead_is_registered_on_it_as_a_repeat_visit(floor: Floor) -> None:
    known = (await floor.capture(CaptureLead(name="李", phone="13800000002", channel="website"), ctx())).lead
    first = await floor.reception.register_visit(RegisterVisit(party_size=1, purpose="first_look",
                                                               lead_id=known.id), ctx())
    floor.clock.now += timedelta(days=3)
    again = await floor.reception.register_visit(walk_in("+86 138-0000-0002", purpose="test_drive"), ctx())
    assert again.lead_outcome == "existing"
    assert again.lead.id == known.id
    assert (first.visit.visit_number, first.visit.first_visit) == (1, True)
    assert (again.visit.visit_number, again.visit.first_visit) == (2, False)
    # The second visit does not move the stage again (it is already visited).
    assert floor.store.event_types(known.id).count("StageAdvanced") == 1
    assert again.lead.visits == 2


async def test_a_returning_customer_whose_leads_are_closed_gets_a_new_lead_and_a_repeat_visit(floor: Floor) -> None:
    first = await floor.reception.register_visit(walk_in(), ctx())
    await floor.commands.invalidate_lead(InvalidateLead(first.lead.id, "not a buyer"), ctx())
    again = await floor.reception.register_visit(walk_in(), ctx())
    assert again.lead_outcome == "reactivated"
    assert again.lead.id != first.lead.id
    assert again.lead.customer_id == first.lead.customer_id
    assert (again.visit.visit_number, again.visit.first_visit) == (2, False)


async def test_a_visit_for_a_closed_lead_by_id_is_refused_and_nothing_is_stored(floor: Floor) -> None:
    lead = (await floor.reception.register_visit(walk_in(), ctx())).lead
    await floor.commands.invalidate_lead(InvalidateLead(lead.id, "spam"), ctx())
    streams = dict(floor.store.events.streams)
    with pytest.raises(errors.LeadClosedError):
        await floor.reception.register_visit(RegisterVisit(party_size=1, purpose="first_look", lead_id=lead.id),
                                             ctx())
    assert floor.store.events.streams == streams
    assert len(floor.store.tables.visits) == 1


@pytest.mark.parametrize(("command", "field"), [
    (walk_in(party_size=0), "party_size"),
    (walk_in(party_size=31), "party_size"),
    (walk_in(purpose="shopping"), "purpose"),
    (walk_in(phone="12"), "phone"),
    (walk_in(name=None), "name"),
    (walk_in(phone=None), "phone"),
    (walk_in(name="  "), "name"),
    (RegisterVisit(party_size=1, purpose="first_look", lead_id="L1", phone="13800000001"), "lead_id"),
])
async def test_a_bad_registration_names_the_field_and_stores_nothing(floor: Floor, command: RegisterVisit,
                                                                     field: str) -> None:
    streams = dict(floor.store.events.streams)
    with pytest.raises(InvalidFieldError) as refused:
        await floor.reception.register_visit(command, ctx())
    assert refused.value.field == field
    assert floor.store.events.streams == streams


async def test_an_unknown_lead_or_consultant_is_not_found_and_an_inactive_consultant_is_refused(floor: Floor) -> None:
    with pytest.raises(errors.LeadNotFoundError):
        await floor.reception.register_visit(RegisterVisit(party_size=1, purpose="first_look", lead_id="nope"),
                                             ctx())
    with pytest.raises(errors.ConsultantNotFoundError):
        await floor.reception.register_visit(walk_in(consultant_id="ghost"), ctx())
    await floor.organisation.deactivate_consultant(DeactivateConsultant("c2"), ctx())
    with pytest.raises(errors.ConsultantInactiveError):
        await floor.reception.register_visit(walk_in(consultant_id="c2"), ctx())
    assert floor.store.tables.visits == {}


async def test_the_receiving_consultant_can_differ_from_the_owner(floor: Floor) -> None:
    registered = await floor.reception.register_visit(walk_in(consultant_id="c2"), ctx())
    assert (registered.lead.owner_id, registered.visit.consultant_id) == ("c1", "c2")


async def test_a_departure_is_recorded_once_with_the_visit_duration(floor: Floor) -> None:
    visit = (await floor.reception.register_visit(walk_in(), ctx())).visit
    floor.clock.now += timedelta(minutes=95)
    left = await floor.reception.record_departure(RecordDeparture(visit.id), ctx())
    assert (left.departed_at, left.duration_minutes) == (T0 + timedelta(minutes=95), 95)
    assert floor.store.tables.visits[visit.id].departed_at == left.departed_at
    with pytest.raises(errors.VisitAlreadyDepartedError):
        await floor.reception.record_departure(RecordDeparture(visit.id), ctx())
    with pytest.raises(errors.VisitNotFoundError):
        await floor.reception.record_departure(RecordDeparture("nope"), ctx())
    assert floor.visit_types(visit.id) == ["VisitArrived", "VisitDeparted"]


async def test_a_stale_pinned_version_of_a_visit_is_a_conflict(floor: Floor) -> None:
    visit = (await floor.reception.register_visit(walk_in(), ctx())).visit
    with pytest.raises(ConcurrencyError):
        await floor.reception.record_departure(RecordDeparture(visit.id, expected_version=0), ctx())
    assert floor.visit_types(visit.id) == ["VisitArrived"]


async def test_the_register_is_kept_by_the_floor_and_entries_are_seen_by_who_took_part(floor: Floor) -> None:
    shop = CommandContext(correlation_id="corr", actor="shop", caller=Principal(
        subject="shop", scopes=frozenset({"leads:capture"})))
    with pytest.raises(ForbiddenError):
        await floor.reception.register_visit(walk_in(), shop)
    visit = (await floor.reception.register_visit(walk_in(), as_caller("c2", "consultant"))).visit
    assert visit.receptionist_id == "c2"
    # Another team's manager does not see the entry (404); the receiving consultant (c1, the owner) may close it.
    with pytest.raises(errors.VisitNotFoundError):
        await floor.reception.record_departure(RecordDeparture(visit.id), as_caller("m2", "manager", team="t2"))
    left = await floor.reception.record_departure(RecordDeparture(visit.id), as_caller("c1", "consultant"))
    assert left.departed_at is not None


async def test_a_visit_for_a_lead_outside_the_callers_scope_is_not_found(floor: Floor) -> None:
    lead = (await floor.capture(CaptureLead(name="李", phone="13800000002", channel="website"), ctx())).lead
    assert lead.owner_id == "c1"
    with pytest.raises(errors.LeadNotFoundError):
        await floor.reception.register_visit(RegisterVisit(party_size=1, purpose="first_look", lead_id=lead.id),
                                             as_caller("c3", "consultant", team="t2"))
    assert floor.store.tables.visits == {}


def test_an_aggregate_with_a_visit_stream_rebuilds_from_its_events() -> None:
    visit = Visit.arrive(visit_id="v1", lead_id="L1", customer_id="C1", earlier_visits=2, party_size=3,
                         purpose="first_look", known_purposes=PURPOSES, receptionist_id="r1", consultant_id="c1",
                         team_id="t1", walk_in_lead=False, now=T0)
    rebuilt = Visit.rehydrate("v1", list(visit.pending_events))
    assert (rebuilt.visit_number, rebuilt.first_visit, rebuilt.party_size, rebuilt.arrived_at) == (3, False, 3, T0)
