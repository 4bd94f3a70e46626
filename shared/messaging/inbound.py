"""Inbound decoding: a Kafka record becomes an :class:`InboundEvent` or is refused as poison — pure, no I/O.

What a consumer accepts is decided here, before any database is touched: the headers must parse (CloudEvents
binary mode, ``shared.messaging.headers``), the event type must be one the consumer handles (unknown types and
unknown versions are ignored: contracts rule, consumers ignore what they do not know), and the payload must
validate against the registered contract. A record that fails is poison: retrying cannot help, so the
consumer dead-letters it at once.

Two rules guard against what a misbehaving (or hostile) producer could put on a topic — the broker's ACLs say who
may write, these say what a consumer believes:

- **A topic carries only its owner's events.** ``<prefix>.leads`` carries the contracts whose producer is
  ``leads`` (``<prefix>.inbound.shop`` those of ``inbound.shop``); a ``salesflow.orders.Delivered`` found there
  is poison, not a delivery. (A topic whose name does not
  end in a producing service's name, as tests' ad-hoc topics, is not held to this.)
- **Sizes are bounded.** A message value over :data:`MAX_EVENT_BYTES`, or any text in it over
  :data:`MAX_TEXT_CHARS` characters, is poison: no producer's API accepts text that long (their request limits
  are far below), so such a record was not written by a salesflow service and must not reach a read model.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from typing import TYPE_CHECKING, NamedTuple, Protocol

from pydantic import ValidationError

from shared.contracts.base import ContractRegistry, IntegrationEvent
from shared.contracts.base import registry as default_registry
from shared.messaging.headers import EventHeaders, MalformedHeadersError

if TYPE_CHECKING:
    from shared.db import Connection


class KafkaRecord(Protocol):
    """What the consumer needs of a Kafka record (aiokafka's ConsumerRecord, or a stored dead letter)."""

    @property
    def topic(self) -> str: ...
    @property
    def partition(self) -> int: ...
    @property
    def offset(self) -> int: ...
    @property
    def key(self) -> bytes | None: ...
    @property
    def value(self) -> bytes | None: ...
    @property
    def headers(self) -> Sequence[tuple[str, bytes]]: ...


class InboundEvent(NamedTuple):
    """A parsed public event as handlers see it (a NamedTuple: one is built per consumed message)."""

    headers: EventHeaders
    payload: IntegrationEvent
    topic: str
    partition: int
    offset: int

    @property
    def key(self) -> str:
        return self.headers.subject


EventHandler = Callable[["Connection", InboundEvent], Awaitable[None]]
BatchEventHandler = Callable[["Connection", list[InboundEvent]], Awaitable[None]]
"""Applies a run of consecutive events at once (set-based SQL: what makes rebuilds fast). A run is a stretch of
events whose types are registered with the *same* batch handler, so a projection that registers one handler for
many types gets whole batches. It must have the same effect as applying the events one by one, in order."""


def handlers_in_turn(*tables: Mapping[str, EventHandler]) -> dict[str, EventHandler]:
    """One handler table from several: an event type more than one table handles runs each table's handler in
    turn, in the order the tables are given, in the consumer's one transaction — say a process manager's reaction
    and then a read model's update, so both commit with the processed event id or neither does."""
    chains: dict[str, list[EventHandler]] = {}
    for table in tables:
        for event_type, handler in table.items():
            chains.setdefault(event_type, []).append(handler)
    return {event_type: chain[0] if len(chain) == 1 else _in_turn(chain) for event_type, chain in chains.items()}


def _in_turn(chain: list[EventHandler]) -> EventHandler:
    async def handle(conn: Connection, event: InboundEvent) -> None:
        for handler in chain:
            await handler(conn, event)
    return handle


# Bounds every contract shares (contracts/README.md), far above what any producer's API accepts (texts of at most
# a thousand or two characters, events of a few kilobytes) and far below what would hurt a read model.
MAX_EVENT_BYTES = 256 * 1024
MAX_TEXT_CHARS = 10_000


class PoisonMessageError(ValueError):
    """The record cannot be parsed into a known event; retrying cannot help."""


def _oversized_text(value: object, where: str) -> str | None:
    """The path of the first text longer than MAX_TEXT_CHARS in a parsed payload, or None."""
    if isinstance(value, str):
        return where if len(value) > MAX_TEXT_CHARS else None
    if isinstance(value, IntegrationEvent | dict):
        items = value.__dict__.items() if isinstance(value, IntegrationEvent) else value.items()
        for name, item in items:
            found = _oversized_text(item, f"{where}.{name}" if where else str(name))
            if found:
                return found
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            found = _oversized_text(item, f"{where}.{index}")
            if found:
                return found
    return None


class InboundDecoder:
    """Decodes records into the events of the types one consumer handles."""

    def __init__(self, handled_types: Collection[str], contracts: ContractRegistry = default_registry) -> None:
        self._handled = frozenset(handled_types)
        self._contracts = contracts
        # Longest first: ``inbound.shop`` is matched before a producer named ``shop`` would be.
        self._producers = sorted({c.producer for c in contracts}, key=len, reverse=True)
        self._owners: dict[str, str | None] = {}  # topic → the producer whose topic it is (cached: hot path)
        # (topic, type, version) → the contract a record of that type may carry on that topic, once it was found
        # and allowed there: one dict lookup per record instead of the registry, owner and producer checks (a
        # rebuild decodes hundreds of thousands of records of a handful of types). Only hits are kept, so a
        # contract registered later is still found, and refusals keep going through the checks below.
        self._allowed: dict[tuple[str, str, int], type[IntegrationEvent]] = {}

    def _owner(self, topic: str) -> str | None:
        if topic not in self._owners:
            self._owners[topic] = next((p for p in self._producers if topic.endswith("." + p)), None)
        return self._owners[topic]

    def _contract(self, topic: str, event_type: str, schema_version: int) -> type[IntegrationEvent] | None:
        """The contract of a handled type on ``topic``; None for an unknown version. Raises PoisonMessageError for
        a type that does not belong on the topic."""
        contract = self._contracts.find(event_type, schema_version)
        if contract is None:
            return None
        owner = self._owner(topic)
        if owner is not None and contract.producer != owner:
            raise PoisonMessageError(f"{event_type} is published by {contract.producer}; it does not belong on "
                                     f"{topic}")
        self._allowed[(topic, event_type, schema_version)] = contract
        return contract

    def decode(self, record: KafkaRecord) -> InboundEvent | None:
        """The record's event; ``None`` for event types (or versions) not handled. Raises PoisonMessageError."""
        try:
            headers = EventHeaders.decode(record.headers)
        except MalformedHeadersError as exc:
            raise PoisonMessageError(str(exc)) from None
        event_type = headers.event_type
        if event_type not in self._handled:
            return None
        topic = record.topic
        contract = self._allowed.get((topic, event_type, headers.schema_version))
        if contract is None:
            contract = self._contract(topic, event_type, headers.schema_version)
        value = record.value or b""
        size = len(value)
        if size > MAX_EVENT_BYTES:
            raise PoisonMessageError(f"value is {size} bytes; at most {MAX_EVENT_BYTES}")
        if contract is None:  # a version of the type this build does not know
            return None
        try:
            # pydantic parses the JSON bytes itself (in Rust): one pass instead of orjson.loads + validation.
            payload = contract.model_validate_json(value)
        except ValidationError as exc:
            if any(e["type"] == "json_invalid" for e in exc.errors()):
                raise PoisonMessageError(f"value is not JSON: {exc.errors(include_url=False)[0]['msg']}") from None
            raise PoisonMessageError(f"payload does not match {event_type} "
                                     f"v{headers.schema_version}: {exc.errors(include_url=False)}") from None
        # A JSON text of at most MAX_TEXT_CHARS bytes cannot hold a longer string (a character takes at least one
        # byte, an escape more), so the walk over the payload — half of decode's time in a rebuild profile
        # (relay-replay note) — only runs for the values that could fail it.
        oversized = _oversized_text(payload, "") if size > MAX_TEXT_CHARS else None
        if oversized:
            raise PoisonMessageError(f"{event_type}.{oversized} is longer than {MAX_TEXT_CHARS} characters")
        return InboundEvent(headers, payload, topic, record.partition, record.offset)
