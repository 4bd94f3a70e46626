"""A command's HTTP body is derived from the command (shared/runtime/command_body.py): same fields, same
constraints and descriptions, minus the path's ids and the service's own fields."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

import pytest
from pydantic import Field, ValidationError

from shared.commands import ExpectedVersion
from shared.runtime.command_body import command_body


@dataclass(frozen=True, slots=True)
class RenameThing:
    """Give the thing a new name."""

    thing_id: str
    name: Annotated[str, Field(min_length=1, max_length=5, description="the new name")]
    tags: Annotated[list[str], Field(description="labels")]
    note: str | None = None
    set_by_service: str | None = None
    expected_version: ExpectedVersion = None


Body = command_body(RenameThing, path=("thing_id",), internal=("set_by_service",))


def test_the_body_has_the_commands_fields_but_the_path_and_internal_ones_with_their_constraints() -> None:
    schema = Body.model_json_schema()
    assert schema["title"] == "RenameThing"
    assert schema["description"] == "Give the thing a new name."
    assert set(schema["properties"]) == {"name", "tags", "note", "expected_version"}
    assert schema["required"] == ["name", "tags"]
    assert schema["properties"]["name"] == {"title": "Name", "type": "string", "minLength": 1, "maxLength": 5,
                                            "description": "the new name"}
    assert schema["properties"]["expected_version"]["anyOf"][0] == {"type": "integer", "minimum": 0}


def test_the_body_validates_as_the_annotations_say() -> None:
    with pytest.raises(ValidationError) as refused:
        Body.model_validate({"name": "too long", "tags": [], "expected_version": -1})
    assert {e["loc"][0] for e in refused.value.errors()} == {"name", "expected_version"}


def test_a_client_cannot_set_a_field_the_service_sets() -> None:
    body = Body.model_validate({"name": "ok", "tags": ["a"], "set_by_service": "forged", "thing_id": "forged"})
    assert body.to_command(thing_id="T-1") == RenameThing(thing_id="T-1", name="ok", tags=["a"])


def test_to_command_adds_the_path_and_internal_fields() -> None:
    body = Body.model_validate({"name": "ok", "tags": [], "expected_version": 3})
    assert body.to_command(thing_id="T-1", set_by_service="s") == RenameThing(
        thing_id="T-1", name="ok", tags=[], set_by_service="s", expected_version=3)


def test_a_command_without_a_docstring_gets_no_generated_description() -> None:
    @dataclass(frozen=True)
    class Plain:
        value: int

    assert "description" not in command_body(Plain).model_json_schema()


def test_naming_a_field_the_command_does_not_have_is_an_error() -> None:
    with pytest.raises(TypeError, match="no field thing"):
        command_body(RenameThing, path=("thing",))
