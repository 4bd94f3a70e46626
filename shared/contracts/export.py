"""Generate, check and compare the published form of the public event contracts (DESIGN §3.5).

The pydantic models registered in :data:`shared.contracts.registry` are the source of truth. This module turns
them into the checked-in files under ``contracts/`` at the repository root:

* ``contracts/schemas/<event_type>.v<version>.json``: one JSON Schema (draft 2020-12) per contract version, the
  model's serialization schema plus ``$id``, ``title`` and an ``x-salesflow`` block (type name, version,
  producer, topic);
* ``contracts/asyncapi.json``: an AsyncAPI 3.0 document with one channel per producer topic and its dead-letter
  topic, one message per contract (payload, CloudEvents headers, Kafka key).

Output is deterministic (sorted keys, two-space indent, trailing newline), so a model change shows up as a
readable diff. :func:`check_compatible` lists the changes between two versions of a schema that would break a
subscriber; ``--check`` fails the build when the files are stale or a published schema changed incompatibly.

Usage (from the repository root)::

    python -m shared.contracts.export --write                # regenerate contracts/
    python -m shared.contracts.export --check                # CI: stale files or breaking changes → exit 1
    python -m shared.contracts.export --check --against origin/main   # compare with the schemas published there
"""

from __future__ import annotations

import argparse
import copy
import json
import subprocess
import sys
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeAlias, get_args

from shared.contracts import registry
from shared.contracts.base import IntegrationEvent
from shared.messaging.dead_letters import DeadLetterKind
from shared.messaging.headers import CONTENT_TYPE, SPEC_VERSION
from shared.messaging.topics import dead_letter_topic
from shared.settings import KafkaSettings

JSONObject: TypeAlias = dict[str, Any]

JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
SCHEMA_ID_PREFIX = "urn:salesflow:contract:"
ASYNCAPI_VERSION = "3.0.0"
KAFKA_BINDING_VERSION = "0.5.0"
DOCUMENT_VERSION = "1.0.0"
"""``info.version`` of the AsyncAPI document. Contracts are versioned one by one (``schema_version``); bump this
only when the document's own conventions (headers, key, channel layout) change."""

TOPIC_PREFIX_VARIABLE = "SALESFLOW_TOPIC_PREFIX"
DEFAULT_TOPIC_PREFIX: str = KafkaSettings.model_fields["salesflow_topic_prefix"].default

SCHEMAS_DIR = "schemas"
ASYNCAPI_FILE = "asyncapi.json"
DEFAULT_DIRECTORY = Path(__file__).resolve().parents[2] / "contracts"

BREAKING_CHANGE_ADVICE = (
    "A breaking change needs a new schema version registered beside the old one: keep the published model "
    "as it is and add e.g. `@contract(\"<event_type>\", version=<n + 1>, producer=...)` on a new class "
    "(consumers and replays still read the old version)."
)
STALE_ADVICE = (
    "Run `make contracts` (python -m shared.contracts.export --write) and commit the regenerated files."
)


class ContractCheckError(RuntimeError):
    """The check could not run (e.g. an unknown git ref)."""


# --------------------------------------------------------------------------------------------------------------
# Names


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


def _salesflow_info(cls: type[IntegrationEvent]) -> JSONObject:
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


# --------------------------------------------------------------------------------------------------------------
# JSON Schema per contract


def contract_schema(cls: type[IntegrationEvent]) -> JSONObject:
    """The standalone JSON Schema of one contract: what its producer serialises (``mode="serialization"``)."""
    schema: JSONObject = cls.model_json_schema(mode="serialization")
    schema["$schema"] = JSON_SCHEMA_DIALECT
    schema["$id"] = f"{SCHEMA_ID_PREFIX}{cls.event_type}:v{cls.schema_version}"
    schema["title"] = f"{cls.event_type} v{cls.schema_version}"
    schema["x-salesflow"] = _salesflow_info(cls)
    return schema


def render(document: Mapping[str, Any]) -> str:
    """Deterministic JSON text: sorted keys, two-space indent, UTF-8 as is, trailing newline."""
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


