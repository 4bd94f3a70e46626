"""The databases a benchmark run creates: one fresh database per benchmark, named with the run id."""

from __future__ import annotations

import urllib.parse
from typing import Any

import asyncpg

from shared.migrations import KERNEL_MIGRATIONS, migrate


async def fresh_database(admin_dsn: str, name: str) -> str:
    """Create (or re-create) database ``name`` on the admin DSN's server; returns its DSN."""
    conn = await asyncpg.connect(admin_dsn)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return admin_dsn.rsplit("/", 1)[0] + "/" + name


async def drop_run_databases(admin_dsn: str, run_id: str) -> None:
    """The databases this run created (their names carry the run id): the results are written, they are not needed."""
    conn = await asyncpg.connect(admin_dsn)
    try:
        names = [r["datname"] for r in await conn.fetch(
            "SELECT datname FROM pg_database WHERE datname LIKE 'bench\\_%' AND strpos(datname, $1) > 0", run_id)]
        for name in names:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


def dsn_parts(dsn: str) -> dict[str, Any]:
    url = urllib.parse.urlparse(dsn)
    return {"host": url.hostname, "port": url.port or 5432, "user": url.username, "password": url.password,
            "database": url.path.lstrip("/")}


async def migrate_kernel(dsn: str) -> None:
    """The kernel's tables in ``dsn`` (the event store, which is also the outbox; consumers' processed ids;
    timers): what a benchmark of the kernel alone needs, without any service's migrations."""
    conn = await asyncpg.connect(dsn)
    try:
        await migrate(conn, [("kernel", KERNEL_MIGRATIONS)])
    finally:
        await conn.close()
