"""The abstract unit-of-work suite against PostgreSQL, plus what only a database has: joining the caller's
transaction (its rollback undoes the unit of work too)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import asyncpg
import pytest

from shared.unit_of_work.postgres import PostgresUnitOfWork, PostgresUnitOfWorkFactory, postgres_units_of_work
from tests.support.unit_of_work_contract import CATALOG, CONTEXT, NOW, Counter, UnitOfWorkContract

pytestmark = pytest.mark.integration


class TestPostgresUnitOfWork(UnitOfWorkContract):
    @pytest.fixture
    def units_of_work(self, pool: asyncpg.Pool) -> PostgresUnitOfWorkFactory[PostgresUnitOfWork]:
        self.pool = pool
        return postgres_units_of_work(pool, CATALOG)

    async def stored(self, stream_id: str) -> list[tuple[int, dict[str, Any], dict[str, Any]]]:
        rows = await self.pool.fetch(
            "SELECT version, data, metadata FROM events WHERE stream_id = $1 ORDER BY version", stream_id)
        return [(r["version"], r["data"], r["metadata"]) for r in rows]

    async def pending_timers(self) -> Mapping[str, datetime]:
        rows = await self.pool.fetch("SELECT timer_id, due_at FROM timers WHERE status = 'pending'")
        return {r["timer_id"]: r["due_at"] for r in rows}

    async def test_a_unit_of_work_joining_a_transaction_is_undone_with_it(
        self, units_of_work: PostgresUnitOfWorkFactory[PostgresUnitOfWork]
    ) -> None:
        class CallerGaveUpError(Exception):
            pass

        async def count_then_give_up(conn: asyncpg.Connection) -> None:
            async with conn.transaction():
                async with units_of_work(conn) as uow:
                    counter = Counter("c-1")
                    counter.count(1)
                    uow.add(counter)
                    await uow.commit(CONTEXT, NOW)
                assert len(await conn.fetch("SELECT 1 FROM events")) == 1  # visible inside
                raise CallerGaveUpError

        async with self.pool.acquire() as conn:
            with pytest.raises(CallerGaveUpError):
                await count_then_give_up(conn)
        assert await self.stored("counter-c-1") == []