# --------------------------------------------------------------------------------------------------------------
# AsyncAPI document

_HEADER_PROPERTIES: JSONObject = {
    "ce_specversion": {"type": "string", "const": SPEC_VERSION, "description": "CloudEvents spec version."},
    "ce_id": {
        "type": "string", "format": "uuid",
        "description": "Event id, unique per event and unchanged on redelivery: deduplicate on it.",
    },
    "ce_type": {
        "type": "string",
        "description": "The contract's type name, e.g. salesflow.leads.LeadCreated. Ignore types you don't know.",
    },
    "ce_schemaversion": {
        "type": "string", "pattern": "^[1-9][0-9]*$",
        "description": "Schema version of the payload (decimal). (ce_type, ce_schemaversion) selects the schema.",
    },
    "ce_source": {"type": "string", "description": "The producing service, e.g. salesflow/leads."},
    "ce_subject": {
        "type": "string",
        "description": "The aggregate's stream id the event belongs to; equal to the message key.",
    },
    "ce_time": {"type": "string", "format": "date-time", "description": "When the event happened (ISO 8601)."},
    "content-type": {"type": "string", "const": CONTENT_TYPE, "description": "Media type of the value."},
    "ce_correlationid": {
        "type": "string", "description": "Optional: the request or process the event belongs to.",
    },
    "ce_causationid": {
        "type": "string", "description": "Optional: the message or command that caused the event.",
    },
    "ce_recordedtime": {
        "type": "string", "format": "date-time",
        "description": "Optional: when the producer's event store recorded the event (ISO 8601).",
    },
    "traceparent": {
        "type": "string", "pattern": "^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$",
        "description": "Optional: W3C trace context of the producing request.",
    },
}
REQUIRED_HEADERS: tuple[str, ...] = (
    "ce_specversion", "ce_id", "ce_type", "ce_schemaversion", "ce_source", "ce_subject", "ce_time", "content-type",
)
OPTIONAL_HEADERS: tuple[str, ...] = ("ce_correlationid", "ce_causationid", "ce_recordedtime", "traceparent")

_DEAD_LETTER_HEADER_PROPERTIES: JSONObject = {
    "dlq_reason": {"type": "string", "description": "Why the consumer gave up (exception or parse error)."},
    "dlq_consumer": {"type": "string", "description": "The consumer (group) that dead-lettered the record."},
    "dlq_kind": {
        "type": "string", "enum": list(get_args(DeadLetterKind)),
        "description": "failed: the record itself could not be handled; parked: held back behind an earlier "
                       "dead letter of the same key, to keep per-key order.",
    },
    "dlq_attempts": {"type": "string", "pattern": "^[0-9]+$", "description": "Handling attempts (decimal)."},
    "dlq_topic": {"type": "string", "description": "Topic the record was read from."},
    "dlq_partition": {"type": "string", "pattern": "^[0-9]+$", "description": "Its partition (decimal)."},
    "dlq_offset": {"type": "string", "pattern": "^[0-9]+$", "description": "Its offset (decimal)."},
}
DEAD_LETTER_HEADERS: tuple[str, ...] = tuple(_DEAD_LETTER_HEADER_PROPERTIES)

_KEY_SCHEMA: JSONObject = {
    "type": "string",
    "description": "The aggregate's stream id (UTF-8), equal to ce_subject. All events of one aggregate share it, "
                   "so they land on one partition, in order.",
}

_KEY_BINDING: JSONObject = {
    "kafka": {"key": {"$ref": "#/components/schemas/MessageKey"}, "bindingVersion": KAFKA_BINDING_VERSION}
}

