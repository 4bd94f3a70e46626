"""Targets are event-sourced in reporting's own event store: every change is an event, the lines table follows
in the same transaction, concurrent edits conflict, and targets can be read as they stood at a past moment."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from services.reporting.adapters.targets import (
    PostgresTargetRepository,
    PostgresTargetsUnitOfWork,
    postgres_targets_units_of_work,
)
from services.reporting.app.commands import SetTarget, SetTargetHandler
from services.reporting.domain.targets import Target, target_stream_id
from services.reporting.wiring import MIGRATIONS
from shared.commands import CommandContext
from shared.db import create_pool
from shared.eventstore import ConcurrencyError
from shared.unit_of_work.postgres import PostgresUnitOfWorkFactory
from tests.support.infra import Infra
from tests.support.reporting import drop_database, fresh_reporting_database

pytestmark = pytest.mark.integration


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 3, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        self.now += timedelta(hours=1)
        return self.now


@pytest.fixture(scope="module")
async def pool(infra: Infra) -> AsyncIterator[asyncpg.Pool]:
    dsn = await fresh_reporting_database(infra, "targets", MIGRATIONS)
    p = await create_pool(dsn, min_size=1, max_size=4)
    yield p
    await p.close()
    await drop_database(infra, dsn)


async def save(units_of_work: PostgresUnitOfWorkFactory[PostgresTargetsUnitOfWork], target: Target) -> None:
    async with units_of_work() as uow:
        uow.add(target)
        await uow.commit(CommandContext("test"), datetime.now(UTC))


@pytest.fixture
def clock() -> Clock:
    return Clock()


async def test_setting_a_target_twice_keeps_both_events_and_the_latest_line(pool: asyncpg.Pool, clock: Clock) -> None:
    repository = PostgresTargetRepository(pool)
    handler = SetTargetHandler(postgres_targets_units_of_work(pool), clock)
    first = await handler(SetTarget("team", "2026-03", "contracts", 10, scope_id="t1", stretch=12))
    await handler(SetTarget("team", "2026-03", "contracts", 14, scope_id="t1"))

    events = await pool.fetch("SELECT event_type, data FROM events WHERE stream_id = $1 ORDER BY version",
                              target_stream_id("team", "t1", "2026-03", "contracts"))
    assert [(e["event_type"], e["data"]["base"]) for e in events] == [("TargetSet", 10), ("TargetSet", 14)]
    (line,) = await repository.lines(month="2026-03")
    assert (line.base, line.stretch) == (14, None)
    (then,) = await repository.lines(month="2026-03", as_of=first.set_at)
    assert (then.base, then.stretch) == (10, 12)


async def test_two_managers_editing_the_same_target_at_once_conflict(pool: asyncpg.Pool, clock: Clock) -> None:
    repository = PostgresTargetRepository(pool)
    units_of_work = postgres_targets_units_of_work(pool)
    stream = target_stream_id("consultant", "c9", "2026-03", "revenue")
    mine, theirs = Target(stream), Target(stream)  # both read the target before either saved
    for target, base in ((mine, 100.0), (theirs, 200.0)):
        target.set(scope="consultant", scope_id="c9", month="2026-03", metric="revenue", base=base, stretch=None,
                   parent_team=None, set_by=None, now=clock())
    await save(units_of_work, mine)

    with pytest.raises(ConcurrencyError):
        await save(units_of_work, theirs)
    assert [line.base for line in await repository.lines(month="2026-03") if line.scope_id == "c9"] == [100.0]
