"""The care plan of one delivered order: its return visits (回访), their scores, and overdue detection."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from services.aftersales.domain.errors import (
    FollowUpAlreadyClosedError,
    FollowUpNotFoundError,
    ScoreOutOfRangeError,
    VisitAlreadyCompletedError,
    VisitNotFoundError,
)
from services.aftersales.domain.events import (
    CarePlanScheduled,
    PlannedVisit,
    ReturnVisitCompleted,
    ReturnVisitOverdue,
    SatisfactionFollowUpClosed,
    SatisfactionFollowUpOpened,
)
from services.aftersales.domain.policy import CareTemplate, ScoreScale, optional_text, require_text
from shared.domain import Aggregate, DomainEvent, InvalidFieldError

MAX_NOTES = 2000
MAX_ANSWERS = 50
MAX_ANSWER = 500


@dataclass(slots=True)
class Visit:
    visit_no: int
    label: str
    due_at: datetime
    overdue_at: datetime
    assignee_role: str
    status: str = "pending"  # pending | overdue | completed
    score: int | None = None
    completed_at: datetime | None = None
    follow_up_task_id: str | None = None
    follow_up_closed: bool = False


class CarePlan(Aggregate):
    """Identified by the order id: one plan per delivered order, so a redelivered Delivered finds it."""

    stream_type = "care_plan"

    def __init__(self, aggregate_id: str) -> None:
        super().__init__(aggregate_id)
        self.order_id = ""
        self.customer_id = ""
        self.lead_id: str | None = None
        self.consultant_id: str | None = None
        self.team_id: str | None = None
        self.delivered_at: datetime | None = None
        self.visits: dict[int, Visit] = {}

    @classmethod
    def schedule(
        cls, *, order_id: str, customer_id: str, lead_id: str | None, consultant_id: str | None,
        customer_name: str | None, customer_phone: str | None, delivered_at: datetime, template: CareTemplate,
        team_id: str | None = None,
    ) -> CarePlan:
        """The plan from the template: visit n is due ``offset_days`` after delivery."""
        plan = cls(order_id)
        visits = tuple(
            PlannedVisit(visit_no=n, label=t.label, due_at=delivered_at + timedelta(days=t.offset_days),
                         overdue_at=delivered_at + timedelta(days=t.offset_days) + template.overdue_grace,
                         assignee_role=t.assignee_role)
            for n, t in enumerate(sorted(template.visits, key=lambda t: t.offset_days), 1)
        )
        plan._record(CarePlanScheduled(
            plan_id=order_id, order_id=order_id, customer_id=customer_id, lead_id=lead_id,
            consultant_id=consultant_id, customer_name=customer_name, customer_phone=customer_phone,
            delivered_at=delivered_at, visits=visits, team_id=team_id,
        ))
        return plan

    def visit(self, visit_no: int) -> Visit:
        try:
            return self.visits[visit_no]
        except KeyError:
            raise VisitNotFoundError(f"care plan {self.id} has no visit {visit_no}", visit_no=visit_no) from None

    def complete_visit(
        self, visit_no: int, *, score: int, scale: ScoreScale, answers: Mapping[str, str], notes: str | None,
        completed_by: str | None, completed_at: datetime, follow_up_task_id: str,
    ) -> None:
        """Record the visit's outcome. An overdue visit can still be completed (late); a low score opens a
        follow-up task for the manager."""
        visit = self.visit(visit_no)
        if visit.status == "completed":
            raise VisitAlreadyCompletedError(f"visit {visit.label} of plan {self.id} is already completed",
                                             visit_no=visit_no)
        if not scale.minimum <= score <= scale.maximum:
            raise ScoreOutOfRangeError(f"score {score} is outside {scale.minimum}..{scale.maximum}",
                                       score=score, minimum=scale.minimum, maximum=scale.maximum)
        if len(answers) > MAX_ANSWERS or any(len(k) > 100 or len(v) > MAX_ANSWER for k, v in answers.items()):
            raise InvalidFieldError("answers", f"at most {MAX_ANSWERS} answers of {MAX_ANSWER} characters")
        clean_notes = optional_text("notes", notes, max_length=MAX_NOTES)
        low = scale.is_low(score)
        self._record(ReturnVisitCompleted(
            plan_id=self.id, customer_id=self.customer_id, visit_no=visit_no, label=visit.label, score=score,
            scale_min=scale.minimum, scale_max=scale.maximum, low_score=low, answers=dict(answers),
            notes=clean_notes, completed_by=completed_by, completed_at=completed_at,
            late=visit.status == "overdue" or completed_at > visit.overdue_at,
        ))
        if low:
            self._record(SatisfactionFollowUpOpened(
                plan_id=self.id, customer_id=self.customer_id, visit_no=visit_no, task_id=follow_up_task_id,
                score=score, assignee_role="manager", opened_at=completed_at,
            ))

    def close_follow_up(self, visit_no: int, *, outcome: str, closed_by: str | None, closed_at: datetime) -> None:
        """The manager's follow-up of a low score is done; the outcome is required (what was agreed)."""
        visit = self.visit(visit_no)
        if visit.follow_up_task_id is None:
            raise FollowUpNotFoundError(f"visit {visit.label} of plan {self.id} has no follow-up task",
                                        visit_no=visit_no)
        if visit.follow_up_closed:
            raise FollowUpAlreadyClosedError(f"the follow-up of visit {visit.label} is already closed",
                                             task_id=visit.follow_up_task_id)
        self._record(SatisfactionFollowUpClosed(
            plan_id=self.id, customer_id=self.customer_id, visit_no=visit_no, task_id=visit.follow_up_task_id,
            outcome=require_text("outcome", outcome, max_length=MAX_NOTES), closed_by=closed_by,
            closed_at=closed_at,
        ))

    def mark_overdue(self, visit_no: int, *, now: datetime) -> bool:
        """The overdue timer fired. Records ReturnVisitOverdue once, only for a visit still pending past its
        overdue time; returns whether it did (a completed visit or an early/duplicate firing changes nothing)."""
        visit = self.visits.get(visit_no)
        if visit is None or visit.status != "pending" or now < visit.overdue_at:
            return False
        self._record(ReturnVisitOverdue(plan_id=self.id, customer_id=self.customer_id, visit_no=visit_no,
                                        label=visit.label, due_at=visit.due_at, detected_at=now))
        return True

    def _apply(self, event: DomainEvent) -> None:
        match event:
            case CarePlanScheduled():
                self.order_id = event.order_id
                self.customer_id = event.customer_id
                self.lead_id = event.lead_id
                self.consultant_id = event.consultant_id
                self.team_id = event.team_id
                self.delivered_at = event.delivered_at
                self.visits = {v.visit_no: Visit(v.visit_no, v.label, v.due_at, v.overdue_at, v.assignee_role)
                               for v in event.visits}
            case ReturnVisitCompleted():
                visit = self.visits[event.visit_no]
                visit.status, visit.score, visit.completed_at = "completed", event.score, event.completed_at
            case ReturnVisitOverdue():
                self.visits[event.visit_no].status = "overdue"
            case SatisfactionFollowUpOpened():
                self.visits[event.visit_no].follow_up_task_id = event.task_id
            case SatisfactionFollowUpClosed():
                self.visits[event.visit_no].follow_up_closed = True
            case _:
                raise TypeError(f"CarePlan cannot apply {type(event).__name__}")
