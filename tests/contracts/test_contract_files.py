"""The published contract files (contracts/ at the repository root) match the models, and the compatibility
check that guards them catches breaking changes (DESIGN §3.5)."""

from __future__ import annotations

import asyncio
import copy
import json
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from pydantic import Field

from shared.contracts import IntegrationEvent, registry
from shared.messaging.dead_letters import DeadLetters
from shared.messaging.headers import EventHeaders
from tools.contracts import asyncapi, cli, compatibility, files, schemas

CONTRACTS_DIR = Path(__file__).resolve().parents[2] / "contracts"

BASE_SCHEMA: dict[str, Any] = {
    "$defs": {
        "Address": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "street": {"type": "string"}},
            "required": ["city"],
        },
        "Grade": {"type": "string", "enum": ["N", "H", "A", "B", "C"]},
    },
    "type": "object",
    "properties": {
        "lead_id": {"type": "string"},
        "captured_at": {"type": "string", "format": "date-time"},
        "grade": {"$ref": "#/$defs/Grade"},
        "address": {"anyOf": [{"$ref": "#/$defs/Address"}, {"type": "null"}], "default": None},
        "interest": {"anyOf": [{"type": "string"}, {"type": "null"}], "default": None},
        "tags": {"type": "array", "items": {"type": "string", "maxLength": 20}},
    },
    "required": ["lead_id", "captured_at", "grade"],
}


def evolved(change: Any) -> dict[str, Any]:
    """A deep copy of BASE_SCHEMA with ``change`` applied to it."""
    schema = copy.deepcopy(BASE_SCHEMA)
    change(schema)
    return schema


def fake_contract(
    event_type: str, version: int, producer: str, model: type[IntegrationEvent]
) -> type[IntegrationEvent]:
    """Give a model contract metadata without adding it to the global registry (which the file tests read)."""
    model.event_type = event_type
    model.schema_version = version
    model.producer = producer
    return model


class _WidgetV1(IntegrationEvent):
    """A widget was made."""

    widget_id: str
    colour: str = Field(description="its colour")


class _WidgetV1Renamed(IntegrationEvent):
    """A widget was made; `colour` is gone."""

    widget_id: str


WIDGET = fake_contract("salesflow.widgets.WidgetMade", 1, "widgets", _WidgetV1)
WIDGET_WITHOUT_COLOUR = fake_contract("salesflow.widgets.WidgetMade", 1, "widgets", _WidgetV1Renamed)


# --- the checked-in files ---------------------------------------------------------------------------------------


def test_the_checked_in_contract_files_match_the_models() -> None:
    stale = files.stale_files(CONTRACTS_DIR, files.generate())
    assert stale == [], "contracts/ is out of date, run `make contracts`:\n" + "\n".join(stale)


def test_the_checked_in_schemas_are_compatible_with_the_models() -> None:
    _, breaking = files.check(CONTRACTS_DIR)
    assert breaking == []


def test_there_is_a_schema_file_for_every_registered_contract() -> None:
    expected = {f"{c.event_type}.v{c.schema_version}.json" for c in registry}
    assert expected <= {p.name for p in (CONTRACTS_DIR / "schemas").glob("*.json")}
    assert expected, "no contract is registered: importing shared.contracts should register them"


def test_generation_is_deterministic_and_ends_every_file_with_a_newline() -> None:
    first, second = files.generate(), files.generate()
    assert first == second
    assert all(text.endswith("}\n") for text in first.values())
    assert all(json.loads(text) is not None for text in first.values())


# --- the registered contracts -----------------------------------------------------------------------------------


@pytest.mark.parametrize("cls", list(registry), ids=lambda c: f"{c.event_type}.v{c.schema_version}")
def test_every_contract_has_an_explicit_dotted_salesflow_type_name_and_a_positive_version(
    cls: type[IntegrationEvent],
) -> None:
    assert cls.event_type.startswith("salesflow.")
    assert cls.event_type.count(".") >= 2, "expected salesflow.<producer>.<EventName>"
    assert cls.__module__ not in cls.event_type, "the type name must not be a Python import path"
    # salesflow.<producer>.<EventName>; a producer may be dotted itself (inbound.shop: an inbound topic's sender)
    assert cls.event_type.startswith(f"salesflow.{cls.producer}.")
    assert "." not in cls.event_type.removeprefix(f"salesflow.{cls.producer}.")
    assert isinstance(cls.schema_version, int)
    assert cls.schema_version >= 1


