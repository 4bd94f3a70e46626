"""Shared pieces of the orders service's integration and e2e tests: a module-scoped database, and reading the
orders topic by message key (tests in one module share a topic, so they filter by their own aggregates)."""

from __future__ import annotations

import itertools
import time
import uuid
from collections.abc import Collection
from pathlib import Path
from typing import Any

import asyncpg
import orjson
from aiokafka import AIOKafkaConsumer

from shared.messaging.connection import KafkaConnection
from shared.migrations import KERNEL_MIGRATIONS, migrate
from tests.support.infra import RUN_ID, Infra
from tests.support.kafka import header

ORDERS_MIGRATIONS = Path(__file__).resolve().parents[2] / "services" / "orders" / "migrations"
_counter = itertools.count(1)


async def create_orders_database(infra: Infra, hint: str, *, migrated: bool) -> tuple[str, str]:
    """Create a database (migrated with the kernel's and orders' migrations if asked); returns (name, dsn)."""
    name = f"t{RUN_ID}_{hint}_{next(_counter)}_{uuid.uuid4().hex[:6]}"
    admin = await asyncpg.connect(infra.pg_admin_dsn)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    dsn = infra.dsn_for(name)
    if migrated:
        conn = await asyncpg.connect(dsn)
        try:
            await migrate(conn, [("kernel", KERNEL_MIGRATIONS), ("orders", ORDERS_MIGRATIONS)])
        finally:
            await conn.close()
    return name, dsn


async def drop_database(infra: Infra, name: str) -> None:
    admin = await asyncpg.connect(infra.pg_admin_dsn)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


class Published:
    """One published message, decoded: its CloudEvents type (without the ``salesflow.orders.`` prefix), key,
    payload and headers."""

    def __init__(self, record: Any) -> None:
        self.key: str = record.key.decode()
        self.type: str = (header(record, "ce_type") or "").removeprefix("salesflow.orders.")
        self.body: dict[str, Any] = orjson.loads(record.value)
        self.correlation_id = header(record, "ce_correlationid")
        self.record = record

    def __repr__(self) -> str:
        return f"Published({self.type}, key={self.key})"


async def read_by_keys(
    kafka: KafkaConnection, topic: str, keys: Collection[str], *, expect: int, timeout: float = 30.0
) -> list[Published]:
    """Read ``topic`` from the beginning until ``expect`` messages with one of ``keys`` arrived; returns them in
    (partition, offset) order — per key, that is publication order."""
    consumer = AIOKafkaConsumer(
        topic, **kafka.client_options(), group_id=f"test-orders-{uuid.uuid4().hex[:8]}",
        auto_offset_reset="earliest", enable_auto_commit=False,
    )
    await consumer.start()
    found: list[Any] = []
    deadline = time.monotonic() + timeout
    try:
        while len(found) < expect:
            if time.monotonic() > deadline:
                got = [Published(r) for r in found]
                raise AssertionError(f"{topic}: expected {expect} messages for {sorted(keys)}, got {got}")
            batch = await consumer.getmany(timeout_ms=200)
            for part in batch.values():
                found.extend(r for r in part if r.key is not None and r.key.decode() in keys)
    finally:
        await consumer.stop()
    return [Published(r) for r in sorted(found, key=lambda r: (r.partition, r.offset))]
