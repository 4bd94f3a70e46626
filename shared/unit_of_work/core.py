"""The unit of work every command handler goes through: load aggregates, let them decide, commit their events.

One unit of work is one transaction. Reads come first (they assign no transaction id in PostgreSQL); ``commit``
turns every added aggregate's pending events into *one* multi-stream append (expected version = the version it
was loaded at, so a concurrent writer is a :class:`~shared.eventstore.ConcurrencyError`, never an overwrite),
then runs the service's projection hook and writes the timer plans — in the same transaction, so effect, read
tables and timers commit together or not at all.

A service supplies only what is its own: a :class:`StreamCatalog` (how its streams are named, how its stored
events decode) and, by subclassing an implementation, its lookups and its projection hook
(:meth:`UnitOfWork.after_append`). Timer plans arrive as data (:class:`TimerPlan`) from the application layer.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, TypeVar

from shared.commands import CommandContext
from shared.domain import Aggregate, DomainEvent, EventTypeRegistry
from shared.eventstore import AppendRequest, ConcurrencyError, NewEvent, RecordedEvent
from shared.idempotency import IdempotentRequest

A = TypeVar("A", bound=Aggregate)
U = TypeVar("U", bound="Committable", covariant=True)


@dataclass(frozen=True, slots=True)
class TimerPlan:
    """A durable timer a command implies: schedule (or move) ``timer_id`` to ``due_at``; ``due_at=None`` cancels
    it. Plans are data, decided by the domain or application layer; the unit of work only writes them."""

    timer_id: str
    kind: str
    due_at: datetime | None
    payload: Mapping[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class StreamCatalog:
    """How a service names its streams (``<prefix><aggregate id>``) and decodes the events stored in them: for each
    aggregate class, its stream prefix and the registry of its event types."""

    streams: Mapping[type[Aggregate], tuple[str, EventTypeRegistry]]

    def stream_id(self, cls: type[Aggregate], aggregate_id: str) -> str:
        return f"{self.streams[cls][0]}{aggregate_id}"

    def stream_of(self, aggregate: Aggregate) -> str:
        return self.stream_id(type(aggregate), aggregate.id)

    def decode(self, cls: type[Aggregate], records: Iterable[RecordedEvent]) -> list[DomainEvent]:
        events = self.streams[cls][1]
        return [events.decode(r.event_type, r.data) for r in records]


def check_expected_version(stream_id: str, expected: int | None, actual: int) -> None:
    """A client that read version N and sends ``expected_version=N`` must not act on a state it has not seen:
    checked right after loading, before the domain rules, so a stale client gets 409 rather than a rule error
    about newer state. (The append checks the loaded version again; that covers races after this point.)"""
    if expected is not None and expected != actual:
        raise ConcurrencyError(stream_id, expected, actual)


def append_requests(
    aggregates: Iterable[tuple[str, Aggregate]], context: CommandContext, now: datetime
) -> list[AppendRequest]:
    """The pending events of ``(stream id, aggregate)`` pairs as append requests, each expecting the version its
    aggregate was loaded at. Every event carries the command's metadata and time (``occurred_at = now``)."""
    metadata = context.metadata()
    return [
        AppendRequest(stream_id, aggregate.stream_type, aggregate.loaded_version, tuple(
            NewEvent(event_id=uuid.uuid4(), event_type=e.event_type, schema_version=e.schema_version,
                     data=e.model_dump(mode="json"), occurred_at=now, metadata=metadata)
            for e in aggregate.pending_events))
        for stream_id, aggregate in aggregates if aggregate.pending_events
    ]


TimerPlanner = Callable[[Aggregate], Iterable[TimerPlan]]
"""The timers an aggregate's pending events imply: the service's rule (domain or application), handed to its unit
of work as data when it is wired, so the adapter never calls up into the application layer."""


class EventLog(Protocol):
    """The event store as one transaction sees it."""

    async def load(self, stream_id: str) -> list[RecordedEvent]: ...
    async def append(self, requests: Sequence[AppendRequest]) -> dict[str, int]: ...