_DOCUMENT_DESCRIPTION = f"""\
The public events of salesflow, generated from the contract models in `shared/contracts` \
(`make contracts`); do not edit by hand.

* **Topics**: one per producing service, `<prefix>.<producer>`, plus its dead-letter topic \
`<prefix>.<producer>.dlq`. The prefix is configurable ({TOPIC_PREFIX_VARIABLE}, default \
`{DEFAULT_TOPIC_PREFIX}`); the channel addresses below use the default.
* **Key**: the aggregate's stream id, so per-aggregate order is kept. **Value**: the contract's JSON. \
**Metadata**: CloudEvents binary-mode headers (`ce_id`, `ce_type`, `ce_schemaversion`, `ce_source`, \
`ce_subject`, `ce_time`, optional correlation/causation ids and `traceparent`).
* **Versioning**: a contract is identified by (`ce_type`, `ce_schemaversion`). Changes within a version are \
additive (new optional fields, new enum values); a breaking change is a new version published beside the old \
one. Consumers must ignore unknown fields and unknown event types.
* **Delivery** is at least once: deduplicate on `ce_id`.
"""


def _contracts(contracts: Iterable[type[IntegrationEvent]] | None) -> list[type[IntegrationEvent]]:
    chosen = list(registry) if contracts is None else list(contracts)
    return sorted(chosen, key=lambda c: (c.producer, c.event_type, c.schema_version))


def _rewrite_refs(node: Any, replace: Mapping[str, str]) -> Any:
    """A copy of ``node`` whose local ``#/$defs/<name>`` references point to their new home."""
    if isinstance(node, dict):
        out: JSONObject = {}
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str) and value.startswith("#/$defs/"):
                name, _, rest = value[len("#/$defs/"):].partition("/")
                out[key] = replace.get(name, value) + (f"/{rest}" if rest else "")
            else:
                out[key] = _rewrite_refs(value, replace)
        return out
    if isinstance(node, list):
        return [_rewrite_refs(item, replace) for item in node]
    return node


def _hoist(cls: type[IntegrationEvent], schemas: JSONObject) -> str:
    """Put a contract's schema (and its ``$defs``, namespaced by the contract) into ``components.schemas`` and
    return its reference. ``$id``/``$schema`` are dropped so that references resolve within the document."""
    key = contract_key(cls)
    schema = contract_schema(cls)
    definitions: JSONObject = schema.pop("$defs", {})
    schema.pop("$id")
    schema.pop("$schema")
    replace = {name: f"#/components/schemas/{key}.{name}" for name in definitions}
    for name, definition in definitions.items():
        schemas[f"{key}.{name}"] = _rewrite_refs(definition, replace)
    schemas[key] = _rewrite_refs(schema, replace)
    return f"#/components/schemas/{key}"


def _summary(cls: type[IntegrationEvent]) -> str:
    doc = (cls.__doc__ or "").strip()
    first = doc.split("\n\n", 1)[0].replace("\n", " ").strip()
    return first.split(". ", 1)[0].rstrip(".") + "." if first else f"{cls.event_type} v{cls.schema_version}."


def _message(cls: type[IntegrationEvent], payload_ref: str) -> JSONObject:
    message: JSONObject = {
        "name": cls.event_type,
        "title": f"{cls.event_type} v{cls.schema_version}",
        "summary": _summary(cls),
        "contentType": CONTENT_TYPE,
        "payload": {"$ref": payload_ref},
        "headers": {
            "type": "object",
            "allOf": [{"$ref": "#/components/schemas/CloudEventsHeaders"}],
            "properties": {
                "ce_type": {"type": "string", "const": cls.event_type},
                "ce_schemaversion": {"type": "string", "const": str(cls.schema_version)},
            },
        },
        "bindings": _KEY_BINDING,
        "x-salesflow": _salesflow_info(cls),
    }
    if cls.__doc__:
        message["description"] = " ".join(cls.__doc__.split())
    return message


def _topic_binding(topic: str) -> JSONObject:
    # Unlimited retention, as ensure_topics creates them: read models are rebuilt from the topics (DESIGN §3.7).
    return {
        "kafka": {
            "topic": topic,
            "topicConfiguration": {"retention.bytes": -1, "retention.ms": -1},
            "bindingVersion": KAFKA_BINDING_VERSION,
        }
    }


def _channel_ids(producer: str) -> tuple[str, str]:
    return producer, f"{producer}DeadLetters"


