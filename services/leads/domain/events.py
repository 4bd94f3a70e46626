"""Events the leads service stores. Stored names are stable and explicit; public contracts are derived from
them in ``adapters/publishing.py``.

Two registries: ``lead_events`` (streams ``lead-<id>``) and ``organisation_events`` (teams and consultants,
streams ``team-<id>`` / ``consultant-<id>``). New fields on an existing event are always optional, so old
streams still decode.
"""

from __future__ import annotations

from datetime import datetime

from shared.domain import DomainEvent, EventTypeRegistry

lead_events = EventTypeRegistry()
organisation_events = EventTypeRegistry()


# --- leads ---------------------------------------------------------------------------------------------------


@lead_events.register
class LeadCreated(DomainEvent):
    event_type = "LeadCreated"
    schema_version = 1

    lead_id: str
    customer_id: str
    name: str
    phone: str
    channel: str
    interest: str | None
    captured_at: datetime
    stage: str = "new"
    owner_id: str | None = None
    team_id: str | None = None
    source_system: str | None = None
    external_id: str | None = None
    referral_id: str | None = None
    referrer_customer_id: str | None = None
    order_id: str | None = None
    # True when the customer was known (all earlier leads closed): the lead is a reactivation.
    reactivated: bool = False
    # Where the lead came from beyond its channel (domain/campaign.py, Attribution).
    campaign_id: str | None = None
    utm_source: str | None = None
    utm_medium: str | None = None
    utm_campaign: str | None = None
    utm_content: str | None = None
    utm_term: str | None = None


@lead_events.register
class LeadAssigned(DomainEvent):
    event_type = "LeadAssigned"

    lead_id: str
    owner_id: str
    previous_owner_id: str | None = None
    team_id: str | None = None
    # round_robin | manual | owner_deactivated | claimed
    reason: str
    assigned_by: str | None = None
    assigned_at: datetime


@lead_events.register
class LeadGraded(DomainEvent):
    event_type = "LeadGraded"

    lead_id: str
    grade: str
    previous_grade: str
    reason: str
    graded_by: str | None = None
    graded_at: datetime


@lead_events.register
class FollowUpScheduled(DomainEvent):
    """The next follow-up is due at ``due_at``; ``sequence`` identifies this due date (timers refer to it)."""

    event_type = "FollowUpScheduled"

    lead_id: str
    sequence: int
    due_at: datetime
    owner_id: str | None = None


@lead_events.register
class FollowUpLogged(DomainEvent):
    event_type = "FollowUpLogged"

    lead_id: str
    kind: str
    outcome: str
    notes: str | None = None
    logged_by: str | None = None
    logged_at: datetime


@lead_events.register
class CallRecorded(DomainEvent):
    """A call-center call with the lead's customer, answered or missed. ``consultant_id``: the consultant the
    agent is (who logs the answered call's follow-up). ``call_back_due_at``: a missed call's call-back is due then
    (the lead's next follow-up, overdue like any other); None when answered or when the lead is pooled."""

    event_type = "CallRecorded"

    lead_id: str
    call_id: str
    direction: str
    outcome: str
    agent_id: str | None = None
    consultant_id: str | None = None
    started_at: datetime
    duration_seconds: int
    recording_url: str | None = None
    call_back_due_at: datetime | None = None
    recorded_at: datetime


@lead_events.register
class FollowUpOverdue(DomainEvent):
    event_type = "FollowUpOverdue"

    lead_id: str
    sequence: int
    due_at: datetime
    owner_id: str | None = None
    detected_at: datetime


@lead_events.register
class AppointmentScheduled(DomainEvent):
    event_type = "AppointmentScheduled"

    lead_id: str
    appointment_id: str
    kind: str
    scheduled_for: datetime
    scheduled_by: str | None = None
    # Set for a test drive booked on a fleet vehicle (the booking id is the appointment id).
    vehicle_id: str | None = None


@lead_events.register
class AppointmentAttended(DomainEvent):
    event_type = "AppointmentAttended"

    lead_id: str
    appointment_id: str
    kind: str
    attended_at: datetime


@lead_events.register
class AppointmentMissed(DomainEvent):
    """No-show."""

    event_type = "AppointmentMissed"

    lead_id: str
    appointment_id: str
    kind: str
    recorded_at: datetime


@lead_events.register
class AppointmentRescheduled(DomainEvent):
    """The appointment moved (a test drive to another slot or fleet vehicle); it stays open."""

    event_type = "AppointmentRescheduled"

    lead_id: str
    appointment_id: str
    kind: str
    scheduled_for: datetime
    previous_scheduled_for: datetime
    vehicle_id: str | None = None
    rescheduled_by: str | None = None


