"""Durable timers against real PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from shared.db import Connection
from shared.timer_model import Timer
from shared.timers import TimerRunner, cancel_timer, schedule_timer

pytestmark = pytest.mark.integration

T0 = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)


class FakeClock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


class Effects:
    def __init__(self) -> None:
        self.fail_for: set[str] = set()

    async def handle(self, conn: Connection, timer: Timer) -> None:
        await conn.execute("INSERT INTO timer_effects (timer_id, note) VALUES ($1, $2)",
                           timer.timer_id, timer.payload.get("note"))
        if timer.timer_id in self.fail_for:
            raise RuntimeError("handler broke")


@pytest.fixture
async def effects(pool: asyncpg.Pool) -> Effects:
    await pool.execute("CREATE TABLE timer_effects (timer_id text, note text)")
    return Effects()


def runner(pool: asyncpg.Pool, clock: FakeClock, effects: Effects) -> TimerRunner:
    return TimerRunner(pool=pool, handlers={"remind": effects.handle}, clock=clock, batch_size=10)


async def fired_ids(pool: asyncpg.Pool) -> list[str]:
    return [r["timer_id"] for r in await pool.fetch("SELECT timer_id FROM timer_effects ORDER BY timer_id")]


async def test_a_timer_fires_once_when_due_and_not_before(pool: asyncpg.Pool, effects: Effects) -> None:
    clock = FakeClock(T0)
    await schedule_timer(pool, "t-1", "remind", T0 + timedelta(days=2), {"note": "call back"})
    assert await runner(pool, clock, effects).fire_due() == 0
    clock.now = T0 + timedelta(days=2)
    assert await runner(pool, clock, effects).fire_due() == 1
    assert await runner(pool, clock, effects).fire_due() == 0
    assert await fired_ids(pool) == ["t-1"]
    assert await pool.fetchval("SELECT note FROM timer_effects") == "call back"


async def test_timers_survive_a_restart_of_the_runner(pool: asyncpg.Pool, effects: Effects) -> None:
    clock = FakeClock(T0)
    first = runner(pool, clock, effects)
    task = asyncio.create_task(first.run())
    await schedule_timer(pool, "t-later", "remind", T0 + timedelta(hours=1))
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    clock.now = T0 + timedelta(hours=2)
    assert await runner(pool, clock, effects).fire_due() == 1  # a new process finds the stored timer
    assert await fired_ids(pool) == ["t-later"]


async def test_rescheduling_moves_a_pending_timer_and_cancelling_stops_it(pool: asyncpg.Pool, effects: Effects) -> None:
    clock = FakeClock(T0 + timedelta(hours=1))
    await schedule_timer(pool, "moved", "remind", T0)
    await schedule_timer(pool, "moved", "remind", T0 + timedelta(days=1))
    await schedule_timer(pool, "cancelled", "remind", T0)
    assert await cancel_timer(pool, "cancelled")
    assert await runner(pool, clock, effects).fire_due() == 0
    assert not await cancel_timer(pool, "cancelled")


async def test_a_failing_handler_is_retried_later_and_its_effect_rolled_back(
    pool: asyncpg.Pool, effects: Effects
) -> None:
    clock = FakeClock(T0)
    effects.fail_for = {"bad"}
    await schedule_timer(pool, "bad", "remind", T0)
    await schedule_timer(pool, "good", "remind", T0)
    assert await runner(pool, clock, effects).fire_due() == 1
    assert await fired_ids(pool) == ["good"]
    row = await pool.fetchrow("SELECT status, attempts, last_error, due_at FROM timers WHERE timer_id = 'bad'")
    assert (row["status"], row["attempts"]) == ("pending", 1)
    assert "handler broke" in row["last_error"]
    assert row["due_at"] > T0
    effects.fail_for = set()
    clock.now = row["due_at"]
    assert await runner(pool, clock, effects).fire_due() == 1
    assert await fired_ids(pool) == ["bad", "good"]


async def test_concurrent_runners_fire_each_timer_exactly_once(pool: asyncpg.Pool, effects: Effects) -> None:
    clock = FakeClock(T0)
    for n in range(60):
        await schedule_timer(pool, f"t-{n:02d}", "remind", T0 - timedelta(minutes=n))
    counts = await asyncio.gather(*(runner(pool, clock, effects).fire_due() for _ in range(4)))
    assert sum(counts) == 60
    assert await fired_ids(pool) == [f"t-{n:02d}" for n in range(60)]
