"""Every after-sales command through its handler on the in-memory unit of work (no database): what is stored,
the timers it plans, what is refused — and a pinned stale version is a conflict that writes nothing."""

from __future__ import annotations

import itertools
import json
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest

from services.aftersales.app import commands as cmd
from services.aftersales.app.ports import CommandContext
from services.aftersales.app.reactions import AftersalesReactions
from services.aftersales.app.timers import sla_timer_id, visit_timer_id
from services.aftersales.domain.care_plan import CarePlan
from services.aftersales.domain.complaint import Complaint
from services.aftersales.domain.errors import (
    ComplaintNotFoundError,
    InsufficientPointsError,
    ReferralConflictError,
    VisitAlreadyCompletedError,
)
from services.aftersales.domain.loyalty import LoyaltyAccount
from services.aftersales.domain.policy import policy_from_dict
from services.aftersales.domain.referral import Referral
from shared.contracts.orders import DeliveredV1
from shared.eventstore import ConcurrencyError
from shared.idempotency import IdempotencyKeyReusedError, IdempotentRequest
from shared.messaging.headers import EventHeaders
from shared.messaging.inbound import InboundEvent
from tests.support.aftersales_memory import InMemoryAftersales

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
POLICY = policy_from_dict(json.loads(
    (Path(__file__).resolve().parents[3] / "services/aftersales/config/aftersales.json").read_text()))
CTX = CommandContext(correlation_id="corr", actor="agent-1")


class World:
    def __init__(self) -> None:
        self.store = InMemoryAftersales()
        ids = (f"id-{n}" for n in itertools.count(1))
        self.new_id = lambda: next(ids)

    def handler(self, cls: type[cmd.HandlerT]) -> cmd.HandlerT:
        return cls(unit_of_work=self.store, clock=lambda: NOW, new_id=self.new_id, policy=POLICY)

    async def delivered(self, order_id: str = "O-1") -> None:
        payload = DeliveredV1(order_id=order_id, lead_id=None, customer_id="C-1", total_minor=25_000_000,
                              currency="CNY", delivered_at=NOW)
        headers = EventHeaders(event_id=uuid.uuid4(), event_type=payload.event_type,
                               schema_version=payload.schema_version, source="test", subject=order_id, time=NOW)
        reactions = AftersalesReactions(unit_of_work=self.store, clock=lambda: NOW, policy=POLICY)
        await reactions.on_delivered(None, InboundEvent(headers, payload, "t", 0, 0))


@pytest.fixture
def world() -> World:
    return World()


async def test_a_low_score_visit_opens_a_follow_up_that_the_manager_closes(world: World) -> None:
    await world.delivered()
    assert visit_timer_id("O-1", 1) in world.store.timer_table.pending
    plan = await world.handler(cmd.CompleteReturnVisitHandler)(cmd.CompleteReturnVisit("O-1", 1, score=1), CTX)
    assert visit_timer_id("O-1", 1) not in world.store.timer_table.pending  # completing cancels its timer
    assert world.store.types(CarePlan, "O-1")[-2:] == ["ReturnVisitCompleted", "SatisfactionFollowUpOpened"]
    await world.handler(cmd.CloseSatisfactionFollowUpHandler)(
        cmd.CloseSatisfactionFollowUp("O-1", 1, "called back", expected_version=plan.version), CTX)
    assert world.store.types(CarePlan, "O-1")[-1] == "SatisfactionFollowUpClosed"
    with pytest.raises(VisitAlreadyCompletedError):
        await world.handler(cmd.CompleteReturnVisitHandler)(cmd.CompleteReturnVisit("O-1", 1, score=5), CTX)


async def test_a_stale_pinned_version_is_a_conflict_and_writes_nothing(world: World) -> None:
    await world.delivered()
    before = world.store.types(CarePlan, "O-1")
    with pytest.raises(ConcurrencyError):
        await world.handler(cmd.CompleteReturnVisitHandler)(
            cmd.CompleteReturnVisit("O-1", 1, score=5, expected_version=7), CTX)
    assert world.store.types(CarePlan, "O-1") == before


