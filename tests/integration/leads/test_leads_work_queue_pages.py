"""The work queue and the filtered lead list against real PostgreSQL: the queue's order (due time, then grade),
keyset pages that stay exact while rows are inserted between them, every filter, the kinds of work (follow-ups,
call-backs, appointments, after-sales return visits), and whose queue a caller gets."""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import partial
from typing import Any

import pytest

from services.leads.adapters.unit_of_work import postgres_leads_units_of_work
from services.leads.adapters.work_queue_queries import PostgresWorkQueueQueries
from services.leads.app import work_queue as wq
from services.leads.app.calls import RecordCall, RecordCallHandler
from services.leads.app.commands import CaptureLead
from services.leads.app.lead_commands import ApproveLoss, LogFollowUp, RequestLoss, ScheduleAppointment
from services.leads.app.timers import timers_for
from services.leads.domain.calls import Call
from services.leads.domain.work_queue import work_order_key
from shared.contracts.aftersales import CarePlanScheduledV1, ReturnVisitCompletedV1, ScheduledVisitV1
from shared.domain import InvalidFieldError
from shared.eventstore.store import PostgresEventStore
from tests.integration.leads.conftest import team_with
from tests.support.leads import LeadsInProcess, ctx

MINE = wq.ListScope


@pytest.fixture(scope="module")
async def queue(leads: LeadsInProcess) -> PostgresWorkQueueQueries:
    await team_with(leads, "wq-a", ["wq-ann", "wq-bob"], manager="wq-max")
    await team_with(leads, "wq-b", ["wq-cid"])
    return PostgresWorkQueueQueries(leads.pool)


_numbers = iter(range(30_000_001, 30_099_999))


async def captured(leads: LeadsInProcess, team: str = "wq-a", channel: str = "website") -> Any:
    result = await leads.capture(CaptureLead(name=f"客户{next(_numbers)}", phone=f"136 {next(_numbers):08d}",
                                             channel=channel, team_id=team), ctx())
    return result.lead


async def follow_up_at(leads: LeadsInProcess, lead_id: str, due: Any, grade: str) -> None:
    await leads.commands.log_follow_up(LogFollowUp(lead_id, kind="call", outcome="talked", next_due_at=due,
                                                   grade=grade, grade_reason="test"), ctx())