def asyncapi_document(contracts: Iterable[type[IntegrationEvent]] | None = None) -> JSONObject:
    """The AsyncAPI 3.0 document of the given contracts (default: every registered one)."""
    chosen = _contracts(contracts)
    schemas: JSONObject = {
        "CloudEventsHeaders": {
            "type": "object",
            "description": "Kafka headers of every salesflow event (CloudEvents binary mode, UTF-8 values).",
            "properties": copy.deepcopy(_HEADER_PROPERTIES),
            "required": list(REQUIRED_HEADERS),
        },
        "DeadLetterHeaders": {
            "type": "object",
            "description": "Headers of a dead letter: the original record's headers, unchanged (normally "
                           "CloudEventsHeaders, unless they were what was malformed), plus these.",
            "properties": {**copy.deepcopy(_HEADER_PROPERTIES), **copy.deepcopy(_DEAD_LETTER_HEADER_PROPERTIES)},
            "required": list(DEAD_LETTER_HEADERS),
        },
        "MessageKey": copy.deepcopy(_KEY_SCHEMA),
    }
    messages: JSONObject = {
        "DeadLetter": {
            "name": "DeadLetter",
            "title": "Dead letter",
            "summary": "A record a consumer gave up on, republished unchanged with dlq_* headers.",
            "description": "Key, value and headers are the original record's, byte for byte. The value is "
                           "normally one of the original channel's messages, but it may be malformed (that may "
                           "be why it was dead-lettered). Ops list, retry and skip dead letters through the "
                           "consuming service's admin API; this topic lets other tools watch failures.",
            "payload": {"description": "The original record's value, unchanged."},
            "headers": {"$ref": "#/components/schemas/DeadLetterHeaders"},
            "bindings": _KEY_BINDING,
        }
    }
    channels: JSONObject = {}
    operations: JSONObject = {}
    for producer in sorted({c.producer for c in chosen}):
        channel_id, dlq_channel_id = _channel_ids(producer)
        topic = default_topic(producer)
        own = [c for c in chosen if c.producer == producer]
        for cls in own:
            messages[contract_key(cls)] = _message(cls, _hoist(cls, schemas))
        channels[channel_id] = {
            "address": topic,
            "title": f"{producer} events",
            "description": f"Public events of the {producer} service, keyed by aggregate id. The address is "
                           f"`<prefix>.{producer}`; the prefix comes from {TOPIC_PREFIX_VARIABLE} (default "
                           f"`{DEFAULT_TOPIC_PREFIX}`).",
            "messages": {contract_key(c): {"$ref": f"#/components/messages/{contract_key(c)}"} for c in own},
            "bindings": _topic_binding(topic),
        }
        channels[dlq_channel_id] = {
            "address": dead_letter_topic(topic),
            "title": f"{producer} dead letters",
            "description": f"Records of `<prefix>.{producer}` that one of its consumers gave up on (after "
                           "bounded retries, or parked behind an earlier dead letter of the same key).",
            "messages": {"DeadLetter": {"$ref": "#/components/messages/DeadLetter"}},
            "bindings": _topic_binding(dead_letter_topic(topic)),
        }
        operations[f"publish{producer[:1].upper()}{producer[1:]}Events"] = {
            "action": "send",
            "title": f"{producer} publishes its events",
            "summary": f"The {producer} service's outbox relay publishes every committed public event.",
            "channel": {"$ref": f"#/channels/{channel_id}"},
            "messages": [{"$ref": f"#/channels/{channel_id}/messages/{contract_key(c)}"} for c in own],
        }
        operations[f"deadLetter{producer[:1].upper()}{producer[1:]}Events"] = {
            "action": "send",
            "title": f"consumers of {producer} dead-letter records",
            "summary": f"A consumer of `<prefix>.{producer}` publishes a record it gave up on.",
            "channel": {"$ref": f"#/channels/{dlq_channel_id}"},
            "messages": [{"$ref": f"#/channels/{dlq_channel_id}/messages/DeadLetter"}],
        }
    return {
        "asyncapi": ASYNCAPI_VERSION,
        "id": "urn:salesflow:events",
        "info": {
            "title": "salesflow public events",
            "version": DOCUMENT_VERSION,
            "description": _DOCUMENT_DESCRIPTION,
        },
        "defaultContentType": CONTENT_TYPE,
        "channels": channels,
        "operations": operations,
        "components": {"schemas": schemas, "messages": messages},
    }


