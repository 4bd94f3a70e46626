"""A delivered order gets a care plan from the template; visits are completed with a score on the configured
scale, become overdue once, and low scores open a manager follow-up."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.aftersales.domain.care_plan import CarePlan
from services.aftersales.domain.errors import (
    FollowUpAlreadyClosedError,
    FollowUpNotFoundError,
    ScoreOutOfRangeError,
    VisitAlreadyCompletedError,
    VisitNotFoundError,
)
from services.aftersales.domain.events import (
    CarePlanScheduled,
    ReturnVisitCompleted,
    ReturnVisitOverdue,
    SatisfactionFollowUpClosed,
    SatisfactionFollowUpOpened,
    aftersales_events,
)
from services.aftersales.domain.policy import CareTemplate, ScoreScale, VisitTemplate
from shared.domain import InvalidFieldError

DELIVERED = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)
DEFAULT = CareTemplate((VisitTemplate("D+1", 1), VisitTemplate("D+3", 3), VisitTemplate("D+7", 7, "manager"),
                        VisitTemplate("D+30", 30)), overdue_grace=timedelta(hours=24))
FIVE = ScoreScale(1, 5, 2)
TEN = ScoreScale(0, 10, 6)


def scheduled(template: CareTemplate = DEFAULT) -> CarePlan:
    plan = CarePlan.schedule(order_id="O-1", customer_id="C-1", lead_id="L-1", consultant_id="U-1",
                             customer_name="张三", customer_phone="+8613812345678", delivered_at=DELIVERED,
                             template=template)
    return CarePlan.rehydrate("O-1", plan.pending_events)


def complete(plan: CarePlan, visit_no: int = 1, score: int = 5, scale: ScoreScale = FIVE, **kw: Any) -> None:
    args: dict[str, Any] = {"answers": {"q1": "good"}, "notes": " fine ", "completed_by": "U-1",
                            "completed_at": DELIVERED + timedelta(days=1, hours=2), "follow_up_task_id": "T-1"}
    args.update(kw)
    plan.complete_visit(visit_no, score=score, scale=scale, **args)


def test_the_default_template_schedules_d1_d3_d7_by_a_manager_and_d30() -> None:
    plan = CarePlan.schedule(order_id="O-1", customer_id="C-1", lead_id=None, consultant_id=None,
                             customer_name=None, customer_phone=None, delivered_at=DELIVERED, template=DEFAULT)
    [event] = plan.pending_events
    assert isinstance(event, CarePlanScheduled)
    assert [(v.visit_no, v.label, v.due_at - DELIVERED, v.assignee_role) for v in event.visits] == [
        (1, "D+1", timedelta(days=1), "consultant"), (2, "D+3", timedelta(days=3), "consultant"),
        (3, "D+7", timedelta(days=7), "manager"), (4, "D+30", timedelta(days=30), "consultant"),
    ]
    assert all(v.overdue_at == v.due_at + timedelta(hours=24) for v in event.visits)
    assert plan.id == "O-1"


def test_a_custom_template_is_ordered_by_due_time() -> None:
    template = CareTemplate((VisitTemplate("D+14", 14), VisitTemplate("D+2", 2)), overdue_grace=timedelta(0))
    plan = scheduled(template)
    assert [(v.label, v.overdue_at - DELIVERED) for v in plan.visits.values()] == [
        ("D+2", timedelta(days=2)), ("D+14", timedelta(days=14))]


def test_completing_a_visit_records_score_answers_and_trimmed_notes() -> None:
    plan = scheduled()
    complete(plan, score=4)
    [event] = plan.pending_events
    assert isinstance(event, ReturnVisitCompleted)
    assert (event.score, event.answers, event.notes, event.low_score, event.late) == (4, {"q1": "good"}, "fine",
                                                                                   False, False)
    assert plan.visits[1].status == "completed"
    assert plan.version == 2


def test_a_visit_cannot_be_completed_twice() -> None:
    plan = scheduled()
    complete(plan)
    with pytest.raises(VisitAlreadyCompletedError) as error:
        complete(plan)
    assert (error.value.code, error.value.http_status) == ("visit_already_completed", 409)


@pytest.mark.parametrize(("scale", "score"), [(FIVE, 0), (FIVE, 6), (TEN, -1), (TEN, 11)])
def test_a_score_outside_the_configured_scale_is_refused(scale: ScoreScale, score: int) -> None:
    plan = scheduled()
    with pytest.raises(ScoreOutOfRangeError) as error:
        complete(plan, score=score, scale=scale)
    assert (error.value.code, error.value.http_status) == ("score_out_of_range", 422)
    assert plan.pending_events == []


@pytest.mark.parametrize(("scale", "score"), [(TEN, 0), (TEN, 10), (FIVE, 1), (FIVE, 5)])
def test_scale_limits_are_accepted(scale: ScoreScale, score: int) -> None:
    plan = scheduled()
    complete(plan, score=score, scale=scale)
    assert plan.visits[1].score == score


@pytest.mark.parametrize(("scale", "score", "low"), [(FIVE, 2, True), (FIVE, 3, False), (TEN, 6, True),
                                                     (TEN, 7, False)])
def test_a_low_score_opens_a_follow_up_task_for_the_manager(scale: ScoreScale, score: int, low: bool) -> None:
    plan = scheduled()
    complete(plan, score=score, scale=scale)
    follow_ups = [e for e in plan.pending_events if isinstance(e, SatisfactionFollowUpOpened)]
    assert bool(follow_ups) is low
    if low:
        assert (follow_ups[0].assignee_role, follow_ups[0].task_id, follow_ups[0].score) == ("manager", "T-1", score)
        assert plan.visits[1].follow_up_task_id == "T-1"


def test_an_unknown_visit_is_not_found() -> None:
    with pytest.raises(VisitNotFoundError) as error:
        complete(scheduled(), visit_no=9)
    assert error.value.http_status == 404


def test_too_many_or_too_long_answers_are_refused() -> None:
    with pytest.raises(InvalidFieldError):
        complete(scheduled(), answers={f"q{n}": "x" for n in range(51)})
    with pytest.raises(InvalidFieldError):
        complete(scheduled(), answers={"q": "x" * 501})


def test_a_visit_becomes_overdue_once_and_only_after_its_grace() -> None:
    plan = scheduled()
    overdue_at = plan.visits[1].overdue_at
    assert not plan.mark_overdue(1, now=overdue_at - timedelta(seconds=1))
    assert plan.mark_overdue(1, now=overdue_at)
    assert not plan.mark_overdue(1, now=overdue_at + timedelta(hours=1))
    [event] = plan.pending_events
    assert isinstance(event, ReturnVisitOverdue)
    assert (event.visit_no, event.label, event.detected_at) == (1, "D+1", overdue_at)


def test_a_completed_visit_never_becomes_overdue() -> None:
    plan = scheduled()
    complete(plan)
    assert not plan.mark_overdue(1, now=DELIVERED + timedelta(days=60))


def test_an_overdue_visit_can_still_be_completed_and_is_marked_late() -> None:
    plan = scheduled()
    plan.mark_overdue(1, now=DELIVERED + timedelta(days=3))
    complete(plan, completed_at=DELIVERED + timedelta(days=3))
    completed = plan.pending_events[-1]
    assert isinstance(completed, ReturnVisitCompleted)
    assert completed.late
    assert plan.visits[1].status == "completed"


def test_the_plan_rebuilds_from_its_stored_events() -> None:
    plan = CarePlan.schedule(order_id="O-1", customer_id="C-1", lead_id="L-1", consultant_id=None,
                             customer_name=None, customer_phone=None, delivered_at=DELIVERED, template=DEFAULT)
    complete(plan, score=1)
    plan.mark_overdue(2, now=DELIVERED + timedelta(days=10))
    stored = [(e.event_type, e.model_dump(mode="json")) for e in plan.pending_events]
    rebuilt = CarePlan.rehydrate("O-1", (aftersales_events.decode(t, d) for t, d in stored))
    assert [v.status for v in rebuilt.visits.values()] == ["completed", "overdue", "pending", "pending"]
    assert rebuilt.visits[1].follow_up_task_id == "T-1"
    assert (rebuilt.version, rebuilt.customer_id, rebuilt.lead_id) == (4, "C-1", "L-1")


def test_the_manager_closes_a_follow_up_once_with_an_outcome() -> None:
    plan = scheduled()
    complete(plan, score=1)
    with pytest.raises(InvalidFieldError):
        plan.close_follow_up(1, outcome=" ", closed_by="M-1", closed_at=DELIVERED)
    plan.close_follow_up(1, outcome="free service offered", closed_by="M-1", closed_at=DELIVERED)
    closed = plan.pending_events[-1]
    assert isinstance(closed, SatisfactionFollowUpClosed)
    assert (closed.task_id, closed.outcome, closed.closed_by) == ("T-1", "free service offered", "M-1")
    with pytest.raises(FollowUpAlreadyClosedError) as error:
        plan.close_follow_up(1, outcome="again", closed_by="M-1", closed_at=DELIVERED)
    assert error.value.http_status == 409


def test_a_visit_without_a_low_score_has_no_follow_up_to_close() -> None:
    plan = scheduled()
    complete(plan, score=5)
    with pytest.raises(FollowUpNotFoundError) as error:
        plan.close_follow_up(1, outcome="x", closed_by=None, closed_at=DELIVERED)
    assert (error.value.code, error.value.http_status) == ("follow_up_not_found", 404)
