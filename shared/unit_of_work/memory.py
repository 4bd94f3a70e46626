"""The unit of work in memory, for unit tests of command handlers: no database, same rules.

:class:`InMemoryEventStore` keeps the event store's contract (the abstract suite in
``tests/support/unit_of_work_contract.py`` runs against both): an append to several streams is all or nothing,
a stream not at its expected version raises ConcurrencyError and nothing is written, versions count from 1.
A unit of work's writes happen only in ``commit``, so one that fails before it leaves nothing behind.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from shared.eventstore import AppendRequest, ConcurrencyError, RecordedEvent
from shared.unit_of_work.core import StreamCatalog, TimerPlan, TimerPlanner, UnitOfWork

U = TypeVar("U", bound="InMemoryUnitOfWork")
T = TypeVar("T")


class InMemoryEventStore:
    """Streams in a dict; positions from one counter (commit order is call order: there is one thread)."""

    def __init__(self) -> None:
        self.streams: dict[str, list[RecordedEvent]] = {}
        self._positions = itertools.count(1)

    async def load(self, stream_id: str) -> list[RecordedEvent]:
        await asyncio.sleep(0)  # a real store yields here: let concurrent units of work interleave as they would
        return list(self.streams.get(stream_id, ()))

    async def append(self, requests: Sequence[AppendRequest]) -> dict[str, int]:
        if len({r.stream_id for r in requests}) != len(requests):
            raise ValueError("append: one request per stream")
        for request in requests:  # check every stream before writing any: all or nothing
            current = len(self.streams.get(request.stream_id, ()))
            if request.expected_version is not None and request.expected_version != current:
                raise ConcurrencyError(request.stream_id, request.expected_version, current)
        versions: dict[str, int] = {}
        recorded_at = datetime.now(UTC)
        for request in requests:
            stream = self.streams.setdefault(request.stream_id, [])
            for event in request.events:
                position = next(self._positions)
                stream.append(RecordedEvent(
                    position=position, txid=position, event_id=event.event_id, stream_id=request.stream_id,
                    stream_type=request.stream_type, version=len(stream) + 1, event_type=event.event_type,
                    schema_version=event.schema_version, data=event.data, metadata=event.metadata,
                    occurred_at=event.occurred_at, recorded_at=recorded_at))
            versions[request.stream_id] = len(stream)
        return versions

    def events(self, stream_id: str) -> list[RecordedEvent]:
        return list(self.streams.get(stream_id, ()))


@dataclass(frozen=True, slots=True)
class PendingTimer:
    kind: str
    due_at: datetime
    payload: dict[str, Any]


class InMemoryTimers:
    """Pending timers by id (a cancelled one is removed), as ``sf_schedule_timers``/``sf_cancel_timers`` keep them."""

    def __init__(self) -> None:
        self.pending: dict[str, PendingTimer] = {}

    def write(self, timers: Sequence[TimerPlan]) -> None:
        for t in timers:
            if t.due_at is None:
                self.pending.pop(t.timer_id, None)
            else:
                self.pending[t.timer_id] = PendingTimer(t.kind, t.due_at, dict(t.payload or {}))


class InMemoryUnitOfWork(UnitOfWork):
    """Services' in-memory test doubles subclass it for their lookups and projection hook."""

    def __init__(self, store: InMemoryEventStore, timers: InMemoryTimers, catalog: StreamCatalog, *,
                 plan_timers: TimerPlanner | None = None) -> None:
        super().__init__(store, catalog, plan_timers=plan_timers)
        self.store = store
        self.timers = timers

    async def write_timers(self, timers: Sequence[TimerPlan]) -> None:
        self.timers.write(timers)


class InMemoryUnitOfWorkFactory(Generic[U]):
    """``factory()`` and ``factory(conn)`` alike give a unit of work over the same store (memory has no
    connections: "joining the caller's transaction" is writing to the same store)."""

    def __init__(self, build: Callable[[], U]) -> None:
        self._build = build

    @asynccontextmanager
    async def __call__(self, conn: Any = None) -> AsyncIterator[U]:
        yield self._build()

    async def transact(self, body: Callable[[U], Awaitable[T]]) -> T:
        return await body(self._build())


def in_memory_units_of_work(
    catalog: StreamCatalog, store: InMemoryEventStore | None = None, timers: InMemoryTimers | None = None,
) -> InMemoryUnitOfWorkFactory[InMemoryUnitOfWork]:
    """The plain factory over a (new or given) store and timer table."""
    events, pending = store or InMemoryEventStore(), timers or InMemoryTimers()
    return InMemoryUnitOfWorkFactory(lambda: InMemoryUnitOfWork(events, pending, catalog))