@pytest.mark.parametrize("cls", list(registry), ids=lambda c: f"{c.event_type}.v{c.schema_version}")
def test_every_schema_file_carries_its_contract_identity(cls: type[IntegrationEvent]) -> None:
    schema = json.loads((CONTRACTS_DIR / schemas.schema_path(cls)).read_text(encoding="utf-8"))
    assert schema["$id"] == f"urn:salesflow:contract:{cls.event_type}:v{cls.schema_version}"
    assert schema["title"] == f"{cls.event_type} v{cls.schema_version}"
    assert schema["x-salesflow"]["event_type"] == cls.event_type
    assert schema["x-salesflow"]["schema_version"] == cls.schema_version
    assert schema["x-salesflow"]["producer"] == cls.producer
    assert schema["x-salesflow"]["topic"] == f"{{prefix}}.{cls.producer}"


# --- the AsyncAPI document --------------------------------------------------------------------------------------


def _asyncapi() -> dict[str, Any]:
    document: dict[str, Any] = json.loads((CONTRACTS_DIR / "asyncapi.json").read_text(encoding="utf-8"))
    return document


def _resolve(document: dict[str, Any], ref: str) -> dict[str, Any]:
    node: Any = document
    for part in ref.removeprefix("#/").split("/"):
        node = node[part]
    assert isinstance(node, dict), f"{ref} does not point at an object"
    return node


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        return [v for k, v in node.items() if k == "$ref"] + [r for v in node.values() for r in _refs(v)]
    if isinstance(node, list):
        return [r for v in node for r in _refs(v)]
    return []


def test_the_asyncapi_document_lists_every_contract_on_its_producers_channel() -> None:
    document = _asyncapi()
    assert document["asyncapi"] == "3.0.0"
    for cls in registry:
        key = f"{cls.event_type}.v{cls.schema_version}"
        channel = document["channels"][cls.producer]
        assert channel["address"] == f"salesflow.{cls.producer}"
        assert key in channel["messages"], f"{key} is missing from channel {cls.producer}"
        message = _resolve(document, channel["messages"][key]["$ref"])
        payload = _resolve(document, message["payload"]["$ref"])
        assert payload["x-salesflow"]["event_type"] == cls.event_type
        assert payload["x-salesflow"]["schema_version"] == cls.schema_version
        assert set(payload["properties"]) == set(cls.model_json_schema(mode="serialization")["properties"])
        assert message["headers"]["properties"]["ce_type"]["const"] == cls.event_type
        assert message["headers"]["properties"]["ce_schemaversion"]["const"] == str(cls.schema_version)
        assert message["bindings"]["kafka"]["key"]["$ref"] == "#/components/schemas/MessageKey"


def test_every_producer_channel_has_a_dead_letter_channel_beside_it() -> None:
    document = _asyncapi()
    for producer in {c.producer for c in registry}:
        dlq = document["channels"][f"{producer}DeadLetters"]
        assert dlq["address"] == f"salesflow.{producer}.dlq"
        message = _resolve(document, dlq["messages"]["DeadLetter"]["$ref"])
        headers = _resolve(document, message["headers"]["$ref"])
        assert set(headers["required"]) == set(asyncapi.DEAD_LETTER_HEADERS)


def test_every_reference_in_the_asyncapi_document_resolves_within_it() -> None:
    document = _asyncapi()
    refs = _refs(document)
    assert refs
    for ref in refs:
        assert ref.startswith("#/"), f"{ref} points outside the document"
        _resolve(document, ref)


def test_nested_models_are_hoisted_into_the_document_with_their_references_rewritten() -> None:
    from typing import Literal

    from pydantic import BaseModel

    class Part(BaseModel):
        sku: str
        kind: Literal["a", "b"]

    class _AssemblyV1(IntegrationEvent):
        """An assembly was built."""

        assembly_id: str
        parts: list[Part]

    cls = fake_contract("salesflow.widgets.AssemblyBuilt", 1, "widgets", _AssemblyV1)
    document = asyncapi.asyncapi_document([cls])
    schemas = document["components"]["schemas"]
    assert "salesflow.widgets.AssemblyBuilt.v1.Part" in schemas
    assert schemas["salesflow.widgets.AssemblyBuilt.v1"]["properties"]["parts"]["items"] == {
        "$ref": "#/components/schemas/salesflow.widgets.AssemblyBuilt.v1.Part"
    }
    for ref in _refs(document):
        _resolve(document, ref)


