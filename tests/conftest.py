"""Fixtures shared by the whole suite. Integration and e2e tests get real Kafka and PostgreSQL (see
tests/support/infra.py); every test gets its own database and topic names, so reruns and parallel runs never
collide."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator

import asyncpg
import pytest

from shared.db import create_pool
from shared.migrations import KERNEL_MIGRATIONS, migrate
from tests.support.infra import RUN_ID, Infra, provide_infra
from tests.support.kafka import delete_topics_starting_with

_counter = itertools.count(1)


@pytest.fixture(scope="session")
def infra() -> Iterator[Infra]:
    with provide_infra() as provided:
        yield provided
        # Every topic this run made (its own names and its services' prefixes all start with t{RUN_ID}).
        asyncio.run(delete_topics_starting_with(provided.kafka, f"t{RUN_ID}"))


@pytest.fixture
def unique() -> str:
    """A short name unique to this test in this run, for topics, groups and databases."""
    return f"t{RUN_ID}x{next(_counter)}"


CreateDatabase = Callable[[str], Awaitable[str]]


@pytest.fixture
async def create_database(infra: Infra) -> AsyncIterator[CreateDatabase]:
    """Factory: create an empty database, return its DSN; dropped after the test."""
    created: list[str] = []

    async def create(hint: str) -> str:
        name = f"t{RUN_ID}_{hint}_{next(_counter)}"
        admin = await asyncpg.connect(infra.pg_admin_dsn)
        try:
            await admin.execute(f'CREATE DATABASE "{name}"')
        finally:
            await admin.close()
        created.append(name)
        return infra.dsn_for(name)

    yield create
    admin = await asyncpg.connect(infra.pg_admin_dsn)
    try:
        for name in created:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest.fixture
async def kernel_db(create_database: CreateDatabase) -> str:
    """DSN of a fresh database with the kernel's tables (event store, checkpoints, consumers)."""
    dsn = await create_database("kernel")
    conn = await asyncpg.connect(dsn)
    try:
        await migrate(conn, [("kernel", KERNEL_MIGRATIONS)])
    finally:
        await conn.close()
    return dsn


@pytest.fixture
async def pool(kernel_db: str) -> AsyncIterator[asyncpg.Pool]:
    p = await create_pool(kernel_db, min_size=1, max_size=10)
    yield p
    await p.close()
