"""Inbound decoding refuses what no salesflow producer would publish — an event type on a topic its service does
not own, a message or a text beyond the shared bounds — as poison (dead-lettered by the consumer, never applied),
and still decodes the genuine event."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from shared.contracts.inbound import InquirySubmittedV1
from shared.contracts.leads import LeadCreatedV1
from shared.contracts.orders import ContractSignedV1
from shared.messaging.inbound import MAX_TEXT_CHARS, InboundDecoder, PoisonMessageError
from tests.support.upstream import FakeRecord, upstream_message

DECODER = InboundDecoder({LeadCreatedV1.event_type, ContractSignedV1.event_type, InquirySubmittedV1.event_type})


def lead_created(name: str = "张三") -> LeadCreatedV1:
    return LeadCreatedV1(lead_id="L-1", customer_id="C-1", name=name, phone="+8613812345678", channel="showroom",
                         captured_at=datetime(2026, 3, 1, tzinfo=UTC))


def record(payload: LeadCreatedV1 | InquirySubmittedV1, topic: str) -> FakeRecord:
    key, value, headers = upstream_message(payload, key="L-1")
    return FakeRecord(key, value, headers, topic=topic)


def test_a_genuine_event_on_its_owners_topic_is_decoded() -> None:
    decoded = DECODER.decode(record(lead_created(), "salesflow.leads"))
    assert decoded is not None
    assert decoded.payload == lead_created()


def test_an_event_type_on_a_topic_another_service_owns_is_poison() -> None:
    with pytest.raises(PoisonMessageError, match=r"published by leads; it does not belong on t1\.orders"):
        DECODER.decode(record(lead_created(), "t1.orders"))


def test_the_shops_inbound_topic_carries_the_shops_messages_only() -> None:
    inquiry = InquirySubmittedV1(inquiry_id="Q-1", name="张三", phone="138 1234 5678",
                                 submitted_at=datetime(2026, 3, 1, tzinfo=UTC))
    decoded = DECODER.decode(record(inquiry, "t1.inbound.shop"))
    assert decoded is not None
    assert decoded.payload == inquiry
    with pytest.raises(PoisonMessageError, match=r"published by leads; it does not belong on t1\.inbound\.shop"):
        DECODER.decode(record(lead_created(), "t1.inbound.shop"))
    with pytest.raises(PoisonMessageError, match=r"published by inbound\.shop; it does not belong on t1\.leads"):
        DECODER.decode(record(inquiry, "t1.leads"))
    with pytest.raises(PoisonMessageError, match=r"it does not belong on t1\.inbound\.calls"):
        DECODER.decode(record(inquiry, "t1.inbound.calls"))


def test_a_900_kb_name_is_poison() -> None:
    with pytest.raises(PoisonMessageError, match="bytes; at most"):
        DECODER.decode(record(lead_created("x" * 900_000), "salesflow.leads"))


def test_a_text_over_the_shared_bound_is_poison_naming_the_field() -> None:
    with pytest.raises(PoisonMessageError, match=r"LeadCreated\.name is longer than"):
        DECODER.decode(record(lead_created("x" * (MAX_TEXT_CHARS + 1)), "salesflow.leads"))


def test_a_text_at_the_bound_is_accepted() -> None:
    decoded = DECODER.decode(record(lead_created("x" * MAX_TEXT_CHARS), "salesflow.leads"))
    assert decoded is not None


def test_after_a_genuine_event_the_same_type_is_still_checked_on_every_record() -> None:
    """The decoder remembers the contract of a (topic, type, version) it allowed; that must not let through a later
    record of that type with a bad payload, nor the type on a topic it does not belong on."""
    decoder = InboundDecoder({LeadCreatedV1.event_type})
    assert decoder.decode(record(lead_created(), "salesflow.leads")) is not None
    key, _, headers = upstream_message(lead_created(), key="L-1")
    with pytest.raises(PoisonMessageError, match=r"payload does not match salesflow\.leads\.LeadCreated v1"):
        decoder.decode(FakeRecord(key, b'{"lead_id": "L-2"}', headers, topic="salesflow.leads"))
    with pytest.raises(PoisonMessageError, match="value is not JSON"):
        decoder.decode(FakeRecord(key, b"{", headers, topic="salesflow.leads"))
    for _ in range(2):
        with pytest.raises(PoisonMessageError, match=r"it does not belong on t1\.orders"):
            decoder.decode(record(lead_created(), "t1.orders"))
    assert decoder.decode(record(lead_created(), "salesflow.leads")) is not None