def test_the_documented_event_headers_are_the_ones_the_relay_writes() -> None:
    from datetime import UTC, datetime
    from uuid import uuid4

    now = datetime.now(UTC)
    minimal = EventHeaders(event_id=uuid4(), event_type="t", schema_version=1, source="s", subject="x", time=now)
    full = EventHeaders(
        event_id=uuid4(), event_type="t", schema_version=1, source="s", subject="x", time=now,
        correlation_id="c", causation_id="d", recorded_time=now,
        traceparent="00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
    )
    documented = _asyncapi()["components"]["schemas"]["CloudEventsHeaders"]
    assert [name for name, _ in minimal.encode()] == list(asyncapi.REQUIRED_HEADERS)
    assert set(documented["required"]) == {name for name, _ in minimal.encode()}
    assert set(documented["properties"]) == {name for name, _ in full.encode()}


@dataclass
class _Record:
    topic: str = "salesflow.leads"
    partition: int = 2
    offset: int = 41
    key: bytes | None = b"lead-1"
    value: bytes | None = b"{not json"
    headers: list[tuple[str, bytes]] = field(default_factory=list)


class _Connection:
    async def fetchval(self, *_: Any) -> int:
        return 1  # the dead letter was inserted


class _Producer:
    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    async def send_and_wait(self, topic: str, **kwargs: Any) -> None:
        self.sent.append({"topic": topic, **kwargs})


def test_the_documented_dead_letter_headers_are_the_ones_a_consumer_writes() -> None:
    producer = _Producer()
    letters = DeadLetters(consumer="reporting", producer=producer)
    connection: Any = _Connection()
    asyncio.run(letters.record(connection, _Record(), reason="bad json", attempts=1, kind="failed"))
    (sent,) = producer.sent
    written = {name for name, _ in sent["headers"]}
    documented = _asyncapi()["components"]["schemas"]["DeadLetterHeaders"]
    assert sent["topic"] == "salesflow.leads.dlq"
    assert written == set(documented["required"])
    assert set(documented["properties"]["dlq_kind"]["enum"]) == {"failed", "parked"}


# --- check_compatible -------------------------------------------------------------------------------------------


def test_an_unchanged_schema_is_compatible() -> None:
    assert compatibility.check_compatible(BASE_SCHEMA, copy.deepcopy(BASE_SCHEMA)) == []


def test_adding_an_optional_property_is_compatible() -> None:
    def add(s: dict[str, Any]) -> None:
        s["properties"]["owner_id"] = {"anyOf": [{"type": "string"}, {"type": "null"}], "default": None}
        s["$defs"]["Address"]["properties"]["zip"] = {"type": "string"}

    assert compatibility.check_compatible(BASE_SCHEMA, evolved(add)) == []


def test_adding_an_enum_value_relaxing_a_constraint_and_editing_descriptions_are_compatible() -> None:
    def relax(s: dict[str, Any]) -> None:
        s["$defs"]["Grade"]["enum"].append("O")
        s["properties"]["tags"]["items"]["maxLength"] = 40
        s["properties"]["lead_id"]["description"] = "the lead's id"
        s["properties"]["interest"]["default"] = "nothing yet"

    assert compatibility.check_compatible(BASE_SCHEMA, evolved(relax)) == []


def test_renaming_a_nested_model_without_changing_its_shape_is_compatible() -> None:
    def rename(s: dict[str, Any]) -> None:
        s["$defs"]["PostalAddress"] = s["$defs"].pop("Address")
        s["properties"]["address"]["anyOf"][0]["$ref"] = "#/$defs/PostalAddress"

    assert compatibility.check_compatible(BASE_SCHEMA, evolved(rename)) == []


def test_removing_a_property_is_a_breaking_change() -> None:
    problems = compatibility.check_compatible(BASE_SCHEMA, evolved(lambda s: s["properties"].pop("interest")))
    assert problems == ["property 'interest' was removed"]