class UnitOfWork:
    """One transaction's aggregates. Implementations: ``shared.unit_of_work.postgres`` and ``.memory``."""

    def __init__(self, log: EventLog, catalog: StreamCatalog, *, plan_timers: TimerPlanner | None = None) -> None:
        self._log = log
        self.catalog = catalog
        self._plan_timers = plan_timers
        self._added: dict[str, Aggregate] = {}
        self._timers: list[TimerPlan] = []

    async def load(self, cls: type[A], aggregate_id: str, *, expected_version: int | None = None) -> A | None:
        """The aggregate rebuilt from its stream (None if the stream is empty), checked against the version the
        client pinned (if any): a stale one raises ConcurrencyError."""
        stream_id = self.catalog.stream_id(cls, aggregate_id)
        records = await self.read_stream(cls, aggregate_id, stream_id)
        if not records:
            check_expected_version(stream_id, expected_version, 0)
            return None
        aggregate = cls.rehydrate(aggregate_id, self.catalog.decode(cls, records))
        check_expected_version(stream_id, expected_version, aggregate.version)
        return aggregate

    async def load_repeat(self, cls: type[A], request: IdempotentRequest | None) -> A | None:
        """What an earlier attempt of this idempotent create made (None when there is no key or nothing yet); a
        repeat whose request differs from the first one raises IdempotencyKeyReusedError."""
        if request is None:
            return None
        records = await self.read_stream(cls, request.aggregate_id, self.catalog.stream_id(cls, request.aggregate_id))
        if not records:
            return None
        request.check_repeat(records[0].metadata)
        return cls.rehydrate(request.aggregate_id, self.catalog.decode(cls, records))

    async def read_stream(self, cls: type[Aggregate], aggregate_id: str, stream_id: str) -> list[RecordedEvent]:
        """An aggregate's stored events. A service's unit of work may override it to read, in the same round
        trip, rows its projection hook will need for this aggregate (the leads service: a lead's armed timers)."""
        return await self._log.load(stream_id)

    async def get(self, cls: type[A], aggregate_id: str, *, missing: Callable[[], Exception],
                  expected_version: int | None = None) -> A:
        """Like :meth:`load`, but a missing aggregate raises ``missing()`` (the service's not-found error); the
        aggregate is added to the unit of work, so whatever it records is committed."""
        aggregate = await self.load(cls, aggregate_id)
        if aggregate is None:
            raise missing()
        check_expected_version(self.catalog.stream_of(aggregate), expected_version, aggregate.version)
        self.add(aggregate)
        return aggregate

    def add(self, aggregate: Aggregate, *, timers: Iterable[TimerPlan] = ()) -> None:
        """Commit this aggregate's pending events (and these timer plans) with the unit of work."""
        self._added[self.catalog.stream_of(aggregate)] = aggregate
        self._timers.extend(timers)

    def plan_timers(self, timers: Iterable[TimerPlan]) -> None:
        self._timers.extend(timers)

    @property
    def added(self) -> list[Aggregate]:
        return list(self._added.values())

    async def commit(self, context: CommandContext, now: datetime) -> dict[str, int]:
        """Append every added aggregate's pending events in one call (all or nothing), then the projection hook
        and the timer plans. Returns each appended stream's new version."""
        requests = append_requests(self._added.items(), context, now)
        versions = await self.append_and_project(requests, now)
        timers = list(self._timers)
        if self._plan_timers is not None:
            timers += [t for aggregate in self._added.values() for t in self._plan_timers(aggregate)]
        if timers:
            await self.write_timers(timers)
        return versions

    async def append_and_project(self, requests: Sequence[AppendRequest], now: datetime) -> dict[str, int]:
        """The append, then the projection hook. A service's unit of work may override it to send both in one
        statement (the leads service, for units of work of leads only: shared/eventstore/store.py ``through``)."""
        versions = await self._log.append(requests) if requests else {}
        await self.after_append(now)
        return versions

    async def after_append(self, now: datetime) -> None:
        """The service's projection hook: read/lookup tables from :attr:`added`, in the same transaction."""

    async def write_timers(self, timers: Sequence[TimerPlan]) -> None:
        raise NotImplementedError


class Committable(Protocol):
    """What the command runner needs of a unit of work (a service's own port for its unit of work has it too)."""

    async def commit(self, context: CommandContext, now: datetime) -> dict[str, int]: ...


class UnitOfWorkFactory(Protocol[U]):
    def __call__(self, conn: Any = None) -> AbstractAsyncContextManager[U]:
        """A new transaction, or (``conn`` given) one joining the caller's open transaction — the idempotent
        consumer's or the timer runner's, so the effect commits with their bookkeeping."""
    # Optional ``async def transact(body) -> result``: ``body(uow)`` in a transaction shared with concurrent
    # commands (group commit, each in its own savepoint), answered only after COMMIT; CommandRunner uses it when
    # the factory has it (shared/unit_of_work/postgres.py, .memory).
