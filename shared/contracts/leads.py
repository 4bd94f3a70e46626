"""Public events of the leads service (topic ``<prefix>.leads``, key = lead id)."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from shared.contracts.base import IntegrationEvent, contract


@contract("salesflow.leads.LeadCreated", version=1, producer="leads")
class LeadCreatedV1(IntegrationEvent):
    """A lead was captured. Personal data (name, phone) is included because the leads service's subscribers
    (orders, after-sales) need to address the customer; reporting ignores it."""

    lead_id: str = Field(description="the lead's id; also the message key and ce_subject")
    customer_id: str = Field(description="the customer the lead belongs to (stable across re-captures)")
    name: str
    phone: str = Field(description="normalised E.164, e.g. +8613812345678")
    channel: str = Field(description="acquisition channel code, e.g. online_shop, call_center")
    interest: str | None = Field(default=None, description="model or product the prospect asked about")
    stage: str = Field(default="new", description="pipeline stage at capture")
    grade: str = Field(default="N", description="lead grade at capture (N = not yet graded)")
    owner_id: str | None = Field(default=None, description="consultant the lead is assigned to, if any")
    captured_at: datetime
    referral_id: str | None = Field(default=None, description="set when the lead came from an after-sales referral")
    referrer_customer_id: str | None = Field(default=None, description="the referring customer, for referral leads")
    order_id: str | None = Field(
        default=None, description="set when the lead was created from an order (online-shop checkout)"
    )
    campaign_id: str | None = Field(default=None, description="the campaign the lead came from "
                                                              "(salesflow.leads.CampaignCreated), if any")
    utm_source: str | None = Field(default=None, description="UTM parameters of the link the prospect followed, "
                                                             "as sent")
    utm_medium: str | None = None
    utm_campaign: str | None = Field(default=None, description="equal to a campaign's code: the lead is linked to "
                                                               "that campaign (campaign_id)")
    utm_content: str | None = None
    utm_term: str | None = None


# --- added with the full customer-development process (issue #3); all additive, version 1 each ------------------


@contract("salesflow.leads.LeadAssigned", version=1, producer="leads")
class LeadAssignedV1(IntegrationEvent):
    """The lead got an owner: round robin at capture, a manager's reassignment, or a hand-over when the owner
    left the team."""

    lead_id: str = Field(description="the lead's id; also the message key")
    owner_id: str = Field(description="the consultant who owns the lead now")
    previous_owner_id: str | None = Field(default=None, description="the owner before, if any")
    team_id: str | None = Field(default=None, description="the owner's team")
    reason: str = Field(description="round_robin | manual | owner_left (may grow; tolerate others)")
    assigned_by: str | None = Field(default=None, description="the manager who reassigned, for manual ones")
    assigned_at: datetime


@contract("salesflow.leads.LeadGraded", version=1, producer="leads")
class LeadGradedV1(IntegrationEvent):
    """The lead's purchase-window grade changed (H ≤ 7 days, A ≤ 15, B ≤ 30, C 2–3 months)."""

    lead_id: str = Field(description="the lead's id; also the message key")
    grade: str = Field(description="the new grade: H, A, B or C")
    previous_grade: str = Field(description="the grade before (N = not yet graded)")
    reason: str = Field(description="why the consultant graded so")
    graded_by: str | None = Field(default=None, description="the consultant")
    graded_at: datetime


@contract("salesflow.leads.FollowUpScheduled", version=1, producer="leads")
class FollowUpScheduledV1(IntegrationEvent):
    """The lead's next follow-up is due at ``due_at`` (from the grade's cadence, or set by the consultant)."""

    lead_id: str = Field(description="the lead's id; also the message key")
    sequence: int = Field(description="increasing number of this due date within the lead")
    due_at: datetime = Field(description="when the next follow-up is due")
    owner_id: str | None = Field(default=None, description="the consultant expected to follow up")


