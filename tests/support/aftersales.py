"""Helpers for the after-sales integration and end-to-end tests: a module-scoped database and HTTP probes."""

from __future__ import annotations

import itertools
from typing import Any

import asyncpg
import httpx

from tests.support.infra import RUN_ID, Infra

_counter = itertools.count(1)


async def create_module_database(infra: Infra, hint: str) -> tuple[str, str]:
    """Create an empty database (for fixtures wider than one test); returns (name, DSN)."""
    name = f"t{RUN_ID}_{hint}_m{next(_counter)}"
    admin = await asyncpg.connect(infra.pg_admin_dsn)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    return name, infra.dsn_for(name)


async def drop_database(infra: Infra, name: str) -> None:
    admin = await asyncpg.connect(infra.pg_admin_dsn)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


async def get_json(client: httpx.AsyncClient, url: str, headers: dict[str, str] | None = None) -> Any:
    """GET and decode; None for 404 (so ``eventually`` can wait for a resource to appear)."""
    response = await client.get(url, headers=headers)
    if response.status_code == 404:
        return None
    response.raise_for_status()
    return response.json()
