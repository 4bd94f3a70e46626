"""The abstract unit-of-work suite: one set of tests, run against every implementation (the in-memory one in
tests/unit/shared, the PostgreSQL one in tests/integration), so the double used by handler unit tests cannot
drift from the real thing. A subclass provides the ``units_of_work`` fixture and the two inspection helpers."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import pytest

from shared.commands import CommandContext
from shared.domain import Aggregate, DomainError, DomainEvent, EventTypeRegistry
from shared.eventstore import ConcurrencyError
from shared.unit_of_work.core import StreamCatalog, TimerPlan, UnitOfWork, UnitOfWorkFactory
from shared.unit_of_work.retry import CommandRunner

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
CONTEXT = CommandContext(correlation_id="corr-1", causation_id="cause-1", actor="tester")

counter_events = EventTypeRegistry()


@counter_events.register
class Counted(DomainEvent):
    event_type: ClassVar[str] = "test.Counted"
    by: int


class Counter(Aggregate):
    stream_type = "counter"

    def __init__(self, aggregate_id: str) -> None:
        super().__init__(aggregate_id)
        self.total = 0

    def count(self, by: int) -> None:
        if by <= 0:
            raise DomainError("count by a positive number")
        self._record(Counted(by=by))

    def _apply(self, event: DomainEvent) -> None:
        assert isinstance(event, Counted)
        self.total += event.by


CATALOG = StreamCatalog({Counter: ("counter-", counter_events)})


class CounterNotFoundError(DomainError):
    code = "counter_not_found"
    http_status = 404


def _missing() -> Exception:
    return CounterNotFoundError("no such counter")


class UnitOfWorkContract:
    """Subclasses provide ``units_of_work`` (a factory over ``CATALOG``), ``stored`` and ``pending_timers``."""

    async def stored(self, stream_id: str) -> list[tuple[int, dict[str, Any], dict[str, Any]]]:
        """(version, data, metadata) of each stored event of the stream."""
        raise NotImplementedError

    async def pending_timers(self) -> Mapping[str, datetime]:
        raise NotImplementedError

    async def count(self, units_of_work: UnitOfWorkFactory[Any], counter_id: str, by: int) -> None:
        async with units_of_work() as uow:
            counter = await uow.load(Counter, counter_id) or Counter(counter_id)
            counter.count(by)
            uow.add(counter)
            await uow.commit(CONTEXT, NOW)

    async def test_a_stream_never_written_loads_as_none(self, units_of_work: UnitOfWorkFactory[Any]) -> None:
        async with units_of_work() as uow:
            assert await uow.load(Counter, "c-1") is None

    async def test_committed_events_load_back_with_versions_metadata_and_time(
        self, units_of_work: UnitOfWorkFactory[Any]
    ) -> None:
        await self.count(units_of_work, "c-1", 2)
        await self.count(units_of_work, "c-1", 3)
        async with units_of_work() as uow:
            counter = await uow.load(Counter, "c-1")
        assert counter is not None
        assert (counter.total, counter.version) == (5, 2)
        stored = await self.stored("counter-c-1")
        assert [(v, d) for v, d, _ in stored] == [(1, {"by": 2}), (2, {"by": 3})]
        assert stored[0][2] == {"correlation_id": "corr-1", "causation_id": "cause-1", "actor": "tester"}

    async def test_get_refuses_a_missing_aggregate_with_the_services_error(
        self, units_of_work: UnitOfWorkFactory[Any]
    ) -> None:
        async with units_of_work() as uow:
            with pytest.raises(CounterNotFoundError):
                await uow.get(Counter, "nope", missing=_missing)

    async def test_a_pinned_version_the_stream_has_moved_past_is_refused_before_deciding(
        self, units_of_work: UnitOfWorkFactory[Any]
    ) -> None:
        await self.count(units_of_work, "c-1", 1)
        await self.count(units_of_work, "c-1", 1)
        async with units_of_work() as uow:
            with pytest.raises(ConcurrencyError) as raised:
                await uow.get(Counter, "c-1", missing=_missing, expected_version=1)
        assert (raised.value.expected, raised.value.actual) == (1, 2)

    async def test_a_concurrent_writer_makes_the_commit_a_conflict_and_writes_nothing(
        self, units_of_work: UnitOfWorkFactory[Any]
    ) -> None:
        await self.count(units_of_work, "c-1", 1)
        async with units_of_work() as uow:
            stale = await uow.get(Counter, "c-1", missing=_missing)
            other = Counter("c-2")
            other.count(7)
            uow.add(other)
            await self.count(units_of_work, "c-1", 1)  # someone else, in between
            stale.count(5)
            with pytest.raises(ConcurrencyError):
                await uow.commit(CONTEXT, NOW)
        assert [v for v, _, _ in await self.stored("counter-c-1")] == [1, 2]
        assert await self.stored("counter-c-2") == []  # the other stream of the same unit of work neither

    async def test_an_aggregate_that_recorded_nothing_appends_nothing(
        self, units_of_work: UnitOfWorkFactory[Any]
    ) -> None:
        async with units_of_work() as uow:
            uow.add(Counter("c-1"))
            assert await uow.commit(CONTEXT, NOW) == {}
        assert await self.stored("counter-c-1") == []

    async def test_timer_plans_schedule_move_and_cancel_timers_with_the_commit(
        self, units_of_work: UnitOfWorkFactory[Any]
    ) -> None:
        later = NOW + timedelta(days=1)
        async with units_of_work() as uow:
            uow.plan_timers([TimerPlan("t-1", "test.kind", NOW, {"n": 1}), TimerPlan("t-2", "test.kind", NOW)])
            await uow.commit(CONTEXT, NOW)
        async with units_of_work() as uow:
            uow.plan_timers([TimerPlan("t-1", "test.kind", later), TimerPlan("t-2", "test.kind", None)])
            await uow.commit(CONTEXT, NOW)
        assert dict(await self.pending_timers()) == {"t-1": later}

    async def test_thirty_concurrent_unpinned_commands_on_one_stream_all_succeed(
        self, units_of_work: UnitOfWorkFactory[Any]
    ) -> None:
        runner: CommandRunner[UnitOfWork] = CommandRunner(units_of_work, lambda: NOW)
        await self.count(units_of_work, "c-1", 1)

        async def count_one(uow: UnitOfWork, now: datetime) -> int:
            counter = await uow.get(Counter, "c-1", missing=_missing)
            counter.count(1)
            return counter.version

        versions = await asyncio.gather(*(runner.run(count_one, CONTEXT) for _ in range(30)))
        assert sorted(versions) == list(range(2, 32))
        assert len(await self.stored("counter-c-1")) == 31

    async def test_a_pinned_command_is_not_retried_on_a_conflict(
        self, units_of_work: UnitOfWorkFactory[Any]
    ) -> None:
        runner: CommandRunner[UnitOfWork] = CommandRunner(units_of_work, lambda: NOW)
        await self.count(units_of_work, "c-1", 1)
        attempts = 0

        async def count_after_a_rival(uow: UnitOfWork, now: datetime) -> None:
            nonlocal attempts
            attempts += 1
            counter = await uow.get(Counter, "c-1", missing=_missing, expected_version=1)
            await self.count(units_of_work, "c-1", 1)  # a rival commits between load and append
            counter.count(1)

        with pytest.raises(ConcurrencyError):
            await runner.run(count_after_a_rival, CONTEXT, expected_version=1)
        assert attempts == 1
