"""An upgrade that leaves reporting's read model needing `salesflow rebuild` is detected, not answered wrong.

Two real cases (adapters/upgrade.py): migrations 0009/0010 applied to a read model that already held facts left
the hourly tables and the stored contributions without them; and a migration applied after a rebuild creates its
table in public only, where the active generation's search path then finds it.
"""

from __future__ import annotations

import shutil
import uuid
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import pytest

from services.reporting.adapters.generations import ActiveSchemaPool, create_generation, switch_to
from services.reporting.adapters.summaries import PostgresSummaries
from services.reporting.adapters.upgrade import ReadModelCheck, read_model_problems
from services.reporting.app.ports import RebuildNeededError
from services.reporting.wiring import MIGRATIONS
from shared.db import create_pool
from shared.migrations import KERNEL_MIGRATIONS, migrate
from tests.conftest import CreateDatabase

pytestmark = pytest.mark.integration

AS_OF = datetime(2026, 3, 10, 14, 30, tzinfo=UTC)


def migrations_up_to(folder: Path, version: int) -> Path:
    """A copy of reporting's migration files up to ``version``: the service as it was before an upgrade."""
    folder.mkdir()
    for path in sorted(MIGRATIONS.glob("[0-9][0-9][0-9][0-9]_*.sql")):
        if int(path.name[:4]) <= version:
            shutil.copy(path, folder / path.name)
    return folder


async def migrated(dsn: str, folder: Path) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await migrate(conn, [("kernel", KERNEL_MIGRATIONS), ("reporting", folder)])
    finally:
        await conn.close()


async def project_a_fact(dsn: str) -> None:
    """A fact as the service before the upgrade stored it (its projection code wrote the tables it had)."""
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("INSERT INTO report_facts (event_id, event_type, lead_id, occurred_at, data) "
                           "VALUES ($1, 'LeadCreated', 'L1', $2, '{}')", uuid.uuid4(), AS_OF)
    finally:
        await conn.close()


async def test_hourly_tables_added_to_a_populated_read_model_need_a_rebuild_and_as_of_refuses_until_then(
    create_database: CreateDatabase, tmp_path: Path,
) -> None:
    dsn = await create_database("rep_upgrade")
    await migrated(dsn, migrations_up_to(tmp_path / "before", 8))
    await project_a_fact(dsn)
    await migrated(dsn, MIGRATIONS)  # the upgrade: 0009–0012, no rebuild

    pool = await create_pool(dsn, min_size=1, max_size=4)
    try:
        problems = await read_model_problems(pool, MIGRATIONS)
        assert len(problems) == 1, problems
        assert "0009_hourly_summaries" in problems[0]
        assert "0010_group_contributions" in problems[0]
        assert "salesflow rebuild" in problems[0]
        check = ReadModelCheck(pool, MIGRATIONS)
        summaries = PostgresSummaries(ActiveSchemaPool(pool), as_of_guard=check.require)
        with pytest.raises(RebuildNeededError, match="0009_hourly_summaries"):
            await summaries.funnel(cohorts=None, as_of=AS_OF, filters={}, group_by=None)
        with pytest.raises(RebuildNeededError):
            await summaries.stock(as_of=AS_OF, now=AS_OF)
        with pytest.raises(RebuildNeededError):
            await summaries.activity(start=AS_OF.date(), end=AS_OF.date(), as_of=AS_OF)
        await summaries.funnel(cohorts=None, as_of=None, filters={}, group_by=None)  # "now" still answers
        assert (await check.readiness())["rebuild_needed"] is True

        # What `salesflow rebuild` does to it: a fresh generation (built with every migration), switched to.
        await create_generation(dsn, "reporting_gupgrade", MIGRATIONS)
        await switch_to(dsn, "reporting_gupgrade")
        assert await check.problems() == []
        await summaries.funnel(cohorts=None, as_of=AS_OF, filters={}, group_by=None)
        assert await check.readiness() == {"ok": True, "rebuild_needed": False, "reasons": []}
    finally:
        await pool.close()


async def test_facts_projected_after_the_summary_migrations_need_no_rebuild(
    create_database: CreateDatabase, tmp_path: Path,
) -> None:
    # The marker compares each fact's projection time with when 0004/0005/0009/0010 were applied: facts the
    # projection wrote with those tables in place (here: before 0011 and 0012) are in them.
    dsn = await create_database("rep_upgrade_ok")
    await migrated(dsn, migrations_up_to(tmp_path / "before", 11))
    await project_a_fact(dsn)
    await migrated(dsn, MIGRATIONS)
    conn = await asyncpg.connect(dsn)
    try:
        assert await read_model_problems(conn, MIGRATIONS) == []
    finally:
        await conn.close()


async def test_a_migration_applied_after_a_rebuild_misses_the_active_generation_and_that_is_reported(
    create_database: CreateDatabase, tmp_path: Path,
) -> None:
    # The service migrates public only. A generation built before 0011 lacks report_funnel_all_cross; after the
    # upgrade the generation's search path (<generation>, public) resolves it to public's table — backfilled from
    # public's own, stale read model — so the all-time funnels with two dimensions would read the wrong rows.
    dsn = await create_database("rep_upgrade_gen")
    before = migrations_up_to(tmp_path / "before", 10)
    await migrated(dsn, before)
    await create_generation(dsn, "reporting_gold", before)
    await switch_to(dsn, "reporting_gold")
    await migrated(dsn, MIGRATIONS)  # 0011 and 0012 go to public only

    pool = await create_pool(dsn, min_size=1, max_size=2)
    try:
        resolved = await ActiveSchemaPool(pool).fetchval(
            "SELECT relnamespace::regnamespace::text FROM pg_class WHERE oid = to_regclass('report_funnel_all_cross')")
        assert resolved == "public"  # the bug: not the generation's table
        problems = await read_model_problems(pool, MIGRATIONS)
        assert len(problems) == 1, problems
        assert "reporting_gold lacks report_funnel_all_cross" in problems[0]
        assert "0011_funnel_all_cross" in problems[0]
        assert "report_read_model" not in problems[0]  # bookkeeping, judged in the active schema only
    finally:
        await pool.close()
