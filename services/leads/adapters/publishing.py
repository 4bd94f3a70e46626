"""Translation of stored lead and organisation events into public contracts (the relay's translator).

Stored events and public contracts are allowed to differ: the store keeps what the domain needs, the topic
carries what subscribers were promised. Every stored type is listed here explicitly, published or not; a type
nobody decided about is refused (LookupError) rather than silently dropped.
"""

from __future__ import annotations

from typing import Any

from services.leads.domain.campaign import UTM_FIELDS
from shared.contracts import campaigns as cg
from shared.contracts import leads as c
from shared.contracts import outreach as oc
from shared.contracts import showroom as sc
from shared.contracts.base import IntegrationEvent
from shared.eventstore import RecordedEvent
from shared.messaging.relay import OutboundMessage, outbound_message

SOURCE = "salesflow/leads"
ATTRIBUTION_FIELDS = ("campaign_id", *UTM_FIELDS)

# Stored type → (contract, the fields it takes, the field that is the message key). Fields not listed stay
# private (e.g. the duplicate contact's name and interest, the capture's idempotency key).
_PUBLISHED: dict[str, tuple[type[IntegrationEvent], tuple[str, ...], str]] = {
    "LeadAssigned": (c.LeadAssignedV1, ("lead_id", "owner_id", "previous_owner_id", "team_id", "reason",
                                        "assigned_by", "assigned_at"), "lead_id"),
    "LeadGraded": (c.LeadGradedV1, ("lead_id", "grade", "previous_grade", "reason", "graded_by", "graded_at"),
                   "lead_id"),
    "FollowUpScheduled": (c.FollowUpScheduledV1, ("lead_id", "sequence", "due_at", "owner_id"), "lead_id"),
    "FollowUpLogged": (c.FollowUpLoggedV1, ("lead_id", "kind", "outcome", "notes", "logged_by", "logged_at"),
                       "lead_id"),
    "CallRecorded": (c.CallRecordedV1, ("lead_id", "call_id", "direction", "outcome", "agent_id", "consultant_id",
                                        "started_at", "duration_seconds", "recording_url", "call_back_due_at",
                                        "recorded_at"), "lead_id"),
    "FollowUpOverdue": (c.FollowUpOverdueV1, ("lead_id", "sequence", "due_at", "owner_id", "detected_at"),
                        "lead_id"),
    "AppointmentScheduled": (c.AppointmentScheduledV1, ("lead_id", "appointment_id", "kind", "scheduled_for",
                                                        "scheduled_by", "vehicle_id"), "lead_id"),
    "AppointmentAttended": (c.AppointmentAttendedV1, ("lead_id", "appointment_id", "kind", "attended_at"),
                            "lead_id"),
    "AppointmentMissed": (c.AppointmentMissedV1, ("lead_id", "appointment_id", "kind", "recorded_at"), "lead_id"),
    "AppointmentRescheduled": (c.AppointmentRescheduledV1, ("lead_id", "appointment_id", "kind", "scheduled_for",
                                                            "previous_scheduled_for", "vehicle_id", "rescheduled_by"),
                               "lead_id"),
    "AppointmentCancelled": (c.AppointmentCancelledV1, ("lead_id", "appointment_id", "kind", "reason",
                                                        "cancelled_by", "cancelled_at"), "lead_id"),
    "StageAdvanced": (c.StageAdvancedV1, ("lead_id", "from_stage", "to_stage", "backwards", "reason", "order_id",
                                          "moved_by", "moved_at"), "lead_id"),
    "LossRequested": (c.LossRequestedV1, ("lead_id", "reason", "competitor_model", "note", "requested_by",
                                          "requested_at"), "lead_id"),
    "LossApproved": (c.LossApprovedV1, ("lead_id", "reason", "competitor_model", "approved_by", "approved_at"),
                     "lead_id"),
    "LossRejected": (c.LossRejectedV1, ("lead_id", "rejected_by", "note", "rejected_at"), "lead_id"),
    "LeadInvalidated": (c.LeadInvalidatedV1, ("lead_id", "reason", "invalidated_by", "invalidated_at"), "lead_id"),
    "LeadReleasedToPool": (c.LeadReleasedToPoolV1, ("lead_id", "previous_owner_id", "team_id", "idle_since",
                                                    "released_at", "reason"), "lead_id"),
    "LeadClaimed": (c.LeadClaimedV1, ("lead_id", "owner_id", "team_id", "claimed_at"), "lead_id"),
    "DuplicateContactRecorded": (c.DuplicateContactRecordedV1, ("lead_id", "channel", "source_system",
                                                                "external_id", "referral_id",
                                                                "referrer_customer_id", "recorded_at"), "lead_id"),
    "OwnerReminded": (c.OwnerRemindedV1, ("lead_id", "owner_id", "reason", "reminded_at"), "lead_id"),
    "ShowroomVisitRecorded": (sc.ShowroomVisitRecordedV1, ("lead_id", "visit_id", "visit_number", "first_visit",
                                                          "consultant_id", "arrived_at"), "lead_id"),
    "VisitArrived": (sc.VisitArrivedV1, ("visit_id", "lead_id", "customer_id", "visit_number", "first_visit",
                                         "party_size", "purpose", "receptionist_id", "consultant_id", "team_id",
                                         "walk_in_lead", "arrived_at"), "visit_id"),
    "VisitDeparted": (sc.VisitDepartedV1, ("visit_id", "lead_id", "departed_at", "duration_minutes", "recorded_by"),
                      "visit_id"),
    "TestDriveVehicleRegistered": (sc.TestDriveVehicleRegisteredV1, ("vehicle_id", "model", "trim", "colour", "plate",
                                                                    "vin", "registered_at"), "vehicle_id"),
    "TestDriveBooked": (sc.TestDriveBookedV1, ("vehicle_id", "booking_id", "lead_id", "starts_at", "ends_at", "route",
                                               "booked_by", "booked_at"), "vehicle_id"),
    "TestDriveStarted": (sc.TestDriveStartedV1, ("vehicle_id", "booking_id", "lead_id", "licence_checked_by",
                                                 "waiver_signed", "started_at"), "vehicle_id"),
    "TestDriveCompleted": (sc.TestDriveCompletedV1, ("vehicle_id", "booking_id", "lead_id", "ended_at",
                                                     "duration_minutes", "feedback_score", "feedback_note",
                                                     "completed_by"), "vehicle_id"),
    "TestDriveMissed": (sc.TestDriveMissedV1, ("vehicle_id", "booking_id", "lead_id", "recorded_by", "recorded_at"),
                        "vehicle_id"),
    "TestDriveCancelled": (sc.TestDriveCancelledV1, ("vehicle_id", "booking_id", "lead_id", "reason", "cancelled_by",
                                                     "cancelled_at"), "vehicle_id"),
    "TestDriveRescheduled": (sc.TestDriveRescheduledV1, ("vehicle_id", "booking_id", "lead_id", "from_vehicle_id",
                                                         "previous_starts_at", "starts_at", "ends_at", "route",
                                                         "rescheduled_by", "rescheduled_at"), "vehicle_id"),
    "TestDriveMovedAway": (sc.TestDriveMovedAwayV1, ("vehicle_id", "booking_id", "lead_id", "to_vehicle_id",
                                                     "moved_by", "moved_at"), "vehicle_id"),
    "LeadPhoneChanged": (c.LeadPhoneChangedV1, ("lead_id", "customer_id", "phone", "previous_phone", "changed_by",
                                                "changed_at"), "lead_id"),
    "CustomerCardUpdated": (sc.CustomerCardUpdatedV1, ("customer_id", "changes", "updated_by", "updated_at"),
                            "customer_id"),
    "CustomerPhoneChanged": (sc.CustomerPhoneChangedV1, ("customer_id", "phone", "previous_phone", "changed_by",
                                                         "changed_at"), "customer_id"),
    "LeadCustomerMerged": (c.LeadCustomerMergedV1, ("lead_id", "customer_id", "previous_customer_id", "merged_by",
                                                    "merged_at"), "lead_id"),
    "CustomerMerged": (sc.CustomerMergedV1, ("customer_id", "merged_customer_id", "lead_ids", "phones", "merged_by",
                                             "merged_at"), "customer_id"),
    "CustomerMergedInto": (sc.CustomerMergedIntoV1, ("customer_id", "survivor_id", "merged_by", "merged_at"),
                           "customer_id"),
    "CampaignUpdated": (cg.CampaignUpdatedV1, ("campaign_id", "changes", "updated_by", "updated_at"), "campaign_id"),
    "CampaignSpendRecorded": (cg.CampaignSpendRecordedV1, ("campaign_id", "entry_id", "amount_minor", "currency",
                                                           "channel", "spent_at", "note", "total_spent_minor",
                                                           "recorded_by", "recorded_at"), "campaign_id"),
    "OutreachBatchCreated": (oc.OutreachBatchCreatedV1, ("batch_id", "team_id", "audience", "filters",
                                                         "consultant_ids", "due_at", "note", "created_by",
                                                         "created_at", "selected", "reactivated", "scheduled",
                                                         "tasks"), "batch_id"),
    "TeamRegistered": (c.TeamRegisteredV1, ("team_id", "name", "registered_at"), "team_id"),
    "ConsultantRegistered": (c.ConsultantRegisteredV1, ("consultant_id", "name", "team_id", "role",
                                                        "registered_at"), "consultant_id"),
    "ConsultantDeactivated": (c.ConsultantDeactivatedV1, ("consultant_id", "team_id", "deactivated_at"),
                              "consultant_id"),
    "ConsultantMovedTeam": (c.ConsultantMovedTeamV1, ("consultant_id", "from_team_id", "to_team_id", "moved_at"),
                            "consultant_id"),
}


