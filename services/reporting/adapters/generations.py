"""Read-model generations: the read model lives in a schema named by ``public.reporting_active_schema``.

The live consumer and the queries get connections through :class:`ActiveSchemaPool`, which points the
connection's search_path at the active schema on every acquire (one round trip). A rebuild fills a fresh schema
through a pool fixed on that schema, then flips the pointer in one UPDATE: queries before the flip read the old,
complete schema; queries after it read the new, complete one — never an empty dashboard.

The kernel tables (processed_messages, dead_letters, events) stay in public: ``search_path = <schema>, public``
resolves them there while the read-model tables resolve to the generation's schema.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import asyncpg

from shared.db import connect, init_connection

_SCHEMA = re.compile(r"^[a-z_][a-z0-9_]*$")


class ActiveSchemaPool:
    """Duck-types the part of asyncpg.Pool that consumers and read models use (``acquire``)."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    @asynccontextmanager
    async def acquire(self) -> AsyncIterator[Any]:
        async with self.pool.acquire() as conn:
            # Session-level on purpose (the pool keeps sessions, see shared.db): every acquire through this
            # class sets it again, and the kernel's direct users of the pool only touch public tables.
            await conn.execute(
                "SELECT set_config('search_path', "
                "(SELECT quote_ident(schema_name) FROM public.reporting_active_schema WHERE id = 1) || ', public', "
                "false)")
            yield conn

    async def fetch(self, query: str, *args: Any) -> list[asyncpg.Record]:
        async with self.acquire() as conn:
            return list(await conn.fetch(query, *args))

    async def fetchval(self, query: str, *args: Any) -> Any:
        async with self.acquire() as conn:
            return await conn.fetchval(query, *args)


async def create_generation(dsn: str, schema: str, migrations: Path) -> None:
    """Create ``schema`` and run reporting's migration files inside it (they use unqualified names)."""
    if not _SCHEMA.match(schema):
        raise ValueError(f"bad schema name {schema!r}")
    scripts = [path.read_text() for path in sorted(migrations.glob("[0-9][0-9][0-9][0-9]_*.sql"))]  # noqa: ASYNC240
    conn = await connect(dsn)
    try:
        async with conn.transaction():
            await conn.execute(f"CREATE SCHEMA {schema}")
            await conn.execute(f"SET LOCAL search_path TO {schema}, public")
            for script in scripts:
                await conn.execute(script)
    finally:
        await conn.close()


async def drop_secondary_indexes(dsn: str, schema: str, *, primary_keys_of: Sequence[str] = ()) -> list[str]:
    """Drop a fresh generation's secondary indexes for the bulk load, and the primary keys of the tables in
    ``primary_keys_of`` (tables the load only appends to, never looks up or upserts by key); returns the statements
    that recreate them (maintaining them row by row is most of a rebuild's database time; building them once at
    the end is not). Other keys stay: the load's ``ON CONFLICT`` upserts need them."""
    if not _SCHEMA.match(schema):
        raise ValueError(f"bad schema name {schema!r}")
    conn = await connect(dsn)
    try:
        rows = await conn.fetch(
            """SELECT i.indexname, i.indexdef FROM pg_indexes i
               WHERE i.schemaname = $1 AND NOT EXISTS (
                   SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname
                   AND c.connamespace = $1::regnamespace)""", schema)
        keys = await conn.fetch(
            """SELECT c.conrelid::regclass::text AS table_name, quote_ident(c.conname) AS name,
                      pg_get_constraintdef(c.oid) AS definition
               FROM pg_constraint c JOIN pg_class t ON t.oid = c.conrelid
               WHERE c.contype = 'p' AND c.connamespace = $1::regnamespace AND t.relname = ANY($2::text[])""",
            schema, list(primary_keys_of))
        for row in rows:
            await conn.execute(f'DROP INDEX {schema}."{row["indexname"]}"')
        restore = []
        for key in keys:
            table = f"{schema}.{key['table_name'].rsplit('.', 1)[-1]}"  # regclass omits the schema on the path
            await conn.execute(f"ALTER TABLE {table} DROP CONSTRAINT {key['name']}")
            restore.append(f"ALTER TABLE {table} ADD CONSTRAINT {key['name']} {key['definition']}")
        # Keys first: the unique checks of the live path and the catch-up need them, and they are the cheapest.
        return restore + [row["indexdef"] for row in rows]
    finally:
        await conn.close()


async def create_indexes(dsn: str, definitions: list[str]) -> None:
    conn = await connect(dsn)
    try:
        for definition in definitions:
            await conn.execute(definition)
    finally:
        await conn.close()


async def generation_pool(dsn: str, schema: str, *, size: int = 4) -> asyncpg.Pool:
    """A pool whose connections resolve read-model tables in ``schema`` (and kernel tables in public)."""
    local = "127.0.0.1" in dsn or "localhost" in dsn
    pool: asyncpg.Pool = await asyncpg.create_pool(
        dsn, min_size=1, max_size=size, init=init_connection, ssl=False if local else None,
        server_settings={"search_path": f"{schema}, public"})
    return pool


async def switch_to(dsn: str, schema: str) -> str:
    """Make ``schema`` the active read model atomically; returns the schema it replaced."""
    conn = await connect(dsn)
    try:
        async with conn.transaction():
            previous = await conn.fetchval(
                "SELECT schema_name FROM public.reporting_active_schema WHERE id = 1 FOR UPDATE")
            await conn.execute(
                "UPDATE public.reporting_active_schema SET schema_name = $1, switched_at = now() WHERE id = 1",
                schema)
        return str(previous)
    finally:
        await conn.close()


async def drop_generation(dsn: str, schema: str) -> None:
    """Drop a replaced generation (public is never dropped: it holds the kernel tables and the targets)."""
    if schema == "public" or not _SCHEMA.match(schema):
        return
    conn = await connect(dsn)
    try:
        await conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
    finally:
        await conn.close()


async def drop_stale_generations(dsn: str, keep: set[str]) -> list[str]:
    """Drop every ``reporting_g*`` schema not in ``keep``. The rebuild keeps the one it just replaced until the
    next rebuild: a live batch that resolved the old schema an instant before the switch must not find it gone."""
    conn = await connect(dsn)
    try:
        names = [r["nspname"] for r in await conn.fetch(
            "SELECT nspname FROM pg_namespace WHERE nspname LIKE 'reporting\\_g%'")]
    finally:
        await conn.close()
    dropped = [n for n in names if n not in keep]
    for name in dropped:
        await drop_generation(dsn, name)
    return dropped
