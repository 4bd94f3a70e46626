"""Outreach batches against real PostgreSQL: lost customers reactivated and dormant leads handed over, dealt round
robin in the given order, each task a follow-up in its consultant's work queue; a repeat under the same key creates
nothing; refused batches write nothing."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import timedelta
from functools import partial
from typing import Any

import pytest

from services.leads.adapters.outreach_queries import PostgresOutreachQueries
from services.leads.adapters.unit_of_work import postgres_leads_units_of_work
from services.leads.adapters.work_queue_queries import PostgresWorkQueueQueries
from services.leads.app import work_queue as wq
from services.leads.app.commands import CaptureLead
from services.leads.app.lead_commands import ApproveLoss, RequestLoss
from services.leads.app.outreach import CreateOutreachBatch, OutreachFilters, OutreachHandlers
from services.leads.app.timers import timers_for
from services.leads.domain.errors import ConsultantNotFoundError
from shared.auth.errors import ForbiddenError
from shared.auth.principal import Principal
from shared.commands import CommandContext
from shared.eventstore.store import PostgresEventStore
from shared.idempotency import IdempotentRequest
from tests.integration.leads.conftest import team_with
from tests.support.leads import LeadsInProcess, ctx

TEAM = "ob-a"
MANAGER = Principal("ob-max", frozenset({"manager"}), team_id=TEAM)
_numbers = iter(range(50_000_001, 50_099_999))


@pytest.fixture(scope="module")
async def outreach(leads: LeadsInProcess) -> OutreachHandlers:
    await team_with(leads, TEAM, ["ob-ann", "ob-bob", "ob-cat"], manager="ob-max")
    await team_with(leads, "ob-b", ["ob-dan"])
    uow = postgres_leads_units_of_work(leads.pool, PostgresEventStore(leads.pool),
                                       partial(timers_for, policy=leads.policy))
    return OutreachHandlers(unit_of_work=uow, clock=leads.clock, new_id=lambda: f"ob-{uuid.uuid4().hex[:10]}",
                            capture=leads.capture, policy=leads.policy, loss_reasons=leads.policy.loss_reasons)


def as_manager(caller: Principal = MANAGER) -> CommandContext:
    return CommandContext(correlation_id=str(uuid.uuid4()), actor=caller.subject, caller=caller)


async def lost_customer(leads: LeadsInProcess, channel: str, reason: str = "price") -> Any:
    leads.clock.advance(timedelta(seconds=1))  # the list's order is capture time (then the id, only for ties)
    lead = (await leads.capture(CaptureLead(name=f"客户{next(_numbers)}", phone=f"134 {next(_numbers):08d}",
                                            channel=channel, team_id=TEAM), ctx())).lead
    await leads.commands.request_loss(RequestLoss(lead.id, reason=reason), ctx())
    await leads.commands.approve_loss(ApproveLoss(lead.id), ctx("ob-max"))
    return lead


def keyed(command: CreateOutreachBatch, key: str) -> CreateOutreachBatch:
    return replace(command, idempotency=IdempotentRequest.of(key, operation="leads.outreach_batch",
                                                             caller=MANAGER.subject, request={"key": key}))


async def queue_of(leads: LeadsInProcess, consultant: str) -> list[dict[str, Any]]:
    page = await PostgresWorkQueueQueries(leads.pool).work_queue(
        wq.ListScope(own=consultant), wq.WorkFilters(), assignee_id=None, now=leads.clock(), cursor=None, limit=200)
    return page.items


async def test_lost_customers_are_reactivated_round_robin_into_the_consultants_queues_and_a_repeat_does_nothing(
    leads: LeadsInProcess, outreach: OutreachHandlers,
) -> None:
    lost = [await lost_customer(leads, "exhibition") for _ in range(5)]
    await lost_customer(leads, "exhibition", reason="no_budget")  # filtered out by the reason
    due = leads.clock() + timedelta(days=2)
    command = keyed(CreateOutreachBatch(
        filters=OutreachFilters(audience="lost", channel="exhibition", lost_reason="price"),
        consultant_ids=["ob-bob", "ob-ann"], due_at=due, note="spring campaign"), "spring-1")

    result = await outreach.create_batch(command, as_manager())
    repeat = await outreach.create_batch(command, as_manager())

    created = result.batch.created
    assert created is not None
    assert result.created
    assert not repeat.created
    assert repeat.batch.id == result.batch.id
    assert (created.selected, created.reactivated, created.scheduled) == (5, 5, 0)
    assert [t.source_lead_id for t in created.tasks] == [lead.id for lead in lost]  # the list's order
    assert [t.consultant_id for t in created.tasks] == ["ob-bob", "ob-ann", "ob-bob", "ob-ann", "ob-bob"]
    for task, old in zip(created.tasks, lost, strict=True):
        assert task.lead_id != old.id
        row = await leads.queries.lead_row(task.lead_id)
        assert row is not None
        assert (row["customer_id"], row["owner_id"], row["status"]) == (old.customer_id, task.consultant_id, "open")
        assert row["follow_up_due_at"] == due.isoformat()
        assert len(await leads.queries.customer_leads(old.customer_id)) == 2  # the repeat made no third
    for consultant, count in (("ob-bob", 3), ("ob-ann", 2)):
        batch_leads = {t.lead_id for t in created.tasks if t.consultant_id == consultant}
        queued = [i for i in await queue_of(leads, consultant) if i["lead_id"] in batch_leads]
        assert len(queued) == count
        assert {(i["kind"], i["due_at"]) for i in queued} == {("follow_up", due.isoformat())}

    shown = await PostgresOutreachQueries(leads.pool, leads.clock).outreach_batch(result.batch.id)
    assert shown is not None
    assert (shown["selected"], shown["progress"]) == (5, {"due": 5})
    assert [t["consultant_id"] for t in shown["tasks"]] == [t.consultant_id for t in created.tasks]


async def test_dormant_leads_are_handed_over_with_a_follow_up_and_active_ones_are_left_alone(
    leads: LeadsInProcess, outreach: OutreachHandlers,
) -> None:
    dormant = []
    for _ in range(3):
        leads.clock.advance(timedelta(seconds=1))
        dormant.append((await leads.capture(CaptureLead(name="老客户", phone=f"134 {next(_numbers):08d}",
                                                        channel="key_account", team_id=TEAM), ctx())).lead)
    leads.clock.advance(timedelta(days=30))
    active = (await leads.capture(CaptureLead(name="新客户", phone=f"134 {next(_numbers):08d}",
                                              channel="key_account", team_id=TEAM), ctx())).lead

    result = await outreach.create_batch(CreateOutreachBatch(
        filters=OutreachFilters(audience="dormant", channel="key_account", idle_days=20),
        consultant_ids=["ob-cat", "ob-ann"], note=None), as_manager())

    created = result.batch.created
    assert created is not None
    assert [t.lead_id for t in created.tasks] == [lead.id for lead in dormant]
    assert active.id not in {t.lead_id for t in created.tasks}
    assert [t.consultant_id for t in created.tasks] == ["ob-cat", "ob-ann", "ob-cat"]
    for task in created.tasks:
        row = await leads.queries.lead_row(task.lead_id)
        assert row is not None
        assert row["owner_id"] == task.consultant_id
    second = await outreach.create_batch(CreateOutreachBatch(
        filters=OutreachFilters(audience="dormant", channel="key_account", idle_days=20),
        consultant_ids=["ob-cat"], note=None), as_manager())
    assert second.batch.created is not None
    assert second.batch.created.selected == 0  # handed over just now: no longer dormant


async def test_a_consultant_of_another_team_or_another_teams_manager_is_refused_and_nothing_is_written(
    leads: LeadsInProcess, outreach: OutreachHandlers,
) -> None:
    lost = await lost_customer(leads, "cold_visit")
    command = CreateOutreachBatch(filters=OutreachFilters(audience="lost", channel="cold_visit"),
                                  consultant_ids=["ob-ann", "ob-dan"])

    with pytest.raises(ConsultantNotFoundError):
        await outreach.create_batch(command, as_manager())
    consultant = Principal("ob-ann", frozenset({"consultant"}), team_id=TEAM)
    other_manager = Principal("ob-sam", frozenset({"manager"}), team_id="ob-b")
    with pytest.raises(ForbiddenError):
        await outreach.create_batch(command, as_manager(consultant))
    with pytest.raises(ForbiddenError):
        await outreach.create_batch(replace(command, team_id=TEAM), as_manager(other_manager))
    assert len(await leads.queries.customer_leads(lost.customer_id)) == 1