def test_removing_a_property_of_a_nested_model_is_a_breaking_change() -> None:
    def drop(s: dict[str, Any]) -> None:
        s["$defs"]["Address"]["properties"].pop("street")

    assert compatibility.check_compatible(BASE_SCHEMA, evolved(drop)) == ["property 'address.street' was removed"]


def test_changing_a_property_type_is_a_breaking_change() -> None:
    def retype(s: dict[str, Any]) -> None:
        s["properties"]["lead_id"] = {"type": "integer"}

    assert compatibility.check_compatible(BASE_SCHEMA, evolved(retype)) == [
        "property 'lead_id' changed type from string to integer"
    ]


def test_making_a_required_property_nullable_is_a_breaking_change() -> None:
    def nullable(s: dict[str, Any]) -> None:
        s["properties"]["lead_id"] = {"anyOf": [{"type": "string"}, {"type": "null"}]}

    assert compatibility.check_compatible(BASE_SCHEMA, evolved(nullable)) == [
        "property 'lead_id' changed type from string to null | string"
    ]


def test_changing_a_format_is_a_breaking_change() -> None:
    def reformat(s: dict[str, Any]) -> None:
        s["properties"]["captured_at"]["format"] = "date"

    assert compatibility.check_compatible(BASE_SCHEMA, evolved(reformat)) == [
        "property 'captured_at' changed format from date-time to date"
    ]


def test_pointing_a_reference_at_a_model_of_another_shape_is_a_breaking_change() -> None:
    def repoint(s: dict[str, Any]) -> None:
        s["$defs"]["Coordinates"] = {"type": "object", "properties": {"lat": {"type": "number"}}}
        s["properties"]["address"]["anyOf"][0]["$ref"] = "#/$defs/Coordinates"

    problems = compatibility.check_compatible(BASE_SCHEMA, evolved(repoint))
    assert "property 'address.city' was removed" in problems
    assert "property 'address.street' was removed" in problems


def test_replacing_an_external_reference_is_a_breaking_change() -> None:
    old = {"type": "object", "properties": {"money": {"$ref": "money.json#/v1"}}}
    new = {"type": "object", "properties": {"money": {"$ref": "money.json#/v2"}}}
    assert compatibility.check_compatible(old, new) == [
        "property 'money' now refers to money.json#/v2 instead of money.json#/v1"
    ]


def test_narrowing_an_enum_is_a_breaking_change() -> None:
    def narrow(s: dict[str, Any]) -> None:
        s["$defs"]["Grade"]["enum"].remove("C")

    assert compatibility.check_compatible(BASE_SCHEMA, evolved(narrow)) == [
        "property 'grade' no longer allows the values [\"C\"] (enum narrowed)"
    ]


def test_restricting_a_free_property_to_fixed_values_is_a_breaking_change() -> None:
    def restrict(s: dict[str, Any]) -> None:
        s["properties"]["lead_id"]["const"] = "lead-1"

    assert compatibility.check_compatible(BASE_SCHEMA, evolved(restrict)) == [
        "property 'lead_id' is now restricted to the values [\"lead-1\"]"
    ]


def test_adding_a_required_property_is_a_breaking_change() -> None:
    def add(s: dict[str, Any]) -> None:
        s["properties"]["owner_id"] = {"type": "string"}
        s["required"].append("owner_id")

    assert compatibility.check_compatible(BASE_SCHEMA, evolved(add)) == [
        "property 'owner_id' was added as a required property"
    ]


def test_making_an_optional_property_required_is_a_breaking_change() -> None:
    problems = compatibility.check_compatible(BASE_SCHEMA, evolved(lambda s: s["required"].append("interest")))
    assert problems == ["property 'interest' became required (messages without it were valid)"]


def test_making_a_required_property_optional_is_a_breaking_change() -> None:
    problems = compatibility.check_compatible(BASE_SCHEMA, evolved(lambda s: s["required"].remove("captured_at")))
    assert problems == ["property 'captured_at' is no longer required (consumers rely on it)"]


def test_tightening_a_constraint_is_a_breaking_change() -> None:
    def tighten(s: dict[str, Any]) -> None:
        s["properties"]["tags"]["items"]["maxLength"] = 10

    assert compatibility.check_compatible(BASE_SCHEMA, evolved(tighten)) == [
        "property 'tags[]' constraint maxLength tightened from 20 to 10"
    ]


