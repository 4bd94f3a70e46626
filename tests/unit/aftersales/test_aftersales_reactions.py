"""The process managers, against an in-memory store: a delivery schedules one plan and awards the buyer once
per order; a referral lead's delivery rewards the referrer once, in whichever order the lead and the delivery
arrive; timers re-check the aggregate before recording anything."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from services.aftersales.app.reactions import AftersalesReactions
from services.aftersales.app.timer_handlers import AftersalesTimers
from services.aftersales.app.timers import COMPLAINT_SLA, VISIT_OVERDUE
from services.aftersales.domain.care_plan import CarePlan
from services.aftersales.domain.complaint import Complaint
from services.aftersales.domain.loyalty import LoyaltyAccount
from services.aftersales.domain.policy import policy_from_dict
from services.aftersales.domain.referral import Referral
from shared.contracts.base import IntegrationEvent
from shared.contracts.leads import LeadCreatedV1
from shared.contracts.orders import DeliveredV1
from shared.domain import Aggregate
from shared.messaging.headers import EventHeaders
from shared.messaging.inbound import InboundEvent
from shared.timer_model import Timer
from tests.support.aftersales_memory import InMemoryAftersales

A = TypeVar("A", bound=Aggregate)
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
POLICY = policy_from_dict(json.loads(
    (Path(__file__).resolve().parents[3] / "services/aftersales/config/aftersales.json").read_text()))


def inbound(payload: IntegrationEvent, subject: str) -> InboundEvent:
    headers = EventHeaders(event_id=uuid.uuid4(), event_type=payload.event_type,
                           schema_version=payload.schema_version, source="test", subject=subject, time=NOW)
    return InboundEvent(headers, payload, "t", 0, 0)


def delivered(order_id: str = "O-1", lead_id: str | None = "L-1", customer_id: str | None = "C-1") -> InboundEvent:
    return inbound(DeliveredV1(order_id=order_id, lead_id=lead_id, customer_id=customer_id, total_minor=25_000_000,
                               currency="CNY", delivered_at=NOW), order_id)


def lead_created(lead_id: str = "L-1", referral_id: str | None = "R-1") -> InboundEvent:
    return inbound(LeadCreatedV1(lead_id=lead_id, customer_id="C-NEW", name="李四", phone="+8613800001111",
                                 channel="referral", captured_at=NOW, referral_id=referral_id,
                                 referrer_customer_id="C-REF"), lead_id)


def reactions(store: InMemoryAftersales) -> AftersalesReactions:
    return AftersalesReactions(unit_of_work=store, clock=lambda: NOW, policy=POLICY)


async def referral(store: InMemoryAftersales, referrer: str = "C-REF") -> None:
    r = Referral.register(referral_id="R-1", referrer_customer_id=referrer, referrer_order_id=None,
                          prospect_name="李四", prospect_phone="13800001111", interest=None, registered_by=None,
                          registered_at=NOW)
    await store.commit(r, now=NOW)


async def balance(store: InMemoryAftersales, customer_id: str) -> int:
    account = await store.load(LoyaltyAccount, customer_id)
    return account.balance if account else 0


async def test_a_delivery_schedules_one_plan_and_awards_the_buyer_even_when_redelivered() -> None:
    store = InMemoryAftersales()
    react = reactions(store)
    await react.on_delivered(None, delivered())
    await react.on_delivered(None, delivered())  # same order under a new event id
    assert store.types(CarePlan, "O-1") == ["CarePlanScheduled"]
    assert await balance(store, "C-1") == 100 + 2_500
    assert store.commits == 1


async def test_a_delivery_without_customer_id_gets_a_plan_but_no_points() -> None:
    store = InMemoryAftersales()
    await reactions(store).on_delivered(None, delivered(customer_id=None))
    assert store.types(CarePlan, "O-1") == ["CarePlanScheduled"]
    assert await store.all(LoyaltyAccount) == []


async def test_a_referral_lead_then_its_delivery_rewards_the_referrer_once() -> None:
    store = InMemoryAftersales()
    react = reactions(store)
    await referral(store)
    await react.on_lead_created(None, lead_created())
    await react.on_lead_created(None, lead_created())
    await react.on_delivered(None, delivered())
    await react.on_delivered(None, delivered(order_id="O-2"))  # a second order of the same lead: no second reward
    assert store.types(Referral, "R-1") == ["ReferralRegistered", "ReferralLeadLinked", "ReferralRewarded"]
    assert await balance(store, "C-REF") == 500


async def test_a_delivery_seen_before_its_referral_lead_still_rewards_the_referrer() -> None:
    store = InMemoryAftersales()
    react = reactions(store)
    await referral(store)
    await react.on_delivered(None, delivered())
    assert await balance(store, "C-REF") == 0
    await react.on_lead_created(None, lead_created())
    assert await balance(store, "C-REF") == 500


async def test_a_referrer_who_buys_through_their_own_referral_gets_both_awards_in_one_account() -> None:
    store = InMemoryAftersales()
    react = reactions(store)
    await referral(store, referrer="C-1")
    await react.on_lead_created(None, lead_created())
    await react.on_delivered(None, delivered())
    assert await balance(store, "C-1") == 100 + 2_500 + 500


async def test_leads_without_a_known_referral_are_ignored() -> None:
    store = InMemoryAftersales()
    react = reactions(store)
    await react.on_lead_created(None, lead_created(referral_id=None))
    await react.on_lead_created(None, lead_created(referral_id="R-unknown"))
    assert store.commits == 0


def timer(kind: str, payload: dict[str, Any]) -> Timer:
    return Timer(timer_id="x", kind=kind, due_at=NOW, payload=payload, attempts=0)


async def test_the_overdue_timer_marks_a_pending_visit_once_and_ignores_completed_ones() -> None:
    store = InMemoryAftersales()
    await reactions(store).on_delivered(None, delivered())
    later = NOW + timedelta(days=40)
    timers = AftersalesTimers(unit_of_work=store, clock=lambda: later).handlers()
    plan = await store.load(CarePlan, "O-1")
    assert plan is not None
    plan.complete_visit(2, score=5, scale=POLICY.scale, answers={}, notes=None, completed_by=None,
                        completed_at=NOW + timedelta(days=3), follow_up_task_id="T")
    await store.commit(plan, now=NOW)
    for visit_no in (1, 1, 2):
        await timers[VISIT_OVERDUE](None, timer(VISIT_OVERDUE, {"plan_id": "O-1", "visit_no": visit_no}))
    assert store.types(CarePlan, "O-1").count("ReturnVisitOverdue") == 1


async def test_the_sla_timer_records_a_breach_and_an_escalation() -> None:
    store = InMemoryAftersales()
    complaint = Complaint.open_complaint(complaint_id="K-1", customer_id="C-1", order_id=None, category="service",
                               severity="medium", description="rude", opened_by=None, opened_at=NOW, sla=POLICY.sla,
                               categories=POLICY.categories, severities=POLICY.severities)
    await store.commit(complaint, now=NOW)
    timers = AftersalesTimers(unit_of_work=store, clock=lambda: NOW + timedelta(hours=24)).handlers()
    payload = {"complaint_id": "K-1", "stage": "acknowledge", "cycle": 1}
    await timers[COMPLAINT_SLA](None, timer(COMPLAINT_SLA, payload))
    await timers[COMPLAINT_SLA](None, timer(COMPLAINT_SLA, payload))
    await timers[COMPLAINT_SLA](None, timer(COMPLAINT_SLA, {"complaint_id": "K-404", "stage": "resolve", "cycle": 1}))
    assert store.types(Complaint, "K-1") == ["ComplaintOpened", "ComplaintSlaBreached", "ComplaintEscalated"]


async def test_a_delivery_time_without_offset_is_taken_as_utc() -> None:
    store = InMemoryAftersales()
    event = delivered()
    naive = event.payload.model_copy(update={"delivered_at": NOW.replace(tzinfo=None)})
    await reactions(store).on_delivered(None, inbound(naive, "O-1"))
    plan = await store.load(CarePlan, "O-1")
    assert plan is not None
    assert plan.delivered_at == NOW
    assert plan.mark_overdue(1, now=NOW + timedelta(days=2))
