"""Which timers each event implies, and how each stored event becomes (or deliberately does not become) a
public message: the right contract, key = aggregate id, no private fields."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest

from services.aftersales.adapters.publishing import PRIVATE, PUBLIC, to_public_message
from services.aftersales.app.timers import (
    COMPLAINT_SLA,
    VISIT_OVERDUE,
    CancelTimer,
    ScheduleTimer,
    sla_timer_id,
    timer_changes,
    visit_timer_id,
)
from services.aftersales.domain.care_plan import CarePlan
from services.aftersales.domain.complaint import Complaint
from services.aftersales.domain.events import aftersales_events
from services.aftersales.domain.loyalty import LoyaltyAccount
from services.aftersales.domain.policy import (
    COMPLAINT_CATEGORIES,
    SEVERITIES,
    CareTemplate,
    ScoreScale,
    SlaPolicy,
    VisitTemplate,
)
from services.aftersales.domain.referral import Referral
from shared.domain import DomainEvent
from shared.eventstore import RecordedEvent
from shared.messaging.headers import EventHeaders

AT = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
TEMPLATE = CareTemplate((VisitTemplate("D+1", 1), VisitTemplate("D+7", 7, "manager")))
SLA = SlaPolicy()


def every_kind_of_event() -> list[tuple[DomainEvent, str]]:
    """One of each stored event with the aggregate id it belongs to."""
    out: list[tuple[DomainEvent, str]] = []
    plan = CarePlan.schedule(order_id="O-1", customer_id="C-1", lead_id="L-1", consultant_id=None,
                             customer_name="张三", customer_phone="+8613812345678", delivered_at=AT, template=TEMPLATE)
    plan.complete_visit(1, score=1, scale=ScoreScale(1, 5, 2), answers={"q": "a"}, notes="secret", completed_by="U",
                        completed_at=AT, follow_up_task_id="T-1")
    plan.close_follow_up(1, outcome="offered a free service", closed_by="M-1", closed_at=AT)
    plan.mark_overdue(2, now=AT + timedelta(days=9))
    out += [(e, "O-1") for e in plan.pending_events]
    complaint = Complaint.open_complaint(complaint_id="K-1", customer_id="C-1", order_id="O-1", category="product",
                               severity="high", description="noise", opened_by=None, opened_at=AT, sla=SLA,
                               categories=COMPLAINT_CATEGORIES, severities=SEVERITIES)
    complaint.check_sla("acknowledge", cycle=1, now=AT + timedelta(days=2))
    complaint.resolve(resolution="fixed", by=None, at=AT + timedelta(days=2))
    complaint.reopen(reason="again", by=None, at=AT + timedelta(days=3), sla=SLA)
    out += [(e, "K-1") for e in complaint.pending_events]
    referral = Referral.register(referral_id="R-1", referrer_customer_id="C-1", referrer_order_id=None,
                                 prospect_name="李四", prospect_phone="13800001111", interest=None, registered_by=None,
                                 registered_at=AT)
    referral.link_lead("L-2", at=AT)
    referral.reward(order_id="O-2", lead_id="L-2", points=500, at=AT)
    out += [(e, "R-1") for e in referral.pending_events]
    account = LoyaltyAccount("C-1")
    account.award(100, reason="delivery", reference="delivery:O-1", at=AT)
    account.redeem(40, reason="gift", reference="r", at=AT)
    out += [(e, "C-1") for e in account.pending_events]
    return out


def recorded(event: DomainEvent, stream: str) -> RecordedEvent:
    return RecordedEvent(position=1, txid=1, event_id=uuid.uuid4(), stream_id=stream, stream_type="x", version=1,
                         event_type=event.event_type, schema_version=1, data=event.model_dump(mode="json"),
                         metadata={"correlation_id": "corr"}, occurred_at=AT, recorded_at=AT)


def test_every_stored_event_type_has_a_publishing_decision() -> None:
    kinds = {e.event_type for e, _ in every_kind_of_event()}
    assert kinds == set(PUBLIC) | PRIVATE
    assert all(t in aftersales_events for t in kinds)


@pytest.mark.parametrize(("event", "key"), every_kind_of_event(), ids=lambda v: getattr(v, "event_type", v))
def test_each_public_event_is_keyed_by_its_aggregate_and_keeps_personal_data_private(
    event: DomainEvent, key: str
) -> None:
    message = to_public_message(recorded(event, "s"))
    if event.event_type in PRIVATE:
        assert message is None
        return
    assert message is not None
    headers = EventHeaders.decode(message.headers)
    value: dict[str, Any] = orjson.loads(message.value)
    assert (message.key, headers.subject) == (key.encode(), key)
    assert headers.event_type == f"salesflow.aftersales.{event.event_type}"
    assert headers.correlation_id == "corr"
    for private in ("customer_name", "customer_phone", "notes", "answers", "description", "outcome"):
        assert private not in value


def test_an_unknown_stored_type_is_refused_loudly() -> None:
    event, _ = every_kind_of_event()[0]
    bad = recorded(event, "s")
    object.__setattr__(bad, "event_type", "Mystery")
    with pytest.raises(LookupError):
        to_public_message(bad)


def test_a_care_plan_schedules_one_overdue_timer_per_visit_and_completion_cancels_it() -> None:
    events = [e for e, _ in every_kind_of_event()]
    scheduled = timer_changes(events[0])
    assert scheduled == [
        ScheduleTimer(visit_timer_id("O-1", n), VISIT_OVERDUE, AT + timedelta(days=days),
                      {"plan_id": "O-1", "visit_no": n})
        for n, days in ((1, 2), (2, 8))
    ]
    assert timer_changes(events[1]) == [CancelTimer(visit_timer_id("O-1", 1))]


def test_complaints_schedule_both_sla_timers_and_reopening_a_new_resolve_timer() -> None:
    by_type = {e.event_type: e for e, _ in every_kind_of_event()}
    opened = timer_changes(by_type["ComplaintOpened"])
    assert [(c.timer_id, c.due_at) for c in opened if isinstance(c, ScheduleTimer)] == [
        (sla_timer_id("K-1", "acknowledge", 1), AT + timedelta(hours=24)),
        (sla_timer_id("K-1", "resolve", 1), AT + timedelta(hours=48))]
    assert all(isinstance(c, ScheduleTimer) and c.kind == COMPLAINT_SLA for c in opened)
    assert timer_changes(by_type["ComplaintAcknowledged"]) == [CancelTimer(sla_timer_id("K-1", "acknowledge", 1))]
    assert timer_changes(by_type["ComplaintResolved"], cycle=1) == [CancelTimer(sla_timer_id("K-1", "resolve", 1))]
    [reopened] = timer_changes(by_type["ComplaintReopened"])
    assert isinstance(reopened, ScheduleTimer)
    assert (reopened.timer_id, reopened.payload["cycle"]) == (sla_timer_id("K-1", "resolve", 2), 2)
    assert timer_changes(by_type["PointsAwarded"]) == []
