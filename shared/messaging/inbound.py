"""Inbound decoding: a Kafka record becomes an :class:`InboundEvent` or is refused as poison — pure, no I/O.

What a consumer accepts is decided here, before any database is touched: the headers must parse (CloudEvents
binary mode, ``shared.messaging.headers``), the event type must be one the consumer handles (unknown types and
unknown versions are ignored: contracts rule, consumers ignore what they do not know), and the payload must
validate against the registered contract. A record that fails is poison: retrying cannot help, so the
consumer dead-letters it at once.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Sequence
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


class PoisonMessageError(ValueError):
    """The record cannot be parsed into a known event; retrying cannot help."""


class InboundDecoder:
    """Decodes records into the events of the types one consumer handles."""

    def __init__(self, handled_types: Collection[str], contracts: ContractRegistry = default_registry) -> None:
        self._handled = frozenset(handled_types)
        self._contracts = contracts

    def decode(self, record: KafkaRecord) -> InboundEvent | None:
        """The record's event; ``None`` for event types (or versions) not handled. Raises PoisonMessageError."""
        try:
            headers = EventHeaders.decode(record.headers)
        except MalformedHeadersError as exc:
            raise PoisonMessageError(str(exc)) from None
        if headers.event_type not in self._handled:
            return None
        try:
            # pydantic parses the JSON bytes itself (in Rust): one pass instead of orjson.loads + validation.
            payload = self._contracts.parse_json(headers.event_type, headers.schema_version, record.value or b"")
        except ValidationError as exc:
            if any(e["type"] == "json_invalid" for e in exc.errors()):
                raise PoisonMessageError(f"value is not JSON: {exc.errors(include_url=False)[0]['msg']}") from None
            raise PoisonMessageError(f"payload does not match {headers.event_type} "
                                     f"v{headers.schema_version}: {exc.errors(include_url=False)}") from None
        if payload is None:  # a version of the type this build does not know
            return None
        return InboundEvent(headers, payload, record.topic, record.partition, record.offset)
