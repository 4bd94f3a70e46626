"""Translation of stored lead events into public contracts (the relay's translator).

Stored events and public contracts are allowed to differ: the store keeps what the domain needs, the topic
carries what subscribers were promised. Every stored type is listed here explicitly, published or not.
"""

from __future__ import annotations

from shared.contracts.leads import LeadCreatedV1
from shared.eventstore import RecordedEvent
from shared.messaging.relay import OutboundMessage, outbound_message

SOURCE = "salesflow/leads"


def to_public_message(event: RecordedEvent) -> OutboundMessage | None:
    match event.event_type:
        case "LeadCreated":
            d = event.data
            payload = LeadCreatedV1(
                lead_id=d["lead_id"], customer_id=d["customer_id"], name=d["name"], phone=d["phone"],
                channel=d["channel"], interest=d["interest"], captured_at=d["captured_at"],
            )
            return outbound_message(event, payload, source=SOURCE, subject=payload.lead_id)
        case _:
            raise LookupError(f"no public mapping decided for stored event {event.event_type!r}")
