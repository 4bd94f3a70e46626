"""Which durable timers an event implies (scheduled or cancelled in the same transaction as the event).

Timer ids are deterministic, so scheduling twice is harmless; the handlers re-check the aggregate when a timer
fires, so a timer that should have been cancelled (or fires late, or twice) changes nothing."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from services.aftersales.domain.complaint import Complaint
from services.aftersales.domain.events import (
    CarePlanScheduled,
    ComplaintAcknowledged,
    ComplaintOpened,
    ComplaintReopened,
    ComplaintResolved,
    ReturnVisitCompleted,
)
from shared.domain import Aggregate, DomainEvent
from shared.unit_of_work.core import TimerPlan

VISIT_OVERDUE = "aftersales.visit_overdue"
COMPLAINT_SLA = "aftersales.complaint_sla"


@dataclass(frozen=True, slots=True)
class ScheduleTimer:
    timer_id: str
    kind: str
    due_at: datetime
    payload: dict[str, object]


@dataclass(frozen=True, slots=True)
class CancelTimer:
    timer_id: str


TimerChange = ScheduleTimer | CancelTimer


def visit_timer_id(plan_id: str, visit_no: int) -> str:
    return f"visit-overdue:{plan_id}:{visit_no}"


def sla_timer_id(complaint_id: str, stage: str, cycle: int) -> str:
    return f"complaint-sla:{complaint_id}:{stage}:{cycle}"


def timer_changes(event: DomainEvent, *, cycle: int = 1) -> list[TimerChange]:
    """``cycle`` is the complaint's cycle after the event (reopening starts a new one)."""
    match event:
        case CarePlanScheduled():
            return [ScheduleTimer(visit_timer_id(event.plan_id, v.visit_no), VISIT_OVERDUE, v.overdue_at,
                                  {"plan_id": event.plan_id, "visit_no": v.visit_no}) for v in event.visits]
        case ReturnVisitCompleted():
            return [CancelTimer(visit_timer_id(event.plan_id, event.visit_no))]
        case ComplaintOpened():
            cid = event.complaint_id
            return [
                ScheduleTimer(sla_timer_id(cid, "acknowledge", 1), COMPLAINT_SLA, event.acknowledge_due_at,
                              {"complaint_id": cid, "stage": "acknowledge", "cycle": 1}),
                ScheduleTimer(sla_timer_id(cid, "resolve", 1), COMPLAINT_SLA, event.resolve_due_at,
                              {"complaint_id": cid, "stage": "resolve", "cycle": 1}),
            ]
        case ComplaintAcknowledged():
            return [CancelTimer(sla_timer_id(event.complaint_id, "acknowledge", 1))]
        case ComplaintResolved():
            return [CancelTimer(sla_timer_id(event.complaint_id, "resolve", cycle))]
        case ComplaintReopened():
            return [ScheduleTimer(sla_timer_id(event.complaint_id, "resolve", event.cycle), COMPLAINT_SLA,
                                  event.resolve_due_at,
                                  {"complaint_id": event.complaint_id, "stage": "resolve", "cycle": event.cycle})]
        case _:
            return []


def timer_plans(aggregate: Aggregate) -> list[TimerPlan]:
    """The timer plans of everything the aggregate recorded in this unit of work (wired into the unit of work by
    main: the adapter writes them, it does not decide them)."""
    cycle = aggregate.cycle if isinstance(aggregate, Complaint) else 1
    return [
        TimerPlan(change.timer_id, change.kind, change.due_at, change.payload) if isinstance(change, ScheduleTimer)
        else TimerPlan(change.timer_id, "", None)
        for event in aggregate.pending_events for change in timer_changes(event, cycle=cycle)
    ]
