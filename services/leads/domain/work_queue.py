"""The work queue's rules (issue 17, item 5): what counts as due work on a lead, and the order a consultant works
it in — pure, so the unit of work (which writes ``leads_work_items``), the queries (which page through them in
this order) and the outreach batch (which deals customers out) share one definition.

Order: by due time, then by grade — H before A before B before C, an ungraded N last (its first contact is due
within 24 h anyway, so it rarely ties) — then by item id, which only breaks ties so that a page boundary is exact.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import TypeVar

from services.leads.domain.lead import Lead
from services.leads.domain.values import ORDER_STAGES, Grade

T = TypeVar("T")

GRADE_ORDER: tuple[str, ...] = (Grade.H.value, Grade.A.value, Grade.B.value, Grade.C.value, Grade.N.value)
"""Grades in the order due work is taken at equal due time (the SQL ranks with ``array_position`` over this)."""


class WorkKind(StrEnum):
    FOLLOW_UP = "follow_up"  # the lead's next follow-up (cadence by grade, or a no-show's)
    CALL_BACK = "call_back"  # the next follow-up was set by a missed call-center call: call the customer back
    APPOINTMENT = "appointment"  # a showroom visit or test drive scheduled and not yet attended or missed
    RETURN_VISIT = "return_visit"  # an after-sales return visit (回访) of a delivered order, not yet done


LEAD_WORK_KINDS = (WorkKind.FOLLOW_UP, WorkKind.CALL_BACK, WorkKind.APPOINTMENT)
"""The kinds a lead's own state decides (rewritten with the lead); return visits come from after-sales."""


def grade_rank(grade: str) -> int:
    """H 1, A 2, B 3, C 4, N 5 (1-based like PostgreSQL's ``array_position``); an unknown grade last."""
    return GRADE_ORDER.index(grade) + 1 if grade in GRADE_ORDER else len(GRADE_ORDER) + 1


@dataclass(frozen=True, slots=True)
class WorkItem:
    """One piece of due work on a lead. ``overdue_at`` is when it counts as overdue: the due time itself for a
    follow-up, call-back or appointment, after-sales' grace for a return visit. ``assignee_id`` None means the
    lead's owner (whoever that is when the queue is read)."""

    item_id: str
    kind: WorkKind
    lead_id: str
    due_at: datetime
    overdue_at: datetime
    detail: str | None = None
    assignee_id: str | None = None


def work_order_key(due_at: datetime, grade: str, item_id: str) -> tuple[datetime, int, str]:
    """The queue's sort key; also what a page cursor remembers of the last item it showed."""
    return due_at, grade_rank(grade), item_id


def follow_up_item_id(lead_id: str) -> str:
    return f"follow-up:{lead_id}"


def appointment_item_id(appointment_id: str) -> str:
    return f"appointment:{appointment_id}"


def return_visit_item_id(plan_id: str, visit_no: int) -> str:
    return f"return-visit:{plan_id}:{visit_no}"


def round_robin(items: Sequence[T], consultants: Sequence[str]) -> list[tuple[T, str]]:
    """Deal ``items`` to ``consultants`` in turn, in the given orders: the i-th item goes to consultant i mod n.
    Deterministic, so a repeated request deals the same hands."""
    if not consultants:
        raise ValueError("round robin needs at least one consultant")
    return [(item, consultants[i % len(consultants)]) for i, item in enumerate(items)]


def lead_work_items(lead: Lead) -> list[WorkItem]:
    """What the lead's state says is due: its next follow-up (a call-back when a missed call set it) while it is
    open, owned and before the orders' stages, and every appointment not yet attended or missed while it is open
    and owned. A pooled or closed lead has no work; a claim brings it back."""
    if not lead.is_open or lead.pooled or lead.owner_id is None:
        return []
    items: list[WorkItem] = []
    due = lead.follow_up_due_at
    if due is not None and lead.stage not in ORDER_STAGES:
        kind = WorkKind.CALL_BACK if lead.follow_up_is_call_back else WorkKind.FOLLOW_UP
        items.append(WorkItem(follow_up_item_id(lead.id), kind, lead.id, due, due))
    items += [WorkItem(appointment_item_id(appointment_id), WorkKind.APPOINTMENT, lead.id, a.scheduled_for,
                       a.scheduled_for, detail=a.kind)
              for appointment_id, a in sorted(lead.appointments.items()) if a.outcome is None]
    return items