@contract("salesflow.leads.FollowUpLogged", version=1, producer="leads")
class FollowUpLoggedV1(IntegrationEvent):
    """A consultant followed the lead up."""

    lead_id: str = Field(description="the lead's id; also the message key")
    kind: str = Field(description="call | visit | message")
    outcome: str = Field(description="what came of it, in the consultant's words")
    notes: str | None = Field(default=None, description="free notes")
    logged_by: str | None = Field(default=None, description="the consultant")
    logged_at: datetime


@contract("salesflow.leads.CallRecorded", version=1, producer="leads")
class CallRecordedV1(IntegrationEvent):
    """A call-center call with the lead's customer was recorded on the lead (from ``<prefix>.inbound.calls``).
    An answered call is followed by ``FollowUpLogged`` (kind call, by the agent's consultant); a missed one by a
    ``FollowUpScheduled`` at ``call_back_due_at`` unless a follow-up was due earlier."""

    lead_id: str = Field(description="the lead's id; also the message key")
    call_id: str = Field(description="the call center's id of the call")
    direction: str = Field(description="inbound | outbound (may grow)")
    outcome: str = Field(description="answered | missed (may grow)")
    agent_id: str | None = Field(default=None, description="the call-center agent")
    consultant_id: str | None = Field(default=None, description="the consultant the agent is")
    started_at: datetime = Field(description="when the call started")
    duration_seconds: int = Field(description="talk time; 0 for a missed call")
    recording_url: str | None = Field(default=None, description="where the call center keeps the recording")
    call_back_due_at: datetime | None = Field(default=None, description="a missed call's call-back is due then")
    recorded_at: datetime = Field(description="when salesflow recorded the call")


@contract("salesflow.leads.FollowUpOverdue", version=1, producer="leads")
class FollowUpOverdueV1(IntegrationEvent):
    """A due follow-up was missed (fired by a durable timer at the due time)."""

    lead_id: str = Field(description="the lead's id; also the message key")
    sequence: int = Field(description="the due date's number (see FollowUpScheduled)")
    due_at: datetime = Field(description="when the follow-up was due")
    owner_id: str | None = Field(default=None, description="the consultant who missed it")
    detected_at: datetime = Field(description="when the overdue was detected")


@contract("salesflow.leads.AppointmentScheduled", version=1, producer="leads")
class AppointmentScheduledV1(IntegrationEvent):
    """A showroom visit or test drive was booked."""

    lead_id: str = Field(description="the lead's id; also the message key")
    appointment_id: str = Field(description="the appointment's id within the lead")
    kind: str = Field(description="showroom_visit | test_drive")
    scheduled_for: datetime = Field(description="when the prospect is expected")
    scheduled_by: str | None = Field(default=None, description="the consultant")
    vehicle_id: str | None = Field(default=None, description="a test drive booked on a fleet vehicle: the "
                                                             "vehicle (the appointment id is the booking id)")


@contract("salesflow.leads.AppointmentAttended", version=1, producer="leads")
class AppointmentAttendedV1(IntegrationEvent):
    """The prospect came to the appointment."""

    lead_id: str = Field(description="the lead's id; also the message key")
    appointment_id: str = Field(description="the appointment's id within the lead")
    kind: str = Field(description="showroom_visit | test_drive")
    attended_at: datetime


@contract("salesflow.leads.AppointmentMissed", version=1, producer="leads")
class AppointmentMissedV1(IntegrationEvent):
    """The prospect did not come (no-show); a follow-up is due soon after."""

    lead_id: str = Field(description="the lead's id; also the message key")
    appointment_id: str = Field(description="the appointment's id within the lead")
    kind: str = Field(description="showroom_visit | test_drive")
    recorded_at: datetime


