"""Capturing a lead validates every field and records exactly one LeadCreated; replaying it rebuilds the lead."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.leads.domain.events import FollowUpScheduled, LeadCreated, lead_events
from services.leads.domain.lead import MAX_INTEREST_LENGTH, MAX_NAME_LENGTH, Grade, Lead, Stage
from shared.domain import InvalidFieldError
from shared.domain.phone import InvalidPhoneError
from tests.support.leads_builders import captured_lead

CAPTURED_AT = datetime(2024, 5, 1, 10, 20, 30, tzinfo=UTC)
CHANNELS = frozenset({"online_shop", "call_center", "walk_in"})


def capture(**overrides: Any) -> Lead:
    arguments: dict[str, Any] = {
        "lead_id": "L-1",
        "customer_id": "C-1",
        "name": "张三",
        "phone": "138 1234 5678",
        "channel": "online_shop",
        "interest": "Model Y",
        "captured_at": CAPTURED_AT,
        "known_channels": CHANNELS,
    }
    arguments.update(overrides)
    return captured_lead(**arguments)


def test_capturing_a_valid_lead_records_lead_created_with_normalised_phone_and_a_first_contact_due_in_a_day() -> None:
    lead = capture(name="  张三  ", phone="+86-138-1234-5678", interest="  Model Y ")

    assert lead.pending_events[1:] == [
        FollowUpScheduled(lead_id="L-1", sequence=1, due_at=CAPTURED_AT + timedelta(hours=24))
    ]
    assert lead.pending_events[:1] == [
        LeadCreated(
            lead_id="L-1",
            customer_id="C-1",
            name="张三",
            phone="+8613812345678",
            channel="online_shop",
            interest="Model Y",
            captured_at=CAPTURED_AT,
        )
    ]


def test_a_captured_lead_holds_the_captured_values_and_starts_new_and_ungraded() -> None:
    lead = capture()

    assert (lead.id, lead.customer_id, lead.name, lead.phone) == ("L-1", "C-1", "张三", "+8613812345678")
    assert (lead.channel, lead.interest, lead.captured_at) == ("online_shop", "Model Y", CAPTURED_AT)
    assert lead.stage is Stage.NEW
    assert lead.grade is Grade.N


def test_a_new_lead_is_at_version_one_with_nothing_loaded() -> None:
    lead = capture()

    assert lead.loaded_version == 0
    assert lead.version == 2  # LeadCreated + FollowUpScheduled


@pytest.mark.parametrize("interest", [None, "", "   "])
def test_a_missing_or_blank_interest_is_recorded_as_none(interest: str | None) -> None:
    lead = capture(interest=interest)

    event = lead.pending_events[0]
    assert isinstance(event, LeadCreated)
    assert event.interest is None
    assert lead.interest is None


def test_a_name_of_exactly_the_maximum_length_is_accepted() -> None:
    assert capture(name="x" * MAX_NAME_LENGTH).name == "x" * MAX_NAME_LENGTH


def test_an_interest_of_exactly_the_maximum_length_is_accepted() -> None:
    assert capture(interest="y" * MAX_INTEREST_LENGTH).interest == "y" * MAX_INTEREST_LENGTH


def test_surrounding_whitespace_does_not_count_towards_the_name_length() -> None:
    assert capture(name="  " + "x" * MAX_NAME_LENGTH + "  ").name == "x" * MAX_NAME_LENGTH


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"name": ""}, "name"),
        ({"name": "   "}, "name"),
        ({"name": "\t\n"}, "name"),
        ({"name": "x" * (MAX_NAME_LENGTH + 1)}, "name"),
        ({"channel": "carrier_pigeon"}, "channel"),
        ({"channel": ""}, "channel"),
        ({"channel": "ONLINE_SHOP"}, "channel"),
        ({"interest": "y" * (MAX_INTEREST_LENGTH + 1)}, "interest"),
        ({"phone": "not a phone"}, "phone"),
        ({"phone": ""}, "phone"),
    ],
)
def test_an_invalid_field_raises_invalid_field_error_naming_that_field(overrides: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidFieldError) as caught:
        capture(**overrides)

    assert caught.value.field == field
    assert caught.value.reason
    assert caught.value.details["fields"] == [{"field": field, "reason": caught.value.reason}]


def test_a_bad_phone_raises_the_phone_specific_error() -> None:
    with pytest.raises(InvalidPhoneError):
        capture(phone="12")


def test_an_unknown_channel_error_lists_the_known_channels() -> None:
    with pytest.raises(InvalidFieldError) as caught:
        capture(channel="fax")

    assert "'fax'" in caught.value.reason
    assert "call_center, online_shop, walk_in" in caught.value.reason


def test_the_first_bad_field_is_the_one_reported() -> None:
    with pytest.raises(InvalidFieldError) as caught:
        capture(name="", phone="bad", channel="fax", interest="y" * 500)

    assert caught.value.field == "name"


def _history() -> list[LeadCreated]:
    event = capture().pending_events[0]
    assert isinstance(event, LeadCreated)
    return [event]


def test_rehydrating_from_the_recorded_events_rebuilds_the_same_state() -> None:
    captured = capture()

    loaded = Lead.rehydrate("L-1", captured.pending_events)

    assert vars(loaded) | {"loaded_version": 0, "_pending": []} == vars(captured) | {
        "loaded_version": 0,
        "_pending": [],
    }
    assert loaded.phone == "+8613812345678"


def test_a_rehydrated_lead_has_its_history_loaded_and_nothing_pending() -> None:
    loaded = Lead.rehydrate("L-1", _history())

    assert loaded.loaded_version == 1
    assert loaded.pending_events == []
    assert loaded.version == 1


def test_rehydrating_from_events_decoded_from_storage_rebuilds_the_same_state() -> None:
    # The repository stores model_dump(mode="json") and decodes through the registry: the round trip is lossless.
    stored = [(e.event_type, e.model_dump(mode="json")) for e in _history()]

    loaded = Lead.rehydrate("L-1", (lead_events.decode(t, d) for t, d in stored))

    assert loaded.pending_events == []
    assert (loaded.name, loaded.phone, loaded.captured_at) == ("张三", "+8613812345678", CAPTURED_AT)


def test_version_is_the_loaded_version_plus_the_pending_events() -> None:
    lead = Lead.rehydrate("L-1", _history() * 3)
    lead._record(_history()[0])  # no other command exists yet; recording directly exercises the counting

    assert lead.loaded_version == 3
    assert len(lead.pending_events) == 1
    assert lead.version == 4


def test_pending_events_is_a_copy_that_callers_cannot_mutate() -> None:
    lead = capture()

    lead.pending_events.clear()

    assert len(lead.pending_events) == 2


def test_a_lead_refuses_to_apply_an_event_it_does_not_know() -> None:
    from shared.domain import DomainEvent

    class SomethingElse(DomainEvent):
        event_type = "SomethingElse"

    with pytest.raises(TypeError, match="SomethingElse"):
        Lead.rehydrate("L-1", [SomethingElse()])


@given(
    name=st.text(min_size=1, max_size=MAX_NAME_LENGTH).filter(lambda s: s.strip() == s and s != ""),
    padding=st.sampled_from(["", " ", "\t", "  \n"]),
    channel=st.sampled_from(sorted(CHANNELS)),
)
def test_any_valid_capture_round_trips_through_rehydrate(name: str, padding: str, channel: str) -> None:
    lead = capture(name=padding + name + padding, channel=channel)

    loaded = Lead.rehydrate("L-1", lead.pending_events)

    assert loaded.name == name == lead.name
    assert loaded.channel == channel
    assert loaded.version == lead.version == 2
