"""Every stored showroom event (reception register, test drives, customer card) has a decided public mapping,
keyed by its own aggregate's id, and the message honours its contract."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.leads.adapters.publishing import to_public_message
from services.leads.domain.customer_events import customer_events
from services.leads.domain.showroom_events import showroom_events
from shared.contracts import registry
from shared.domain import DomainEvent
from shared.eventstore import RecordedEvent
from shared.messaging.headers import EventHeaders

STORED_TYPES = sorted([*showroom_events._types.items(), *customer_events._types.items()])
AT = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)


def recorded(event: DomainEvent) -> RecordedEvent:
    return RecordedEvent(position=1, txid=1, event_id=UUID(int=1), stream_id="visit-v1", stream_type="visit",
                         version=1, event_type=event.event_type, schema_version=event.schema_version,
                         data=event.model_dump(mode="json"), metadata={}, occurred_at=AT, recorded_at=AT)


@pytest.mark.parametrize(("event_type", "cls"), STORED_TYPES, ids=[name for name, _ in STORED_TYPES])
@given(data=st.data())
@settings(max_examples=25)
def test_every_stored_showroom_event_is_published_under_its_contract_keyed_by_its_aggregate(
    event_type: str, cls: type[DomainEvent], data: st.DataObject
) -> None:
    ints = {name: st.integers(0, 2**31) for name, f in cls.model_fields.items() if f.annotation is int}
    card_changes = {name: st.dictionaries(st.text(max_size=20), st.fixed_dictionaries({
        "from": st.none() | st.text(max_size=20) | st.integers(0, 2**31),
        "to": st.none() | st.booleans() | st.lists(st.text(max_size=10), max_size=3)}), max_size=4)
        for name, f in cls.model_fields.items() if getattr(f.annotation, "__origin__", None) is dict}
    instance = data.draw(st.builds(cls, **ints, **card_changes))
    message = to_public_message(recorded(instance))
    assert message is not None
    headers = EventHeaders.decode(message.headers)
    key_field = next(k for k in ("visit_id", "vehicle_id", "customer_id") if k in cls.model_fields)
    assert message.key == headers.subject.encode() == str(getattr(instance, key_field)).encode()
    contract = registry.get(headers.event_type, headers.schema_version)
    assert (contract.producer, headers.event_type) == ("leads", f"salesflow.leads.{event_type}")
    contract.model_validate_json(message.value)