def _lead_created(d: dict[str, Any]) -> c.LeadCreatedV1:
    return c.LeadCreatedV1(
        lead_id=d["lead_id"], customer_id=d["customer_id"], name=d["name"], phone=d["phone"], channel=d["channel"],
        interest=d["interest"], captured_at=d["captured_at"], stage=d.get("stage", "new"),
        owner_id=d.get("owner_id"), referral_id=d.get("referral_id"),
        referrer_customer_id=d.get("referrer_customer_id"), order_id=d.get("order_id"),
        **{f: d.get(f) for f in ATTRIBUTION_FIELDS},
    )


def _campaign_created(d: dict[str, Any]) -> cg.CampaignCreatedV1:
    # The public field is ``campaign_name``: subscribers (reporting) drop every ``name`` as a person's.
    return cg.CampaignCreatedV1.model_validate({**{k: v for k, v in d.items() if k != "name"},
                                                "campaign_name": d["name"]})


def to_public_message(event: RecordedEvent) -> OutboundMessage | None:
    if event.event_type == "LeadCreated":
        created = _lead_created(event.data)
        return outbound_message(event, created, source=SOURCE, subject=created.lead_id)
    if event.event_type == "CampaignCreated":
        campaign = _campaign_created(event.data)
        return outbound_message(event, campaign, source=SOURCE, subject=campaign.campaign_id)
    mapping = _PUBLISHED.get(event.event_type)
    if mapping is None:
        raise LookupError(f"no public mapping decided for stored event {event.event_type!r}")
    contract, fields, key = mapping
    payload = contract.model_validate({f: event.data.get(f) for f in fields if f in event.data})
    return outbound_message(event, payload, source=SOURCE, subject=str(event.data[key]))
