"""The relay's public message for a stored event: the contract's JSON and its CloudEvents headers."""

from __future__ import annotations

from datetime import UTC, date, datetime
from uuid import UUID

import orjson
from hypothesis import given
from hypothesis import strategies as st

from shared.contracts.campaigns import CampaignUpdatedV1
from shared.eventstore import RecordedEvent
from shared.eventstore.store import FEED_COLUMNS
from shared.messaging.relay import outbound_message

AT = datetime(2026, 12, 3, 7, 30, 1, 250000, tzinfo=UTC)

_json_leaf = st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.floats(allow_nan=False,
                                                                                  allow_infinity=False) | st.text()
_json = st.recursive(_json_leaf, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner,
                                                                                             max_size=3), max_leaves=8)


def stored(data: dict[str, object]) -> RecordedEvent:
    return RecordedEvent(position=7, txid=42, event_id=UUID("3f2b8c1e-9a4d-4b7e-8c2f-1a2b3c4d5e6f"),
                         stream_id="campaign-1", stream_type="campaign", version=2, event_type="CampaignUpdated",
                         schema_version=1, data=data, metadata={"correlation_id": "c-1"}, occurred_at=AT,
                         recorded_at=AT)


@given(changes=st.dictionaries(st.text(), st.dictionaries(st.sampled_from(["from", "to"]), _json), max_size=4))
def test_the_message_value_is_the_json_of_the_contract_as_dumped_in_json_mode(
    changes: dict[str, dict[str, object]],
) -> None:
    payload = CampaignUpdatedV1(campaign_id="campaign-1", changes=changes, updated_by="张三", updated_at=AT)

    message = outbound_message(stored({}), payload, source="salesflow/leads", subject="campaign-1")

    assert message.value == orjson.dumps(payload.model_dump(mode="json"))


def test_the_message_is_keyed_by_its_subject_and_carries_the_stored_event_s_metadata() -> None:
    payload = CampaignUpdatedV1(campaign_id="campaign-1", changes={"starts_on": {"from": date(2026, 1, 1).isoformat(),
                                                                                  "to": None}}, updated_at=AT)

    message = outbound_message(stored({}), payload, source="salesflow/leads", subject="campaign-1")
    headers = dict(message.headers)

    assert message.key == b"campaign-1"
    assert headers["ce_id"] == b"3f2b8c1e-9a4d-4b7e-8c2f-1a2b3c4d5e6f"
    assert headers["ce_type"] == b"salesflow.leads.CampaignUpdated"
    assert headers["ce_time"] == b"2026-12-03T07:30:01.250000+00:00"
    assert headers["ce_recordedtime"] == b"2026-12-03T07:30:01.250000+00:00"
    assert headers["ce_correlationid"] == b"c-1"


def test_the_feed_s_columns_are_in_the_field_order_the_relay_builds_its_records_by() -> None:
    # The relay builds each RecordedEvent positionally from the feed's row (shared/messaging/relay.py).
    columns = [column.split(" AS ")[-1].strip() for column in FEED_COLUMNS.split(",")]

    assert columns == list(RecordedEvent.__dataclass_fields__)
