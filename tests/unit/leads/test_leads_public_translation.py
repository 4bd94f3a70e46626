"""Every stored lead event has a decided public mapping, and the message it becomes honours its contract."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.leads.adapters.publishing import SOURCE, to_public_message
from services.leads.domain.events import LeadCreated, lead_events
from shared.contracts import registry
from shared.contracts.leads import LeadCreatedV1
from shared.domain import DomainEvent
from shared.eventstore import RecordedEvent
from shared.messaging.headers import EventHeaders

EVENT_ID = UUID("3f2b8c1e-9a4d-4b7e-8c2f-1a2b3c4d5e6f")
OCCURRED = datetime(2024, 5, 1, 10, 20, 30, tzinfo=UTC)
RECORDED = datetime(2024, 5, 1, 10, 20, 31, tzinfo=UTC)
STORED_TYPES = sorted(lead_events._types.items())


def recorded(
    event: DomainEvent, *, stream_id: str = "lead-L-1", metadata: dict[str, str] | None = None
) -> RecordedEvent:
    # Stored exactly as the repository stores it: model_dump(mode="json").
    return RecordedEvent(
        position=7,
        txid=42,
        event_id=EVENT_ID,
        stream_id=stream_id,
        stream_type="lead",
        version=1,
        event_type=event.event_type,
        schema_version=event.schema_version,
        data=event.model_dump(mode="json"),
        metadata=metadata or {},
        occurred_at=OCCURRED,
        recorded_at=RECORDED,
    )


def test_the_leads_service_stores_at_least_one_event_type() -> None:
    assert STORED_TYPES


@pytest.mark.parametrize(("event_type", "cls"), STORED_TYPES, ids=[name for name, _ in STORED_TYPES])
@given(data=st.data())
@settings(max_examples=25)
def test_every_stored_lead_event_type_has_a_decided_public_mapping(
    event_type: str, cls: type[DomainEvent], data: st.DataObject
) -> None:
    assert cls.event_type == event_type
    # Integers are stored as JSON numbers: keep them in the range a 64-bit JSON encoder accepts.
    ints = {name: st.integers(0, 2**31) for name, f in cls.model_fields.items() if f.annotation is int}
    instance = data.draw(st.builds(cls, **ints))

    message = to_public_message(recorded(instance))  # raises LookupError if nobody decided

    if message is not None:
        headers = EventHeaders.decode(message.headers)
        assert message.key == headers.subject.encode() == instance.lead_id.encode()  # type: ignore[attr-defined]
        contract = registry.get(headers.event_type, headers.schema_version)
        assert contract.producer == "leads"
        contract.model_validate_json(message.value)


def test_a_stored_type_nobody_decided_about_is_refused_rather_than_silently_dropped() -> None:
    class LeadTeleported(DomainEvent):
        event_type = "LeadTeleported"

    with pytest.raises(LookupError, match="LeadTeleported"):
        to_public_message(recorded(LeadTeleported()))


def _lead_created(**overrides: object) -> LeadCreated:
    fields: dict[str, object] = {
        "lead_id": "L-1",
        "customer_id": "C-1",
        "name": "张三",
        "phone": "+8613812345678",
        "channel": "online_shop",
        "interest": "Model Y",
        "captured_at": OCCURRED,
    }
    fields.update(overrides)
    return LeadCreated.model_validate(fields)


def test_lead_created_becomes_a_lead_created_v1_message_keyed_by_the_lead_id() -> None:
    message = to_public_message(
        recorded(_lead_created(), metadata={"correlation_id": "corr-1", "causation_id": "cmd-1"})
    )

    assert message is not None
    assert message.key == b"L-1"
    assert LeadCreatedV1.model_validate_json(message.value) == LeadCreatedV1(
        lead_id="L-1",
        customer_id="C-1",
        name="张三",
        phone="+8613812345678",
        channel="online_shop",
        interest="Model Y",
        captured_at=OCCURRED,
    )
    assert EventHeaders.decode(message.headers) == EventHeaders(
        event_id=EVENT_ID,
        event_type="salesflow.leads.LeadCreated",
        schema_version=1,
        source=SOURCE,
        subject="L-1",
        time=OCCURRED,
        correlation_id="corr-1",
        causation_id="cmd-1",
        recorded_time=RECORDED,
    )


def test_the_public_lead_created_carries_the_defaults_of_a_fresh_lead() -> None:
    message = to_public_message(recorded(_lead_created()))

    assert message is not None
    body = orjson.loads(message.value)
    assert (body["stage"], body["grade"], body["owner_id"]) == ("new", "N", None)


@given(st.builds(LeadCreated), st.text(min_size=1, max_size=40))
def test_any_lead_created_translates_into_a_message_that_parses_into_its_contract(
    event: LeadCreated, stream_id: str
) -> None:
    message = to_public_message(recorded(event, stream_id=stream_id))

    assert message is not None
    headers = EventHeaders.decode(message.headers)
    assert message.key == event.lead_id.encode()
    assert headers.subject == event.lead_id
    assert headers.event_type == LeadCreatedV1.event_type
    parsed = registry.parse_payload(headers.event_type, headers.schema_version, orjson.loads(message.value))
    assert isinstance(parsed, LeadCreatedV1)
    assert (parsed.lead_id, parsed.customer_id, parsed.name, parsed.phone, parsed.channel, parsed.interest) == (
        event.lead_id,
        event.customer_id,
        event.name,
        event.phone,
        event.channel,
        event.interest,
    )
    assert parsed.captured_at == event.captured_at
