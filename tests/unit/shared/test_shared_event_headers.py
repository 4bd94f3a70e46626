"""Event metadata travels in CloudEvents-style Kafka headers and comes back unchanged."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from uuid import UUID

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.messaging.headers import (
    CONTENT_TYPE,
    SPEC_VERSION,
    EventHeaders,
    MalformedHeadersError,
    headers_as_text,
)

EVENT_ID = UUID("3f2b8c1e-9a4d-4b7e-8c2f-1a2b3c4d5e6f")
AT = datetime(2024, 5, 1, 10, 20, 30, 123456, tzinfo=UTC)


def minimal() -> EventHeaders:
    return EventHeaders(
        event_id=EVENT_ID,
        event_type="salesflow.leads.LeadCreated",
        schema_version=1,
        source="salesflow/leads",
        subject="lead-L-1",
        time=AT,
    )


def test_encoded_headers_carry_the_cloudevents_attributes_as_bytes() -> None:
    encoded = dict(minimal().encode())

    assert encoded == {
        "ce_specversion": SPEC_VERSION.encode(),
        "ce_id": b"3f2b8c1e-9a4d-4b7e-8c2f-1a2b3c4d5e6f",
        "ce_type": b"salesflow.leads.LeadCreated",
        "ce_schemaversion": b"1",
        "ce_source": b"salesflow/leads",
        "ce_subject": b"lead-L-1",
        "ce_time": b"2024-05-01T10:20:30.123456+00:00",
        "content-type": CONTENT_TYPE.encode(),
    }


def test_absent_optional_fields_are_not_sent_as_headers() -> None:
    names = [name for name, _ in minimal().encode()]

    assert not {"ce_correlationid", "ce_causationid", "ce_recordedtime", "traceparent"} & set(names)
    assert len(names) == len(set(names))


def test_present_optional_fields_are_sent_as_extension_headers() -> None:
    headers = EventHeaders(
        event_id=EVENT_ID,
        event_type="t",
        schema_version=2,
        source="s",
        subject="x",
        time=AT,
        correlation_id="corr",
        causation_id="cause",
        recorded_time=AT + timedelta(seconds=1),
        traceparent="00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
    )

    text = headers_as_text(headers.encode())

    assert text["ce_correlationid"] == "corr"
    assert text["ce_causationid"] == "cause"
    assert text["ce_recordedtime"] == "2024-05-01T10:20:31.123456+00:00"
    assert text["traceparent"] == "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    assert text["ce_schemaversion"] == "2"


def test_decoding_accepts_a_mapping_as_well_as_a_list_of_pairs() -> None:
    encoded = minimal().encode()

    assert EventHeaders.decode(encoded) == EventHeaders.decode(dict(encoded)) == minimal()


def test_a_missing_schema_version_defaults_to_one_and_a_missing_subject_to_empty() -> None:
    encoded = [(k, v) for k, v in minimal().encode() if k not in {"ce_schemaversion", "ce_subject"}]

    decoded = EventHeaders.decode(encoded)

    assert decoded.schema_version == 1
    assert decoded.subject == ""


_zones = st.sampled_from([UTC, timezone(timedelta(hours=8)), timezone(timedelta(hours=-5, minutes=-30))])
_aware = st.datetimes(min_value=datetime(1970, 1, 2), timezones=_zones)
_text = st.text(min_size=0, max_size=40)


@given(
    event_id=st.uuids(),
    event_type=st.text(min_size=1, max_size=60),
    schema_version=st.integers(min_value=1, max_value=10_000),
    source=_text,
    subject=_text,
    time=_aware,
    correlation_id=st.none() | _text,
    causation_id=st.none() | _text,
    recorded_time=st.none() | _aware,
    traceparent=st.none() | _text,
)
def test_any_headers_survive_an_encode_decode_round_trip(
    event_id: UUID,
    event_type: str,
    schema_version: int,
    source: str,
    subject: str,
    time: datetime,
    correlation_id: str | None,
    causation_id: str | None,
    recorded_time: datetime | None,
    traceparent: str | None,
) -> None:
    headers = EventHeaders(
        event_id=event_id,
        event_type=event_type,
        schema_version=schema_version,
        source=source,
        subject=subject,
        time=time,
        correlation_id=correlation_id,
        causation_id=causation_id,
        recorded_time=recorded_time,
        traceparent=traceparent,
    )

    decoded = EventHeaders.decode(headers.encode())

    assert decoded == headers
    assert decoded.time.utcoffset() == time.utcoffset()


@pytest.mark.parametrize("missing", ["ce_id", "ce_type", "ce_source", "ce_time"])
def test_a_message_missing_a_required_header_is_malformed(missing: str) -> None:
    encoded = [(k, v) for k, v in minimal().encode() if k != missing]

    with pytest.raises(MalformedHeadersError, match=f"missing header {missing}"):
        EventHeaders.decode(encoded)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("ce_id", b"not-a-uuid"),
        ("ce_id", b""),
        ("ce_id", b"\xff\xfe"),
        ("ce_schemaversion", b"one"),
        ("ce_time", b"yesterday"),
        ("ce_recordedtime", b"2024-13-45"),
    ],
)
def test_a_header_that_does_not_parse_makes_the_message_malformed(name: str, value: bytes) -> None:
    encoded = [(k, v) for k, v in minimal().encode() if k != name] + [(name, value)]

    with pytest.raises(MalformedHeadersError, match="bad header value"):
        EventHeaders.decode(encoded)


def test_malformed_headers_error_is_a_value_error() -> None:
    assert issubclass(MalformedHeadersError, ValueError)


def test_headers_as_text_decodes_invalid_utf8_without_failing() -> None:
    assert headers_as_text([("ce_id", b"ab\xffcd")]) == {"ce_id": "ab\ufffdcd"}


@given(moment=st.datetimes(timezones=st.just(UTC)) | _aware | st.datetimes())
def test_timestamps_are_sent_as_isoformat_spells_them_in_every_zone(moment: datetime) -> None:
    encoded = dict(minimal()._replace(time=moment, recorded_time=moment).encode())

    assert encoded["ce_time"] == moment.isoformat().encode()
    assert encoded["ce_recordedtime"] == moment.isoformat().encode()