# --------------------------------------------------------------------------------------------------------------
# Files


def generate(contracts: Iterable[type[IntegrationEvent]] | None = None) -> dict[str, str]:
    """Every generated file's text by path relative to the contracts directory (POSIX separators)."""
    chosen = _contracts(contracts)
    files = {schema_path(cls): render(contract_schema(cls)) for cls in chosen}
    files[ASYNCAPI_FILE] = render(asyncapi_document(chosen))
    return dict(sorted(files.items()))


def _on_disk_schemas(directory: Path) -> list[str]:
    folder = directory / SCHEMAS_DIR
    return sorted(f"{SCHEMAS_DIR}/{p.name}" for p in folder.glob("*.json")) if folder.is_dir() else []


def write(directory: Path = DEFAULT_DIRECTORY, contracts: Iterable[type[IntegrationEvent]] | None = None) -> list[str]:
    """Regenerate the files; remove schema files no contract produces any more. Returns what changed."""
    files = generate(contracts)
    changed: list[str] = []
    for relative, text in files.items():
        target = directory / relative
        if target.is_file() and target.read_text(encoding="utf-8") == text:
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8", newline="\n")
        changed.append(f"wrote {relative}")
    for relative in _on_disk_schemas(directory):
        if relative not in files:
            (directory / relative).unlink()
            changed.append(f"removed {relative}")
    return changed


def stale_files(directory: Path, files: Mapping[str, str]) -> list[str]:
    """How the files in ``directory`` differ from ``files`` (empty when they are up to date)."""
    problems: list[str] = []
    for relative, text in files.items():
        target = directory / relative
        if not target.is_file():
            problems.append(f"{relative} is missing")
        elif target.read_text(encoding="utf-8") != text:
            problems.append(f"{relative} differs from the model")
    problems.extend(
        f"{relative} is no longer generated by any registered contract"
        for relative in _on_disk_schemas(directory) if relative not in files
    )
    return problems


def _read_baseline_from_disk(directory: Path) -> dict[str, str]:
    return {relative: (directory / relative).read_text(encoding="utf-8") for relative in _on_disk_schemas(directory)}


def _read_baseline_from_git(directory: Path, ref: str) -> dict[str, str]:
    """The schema files as committed at ``ref`` (empty if the folder did not exist there)."""

    def git(*args: str, failure: str | None = None) -> str:
        done = subprocess.run(
            ["git", "-C", str(directory), *args], capture_output=True, text=True, encoding="utf-8", check=False
        )
        if done.returncode != 0:
            raise ContractCheckError(failure or f"git {' '.join(args)} failed: {done.stderr.strip()}")
        return done.stdout

    git("rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}", failure=f"{ref!r} is not a commit in this repository")
    names = git("ls-tree", "--name-only", ref, "--", f"{SCHEMAS_DIR}/").split()
    return {
        f"{SCHEMAS_DIR}/{Path(name).name}": git("show", f"{ref}:./{SCHEMAS_DIR}/{Path(name).name}")
        for name in names if name.endswith(".json")
    }


def breaking_changes(baseline: Mapping[str, str], files: Mapping[str, str]) -> list[str]:
    """Breaking changes from the published schema files ``baseline`` to the generated ``files``, as lines
    ``<file>: <change>``. A published contract version that is no longer generated is breaking too: its
    messages stay on the topics for ever and replays must still read them."""
    problems: list[str] = []
    for relative, old_text in sorted(baseline.items()):
        if relative not in files:
            problems.append(f"{relative}: the contract version was removed")
            continue
        try:
            old = json.loads(old_text)
        except json.JSONDecodeError as exc:
            problems.append(f"{relative}: the published file is not valid JSON ({exc})")
            continue
        problems.extend(f"{relative}: {change}" for change in check_compatible(old, json.loads(files[relative])))
    return problems


