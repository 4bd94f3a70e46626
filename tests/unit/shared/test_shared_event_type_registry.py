"""Stored event type names map back to their classes, explicitly and unambiguously."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from shared.domain import Aggregate, DomainError, DomainEvent, EventTypeRegistry, InvalidFieldError


class ThingHappened(DomainEvent):
    event_type = "ThingHappened"

    thing_id: str
    size: int


class ImpostorThingHappened(DomainEvent):
    event_type = "ThingHappened"


def test_a_registered_event_decodes_from_its_stored_name_and_data() -> None:
    events = EventTypeRegistry()
    events.register(ThingHappened)

    decoded = events.decode("ThingHappened", {"thing_id": "T-1", "size": 3})

    assert decoded == ThingHappened(thing_id="T-1", size=3)
    assert "ThingHappened" in events
    assert "OtherThing" not in events


def test_register_is_a_class_decorator_returning_the_class() -> None:
    assert EventTypeRegistry().register(ThingHappened) is ThingHappened


def test_registering_a_different_class_under_a_taken_type_name_raises() -> None:
    events = EventTypeRegistry()
    events.register(ThingHappened)

    with pytest.raises(ValueError, match="'ThingHappened' registered twice") as caught:
        events.register(ImpostorThingHappened)

    assert "ImpostorThingHappened" in str(caught.value)
    assert type(events.decode("ThingHappened", {"thing_id": "T", "size": 1})) is ThingHappened


def test_registering_the_same_class_twice_is_harmless() -> None:
    events = EventTypeRegistry()
    events.register(ThingHappened)

    assert events.register(ThingHappened) is ThingHappened


def test_decoding_an_unknown_type_raises_key_error_naming_it() -> None:
    with pytest.raises(KeyError, match="unknown stored event type 'Mystery'"):
        EventTypeRegistry().decode("Mystery", {})


def test_decoding_data_with_fields_the_event_does_not_have_is_refused() -> None:
    events = EventTypeRegistry()
    events.register(ThingHappened)

    with pytest.raises(ValidationError):
        events.decode("ThingHappened", {"thing_id": "T-1", "size": 3, "colour": "red"})


def test_domain_events_are_immutable() -> None:
    event = ThingHappened(thing_id="T-1", size=3)

    with pytest.raises(ValidationError):
        event.size = 4  # type: ignore[misc]


def test_an_invalid_field_error_is_a_422_domain_error_naming_the_field() -> None:
    error = InvalidFieldError("name", "must not be empty")

    assert isinstance(error, DomainError)
    assert (error.code, error.http_status) == ("validation_error", 422)
    assert str(error) == "name: must not be empty"
    assert error.details == {"fields": [{"field": "name", "reason": "must not be empty"}]}


def test_an_aggregate_without_an_apply_cannot_record_events() -> None:
    class Bare(Aggregate):
        stream_type = "bare"

    with pytest.raises(NotImplementedError):
        Bare.rehydrate("B-1", [ThingHappened(thing_id="T", size=1)])
