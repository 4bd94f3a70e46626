"""The published form of one contract: its names, its JSON Schema file, deterministic JSON text (DESIGN §3.5).

The pydantic models registered in :data:`shared.contracts.registry` are the source of truth; each contract
version becomes ``contracts/schemas/<event_type>.v<version>.json`` at the repository root: the model's
serialization schema plus ``$id``, ``title`` and an ``x-salesflow`` block (type name, version, producer, topic).
Output is deterministic (sorted keys, two-space indent, trailing newline), so a model change shows up as a
readable diff."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, TypeAlias

from shared.contracts import registry
from shared.contracts.base import IntegrationEvent
from shared.messaging.topics import dead_letter_topic
from shared.settings import KafkaSettings

JSONObject: TypeAlias = dict[str, Any]

JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
SCHEMA_ID_PREFIX = "urn:salesflow:contract:"

TOPIC_PREFIX_VARIABLE = "SALESFLOW_TOPIC_PREFIX"
DEFAULT_TOPIC_PREFIX: str = KafkaSettings.model_fields["salesflow_topic_prefix"].default

SCHEMAS_DIR = "schemas"
DEFAULT_DIRECTORY = Path(__file__).resolve().parents[2] / "contracts"


def chosen_contracts(contracts: Iterable[type[IntegrationEvent]] | None) -> list[type[IntegrationEvent]]:
    """The given contracts (default: every registered one) in a stable order: producer, type, version."""
    chosen = list(registry) if contracts is None else list(contracts)
    return sorted(chosen, key=lambda c: (c.producer, c.event_type, c.schema_version))


def contract_key(cls: type[IntegrationEvent]) -> str:
    """``salesflow.leads.LeadCreated.v1``: the contract's file stem and its id in the AsyncAPI document."""
    return f"{cls.event_type}.v{cls.schema_version}"


def schema_path(cls: type[IntegrationEvent]) -> str:
    """The schema file of a contract, relative to the contracts directory (POSIX separators)."""
    return f"{SCHEMAS_DIR}/{contract_key(cls)}.json"


def topic_pattern(producer: str) -> str:
    """The producer's topic with the configurable prefix left open: ``{prefix}.leads``."""
    return "{prefix}." + producer


def default_topic(producer: str) -> str:
    """The producer's topic under the default prefix: ``salesflow.leads``."""
    return f"{DEFAULT_TOPIC_PREFIX}.{producer}"


def salesflow_info(cls: type[IntegrationEvent]) -> JSONObject:
    return {
        "event_type": cls.event_type,
        "schema_version": cls.schema_version,
        "producer": cls.producer,
        "topic": topic_pattern(cls.producer),
        "default_topic": default_topic(cls.producer),
        "dead_letter_topic": dead_letter_topic(topic_pattern(cls.producer)),
        "topic_prefix_setting": TOPIC_PREFIX_VARIABLE,
        "key": "the aggregate's stream id (UTF-8), equal to the ce_subject header",
    }


def contract_schema(cls: type[IntegrationEvent]) -> JSONObject:
    """The standalone JSON Schema of one contract: what its producer serialises (``mode="serialization"``)."""
    schema: JSONObject = cls.model_json_schema(mode="serialization")
    schema["$schema"] = JSON_SCHEMA_DIALECT
    schema["$id"] = f"{SCHEMA_ID_PREFIX}{cls.event_type}:v{cls.schema_version}"
    schema["title"] = f"{cls.event_type} v{cls.schema_version}"
    schema["x-salesflow"] = salesflow_info(cls)
    return schema


def render(document: Mapping[str, Any]) -> str:
    """Deterministic JSON text: sorted keys, two-space indent, UTF-8 as is, trailing newline."""
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