def check(
    directory: Path = DEFAULT_DIRECTORY,
    contracts: Iterable[type[IntegrationEvent]] | None = None,
    *,
    against: str | None = None,
) -> tuple[list[str], list[str]]:
    """``(stale, breaking)``: how ``directory`` differs from the models, and the breaking changes from the
    published schemas (the checked-in ones, or those committed at git ref ``against`` as well) to the models."""
    files = generate(contracts)
    stale = stale_files(directory, files)
    breaking = breaking_changes(_read_baseline_from_disk(directory), files)
    if against is not None:
        seen = set(breaking)
        for line in breaking_changes(_read_baseline_from_git(directory, against), files):
            line = f"{line} (compared with {against})"
            if line not in seen:
                breaking.append(line)
    return stale, breaking


# --------------------------------------------------------------------------------------------------------------
# Compatibility

_MIN_BOUNDS = ("minLength", "minimum", "exclusiveMinimum", "minItems", "minProperties")
_MAX_BOUNDS = ("maxLength", "maximum", "exclusiveMaximum", "maxItems", "maxProperties")
_EXACT_CONSTRAINTS = ("pattern", "multipleOf")
_MAX_DEPTH = 64


def check_compatible(old_schema: Mapping[str, Any], new_schema: Mapping[str, Any]) -> list[str]:
    """Human-readable list of the changes from ``old_schema`` to ``new_schema`` that break a subscriber (empty
    when the new schema is a compatible evolution of the old one).

    Breaking, because a consumer built on the old schema rejects new messages or a consumer replaying old
    messages with the new model rejects them: a property removed; a property's type or format changed
    (including becoming nullable or no longer nullable); a property newly required (new or formerly optional);
    a required property made optional; allowed values narrowed (an enum losing values, a const or enum added);
    a length/range/pattern constraint added or tightened. Compatible: new optional properties, new enum values,
    relaxed constraints, changed titles, descriptions and defaults. Local ``$ref``s (``#/$defs/...``) are
    followed, so nested models are compared field by field and renaming a nested model alone is not breaking.
    """
    problems: list[str] = []
    _compare(dict(old_schema), dict(new_schema), "", _Roots(dict(old_schema), dict(new_schema)), problems, set(), 0)
    return problems


class _Roots:
    __slots__ = ("new", "old")

    def __init__(self, old: JSONObject, new: JSONObject) -> None:
        self.old = old
        self.new = new


def _resolve(schema: JSONObject, root: JSONObject) -> JSONObject:
    """Follow local references (``#/...``) and single-branch ``anyOf``/``oneOf``/``allOf`` wrappers; an external
    or dangling reference is returned as is."""
    for _ in range(_MAX_DEPTH):
        for keyword in ("anyOf", "oneOf", "allOf"):
            wrapped = schema.get(keyword)
            if isinstance(wrapped, list) and len(wrapped) == 1 and isinstance(wrapped[0], dict):
                schema = wrapped[0]
                break
        ref = schema.get("$ref")
        if not isinstance(ref, str) or not ref.startswith("#"):
            return schema
        target: Any = root
        for part in ref[1:].split("/")[1:]:
            part = part.replace("~1", "/").replace("~0", "~")
            if not isinstance(target, dict) or part not in target:
                return schema
            target = target[part]
        if not isinstance(target, dict):
            return schema
        schema = target
    return schema


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def _branches(schema: JSONObject) -> list[Any] | None:
    for keyword in ("anyOf", "oneOf"):
        value = schema.get(keyword)
        if isinstance(value, list):
            return value
    value = schema.get("allOf")
    if isinstance(value, list) and len(value) == 1:
        return value
    return None


