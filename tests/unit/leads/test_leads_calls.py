"""Call-center calls become work, through RecordCall on the in-memory unit of work: an answered call is a
follow-up on the caller's open lead by the agent's consultant, an unknown caller a call-center lead, a missed call
a call-back due soon that goes overdue like a follow-up; a call reported twice counts once."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta
from typing import Any

import pytest

from services.leads.app.calls import RecordCall, RecordCallHandler
from services.leads.app.commands import CaptureLeadHandler
from services.leads.app.timers import FOLLOW_UP_OVERDUE, POOL_RELEASE
from services.leads.domain.calls import Call
from services.leads.domain.lead import Stage
from shared.domain import InvalidFieldError
from shared.timer_model import Timer
from tests.unit.leads.test_leads_handlers import CHANNELS, T0, Leads, ctx

AGENTS = {"agent-7": "c2"}


@pytest.fixture
async def leads() -> Leads:
    world = Leads()
    await world.team()
    return world


def handler(leads: Leads) -> RecordCallHandler:
    ids = (f"call-{n}" for n in itertools.count(1))
    capture = CaptureLeadHandler(unit_of_work=leads.store, clock=leads.clock, new_id=lambda: next(ids),
                                 channels=CHANNELS | {"call_center"}, policy=leads.store.policy, default_team_id="t1")
    return RecordCallHandler(unit_of_work=leads.store, clock=leads.clock, capture=capture,
                             policy=leads.store.policy, agents=AGENTS)


def call(call_id: str = "CALL-1", *, number: str = "138 0000 0001", outcome: str = "answered",
         seconds: int = 95, agent: str | None = "agent-7", started_at: datetime = T0, direction: str = "inbound",
         caller_name: str | None = None) -> RecordCall:
    return RecordCall(caller_number=number, caller_name=caller_name, call=Call(
        call_id=call_id, direction=direction, outcome=outcome, started_at=started_at, duration_seconds=seconds,
        agent_id=agent))


async def test_an_answered_call_is_a_follow_up_on_the_callers_open_lead_by_the_agents_consultant(
    leads: Leads,
) -> None:
    lead = await leads.lead("13800000001")
    recorded = await handler(leads)(call(), ctx("system:call-center"))
    assert (recorded.lead.id, recorded.recorded, recorded.new_lead) == (lead.id, True, False)
    assert leads.store.event_types(lead.id)[-4:] == [
        "CallRecorded", "FollowUpLogged", "StageAdvanced", "FollowUpScheduled"]
    assert recorded.lead.stage is Stage.CONTACTED
    history = leads.store.events.streams[f"lead-{lead.id}"]
    follow_up = next(e for e in history if e.event_type == "FollowUpLogged")
    assert (follow_up.data["kind"], follow_up.data["logged_by"]) == ("call", "c2")  # agent-7 is consultant c2


async def test_a_call_reported_twice_is_recorded_once(leads: Leads) -> None:
    await leads.lead("13800000001")
    first = await handler(leads)(call(), ctx())
    again = await handler(leads)(call(), ctx())
    assert (first.recorded, again.recorded, again.lead.id) == (True, False, first.lead.id)
    assert leads.store.event_types(first.lead.id).count("CallRecorded") == 1


async def test_an_unknown_caller_becomes_a_call_center_lead_assigned_round_robin(leads: Leads) -> None:
    recorded = await handler(leads)(call("CALL-9", number="13900000009", seconds=30, agent="c1",
                                         caller_name="周九"), ctx())
    assert recorded.new_lead
    assert (recorded.lead.channel, recorded.lead.name, recorded.lead.source_system) == (
        "call_center", "周九", "call-center")
    assert recorded.lead.owner_id in ("c1", "c2")
    assert leads.store.event_types(recorded.lead.id) == [
        "LeadCreated", "LeadAssigned", "FollowUpScheduled", "CallRecorded", "FollowUpLogged", "StageAdvanced",
        "FollowUpScheduled"]


async def test_a_missed_call_opens_a_call_back_that_goes_overdue_like_a_follow_up(leads: Leads) -> None:
    lead = await leads.lead("13800000001")
    recorded = await handler(leads)(call(outcome="missed", seconds=0, agent=None), ctx())
    due = T0 + leads.store.policy.call_back_within
    assert recorded.lead.follow_up_due_at == due  # earlier than the new lead's 24 h first contact
    assert leads.store.tables.armed[(lead.id, FOLLOW_UP_OVERDUE)][0] == due
    leads.clock.now = due + timedelta(minutes=1)
    await leads.timers.follow_up_overdue(None, Timer(
        timer_id="t", kind=FOLLOW_UP_OVERDUE, due_at=due, attempts=0,
        payload={"lead_id": lead.id, "sequence": recorded.lead.follow_up_sequence}))
    assert leads.store.event_types(lead.id)[-1] == "FollowUpOverdue"


async def test_a_missed_call_does_not_postpone_an_earlier_follow_up(leads: Leads) -> None:
    lead = await leads.lead("13800000001")
    late = call("CALL-L", outcome="missed", seconds=0, started_at=T0 + timedelta(hours=23))
    recorded = await handler(leads)(late, ctx())
    assert recorded.lead.follow_up_due_at == lead.follow_up_due_at  # 24 h after capture < 23 h + 2 h
    assert leads.store.event_types(lead.id)[-1] == "CallRecorded"


@pytest.mark.parametrize(("changes", "field"), [
    ({"outcome": "voicemail"}, "outcome"),
    ({"direction": "sideways"}, "direction"),
    ({"number": "12345"}, "caller_number"),
    ({"outcome": "missed", "seconds": 10}, "duration_seconds"),
])
async def test_a_bad_call_is_refused_naming_the_field_and_stores_nothing(
    leads: Leads, changes: dict[str, Any], field: str,
) -> None:
    before = dict(leads.store.events.streams)
    with pytest.raises(InvalidFieldError) as refused:
        await handler(leads)(call("CALL-X", **changes), ctx())
    assert refused.value.field == field
    assert leads.store.events.streams == before


def test_an_agent_is_the_configured_consultant_or_the_consultant_of_the_same_id(leads: Leads) -> None:
    record = handler(leads)
    assert (record.consultant_of("agent-7"), record.consultant_of("c1"), record.consultant_of(None)) == (
        "c2", "c1", None)


async def test_a_call_on_a_pooled_lead_is_recorded_without_follow_up_or_call_back(leads: Leads) -> None:
    lead = await leads.lead("13800000001")
    leads.clock.now = T0 + leads.store.policy.pool_idle + timedelta(minutes=1)
    await leads.timers.pool_release(None, Timer(timer_id="p", kind=POOL_RELEASE, due_at=leads.clock.now,
                                                payload={"lead_id": lead.id}, attempts=0))
    for outcome, seconds in (("answered", 60), ("missed", 0)):
        await handler(leads)(call(f"CALL-{outcome}", outcome=outcome, seconds=seconds), ctx())
    assert leads.store.event_types(lead.id)[-3:] == ["LeadReleasedToPool", "CallRecorded", "CallRecorded"]
