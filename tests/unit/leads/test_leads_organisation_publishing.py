"""Every stored organisation event has a public mapping keyed by its aggregate (team or consultant) id."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.leads.adapters.publishing import to_public_message
from services.leads.domain.events import organisation_events
from shared.contracts import registry
from shared.domain import DomainEvent
from shared.eventstore import RecordedEvent
from shared.messaging.headers import EventHeaders

TYPES = sorted(organisation_events._types.items())
AT = datetime(2026, 3, 2, tzinfo=UTC)


@pytest.mark.parametrize(("event_type", "cls"), TYPES, ids=[n for n, _ in TYPES])
@given(data=st.data())
@settings(max_examples=20)
def test_every_organisation_event_is_published_keyed_by_its_aggregate(
    event_type: str, cls: type[DomainEvent], data: st.DataObject
) -> None:
    event = data.draw(st.builds(cls))
    record = RecordedEvent(position=1, txid=1, event_id=UUID(int=1), stream_id="x", stream_type="x", version=1,
                           event_type=event_type, schema_version=1, data=event.model_dump(mode="json"), metadata={},
                           occurred_at=AT, recorded_at=AT)

    message = to_public_message(record)

    assert message is not None
    key_field = "consultant_id" if "consultant_id" in cls.model_fields else "team_id"
    assert message.key == getattr(event, key_field).encode()
    headers = EventHeaders.decode(message.headers)
    registry.get(headers.event_type, headers.schema_version).model_validate_json(message.value)