def _kind(schema: Any, root: JSONObject, depth: int = 0) -> str:
    """A readable type description without formats and constraints: ``string``, ``null | string``,
    ``array of object``, ``map of integer``, ``tuple (integer, string)``, ``any``."""
    if not isinstance(schema, dict) or depth > _MAX_DEPTH:
        return "any"
    schema = _resolve(schema, root)
    if "$ref" in schema:
        return f"reference {schema['$ref']}"
    branches = _branches(schema)
    if branches is not None:
        return " | ".join(sorted({_kind(b, root, depth + 1) for b in branches}))
    declared = schema.get("type")
    if declared is None:
        values = _allowed_values(schema)
        if values is None:
            return "any"
        types = sorted({_json_type(v) for v in values})
    else:
        types = [declared] if isinstance(declared, str) else sorted(declared)
    parts: list[str] = []
    for name in types:
        if name == "array" and isinstance(schema.get("prefixItems"), list):
            inner = ", ".join(_kind(item, root, depth + 1) for item in schema["prefixItems"])
            parts.append(f"tuple ({inner})")
        elif name == "array" and isinstance(schema.get("items"), dict):
            parts.append(f"array of {_kind(schema['items'], root, depth + 1)}")
        elif (name == "object" and isinstance(schema.get("additionalProperties"), dict)
              and not schema.get("properties")):
            parts.append(f"map of {_kind(schema['additionalProperties'], root, depth + 1)}")
        else:
            parts.append(name)
    return " | ".join(sorted(parts))


def _allowed_values(schema: JSONObject) -> list[Any] | None:
    if "const" in schema:
        return [schema["const"]]
    enum = schema.get("enum")
    return list(enum) if isinstance(enum, list) else None


def _label(path: str) -> str:
    return f"property '{path}'" if path else "the payload"


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def _compare(
    old: JSONObject, new: JSONObject, path: str, roots: _Roots, problems: list[str],
    seen: set[tuple[int, int]], depth: int,
) -> None:
    old = _resolve(old, roots.old)
    new = _resolve(new, roots.new)
    # Each pair of (sub)schemas is compared once: this ends recursive models, and a nested model used in several
    # places is reported at the first of them.
    visit = (id(old), id(new))
    if visit in seen or depth > _MAX_DEPTH:
        return
    seen.add(visit)
    where = _label(path)

    if "$ref" in old or "$ref" in new:  # references this function cannot follow (external or dangling)
        if old.get("$ref") != new.get("$ref"):
            problems.append(f"{where} now refers to {new.get('$ref', 'an inline schema')} "
                            f"instead of {old.get('$ref', 'an inline schema')}")
        return
    old_kind, new_kind = _kind(old, roots.old), _kind(new, roots.new)
    if old_kind != new_kind:
        problems.append(f"{where} changed type from {old_kind} to {new_kind}")
        return
    if old.get("format") != new.get("format"):
        problems.append(
            f"{where} changed format from {old.get('format') or '(none)'} to {new.get('format') or '(none)'}"
        )
    _compare_values(old, new, where, problems)
    _compare_constraints(old, new, where, problems)

    old_branches, new_branches = _branches(old), _branches(new)
    if old_branches is not None and new_branches is not None:
        unmatched = list(new_branches)
        for branch in old_branches:
            kind = _kind(branch, roots.old)
            match = next((b for b in unmatched if _kind(b, roots.new) == kind), None)
            if isinstance(branch, dict) and isinstance(match, dict):
                unmatched.remove(match)
                _compare(branch, match, path, roots, problems, seen, depth + 1)
        return

    if isinstance(old.get("items"), dict) and isinstance(new.get("items"), dict):
        _compare(old["items"], new["items"], f"{path}[]", roots, problems, seen, depth + 1)
    old_tuple, new_tuple = old.get("prefixItems"), new.get("prefixItems")
    if isinstance(old_tuple, list) and isinstance(new_tuple, list):
        for index, (a, b) in enumerate(zip(old_tuple, new_tuple, strict=False)):
            if isinstance(a, dict) and isinstance(b, dict):
                _compare(a, b, f"{path}[{index}]", roots, problems, seen, depth + 1)
    old_values, new_values = old.get("additionalProperties"), new.get("additionalProperties")
    if isinstance(old_values, dict) and isinstance(new_values, dict):
        _compare(old_values, new_values, f"{path}{{}}", roots, problems, seen, depth + 1)
    _compare_properties(old, new, path, roots, problems, seen, depth)