@contract("salesflow.leads.AppointmentRescheduled", version=1, producer="leads")
class AppointmentRescheduledV1(IntegrationEvent):
    """The appointment moved (a test drive to another slot or fleet vehicle); it is still open."""

    lead_id: str = Field(description="the lead's id; also the message key")
    appointment_id: str = Field(description="the appointment's id within the lead (a test drive's booking id)")
    kind: str = Field(description="showroom_visit | test_drive")
    scheduled_for: datetime = Field(description="the new time")
    previous_scheduled_for: datetime
    vehicle_id: str | None = Field(default=None, description="the fleet vehicle after the move (test drives)")
    rescheduled_by: str | None = None


@contract("salesflow.leads.AppointmentCancelled", version=1, producer="leads")
class AppointmentCancelledV1(IntegrationEvent):
    """The appointment was called off: neither attended nor a no-show."""

    lead_id: str = Field(description="the lead's id; also the message key")
    appointment_id: str
    kind: str = Field(description="showroom_visit | test_drive")
    reason: str
    cancelled_by: str | None = None
    cancelled_at: datetime


@contract("salesflow.leads.LeadPhoneChanged", version=1, producer="leads")
class LeadPhoneChangedV1(IntegrationEvent):
    """The lead's customer changed their phone number (the new one is the dedupe key from now on)."""

    lead_id: str = Field(description="the lead's id; also the message key")
    customer_id: str
    phone: str = Field(description="the new number, E.164")
    previous_phone: str
    changed_by: str | None = None
    changed_at: datetime


@contract("salesflow.leads.LeadCustomerMerged", version=1, producer="leads")
class LeadCustomerMergedV1(IntegrationEvent):
    """The lead's customer was merged into another customer: the lead belongs to ``customer_id`` from now on."""

    lead_id: str = Field(description="the lead's id; also the message key")
    customer_id: str = Field(description="the surviving customer")
    previous_customer_id: str
    merged_by: str | None = None
    merged_at: datetime


@contract("salesflow.leads.StageAdvanced", version=1, producer="leads")
class StageAdvancedV1(IntegrationEvent):
    """The lead's stage changed. Forward skips are normal; ``backwards`` marks an explicit move back."""

    lead_id: str = Field(description="the lead's id; also the message key")
    from_stage: str = Field(description="stage before: new, contacted, visited, needs_analysed, presented, "
                                        "test_driven, negotiating, contract_signed, delivered")
    to_stage: str = Field(description="stage after (same vocabulary)")
    backwards: bool = Field(default=False, description="true for an explicit move back")
    reason: str | None = Field(default=None, description="why (required for moves back)")
    order_id: str | None = Field(default=None, description="the order, when the move came from orders' events")
    moved_by: str | None = Field(default=None, description="who moved it; None for reactions and timers")
    moved_at: datetime


@contract("salesflow.leads.LossRequested", version=1, producer="leads")
class LossRequestedV1(IntegrationEvent):
    """A consultant asked to mark the lead lost (战败); a manager approves or rejects."""

    lead_id: str = Field(description="the lead's id; also the message key")
    reason: str = Field(description="loss reason code from the configured list")
    competitor_model: str | None = Field(default=None, description="what the prospect bought instead, if known")
    note: str | None = Field(default=None, description="free text")
    requested_by: str | None = Field(default=None, description="the consultant")
    requested_at: datetime


@contract("salesflow.leads.LossApproved", version=1, producer="leads")
class LossApprovedV1(IntegrationEvent):
    """A manager approved the loss: the lead left the pipeline."""

    lead_id: str = Field(description="the lead's id; also the message key")
    reason: str = Field(description="the requested loss reason code")
    competitor_model: str | None = Field(default=None, description="competitor model, if known")
    approved_by: str = Field(description="the manager")
    approved_at: datetime


@contract("salesflow.leads.LossRejected", version=1, producer="leads")
class LossRejectedV1(IntegrationEvent):
    """A manager rejected the loss request: the lead stays open."""

    lead_id: str = Field(description="the lead's id; also the message key")
    rejected_by: str = Field(description="the manager")
    note: str | None = Field(default=None, description="why")
    rejected_at: datetime


