"""Public contracts are looked up by (type, version); consumers tolerate what they do not know."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from shared.contracts import IntegrationEvent, UnknownContractError, registry
from shared.contracts.base import ContractRegistry
from shared.contracts.leads import LeadCreatedV1

LEAD_CREATED = "salesflow.leads.LeadCreated"


def lead_created_payload(**extra: object) -> dict[str, object]:
    return {
        "lead_id": "L-1",
        "customer_id": "C-1",
        "name": "张三",
        "phone": "+8613812345678",
        "channel": "online_shop",
        "interest": None,
        "captured_at": "2024-05-01T10:20:30+00:00",
        **extra,
    }


def test_the_lead_created_contract_is_registered_under_its_explicit_name_and_version() -> None:
    assert registry.get(LEAD_CREATED, 1) is LeadCreatedV1
    assert (LeadCreatedV1.event_type, LeadCreatedV1.schema_version, LeadCreatedV1.producer) == (
        LEAD_CREATED,
        1,
        "leads",
    )
    assert LeadCreatedV1 in list(registry)


def test_a_payload_of_a_known_type_parses_into_its_contract_with_defaults_filled_in() -> None:
    parsed = registry.parse_payload(LEAD_CREATED, 1, lead_created_payload())

    assert isinstance(parsed, LeadCreatedV1)
    assert parsed.captured_at == datetime(2024, 5, 1, 10, 20, 30, tzinfo=UTC)
    assert (parsed.stage, parsed.grade, parsed.owner_id) == ("new", "N", None)


def test_fields_added_later_by_the_producer_are_ignored() -> None:
    parsed = registry.parse_payload(LEAD_CREATED, 1, lead_created_payload(loyalty_tier="gold", score=7))

    assert parsed == registry.parse_payload(LEAD_CREATED, 1, lead_created_payload())
    assert not hasattr(parsed, "loyalty_tier")


@pytest.mark.parametrize(
    ("event_type", "version"),
    [("salesflow.leads.LeadTeleported", 1), (LEAD_CREATED, 99), (LEAD_CREATED, 0), ("", 1)],
)
def test_a_payload_of_an_unknown_type_or_version_is_ignored(event_type: str, version: int) -> None:
    assert registry.parse_payload(event_type, version, {"anything": "at all"}) is None
    assert registry.find(event_type, version) is None


@pytest.mark.parametrize(
    "payload",
    [
        {},
        {k: v for k, v in lead_created_payload().items() if k != "lead_id"},
        lead_created_payload(captured_at="not a time"),
        lead_created_payload(phone=None),
        "not even an object",
    ],
)
def test_bad_data_for_a_known_type_raises_a_validation_error(payload: object) -> None:
    with pytest.raises(ValidationError):
        registry.parse_payload(LEAD_CREATED, 1, payload)


def test_get_of_an_unknown_contract_raises_unknown_contract_error() -> None:
    with pytest.raises(UnknownContractError, match=r"salesflow\.leads\.Nope v1"):
        registry.get("salesflow.leads.Nope", 1)
    assert issubclass(UnknownContractError, LookupError)


class _First(IntegrationEvent):
    event_type = "test.Thing"
    schema_version = 1
    producer = "test"


class _Second(IntegrationEvent):
    event_type = "test.Thing"
    schema_version = 1
    producer = "test"


class _SecondVersion(IntegrationEvent):
    event_type = "test.Thing"
    schema_version = 2
    producer = "test"


def test_registering_a_different_contract_under_a_taken_name_and_version_raises() -> None:
    contracts = ContractRegistry()
    contracts.add(_First)

    with pytest.raises(ValueError, match=r"registered twice"):
        contracts.add(_Second)
    assert contracts.get("test.Thing", 1) is _First


def test_registering_the_same_contract_again_is_harmless_and_a_new_version_sits_beside_the_old() -> None:
    contracts = ContractRegistry()
    contracts.add(_First)
    contracts.add(_First)
    contracts.add(_SecondVersion)

    assert list(contracts) == [_First, _SecondVersion]


def test_contract_payloads_are_immutable() -> None:
    parsed = registry.parse_payload(LEAD_CREATED, 1, lead_created_payload())

    with pytest.raises(ValidationError):
        parsed.name = "someone else"  # type: ignore[union-attr]
