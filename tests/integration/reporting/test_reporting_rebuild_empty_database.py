"""The rebuild is the recovery after reporting's database was lost: it must work on an empty database."""

from __future__ import annotations

import asyncpg
import pytest

from services.reporting.adapters.generations import create_generation
from services.reporting.rebuild import ensure_base_tables
from services.reporting.wiring import MIGRATIONS
from tests.conftest import CreateDatabase

pytestmark = pytest.mark.integration


async def test_the_rebuild_prepares_an_empty_database_before_building_a_generation(
    create_database: CreateDatabase,
) -> None:
    # Found by the fault suite's disaster drill (make faults): reporting's database dropped and recreated empty,
    # `python -m services.reporting rebuild` failed with relation "processed_messages" does not exist, because only
    # a started service had created the kernel's tables in public.
    dsn = await create_database("rep_empty")
    await ensure_base_tables(dsn)
    await create_generation(dsn, "reporting_gtest", MIGRATIONS)
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        public = {r["tablename"] for r in rows}
        active = await conn.fetchval("SELECT schema_name FROM public.reporting_active_schema WHERE id = 1")
        generation = await conn.fetchval("SELECT count(*) FROM pg_tables WHERE schemaname = 'reporting_gtest'")
    finally:
        await conn.close()
    assert {"processed_messages", "dead_letters", "reporting_active_schema", "events"} <= public
    assert active == "public"  # nothing switched yet: queries serve public until the rebuild flips
    assert generation > 0
