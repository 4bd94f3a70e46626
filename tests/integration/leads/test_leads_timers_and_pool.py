"""Follow-up overdue and pool release driven by the durable timers, with the TimerRunner wired as the service
wires it and a fake clock moved forward instead of waiting; then claiming from the pool and the cool-down."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest

from services.leads.app.commands import CaptureLead
from services.leads.app.lead_commands import ClaimLead, GradeLead, LogFollowUp
from services.leads.domain.errors import ClaimCooldownError, ClaimOutsideTeamError, LeadInPoolError
from tests.integration.leads.conftest import team_with
from tests.support.leads import LeadsInProcess, ctx

pytestmark = pytest.mark.integration


async def overdue_count(app: LeadsInProcess, lead_id: str) -> int:
    return (await app.history_types(lead_id)).count("FollowUpOverdue")


async def test_a_missed_first_contact_becomes_overdue_on_time_and_only_once(
    leads: LeadsInProcess, phone: Callable[[], str], name: Callable[[str], str],
) -> None:
    team = name("od-team-")
    await team_with(leads, team, [f"{team}-c1"])
    lead = (await leads.capture(CaptureLead(name="客户", phone=phone(), channel="website", team_id=team),
                                ctx())).lead

    leads.clock.advance(timedelta(hours=23, minutes=59))
    await leads.timers.fire_due()
    assert await overdue_count(leads, lead.id) == 0

    leads.clock.advance(timedelta(minutes=1))
    await leads.timers.fire_due()
    await leads.timers.fire_due()
    assert await overdue_count(leads, lead.id) == 1
    row = await leads.queries.lead_row(lead.id)
    assert row is not None
    assert row["overdue"] is True
    overdue = [r for r in await leads.queries.follow_ups(f"{team}-c1", leads.clock()) if r["lead_id"] == lead.id]
    assert overdue
    assert overdue[0]["overdue"]


async def test_a_follow_up_logged_in_time_cancels_the_overdue_and_the_next_due_follows_the_grade(
    leads: LeadsInProcess, phone: Callable[[], str], name: Callable[[str], str],
) -> None:
    team = name("ok-team-")
    await team_with(leads, team, [f"{team}-c1"])
    lead = (await leads.capture(CaptureLead(name="客户", phone=phone(), channel="website", team_id=team),
                                ctx())).lead
    leads.clock.advance(timedelta(hours=2))
    await leads.commands.log_follow_up(LogFollowUp(lead.id, "call", "interested", grade="H",
                                                   grade_reason="this week"), ctx(f"{team}-c1"))
    pending = await leads.pool.fetch("SELECT timer_id, due_at FROM timers WHERE status = 'pending' "
                                     "AND payload->>'lead_id' = $1 AND kind = 'leads.follow_up_overdue'", lead.id)
    assert [r["due_at"] for r in pending] == [leads.clock() + timedelta(days=2)]

    leads.clock.advance(timedelta(days=1))
    await leads.timers.fire_due()
    assert await overdue_count(leads, lead.id) == 0
    leads.clock.advance(timedelta(days=1))
    await leads.timers.fire_due()
    assert await overdue_count(leads, lead.id) == 1


async def test_an_idle_lead_goes_to_the_pool_and_is_claimed_by_a_colleague_but_not_by_its_owner_in_the_cooldown(
    leads: LeadsInProcess, phone: Callable[[], str], name: Callable[[str], str],
) -> None:
    team, other = name("pool-team-"), name("pool-other-")
    await team_with(leads, team, [f"{team}-a", f"{team}-b"])
    await team_with(leads, other, [f"{other}-x"])
    lead = (await leads.capture(CaptureLead(name="客户", phone=phone(), channel="website", team_id=team),
                                ctx())).lead
    owner = lead.owner_id
    colleague = f"{team}-b" if owner == f"{team}-a" else f"{team}-a"
    leads.clock.advance(timedelta(days=3))
    await leads.commands.grade_lead(GradeLead(lead.id, "B", "next month"), ctx(owner))  # grading is no follow-up

    leads.clock.advance(leads.policy.pool_idle - timedelta(days=3))
    await leads.timers.fire_due()

    assert "LeadReleasedToPool" in await leads.history_types(lead.id)
    assert [r["lead_id"] for r in await leads.queries.pool(team)] == [lead.id]
    assert await leads.queries.open_leads(owner or "", None) == []
    with pytest.raises(LeadInPoolError):
        await leads.commands.log_follow_up(LogFollowUp(lead.id, "call", "hello"), ctx(owner))
    with pytest.raises(ClaimCooldownError):
        await leads.commands.claim_lead(ClaimLead(lead.id, owner or ""), ctx(owner))
    with pytest.raises(ClaimOutsideTeamError):
        await leads.commands.claim_lead(ClaimLead(lead.id, f"{other}-x"), ctx())

    claimed = await leads.commands.claim_lead(ClaimLead(lead.id, colleague), ctx(colleague))

    assert claimed.owner_id == colleague
    assert not claimed.pooled
    assert await leads.queries.pool(team) == []


async def test_the_previous_owner_may_claim_back_after_the_cooldown(
    leads: LeadsInProcess, phone: Callable[[], str], name: Callable[[str], str],
) -> None:
    team = name("cool-team-")
    await team_with(leads, team, [f"{team}-a"])
    lead = (await leads.capture(CaptureLead(name="客户", phone=phone(), channel="website", team_id=team),
                                ctx())).lead
    leads.clock.advance(leads.policy.pool_idle)
    await leads.timers.fire_due()
    leads.clock.advance(leads.policy.claim_cooldown)

    claimed = await leads.commands.claim_lead(ClaimLead(lead.id, f"{team}-a"), ctx(f"{team}-a"))

    assert claimed.owner_id == f"{team}-a"
    types = await leads.history_types(lead.id)
    assert types[-2:] == ["LeadClaimed", "FollowUpScheduled"]


async def test_timers_are_re_armed_after_a_rejected_loss_and_after_a_cancelled_order(
    leads: LeadsInProcess, phone: Callable[[], str], name: Callable[[str], str],
) -> None:
    from datetime import UTC, datetime

    from services.leads.app.lead_commands import RejectLoss, RequestLoss
    from shared.contracts.orders import ContractSignedV1, OrderCancelledV1, OrderLine

    team = name("rearm-team-")
    await team_with(leads, team, [f"{team}-a"], manager=f"{team}-m")
    lead = (await leads.capture(CaptureLead(name="客户", phone=phone(), channel="website", team_id=team),
                                ctx())).lead
    await leads.commands.request_loss(RequestLoss(lead.id, "price"), ctx(f"{team}-a"))
    leads.clock.advance(leads.policy.pool_idle + timedelta(days=1))
    await leads.timers.fire_due()
    assert "LeadReleasedToPool" not in await leads.history_types(lead.id), "no release while a loss is decided"

    await leads.commands.reject_loss(RejectLoss(lead.id, "keep trying"), ctx(f"{team}-m"))
    await leads.timers.fire_due()
    assert "LeadReleasedToPool" in await leads.history_types(lead.id)

    other = (await leads.capture(CaptureLead(name="客户", phone=phone(), channel="website", team_id=team),
                                 ctx())).lead
    signed = ContractSignedV1(order_id=f"O-{other.id}", lead_id=other.id, lines=[OrderLine(
        product="X", quantity=1, unit_price_minor=1)], total_minor=1, currency="CNY", payment_plan="full",
        signed_at=datetime.now(UTC))
    await leads.deliver(signed, key=signed.order_id)
    leads.clock.advance(timedelta(days=2))
    await leads.timers.fire_due()
    assert "FollowUpOverdue" not in await leads.history_types(other.id), "nothing is due at contract_signed"

    await leads.deliver(OrderCancelledV1(order_id=signed.order_id, reason="x", refund_due_minor=0, currency="CNY",
                                         cancelled_at=datetime.now(UTC)), key=signed.order_id)
    await leads.timers.fire_due()
    assert "FollowUpOverdue" in await leads.history_types(other.id), "back in negotiation, the missed due counts"