@contract("salesflow.leads.LeadInvalidated", version=1, producer="leads")
class LeadInvalidatedV1(IntegrationEvent):
    """The lead is invalid (失效: empty number, not a buyer) and left the pipeline."""

    lead_id: str = Field(description="the lead's id; also the message key")
    reason: str = Field(description="why")
    invalidated_by: str | None = Field(default=None, description="the consultant")
    invalidated_at: datetime


@contract("salesflow.leads.LeadReleasedToPool", version=1, producer="leads")
class LeadReleasedToPoolV1(IntegrationEvent):
    """The lead went to the shared pool (公海): no follow-up for the configured period, or its owner left."""

    lead_id: str = Field(description="the lead's id; also the message key")
    previous_owner_id: str | None = Field(default=None, description="who owned it")
    team_id: str | None = Field(default=None, description="whose pool it is in")
    idle_since: datetime = Field(description="the last activity on the lead")
    released_at: datetime
    reason: str = Field(default="idle", description="idle | owner_left")


@contract("salesflow.leads.LeadClaimed", version=1, producer="leads")
class LeadClaimedV1(IntegrationEvent):
    """A consultant of the team claimed the lead from the pool."""

    lead_id: str = Field(description="the lead's id; also the message key")
    owner_id: str = Field(description="the consultant who claimed it")
    team_id: str | None = Field(default=None, description="their team")
    claimed_at: datetime


@contract("salesflow.leads.DuplicateContactRecorded", version=1, producer="leads")
class DuplicateContactRecordedV1(IntegrationEvent):
    """A repeat contact of an open lead's customer (same normalised phone) was recorded on that lead as a
    touchpoint; no second lead was created."""

    lead_id: str = Field(description="the existing lead; also the message key")
    channel: str = Field(description="the channel of the repeat contact")
    source_system: str | None = Field(default=None, description="the system that sent it, if any")
    external_id: str | None = Field(default=None, description="its id in that system")
    referral_id: str | None = Field(default=None, description="set when the repeat contact was a referral")
    referrer_customer_id: str | None = Field(default=None, description="the referrer, for referrals")
    recorded_at: datetime


@contract("salesflow.leads.OwnerReminded", version=1, producer="leads")
class OwnerRemindedV1(IntegrationEvent):
    """The lead's owner should look at the lead now (e.g. the customer came back through another channel)."""

    lead_id: str = Field(description="the lead's id; also the message key")
    owner_id: str = Field(description="the consultant to remind")
    reason: str = Field(description="duplicate_contact (may grow)")
    reminded_at: datetime


@contract("salesflow.leads.TeamRegistered", version=1, producer="leads")
class TeamRegisteredV1(IntegrationEvent):
    """A sales team exists. Key = team id."""

    team_id: str = Field(description="the team's id; also the message key")
    name: str
    registered_at: datetime


@contract("salesflow.leads.ConsultantRegistered", version=1, producer="leads")
class ConsultantRegisteredV1(IntegrationEvent):
    """A consultant (or manager) joined a team. Key = consultant id."""

    consultant_id: str = Field(description="the consultant's id; also the message key")
    name: str
    team_id: str = Field(description="their team")
    role: str = Field(description="consultant | manager")
    registered_at: datetime


@contract("salesflow.leads.ConsultantDeactivated", version=1, producer="leads")
class ConsultantDeactivatedV1(IntegrationEvent):
    """A consultant left; their open leads were handed over. Key = consultant id."""

    consultant_id: str = Field(description="the consultant's id; also the message key")
    team_id: str = Field(description="the team they left")
    deactivated_at: datetime


@contract("salesflow.leads.ConsultantMovedTeam", version=1, producer="leads")
class ConsultantMovedTeamV1(IntegrationEvent):
    """A consultant moved to another team; their open leads stayed with the old team. Key = consultant id."""

    consultant_id: str = Field(description="the consultant's id; also the message key")
    from_team_id: str
    to_team_id: str
    moved_at: datetime
