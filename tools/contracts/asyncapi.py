"""The AsyncAPI 3.0 document of the public contracts: one channel per producer topic and its dead-letter topic,
one message per contract (payload, CloudEvents headers, Kafka key) — ``contracts/asyncapi.json``."""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from typing import Any, get_args

from shared.contracts.base import IntegrationEvent
from shared.contracts.inbound import INBOUND_CALLS, INBOUND_SHOP
from shared.messaging.dead_letters import DeadLetterKind
from shared.messaging.headers import CONTENT_TYPE, SPEC_VERSION
from shared.messaging.topics import dead_letter_topic
from tools.contracts.schemas import (
    DEFAULT_TOPIC_PREFIX,
    TOPIC_PREFIX_VARIABLE,
    JSONObject,
    chosen_contracts,
    contract_key,
    contract_schema,
    default_topic,
    salesflow_info,
)

ASYNCAPI_VERSION = "3.0.0"
KAFKA_BINDING_VERSION = "0.5.0"
DOCUMENT_VERSION = "1.0.0"
"""``info.version`` of the AsyncAPI document. Contracts are versioned one by one (``schema_version``); bump this
only when the document's own conventions (headers, key, channel layout) change."""

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
        "x-salesflow": salesflow_info(cls),
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


# Inbound topics: written by an outside system, consumed by salesflow (DESIGN §9). Who writes, who reads.
_INBOUND_CHANNELS: dict[str, tuple[str, str]] = {
    INBOUND_SHOP: ("the online shop", "leads (inquiries, abandoned carts) and orders (checkouts)"),
    INBOUND_CALLS: ("the call-center system", "leads (calls become follow-ups, leads and call-back tasks)"),
}


def _camel(name: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in name.replace("_", ".").split("."))


def _channel_ids(producer: str) -> tuple[str, str]:
    return producer, f"{producer}DeadLetters"


def _channel_texts(producer: str) -> JSONObject:
    """Title, description and the operation salesflow performs on the channel (send its own events, receive an
    outside system's)."""
    if producer in _INBOUND_CHANNELS:
        writer, readers = _INBOUND_CHANNELS[producer]
        return {
            "title": f"{producer}: written by {writer}",
            "description": f"Inbound messages from {writer}, keyed by the sender's own id of what it reports (the "
                           f"consuming command is idempotent on it). Read by {readers}; every message runs the "
                           f"same command as its HTTP twin. The address is `<prefix>.{producer}`; the prefix "
                           f"comes from {TOPIC_PREFIX_VARIABLE} (default `{DEFAULT_TOPIC_PREFIX}`). Only the "
                           f"sender's principal may write it (deploy/README.md).",
            "operation": f"receive{_camel(producer)}",
            "action": "receive",
            "operation_title": f"salesflow consumes what {writer} writes",
            "summary": f"Written by {writer}, consumed by {readers}.",
        }
    return {
        "title": f"{producer} events",
        "description": f"Public events of the {producer} service, keyed by aggregate id. The address is "
                       f"`<prefix>.{producer}`; the prefix comes from {TOPIC_PREFIX_VARIABLE} (default "
                       f"`{DEFAULT_TOPIC_PREFIX}`).",
        "operation": f"publish{_camel(producer)}Events",
        "action": "send",
        "operation_title": f"{producer} publishes its events",
        "summary": f"The {producer} service's outbox relay publishes every committed public event.",
    }


def asyncapi_document(contracts: Iterable[type[IntegrationEvent]] | None = None) -> JSONObject:
    """The AsyncAPI 3.0 document of the given contracts (default: every registered one)."""
    chosen = chosen_contracts(contracts)
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
        texts = _channel_texts(producer)
        channels[channel_id] = {
            "address": topic,
            "title": texts["title"],
            "description": texts["description"],
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
        operations[texts["operation"]] = {
            "action": texts["action"],
            "title": texts["operation_title"],
            "summary": texts["summary"],
            "channel": {"$ref": f"#/channels/{channel_id}"},
            "messages": [{"$ref": f"#/channels/{channel_id}/messages/{contract_key(c)}"} for c in own],
        }
        operations[f"deadLetter{_camel(producer)}Events"] = {
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