def _compare_properties(
    old: JSONObject, new: JSONObject, path: str, roots: _Roots, problems: list[str],
    seen: set[tuple[int, int]], depth: int,
) -> None:
    old_props: JSONObject = old.get("properties") or {}
    new_props: JSONObject = new.get("properties") or {}
    old_required = set(old.get("required") or ())
    new_required = set(new.get("required") or ())
    prefix = f"{path}." if path else ""
    for name in old_props:
        if name not in new_props:
            problems.append(f"{_label(prefix + name)} was removed")
    for name in sorted(new_required - old_required):
        if name in old_props:
            problems.append(f"{_label(prefix + name)} became required (messages without it were valid)")
        else:
            problems.append(f"{_label(prefix + name)} was added as a required property")
    for name in sorted(old_required - new_required):
        if name in new_props:
            problems.append(f"{_label(prefix + name)} is no longer required (consumers rely on it)")
    for name, old_prop in old_props.items():
        new_prop = new_props.get(name)
        if isinstance(old_prop, dict) and isinstance(new_prop, dict):
            _compare(old_prop, new_prop, prefix + name, roots, problems, seen, depth + 1)


def _compare_values(old: JSONObject, new: JSONObject, where: str, problems: list[str]) -> None:
    old_values, new_values = _allowed_values(old), _allowed_values(new)
    if new_values is None:
        return
    if old_values is None:
        problems.append(f"{where} is now restricted to the values {_json(new_values)}")
        return
    dropped = [v for v in old_values if v not in new_values]
    if dropped:
        problems.append(f"{where} no longer allows the values {_json(dropped)} (enum narrowed)")


def _compare_constraints(old: JSONObject, new: JSONObject, where: str, problems: list[str]) -> None:
    for keyword in (*_MIN_BOUNDS, *_MAX_BOUNDS, *_EXACT_CONSTRAINTS):
        if keyword not in new or old.get(keyword) == new[keyword]:
            continue
        before, after = old.get(keyword), new[keyword]
        numbers = all(isinstance(v, int | float) and not isinstance(v, bool) for v in (before, after))
        relaxed = numbers and (
            (keyword in _MIN_BOUNDS and after < before) or (keyword in _MAX_BOUNDS and after > before)
        )
        if not relaxed:
            was = "unset" if before is None else _json(before)
            problems.append(f"{where} constraint {keyword} tightened from {was} to {_json(after)}")


# --------------------------------------------------------------------------------------------------------------
# CLI


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m shared.contracts.export",
        description="Generate or check the JSON Schemas and AsyncAPI document of salesflow's public events.",
    )
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--write", action="store_true", help="regenerate the files from the models")
    action.add_argument(
        "--check", action="store_true",
        help="exit 1 if the files differ from the models or a published schema changed incompatibly",
    )
    parser.add_argument(
        "--against", metavar="GIT_REF",
        help="with --check: also compare the models with the schemas committed at this ref (e.g. origin/main), "
             "so a breaking change fails even when the files were regenerated",
    )
    parser.add_argument(
        "--dir", type=Path, default=DEFAULT_DIRECTORY,
        help="the contracts directory (default: contracts/ at the repository root)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    parser = _parser()
    args = parser.parse_args(argv)
    directory: Path = args.dir
    if args.against is not None and not args.check:
        parser.error("--against only applies to --check")
    if args.write:
        for line in write(directory) or ["contracts are up to date"]:
            print(line)
        return 0
    try:
        stale, breaking = check(directory, against=args.against)
    except ContractCheckError as exc:
        print(f"contract check could not run: {exc}", file=sys.stderr)
        return 2
    if stale:
        print(f"The contract files in {directory} do not match the models in shared/contracts:", file=sys.stderr)
        for line in stale:
            print(f"  - {line}", file=sys.stderr)
        print(STALE_ADVICE, file=sys.stderr)
    if breaking:
        if stale:
            print(file=sys.stderr)
        print("Breaking changes to published contracts:", file=sys.stderr)
        for line in breaking:
            print(f"  - {line}", file=sys.stderr)
        print(BREAKING_CHANGE_ADVICE, file=sys.stderr)
    if stale or breaking:
        return 1
    print(f"contracts are up to date and compatible ({len(generate())} files)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
