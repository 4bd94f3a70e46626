"""Translation of stored after-sales events into public contracts (the relay's translator).

Every stored type is listed here explicitly, published or not. Customer names and phones stored with a care plan,
visit answers and notes, follow-up outcomes and complaint descriptions stay private (subscribers were promised
facts, not free text about a person); the referred prospect's name and phone are published because the leads
service needs them to create the lead.
"""

from __future__ import annotations

from typing import Any

from shared.contracts import aftersales as c
from shared.contracts.base import IntegrationEvent
from shared.eventstore import RecordedEvent
from shared.messaging.relay import OutboundMessage, outbound_message

SOURCE = "salesflow/aftersales"

# Stored type → (public contract, the field that is the aggregate id / message key).
PUBLIC: dict[str, tuple[type[IntegrationEvent], str]] = {
    "CarePlanScheduled": (c.CarePlanScheduledV1, "plan_id"),
    "ReturnVisitCompleted": (c.ReturnVisitCompletedV1, "plan_id"),
    "ReturnVisitOverdue": (c.ReturnVisitOverdueV1, "plan_id"),
    "SatisfactionFollowUpOpened": (c.SatisfactionFollowUpOpenedV1, "plan_id"),
    "SatisfactionFollowUpClosed": (c.SatisfactionFollowUpClosedV1, "plan_id"),
    "ComplaintOpened": (c.ComplaintOpenedV1, "complaint_id"),
    "ComplaintAcknowledged": (c.ComplaintAcknowledgedV1, "complaint_id"),
    "ComplaintResolved": (c.ComplaintResolvedV1, "complaint_id"),
    "ComplaintReopened": (c.ComplaintReopenedV1, "complaint_id"),
    "ComplaintSlaBreached": (c.ComplaintSlaBreachedV1, "complaint_id"),
    "ComplaintEscalated": (c.ComplaintEscalatedV1, "complaint_id"),
    "ReferralRegistered": (c.ReferralRegisteredV1, "referral_id"),
    "ReferralRewarded": (c.ReferralRewardedV1, "referral_id"),
    "PointsAwarded": (c.PointsAwardedV1, "customer_id"),
    "PointsRedeemed": (c.PointsRedeemedV1, "customer_id"),
}

# Stored but private: internal bookkeeping no subscriber was promised.
PRIVATE = {"ReferralLeadLinked"}


def _public_data(event_type: str, data: dict[str, Any]) -> dict[str, Any]:
    # The contract models ignore unknown fields; dropping the private ones explicitly documents the decision.
    if event_type == "CarePlanScheduled":
        return {k: v for k, v in data.items() if k not in ("customer_name", "customer_phone")}
    if event_type == "ReturnVisitCompleted":
        return {k: v for k, v in data.items() if k not in ("answers", "notes", "outcome")}
    if event_type == "ComplaintOpened":
        return {k: v for k, v in data.items() if k != "description"}
    return data


def to_public_message(event: RecordedEvent) -> OutboundMessage | None:
    if event.event_type in PRIVATE:
        return None
    try:
        contract, key_field = PUBLIC[event.event_type]
    except KeyError:
        raise LookupError(f"no public mapping decided for stored event {event.event_type!r}") from None
    payload = contract.model_validate(_public_data(event.event_type, event.data))
    return outbound_message(event, payload, source=SOURCE, subject=str(event.data[key_field]))
