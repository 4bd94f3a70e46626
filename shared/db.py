"""asyncpg pool creation with the codecs salesflow relies on."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

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


def _ssl_default(dsn: str) -> dict[str, Any]:
    """No TLS to a server on loopback unless the DSN asks for it. asyncpg's default (sslmode=prefer) negotiates TLS
    whenever the server offers it — Debian's PostgreSQL does, with a snake-oil certificate — and encrypting
    127.0.0.1 traffic buys nothing while costing a large share of every round trip's CPU (seen in profiles)."""
    url = urlsplit(dsn)
    if "sslmode" in url.query or url.hostname not in _LOOPBACK:
        return {}
    return {"ssl": False}


_LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})


async def _keep_session(_: asyncpg.Connection) -> None:
    """Pool reset that sends nothing. asyncpg's default runs ``pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *;
    RESET ALL`` on *every* release — one more round trip per command, the top item in the request-path profile.
    Pooled connections here keep no session state: settings are ``SET LOCAL``, advisory locks are
    transaction-scoped, and LISTEN or session locks use dedicated connections (:func:`connect`). asyncpg still
    rolls back an open transaction and drops listeners on release."""


async def create_pool(dsn: str, *, min_size: int = 2, max_size: int = 20) -> asyncpg.Pool:
    """A connection pool whose connections have the JSON codecs installed. Rule for callers: leave no session
    state on a pooled connection (see :func:`_keep_session`)."""
    pool = await asyncpg.create_pool(dsn, min_size=min_size, max_size=max_size, init=init_connection,
                                     reset=_keep_session, **_ssl_default(dsn))
    assert pool is not None
    return pool


async def connect(dsn: str) -> asyncpg.Connection:
    """A single connection with the same codecs (relay leadership, LISTEN, migrations)."""
    conn: asyncpg.Connection = await asyncpg.connect(dsn, **_ssl_default(dsn))
    await init_connection(conn)
    return conn