def test_the_compatibility_check_terminates_on_recursive_models() -> None:
    recursive: dict[str, Any] = {
        "$defs": {"Node": {"type": "object", "properties": {
            "children": {"type": "array", "items": {"$ref": "#/$defs/Node"}},
            "parent": {"anyOf": [{"$ref": "#/$defs/Node"}, {"type": "null"}]},
        }}},
        "$ref": "#/$defs/Node",
    }
    changed = copy.deepcopy(recursive)
    changed["$defs"]["Node"]["properties"].pop("parent")
    assert compatibility.check_compatible(recursive, copy.deepcopy(recursive)) == []
    assert compatibility.check_compatible(recursive, changed) == ["property 'parent' was removed"]


def test_a_breaking_change_to_a_real_model_is_found_in_its_generated_schema() -> None:
    old = schemas.contract_schema(WIDGET)
    new = schemas.contract_schema(WIDGET_WITHOUT_COLOUR)
    assert compatibility.check_compatible(old, new) == ["property 'colour' was removed"]


# --- the command line -------------------------------------------------------------------------------------------


def test_write_then_check_passes_and_says_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--write", "--dir", str(tmp_path)]) == 0
    assert sorted(files.generate()) == sorted(
        p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.json")
    )
    assert cli.main(["--check", "--dir", str(tmp_path)]) == 0
    assert "up to date" in capsys.readouterr().out


def test_check_fails_and_names_the_file_when_a_checked_in_file_is_stale(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shutil.copytree(CONTRACTS_DIR, tmp_path, dirs_exist_ok=True)
    (tmp_path / "asyncapi.json").write_text("{}\n", encoding="utf-8")
    (tmp_path / "schemas" / "salesflow.leads.Ghost.v1.json").write_text("{}\n", encoding="utf-8")
    assert cli.main(["--check", "--dir", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "asyncapi.json differs from the model" in err
    assert "schemas/salesflow.leads.Ghost.v1.json is no longer generated" in err
    assert "make contracts" in err


def test_check_fails_when_the_model_broke_a_checked_in_schema(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cls = next(iter(registry))
    published = json.loads((CONTRACTS_DIR / schemas.schema_path(cls)).read_text(encoding="utf-8"))
    published["properties"]["promised_field"] = {"type": "string"}
    shutil.copytree(CONTRACTS_DIR, tmp_path, dirs_exist_ok=True)
    (tmp_path / schemas.schema_path(cls)).write_text(schemas.render(published), encoding="utf-8")
    assert cli.main(["--check", "--dir", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert f"{schemas.schema_path(cls)}: property 'promised_field' was removed" in err
    assert "A breaking change needs a new schema version registered beside the old one" in err


def test_check_against_a_git_ref_catches_a_breaking_change_even_after_regeneration(tmp_path: Path) -> None:
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    repo = tmp_path / "repo"
    directory = repo / "contracts"
    files.write(directory, [WIDGET])

    def git(*args: str) -> None:
        subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True)

    git("init", "-q")
    git("add", ".")
    git("-c", "user.name=t", "-c", "user.email=t@example.invalid", "commit", "-q", "-m", "publish v1")
    files.write(directory, [WIDGET_WITHOUT_COLOUR])  # the developer regenerated after the breaking change

    stale, breaking = files.check(directory, [WIDGET_WITHOUT_COLOUR])
    assert (stale, breaking) == ([], []), "without a baseline the regenerated files look fine"
    stale, breaking = files.check(directory, [WIDGET_WITHOUT_COLOUR], against="HEAD")
    assert breaking == [
        "schemas/salesflow.widgets.WidgetMade.v1.json: property 'colour' was removed (compared with HEAD)"
    ]
    _, removed = files.check(directory, [], against="HEAD")
    assert "schemas/salesflow.widgets.WidgetMade.v1.json: the contract version was removed (compared with HEAD)" in (
        removed
    )


def test_check_against_an_unknown_git_ref_is_an_error_not_a_pass(tmp_path: Path) -> None:
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    subprocess.run(["git", "-C", str(tmp_path), "init", "-q"], check=True)
    files.write(tmp_path / "contracts", [WIDGET])
    with pytest.raises(files.ContractCheckError):
        files.check(tmp_path / "contracts", [WIDGET], against="no-such-ref")