async def whole_queue(queue: PostgresWorkQueueQueries, leads: LeadsInProcess, scope: wq.ListScope,
                      filters: wq.WorkFilters | None = None, limit: int = 200, **kw: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        page = await queue.work_queue(scope, filters or wq.WorkFilters(), assignee_id=kw.get("assignee_id"),
                                      now=leads.clock(), cursor=cursor, limit=limit)
        items += page.items
        if page.next_cursor is None:
            return items
        cursor = page.next_cursor


async def test_equal_due_times_come_h_first_then_a_b_c_and_earlier_due_before_later(
    leads: LeadsInProcess, queue: PostgresWorkQueueQueries,
) -> None:
    due = leads.clock() + timedelta(days=3)
    by_grade = {}
    for grade in ("C", "A", "B", "H"):
        lead = await captured(leads, team="wq-b")
        await follow_up_at(leads, lead.id, due, grade)
        by_grade[grade] = lead.id
    earlier = await captured(leads, team="wq-b")  # ungraded, due in 24 h: before all of them

    items = await whole_queue(queue, leads, MINE(own="wq-cid"))
    order = [i["lead_id"] for i in items if i["lead_id"] in {*by_grade.values(), earlier.id}]

    assert order == [earlier.id, by_grade["H"], by_grade["A"], by_grade["B"], by_grade["C"]]
    assert items == sorted(items, key=lambda i: work_order_key(_at(i["due_at"]), i["grade"], i["item_id"]))


def _at(value: str) -> datetime:
    return datetime.fromisoformat(value)


async def test_pages_neither_repeat_nor_skip_while_work_is_added_between_them(
    leads: LeadsInProcess, queue: PostgresWorkQueueQueries,
) -> None:
    team = "wq-pages"
    await team_with(leads, team, ["wq-pat"])
    before = [await captured(leads, team=team) for _ in range(7)]
    leads.clock.advance(timedelta(minutes=1))

    first = await queue.work_queue(MINE(own="wq-pat"), wq.WorkFilters(), assignee_id=None, now=leads.clock(),
                                   cursor=None, limit=3)
    # Work due before the cursor (an earlier clock) and after it arrives between the pages.
    leads.clock.advance(timedelta(minutes=-30))
    inserted_before = await captured(leads, team=team)
    leads.clock.advance(timedelta(hours=2))
    inserted_after = await captured(leads, team=team)
    rest: list[dict[str, Any]] = []
    cursor = first.next_cursor
    while cursor is not None:
        page = await queue.work_queue(MINE(own="wq-pat"), wq.WorkFilters(), assignee_id=None, now=leads.clock(),
                                      cursor=cursor, limit=3)
        rest += page.items
        cursor = page.next_cursor

    seen = [i["lead_id"] for i in [*first.items, *rest]]
    assert len(first.items) == 3
    assert sorted(seen) == sorted({*seen}), "an item was repeated across pages"
    assert {lead.id for lead in before} <= set(seen), "an item present from the start was skipped"
    assert inserted_after.id in seen  # due after the cursor: on a later page
    assert inserted_before.id not in seen  # due before the cursor: the next read of page one shows it
    assert inserted_before.id in [i["lead_id"] for i in await whole_queue(queue, leads, MINE(own="wq-pat"))]


async def test_a_damaged_cursor_is_refused_naming_the_field(queue: PostgresWorkQueueQueries,
                                                            leads: LeadsInProcess) -> None:
    with pytest.raises(InvalidFieldError) as refused:
        await queue.work_queue(MINE(own="x"), wq.WorkFilters(), assignee_id=None, now=leads.clock(),
                               cursor="garbage!", limit=5)
    assert refused.value.field == "cursor"


async def test_missed_calls_appointments_and_return_visits_are_work_of_their_kind_until_done(
    leads: LeadsInProcess, queue: PostgresWorkQueueQueries,
) -> None:
    team = "wq-kinds"
    await team_with(leads, team, ["wq-kim"])
    lead = await captured(leads, team=team)
    calls = RecordCallHandler(unit_of_work=postgres_leads_units_of_work(
        leads.pool, PostgresEventStore(leads.pool), partial(timers_for, policy=leads.policy)), clock=leads.clock,
        capture=leads.capture, policy=leads.policy, agents={})
    await calls(RecordCall(caller_number=lead.phone, caller_name=None, call=Call(
        call_id=f"missed-{lead.id}", direction="inbound", outcome="missed", started_at=leads.clock(),
        duration_seconds=0)), ctx())
    visit_at = leads.clock() + timedelta(days=1)
    await leads.commands.schedule_appointment(ScheduleAppointment(lead.id, kind="showroom_visit",
                                                                  scheduled_for=visit_at), ctx())
    plan = CarePlanScheduledV1(plan_id=f"O-{lead.id}", order_id=f"O-{lead.id}", customer_id=lead.customer_id,
                               lead_id=lead.id, consultant_id="wq-kim", delivered_at=leads.clock(), visits=[
                                   ScheduledVisitV1(visit_no=1, label="D+1", due_at=leads.clock() - timedelta(hours=1),
                                                    overdue_at=leads.clock() - timedelta(minutes=1),
                                                    assignee_role="consultant"),
                                   ScheduledVisitV1(visit_no=2, label="D+3", due_at=leads.clock() + timedelta(days=3),
                                                    overdue_at=leads.clock() + timedelta(days=4),
                                                    assignee_role="consultant")])
    await leads.deliver(plan, key=plan.order_id)
    await leads.deliver(plan, key=plan.order_id)  # a replay rewrites the same rows

    items = await whole_queue(queue, leads, MINE(own="wq-kim"))
    assert [(i["kind"], i["detail"], i["overdue"]) for i in items] == [
        ("return_visit", "D+1", True), ("call_back", None, False), ("appointment", "showroom_visit", False),
        ("return_visit", "D+3", False)]
    assert {i["customer_name"] for i in items} == {lead.name}
    assert {(i["grade"], i["stage"]) for i in items} == {("N", "new")}

    overdue = await whole_queue(queue, leads, MINE(own="wq-kim"), wq.WorkFilters(overdue_only=True))
    assert [i["detail"] for i in overdue] == ["D+1"]
    only_visits = await whole_queue(queue, leads, MINE(own="wq-kim"), wq.WorkFilters(kind="return_visit"))
    assert [i["detail"] for i in only_visits] == ["D+1", "D+3"]

    await leads.deliver(ReturnVisitCompletedV1(
        plan_id=plan.plan_id, customer_id=lead.customer_id, visit_no=1, label="D+1", score=5, scale_min=1,
        scale_max=5, low_score=False, late=True, completed_at=leads.clock()), key=plan.order_id)
    assert [i["detail"] for i in await whole_queue(queue, leads, MINE(own="wq-kim"),
                                                   wq.WorkFilters(kind="return_visit"))] == ["D+3"]


async def test_the_lead_filters_narrow_the_queue_and_the_list(leads: LeadsInProcess,
                                                               queue: PostgresWorkQueueQueries) -> None:
    team = "wq-filters"
    await team_with(leads, team, ["wq-fay"], manager="wq-fil")
    idle = await captured(leads, team=team, channel="call_center")
    leads.clock.advance(timedelta(days=10))
    graded = await captured(leads, team=team)
    await follow_up_at(leads, graded.id, leads.clock() + timedelta(days=1), "H")
    lost = await captured(leads, team=team)
    await leads.commands.request_loss(RequestLoss(lost.id, reason="price"), ctx())
    await leads.commands.approve_loss(ApproveLoss(lost.id), ctx("wq-fil"))

    async def queue_of(filters: wq.LeadFilters) -> set[str]:
        items = await whole_queue(queue, leads, MINE(own="wq-fay"), wq.WorkFilters(filters))
        return {i["lead_id"] for i in items}

    async def list_of(filters: wq.LeadFilters, status: str = "open") -> set[str]:
        page = await queue.lead_list(wq.ListScope(team_id=team), filters, status=status, owner_id=None,
                                     team_id=None, now=leads.clock(), cursor=None, limit=50)
        return {r["lead_id"] for r in page.items}

    assert await queue_of(wq.LeadFilters()) == {idle.id, graded.id}  # the lost lead has no work
    assert await queue_of(wq.LeadFilters(grade="H")) == {graded.id}
    assert await queue_of(wq.LeadFilters(stage="contacted")) == {graded.id}
    assert await queue_of(wq.LeadFilters(channel="call_center")) == {idle.id}
    assert await queue_of(wq.LeadFilters(idle_days=7)) == {idle.id}
    assert await list_of(wq.LeadFilters(idle_days=7)) == {idle.id}
    assert await list_of(wq.LeadFilters(lost_reason="price"), status="lost") == {lost.id}
    assert await list_of(wq.LeadFilters(lost_reason="no_budget"), status="lost") == set()
    assert await list_of(wq.LeadFilters()) == {idle.id, graded.id}


async def test_a_manager_sees_the_teams_queue_and_no_other_team_and_a_consultant_only_their_own(
    leads: LeadsInProcess, queue: PostgresWorkQueueQueries,
) -> None:
    ann_or_bob = await captured(leads, team="wq-a")
    other_team = await captured(leads, team="wq-b")

    team_items = await whole_queue(queue, leads, wq.ListScope(team_id="wq-a"))
    mine = await whole_queue(queue, leads, wq.ListScope(own=ann_or_bob.owner_id))
    one = await whole_queue(queue, leads, wq.ListScope(team_id="wq-a"), assignee_id=ann_or_bob.owner_id)
    everyone = await whole_queue(queue, leads, wq.ListScope(everything=True))

    assert ann_or_bob.id in {i["lead_id"] for i in team_items}
    assert other_team.id not in {i["lead_id"] for i in team_items}
    assert {i["team_id"] for i in team_items} == {"wq-a"}
    assert {i["assignee_id"] for i in mine} == {ann_or_bob.owner_id}
    assert {i["assignee_id"] for i in one} == {ann_or_bob.owner_id}
    assert {ann_or_bob.id, other_team.id} <= {i["lead_id"] for i in everyone}
