"""Capture against real PostgreSQL: idempotency on (source system, external id), dedupe on the normalised
phone, reactivation of a known customer, round-robin fairness under concurrent captures, hand-over when a
consultant leaves — and nothing half-written when a command is refused."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable

import pytest

from services.leads.app.commands import CaptureLead
from services.leads.app.lead_commands import ApproveLoss, GradeLead, RequestLoss
from services.leads.app.organisation import DeactivateConsultant, MoveConsultantTeam, RegisterConsultant
from services.leads.domain.errors import ConsultantAlreadyExistsError, NotAManagerError
from shared.domain import InvalidFieldError
from shared.eventstore import ConcurrencyError
from tests.integration.leads.conftest import team_with
from tests.support.leads import LeadsInProcess, ctx
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration


async def test_the_same_inquiry_sent_twice_is_one_lead_and_the_second_call_answers_with_the_first(
    leads: LeadsInProcess, phone: Callable[[], str], name: Callable[[str], str],
) -> None:
    inquiry = CaptureLead(name="张三", phone=phone(), channel="online_shop", source_system="shop",
                          external_id=name("inq-"))
    first = await leads.capture(inquiry, ctx())
    again = await asyncio.gather(*(leads.capture(inquiry, ctx()) for _ in range(5)))

    assert first.outcome == "created"
    assert {r.lead.id for r in again} == {first.lead.id}
    assert {r.outcome for r in again} == {"duplicate_request"}
    assert await leads.history_types(first.lead.id) == ["LeadCreated", "FollowUpScheduled"]


async def test_concurrent_first_sends_of_one_inquiry_still_make_one_lead(
    leads: LeadsInProcess, phone: Callable[[], str], name: Callable[[str], str],
) -> None:
    inquiry = CaptureLead(name="张三", phone=phone(), channel="call_center", source_system="cc",
                          external_id=name("call-"))
    results = await asyncio.gather(*(leads.capture(inquiry, ctx()) for _ in range(8)))

    assert len({r.lead.id for r in results}) == 1
    assert sorted(r.outcome for r in results) == ["created"] + ["duplicate_request"] * 7


async def test_a_keyless_capture_retried_after_a_timeout_adds_no_touchpoint(
    leads: LeadsInProcess, phone: Callable[[], str],
) -> None:
    """A client without an idempotency key that resends the same capture (its first answer lost under overload)
    gets the lead back as ``duplicate_request``; the same person on another channel is still a touchpoint."""
    capture = CaptureLead(name="孙八", phone=phone(), channel="website", interest="Model 3")
    first = await leads.capture(capture, ctx())
    retries = [await leads.capture(capture, ctx()) for _ in range(3)]
    other_channel = await leads.capture(CaptureLead(name="孙八", phone=capture.phone, channel="call_center",
                                                    interest="Model 3"), ctx())

    assert {r.outcome for r in retries} == {"duplicate_request"}
    assert {r.lead.id for r in retries} == {first.lead.id}
    assert other_channel.outcome == "duplicate_contact"
    types = await leads.history_types(first.lead.id)
    assert types.count("DuplicateContactRecorded") == 1


async def test_the_same_phone_from_two_channels_is_one_lead_with_a_touchpoint_and_a_reminder_to_the_owner(
    leads: LeadsInProcess, phone: Callable[[], str], name: Callable[[str], str],
) -> None:
    team = name("dedupe-team-")
    await team_with(leads, team, [f"{team}-c1"])
    number = phone()
    web = await leads.capture(CaptureLead(name="王五", phone=number, channel="website", team_id=team), ctx())
    call = await leads.capture(CaptureLead(name="王五", phone="+86 " + number.replace(" ", "-"),
                                           channel="call_center", team_id=team), ctx())

    assert call.outcome == "duplicate_contact"
    assert call.lead.id == web.lead.id
    assert await leads.history_types(web.lead.id) == [
        "LeadCreated", "LeadAssigned", "FollowUpScheduled", "DuplicateContactRecorded", "OwnerReminded"]
    history = await leads.queries.history(web.lead.id)
    assert history[3]["data"]["channel"] == "call_center"
    assert history[4]["data"]["owner_id"] == f"{team}-c1"
    assert await leads.pool.fetchval("SELECT count(*) FROM leads_view WHERE phone = $1", web.lead.phone) == 1


async def test_a_returning_customer_after_a_loss_gets_a_new_lead_linked_to_the_same_customer(
    leads: LeadsInProcess, phone: Callable[[], str], name: Callable[[str], str],
) -> None:
    team = name("return-team-")
    await team_with(leads, team, [f"{team}-c1"], manager=f"{team}-m")
    number = phone()
    first = await leads.capture(CaptureLead(name="赵六", phone=number, channel="showroom", team_id=team), ctx())
    await leads.commands.request_loss(RequestLoss(first.lead.id, "price"), ctx(f"{team}-c1"))
    await leads.commands.approve_loss(ApproveLoss(first.lead.id), ctx(f"{team}-m"))

    back = await leads.capture(CaptureLead(name="赵六", phone=number, channel="phone", team_id=team), ctx())

    assert back.outcome == "created"
    assert back.lead.id != first.lead.id
    assert back.lead.customer_id == first.lead.customer_id
    created = (await leads.queries.history(back.lead.id))[0]["data"]
    assert created["reactivated"] is True


async def test_fifty_concurrent_captures_are_spread_evenly_over_the_active_consultants(
    leads: LeadsInProcess, phone: Callable[[], str], name: Callable[[str], str],
) -> None:
    team = name("rr-team-")
    consultants = [f"{team}-c{i}" for i in range(1, 8)]
    await team_with(leads, team, consultants)
    await leads.organisation.deactivate_consultant(DeactivateConsultant(consultants[2]), ctx())
    active = [c for c in consultants if c != consultants[2]]

    results = await asyncio.gather(*(
        leads.capture(CaptureLead(name="客户", phone=phone(), channel="online_shop", team_id=team), ctx())
        for _ in range(50)))

    per_owner = Counter(r.lead.owner_id for r in results)
    assert set(per_owner) == set(active), "every active consultant gets leads, the inactive one none"
    assert max(per_owner.values()) - min(per_owner.values()) <= 1, per_owner


async def test_a_deactivated_consultants_open_leads_are_handed_to_the_rest_of_the_team(
    leads: LeadsInProcess, phone: Callable[[], str], name: Callable[[str], str],
) -> None:
    team = name("leave-team-")
    await team_with(leads, team, [f"{team}-a", f"{team}-b", f"{team}-c"])
    captured = [await leads.capture(CaptureLead(name="客户", phone=phone(), channel="website", team_id=team), ctx())
                for _ in range(6)]
    leaving = f"{team}-a"
    theirs = [c.lead.id for c in captured if c.lead.owner_id == leaving]
    assert len(theirs) == 2

    await leads.organisation.deactivate_consultant(DeactivateConsultant(leaving), ctx("hr"))

    owners = {lead_id: (await leads.queries.lead_row(lead_id) or {})["owner_id"] for lead_id in theirs}
    assert set(owners.values()) == {f"{team}-b", f"{team}-c"}
    assert await leads.queries.open_leads(leaving, None) == []
    history = await leads.queries.history(theirs[0])
    assert history[-1]["data"]["reason"] == "owner_left"


async def test_moving_a_consultant_to_another_team_hands_their_leads_over_in_the_old_team(
    leads: LeadsInProcess, phone: Callable[[], str], name: Callable[[str], str],
) -> None:
    old, new = name("old-team-"), name("new-team-")
    await team_with(leads, old, [f"{old}-a", f"{old}-b"])
    await team_with(leads, new, [])
    first = await leads.capture(CaptureLead(name="客户", phone=phone(), channel="website", team_id=old), ctx())
    mover = first.lead.owner_id
    assert mover is not None

    moved = await leads.organisation.move_consultant_team(MoveConsultantTeam(mover, new), ctx())

    assert moved.team_id == new
    row = await leads.queries.lead_row(first.lead.id)
    assert row is not None
    assert row["owner_id"] != mover
    assert row["team_id"] == old
    later = await leads.capture(CaptureLead(name="客户", phone=phone(), channel="website", team_id=new), ctx())
    assert later.lead.owner_id == mover


async def test_refused_commands_write_nothing(
    leads: LeadsInProcess, phone: Callable[[], str], name: Callable[[str], str],
) -> None:
    events_before = await leads.pool.fetchval("SELECT count(*) FROM events")
    number = phone()
    with pytest.raises(InvalidFieldError):
        await leads.capture(CaptureLead(name="李四", phone=number, channel="website", team_id="no-such-team",
                                        source_system="web", external_id=name("bad-")), ctx())
    with pytest.raises(InvalidFieldError):
        await leads.capture(CaptureLead(name="李四", phone="12", channel="website"), ctx())
    team = name("dup-team-")
    await team_with(leads, team, [f"{team}-c1"])
    events_mid = await leads.pool.fetchval("SELECT count(*) FROM events")
    with pytest.raises(ConsultantAlreadyExistsError):
        await leads.organisation.register_consultant(RegisterConsultant(f"{team}-c1", "x", team), ctx())

    assert events_mid == events_before + 2  # only the team and its consultant
    assert await leads.pool.fetchval("SELECT count(*) FROM events") == events_mid
    assert await leads.pool.fetchval("SELECT count(*) FROM leads_customers WHERE phone = $1",
                                     "+86" + number.replace(" ", "")) == 0


async def test_a_stale_expected_version_is_a_conflict_and_a_non_manager_cannot_approve(
    leads: LeadsInProcess, phone: Callable[[], str], name: Callable[[str], str],
) -> None:
    team = name("ver-team-")
    await team_with(leads, team, [f"{team}-c1"], manager=f"{team}-m")
    lead = (await leads.capture(CaptureLead(name="客户", phone=phone(), channel="website", team_id=team), ctx())).lead
    version = lead.version
    await leads.commands.grade_lead(GradeLead(lead.id, "H", "buys this week", version), ctx(f"{team}-c1"))

    with pytest.raises(ConcurrencyError):
        await leads.commands.grade_lead(GradeLead(lead.id, "A", "changed mind", version), ctx(f"{team}-c1"))
    await leads.commands.request_loss(RequestLoss(lead.id, "no_budget"), ctx(f"{team}-c1"))
    with pytest.raises(NotAManagerError):
        await leads.commands.approve_loss(ApproveLoss(lead.id), ctx(f"{team}-c1"))
    row = await leads.queries.lead_row(lead.id)
    assert row is not None
    assert row["grade"] == "H"
    assert row["status"] == "open"
    assert row["loss_pending"]


async def test_concurrent_contacts_with_one_phone_from_several_channels_make_one_lead_and_touchpoints(
    leads: LeadsInProcess, phone: Callable[[], str],
) -> None:
    number = phone()
    channels = ["website", "call_center", "phone", "online_shop", "showroom", "roadshow"]

    results = await asyncio.gather(*(
        leads.capture(CaptureLead(name="钱七", phone=number, channel=c), ctx()) for c in channels))

    assert len({r.lead.id for r in results}) == 1
    assert sorted(r.outcome for r in results) == ["created"] + ["duplicate_contact"] * 5
    types = await leads.history_types(results[0].lead.id)
    assert types.count("DuplicateContactRecorded") == 5


async def test_when_the_last_consultant_of_a_team_leaves_their_leads_go_to_the_pool(
    leads: LeadsInProcess, phone: Callable[[], str], name: Callable[[str], str],
) -> None:
    team = name("solo-team-")
    await team_with(leads, team, [f"{team}-only"])
    lead = (await leads.capture(CaptureLead(name="客户", phone=phone(), channel="website", team_id=team),
                                ctx())).lead

    await leads.organisation.deactivate_consultant(DeactivateConsultant(f"{team}-only"), ctx())

    assert [r["lead_id"] for r in await leads.queries.pool(team)] == [lead.id]
    history = await leads.queries.history(lead.id)
    assert history[-1]["event_type"] == "LeadReleasedToPool"
    assert history[-1]["data"]["reason"] == "owner_left"


async def test_captures_in_one_team_do_not_wait_for_each_other(
    leads: LeadsInProcess, phone: Callable[[], str], name: Callable[[str], str],
) -> None:
    team = name("side-by-side-")
    await team_with(leads, team, [f"{team}-a", f"{team}-b"])
    async with leads.pool.acquire() as conn, conn.transaction():
        # A capture in flight: it holds its team's lock until it commits.
        held = await conn.fetchrow("SELECT * FROM leads_take_rotation_ticket($1)", team)
        assert held["team_known"]
        assert list(held["consultant_ids"]) == [f"{team}-a", f"{team}-b"]
        # Another capture in the same team completes meanwhile (the deadline only guards against a hang).
        other = await asyncio.wait_for(
            leads.capture(CaptureLead(name="客户", phone=phone(), channel="website", team_id=team), ctx()), 30)
    assert other.lead.owner_id == [f"{team}-a", f"{team}-b"][(held["ticket"] + 1) % 2]


async def test_a_deactivation_waits_for_captures_in_flight_in_its_team(
    leads: LeadsInProcess, phone: Callable[[], str], name: Callable[[str], str],
) -> None:
    team = name("in-flight-")
    await team_with(leads, team, [f"{team}-a", f"{team}-b"])
    waiting = ("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted "
               "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())")
    async with leads.pool.acquire() as conn, conn.transaction():
        await conn.fetchrow("SELECT * FROM leads_take_rotation_ticket($1)", team)  # a capture in flight
        leaving = asyncio.create_task(
            leads.organisation.deactivate_consultant(DeactivateConsultant(f"{team}-a"), ctx("hr")))
        await eventually(lambda: leads.pool.fetchval(waiting), until=lambda n: n >= 1,
                         what="the deactivation waiting for the team's lock")
        assert not leaving.done()
    deactivated = await asyncio.wait_for(leaving, 30)
    assert not deactivated.active


async def test_thirty_concurrent_unpinned_grade_changes_on_one_lead_all_succeed(
    leads: LeadsInProcess, phone: Callable[[], str], name: Callable[[str], str],
) -> None:
    team = name("grade-team-")
    await team_with(leads, team, [f"{team}-c1"])
    lead = (await leads.capture(CaptureLead(name="客户", phone=phone(), channel="website", team_id=team), ctx())).lead
    grades = ["H", "A", "B", "C"]

    results = await asyncio.gather(*(
        leads.commands.grade_lead(GradeLead(lead.id, grades[i % 4], f"call {i}"), ctx(f"{team}-c1"))
        for i in range(30)), return_exceptions=True)

    failures = [r for r in results if isinstance(r, BaseException)]
    assert failures == [], f"{len(failures)} of 30 failed: {failures[:3]}"
    history = await leads.queries.history(lead.id)
    assert sum(1 for e in history if e["event_type"] == "LeadGraded") == 30


async def test_a_refused_capture_takes_no_round_robin_turn(
    leads: LeadsInProcess, phone: Callable[[], str], name: Callable[[str], str],
) -> None:
    team = name("fair-team-")
    consultants = [f"{team}-c1", f"{team}-c2"]
    await team_with(leads, team, consultants)
    first = await leads.capture(CaptureLead(name="客户", phone=phone(), channel="website", team_id=team), ctx())

    with pytest.raises(InvalidFieldError) as refused:
        await leads.capture(CaptureLead(name="客户", phone=phone(), channel="carrier_pigeon", team_id=team), ctx())
    second = await leads.capture(CaptureLead(name="客户", phone=phone(), channel="website", team_id=team), ctx())

    assert refused.value.field == "channel"
    assert {first.lead.owner_id, second.lead.owner_id} == set(consultants), "the next consultant keeps their turn"
