"""Base class and registry of public integration events."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, ClassVar, TypeVar

from pydantic import BaseModel, ConfigDict


class IntegrationEvent(BaseModel):
    """A public event payload. Subclasses declare ``event_type``, ``schema_version`` and ``producer`` (the
    service whose topic carries it) through :func:`contract`."""

    # Consumers must tolerate fields added later by the producer: ignore what we don't know.
    model_config = ConfigDict(extra="ignore", frozen=True)

    event_type: ClassVar[str]
    schema_version: ClassVar[int]
    producer: ClassVar[str]


class UnknownContractError(LookupError):
    """No contract is registered under that type name and version."""


ContractT = TypeVar("ContractT", bound=type[IntegrationEvent])


class ContractRegistry:
    """All public contracts, by (type name, schema version)."""

    def __init__(self) -> None:
        self._contracts: dict[tuple[str, int], type[IntegrationEvent]] = {}

    def add(self, cls: type[IntegrationEvent]) -> None:
        key = (cls.event_type, cls.schema_version)
        if key in self._contracts and self._contracts[key] is not cls:
            raise ValueError(f"contract {key} registered twice")
        self._contracts[key] = cls

    def get(self, event_type: str, schema_version: int) -> type[IntegrationEvent]:
        try:
            return self._contracts[(event_type, schema_version)]
        except KeyError:
            raise UnknownContractError(f"{event_type} v{schema_version}") from None

    def find(self, event_type: str, schema_version: int) -> type[IntegrationEvent] | None:
        return self._contracts.get((event_type, schema_version))

    def __iter__(self) -> Iterator[type[IntegrationEvent]]:
        return iter(sorted(self._contracts.values(), key=lambda c: (c.event_type, c.schema_version)))

    def parse_json(self, event_type: str, schema_version: int, payload: bytes) -> IntegrationEvent | None:
        """Like :meth:`parse_payload`, from JSON bytes (a message value)."""
        cls = self.find(event_type, schema_version)
        if cls is None:
            return None
        return cls.model_validate_json(payload)

    def parse_payload(self, event_type: str, schema_version: int, payload: Any) -> IntegrationEvent | None:
        """Validate a payload against its contract; ``None`` for types this build does not know (ignored by
        consumers, per the contract rules). Raises pydantic's ValidationError for a known type with bad data."""
        cls = self.find(event_type, schema_version)
        if cls is None:
            return None
        return cls.model_validate(payload)


registry = ContractRegistry()


def contract(event_type: str, version: int, producer: str) -> Callable[[ContractT], ContractT]:
    """Class decorator registering a public contract under an explicit name and version."""

    def decorate(cls: ContractT) -> ContractT:
        cls.event_type = event_type
        cls.schema_version = version
        cls.producer = producer
        registry.add(cls)
        return cls

    return decorate