async def test_a_complaint_is_opened_acknowledged_resolved_and_reopened_with_its_sla_timers(world: World) -> None:
    category, severity = sorted(POLICY.categories)[0], sorted(POLICY.severities)[0]
    opened = (await world.handler(cmd.OpenComplaintHandler)(
        cmd.OpenComplaint("C-1", category, severity=severity, description="the seat squeaks"), CTX)).aggregate
    pending = world.store.timer_table.pending
    assert {sla_timer_id(opened.id, "acknowledge", 1), sla_timer_id(opened.id, "resolve", 1)} <= set(pending)
    await world.handler(cmd.AcknowledgeComplaintHandler)(cmd.AcknowledgeComplaint(opened.id), CTX)
    assert sla_timer_id(opened.id, "acknowledge", 1) not in pending
    await world.handler(cmd.ResolveComplaintHandler)(cmd.ResolveComplaint(opened.id, "fixed"), CTX)
    reopened = await world.handler(cmd.ReopenComplaintHandler)(cmd.ReopenComplaint(opened.id, "squeaks again"), CTX)
    assert sla_timer_id(opened.id, "resolve", reopened.cycle) in pending
    assert world.store.types(Complaint, opened.id) == [
        "ComplaintOpened", "ComplaintAcknowledged", "ComplaintResolved", "ComplaintReopened"]
    with pytest.raises(ComplaintNotFoundError):
        await world.handler(cmd.AcknowledgeComplaintHandler)(cmd.AcknowledgeComplaint("nope"), CTX)


def _keyed(key: str, request: dict[str, str]) -> IdempotentRequest:
    return IdempotentRequest.of(key, operation="aftersales.open_complaint", caller=CTX.actor, request=request)


async def test_a_complaint_sent_again_with_its_idempotency_key_is_opened_once(world: World) -> None:
    category, severity = sorted(POLICY.categories)[0], sorted(POLICY.severities)[0]
    key = _keyed("k-1", {"customer_id": "C-1", "description": "the seat squeaks"})
    command = cmd.OpenComplaint("C-1", category, severity=severity, description="the seat squeaks",
                                idempotency=key)
    open_complaint = world.handler(cmd.OpenComplaintHandler)
    first = await open_complaint(command, CTX)
    again = await open_complaint(command, CTX)  # the client's retry: no answer reached it the first time
    assert (first.created, again.created) == (True, False)
    assert first.aggregate.id == again.aggregate.id == key.aggregate_id
    assert world.store.types(Complaint, key.aggregate_id) == ["ComplaintOpened"]
    # One complaint's SLA timers, not two sets.
    assert sorted(t for t in world.store.timer_table.pending if key.aggregate_id in t) == sorted(
        [sla_timer_id(key.aggregate_id, "acknowledge", 1), sla_timer_id(key.aggregate_id, "resolve", 1)])


async def test_an_idempotency_key_reused_for_a_different_complaint_is_refused_and_stores_nothing(
        world: World) -> None:
    category, severity = sorted(POLICY.categories)[0], sorted(POLICY.severities)[0]
    open_complaint = world.handler(cmd.OpenComplaintHandler)
    first = await open_complaint(cmd.OpenComplaint(
        "C-1", category, severity=severity, description="the seat squeaks",
        idempotency=_keyed("k-1", {"description": "the seat squeaks"})), CTX)
    with pytest.raises(IdempotencyKeyReusedError):
        await open_complaint(cmd.OpenComplaint("C-1", category, severity=severity, description="the door rattles",
                                               idempotency=_keyed("k-1", {"description": "the door rattles"})), CTX)
    assert world.store.types(Complaint, first.aggregate.id) == ["ComplaintOpened"]
    # Without a key every call is a new complaint, as before.
    again = cmd.OpenComplaint("C-1", category, severity=severity, description="again")
    plain = [await open_complaint(again, CTX) for _ in range(2)]
    assert plain[0].aggregate.id != plain[1].aggregate.id


async def test_a_referral_registered_twice_is_one_and_a_different_one_under_its_id_conflicts(world: World) -> None:
    register = world.handler(cmd.RegisterReferralHandler)
    command = cmd.RegisterReferral("C-REF", "李四", "13800001111", referral_id="R-1")
    first, again = await register(command, CTX), await register(command, CTX)
    assert (first.created, again.created) == (True, False)
    assert world.store.types(Referral, "R-1") == ["ReferralRegistered"]
    with pytest.raises(ReferralConflictError):
        await register(cmd.RegisterReferral("C-OTHER", "李四", "13800001111", referral_id="R-1"), CTX)


async def test_points_are_redeemed_once_per_reference_and_never_beyond_the_balance(world: World) -> None:
    await world.delivered()
    account = await world.store.load(LoyaltyAccount, "C-1")
    assert account is not None
    redeem = world.handler(cmd.RedeemPointsHandler)
    with pytest.raises(InsufficientPointsError):
        await redeem(cmd.RedeemPoints("C-1", account.balance + 1, "gift"), CTX)
    spent = await redeem(cmd.RedeemPoints("C-1", 100, "gift", reference="r-1"), CTX)
    retried = await redeem(cmd.RedeemPoints("C-1", 100, "gift", reference="r-1", expected_version=1), CTX)
    assert (spent.created, retried.created) == (True, False)
    assert retried.aggregate.balance == account.balance - 100
    assert world.store.types(LoyaltyAccount, "C-1").count("PointsRedeemed") == 1