@lead_events.register
class AppointmentCancelled(DomainEvent):
    """The appointment was called off (neither attended nor missed)."""

    event_type = "AppointmentCancelled"

    lead_id: str
    appointment_id: str
    kind: str
    reason: str
    cancelled_by: str | None = None
    cancelled_at: datetime


@lead_events.register
class ShowroomVisitRecorded(DomainEvent):
    """The lead's customer came to the showroom (the register entry is the visit's own stream)."""

    event_type = "ShowroomVisitRecorded"

    lead_id: str
    visit_id: str
    visit_number: int
    first_visit: bool
    consultant_id: str | None = None
    arrived_at: datetime


@lead_events.register
class LeadPhoneChanged(DomainEvent):
    """The customer's phone number changed (on their card); every lead of the customer carries the new one."""

    event_type = "LeadPhoneChanged"

    lead_id: str
    customer_id: str
    phone: str
    previous_phone: str
    changed_by: str | None = None
    changed_at: datetime


@lead_events.register
class LeadCustomerMerged(DomainEvent):
    """The lead's customer was merged into another one (a manual merge of two customer records): the lead belongs
    to ``customer_id`` from now on."""

    event_type = "LeadCustomerMerged"

    lead_id: str
    customer_id: str
    previous_customer_id: str
    merged_by: str | None = None
    merged_at: datetime


@lead_events.register
class StageAdvanced(DomainEvent):
    """A stage change, forwards or (explicitly, ``backwards=True``) back."""

    event_type = "StageAdvanced"

    lead_id: str
    from_stage: str
    to_stage: str
    backwards: bool = False
    reason: str | None = None
    order_id: str | None = None
    moved_by: str | None = None
    moved_at: datetime


@lead_events.register
class LossRequested(DomainEvent):
    event_type = "LossRequested"

    lead_id: str
    reason: str
    competitor_model: str | None = None
    note: str | None = None
    requested_by: str | None = None
    requested_at: datetime


@lead_events.register
class LossApproved(DomainEvent):
    event_type = "LossApproved"

    lead_id: str
    reason: str
    competitor_model: str | None = None
    approved_by: str
    approved_at: datetime


@lead_events.register
class LossRejected(DomainEvent):
    event_type = "LossRejected"

    lead_id: str
    rejected_by: str
    note: str | None = None
    rejected_at: datetime


@lead_events.register
class LeadInvalidated(DomainEvent):
    event_type = "LeadInvalidated"

    lead_id: str
    reason: str
    invalidated_by: str | None = None
    invalidated_at: datetime


@lead_events.register
class LeadReleasedToPool(DomainEvent):
    event_type = "LeadReleasedToPool"

    lead_id: str
    previous_owner_id: str | None = None
    team_id: str | None = None
    idle_since: datetime
    released_at: datetime
    # idle (no follow-up for the policy's period) | owner_left (owner deactivated, nobody else in the team)
    reason: str = "idle"


@lead_events.register
class LeadClaimed(DomainEvent):
    event_type = "LeadClaimed"

    lead_id: str
    owner_id: str
    team_id: str | None = None
    claimed_at: datetime


@lead_events.register
class DuplicateContactRecorded(DomainEvent):
    """A repeat contact of the lead's customer (touchpoint); no second lead was created."""

    event_type = "DuplicateContactRecorded"

    lead_id: str
    channel: str
    name: str | None = None
    interest: str | None = None
    source_system: str | None = None
    external_id: str | None = None
    referral_id: str | None = None
    referrer_customer_id: str | None = None
    recorded_at: datetime


@lead_events.register
class OwnerReminded(DomainEvent):
    event_type = "OwnerReminded"

    lead_id: str
    owner_id: str
    reason: str
    reminded_at: datetime


# --- organisation --------------------------------------------------------------------------------------------


@organisation_events.register
class TeamRegistered(DomainEvent):
    event_type = "TeamRegistered"

    team_id: str
    name: str
    registered_at: datetime


@organisation_events.register
class ConsultantRegistered(DomainEvent):
    event_type = "ConsultantRegistered"

    consultant_id: str
    name: str
    team_id: str
    role: str
    registered_at: datetime


@organisation_events.register
class ConsultantDeactivated(DomainEvent):
    event_type = "ConsultantDeactivated"

    consultant_id: str
    team_id: str
    deactivated_at: datetime


@organisation_events.register
class ConsultantMovedTeam(DomainEvent):
    event_type = "ConsultantMovedTeam"

    consultant_id: str
    from_team_id: str
    to_team_id: str
    moved_at: datetime
