"""asyncpg pool creation with the codecs salesflow relies on."""

from __future__ import annotations

from typing import Any

import asyncpg
import orjson
from asyncpg.pool import PoolConnectionProxy

Connection = asyncpg.Connection | PoolConnectionProxy
"""A connection as handed out by ``asyncpg.connect`` or by a pool; the kernel accepts either."""


def _encode_json(value: Any) -> str:
    # Pre-serialised JSON (str) passes through untouched: the event store serialises once, with orjson.
    return value if isinstance(value, str) else orjson.dumps(value).decode()


async def init_connection(conn: asyncpg.Connection) -> None:
    """Decode json/jsonb to Python values and encode them from Python values or JSON text."""
    for type_name in ("json", "jsonb"):
        await conn.set_type_codec(type_name, encoder=_encode_json, decoder=orjson.loads, schema="pg_catalog")


async def create_pool(dsn: str, *, min_size: int = 2, max_size: int = 20) -> asyncpg.Pool:
    """A connection pool whose connections have the JSON codecs installed."""
    pool = await asyncpg.create_pool(dsn, min_size=min_size, max_size=max_size, init=init_connection)
    assert pool is not None
    return pool


async def connect(dsn: str) -> asyncpg.Connection:
    """A single connection with the same codecs (relay leadership, LISTEN, migrations)."""
    conn = await asyncpg.connect(dsn)
    await init_connection(conn)
    return conn
