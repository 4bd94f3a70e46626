"""Which events notify which people (pure). The facts the rules need — who owns the lead, its grade, who manages
the owner's team, who sold the order a complaint is about — come from the public events themselves (the app
layer keeps them in a small directory); the rules only decide.

| rule | event | recipients |
| --- | --- | --- |
| ``follow_up_overdue`` | leads ``FollowUpOverdue`` | the lead's owner (the event's ``owner_id``) |
| ``h_grade_overdue`` | leads ``FollowUpOverdue`` of an H-grade lead | the managers of the owner's team |
| ``no_show`` | leads ``AppointmentMissed`` / ``TestDriveMissed`` | the lead's owner |
| ``complaint_escalated`` | aftersales ``ComplaintEscalated`` | the consultant who sold the order; from level 2 |
| | | on also the managers of their team |
| ``loss_pending_approval`` | leads ``LossRequested`` | the managers of the requester's team (the lead's team |
| | | if the requester is unknown) |
| ``duplicate_contact`` | leads ``OwnerReminded`` | the owner it names |
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

FOLLOW_UP_OVERDUE = "salesflow.leads.FollowUpOverdue"
APPOINTMENT_MISSED = "salesflow.leads.AppointmentMissed"
TEST_DRIVE_MISSED = "salesflow.leads.TestDriveMissed"
LOSS_REQUESTED = "salesflow.leads.LossRequested"
OWNER_REMINDED = "salesflow.leads.OwnerReminded"
COMPLAINT_ESCALATED = "salesflow.aftersales.ComplaintEscalated"

TRIGGERS = (FOLLOW_UP_OVERDUE, APPOINTMENT_MISSED, TEST_DRIVE_MISSED, LOSS_REQUESTED, OWNER_REMINDED,
            COMPLAINT_ESCALATED)
"""The event types that can raise a notification."""

RULES = ("follow_up_overdue", "h_grade_overdue", "no_show", "complaint_escalated", "loss_pending_approval",
         "duplicate_contact")
MANAGER_LEVEL_FOR_COMPLAINTS = 2
"""From this escalation level on a complaint reaches the team's managers too (level 1 goes to the service
manager's desk in after-sales; the seller is told so they can call the customer)."""


@dataclass(frozen=True, slots=True)
class Facts:
    """What the directory knew about the event's lead (or complaint's order) when it was consumed."""

    owner_id: str | None = None  # the lead's owner, or the consultant who sold the complaint's order
    grade: str | None = None  # the lead's grade
    team_id: str | None = None  # the owner's (for LossRequested: the requester's) team
    managers: tuple[str, ...] = ()  # the managers of that team


@dataclass(frozen=True, slots=True)
class Intent:
    """One person to notify under one rule."""

    rule: str
    recipient_id: str
    title: str
    text: str
    lead_id: str | None
    team_id: str | None


def intents(event_type: str, data: dict[str, Any], facts: Facts) -> list[Intent]:
    """The notifications an event raises, one per (rule, person); a person named twice is notified once per
    rule. An event whose person is unknown raises nothing for that rule."""
    lead_id = data.get("lead_id")
    found: list[Intent] = []

    def notify(rule: str, people: tuple[str | None, ...], title: str, text: str) -> None:
        for person in dict.fromkeys(p for p in people if p):
            found.append(Intent(rule, person, title, text, lead_id, facts.team_id))

    if event_type == FOLLOW_UP_OVERDUE:
        owner = data.get("owner_id") or facts.owner_id
        due = data.get("due_at")
        notify("follow_up_overdue", (owner,), "Follow-up overdue",
               f"The follow-up of lead {lead_id} was due at {due} and has not been logged.")
        if facts.grade == "H":
            notify("h_grade_overdue", facts.managers, "H-grade lead overdue",
                   f"The H-grade lead {lead_id} (owner {owner}) missed its follow-up due at {due}.")
    elif event_type in (APPOINTMENT_MISSED, TEST_DRIVE_MISSED):
        kind = data.get("kind", "test_drive") if event_type == APPOINTMENT_MISSED else "test_drive"
        notify("no_show", (facts.owner_id,), "No-show",
               f"The prospect of lead {lead_id} did not come to the {kind.replace('_', ' ')}.")
    elif event_type == LOSS_REQUESTED:
        notify("loss_pending_approval", facts.managers, "Loss approval pending",
               f"Lead {lead_id}: {data.get('requested_by') or 'a consultant'} asked to mark it lost "
               f"(reason {data.get('reason')}); approve or reject it.")
    elif event_type == OWNER_REMINDED:
        notify("duplicate_contact", (data.get("owner_id"),), "Customer came back",
               f"The customer of lead {lead_id} got in touch again ({data.get('reason')}); look at the lead now.")
    elif event_type == COMPLAINT_ESCALATED:
        level = int(data.get("level", 1))
        people = (facts.owner_id, *(facts.managers if level >= MANAGER_LEVEL_FOR_COMPLAINTS else ()))
        notify("complaint_escalated", people, "Complaint escalated",
               f"Complaint {data.get('complaint_id')} was escalated to level {level} "
               f"({data.get('escalated_to')}): {data.get('reason')}.")
    return found
