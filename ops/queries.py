"""What the CLI reads directly from the services' databases and the broker (read-only)."""

from __future__ import annotations

from dataclasses import asdict
from importlib import resources
from pathlib import Path
from typing import Any

import asyncpg

from ops.topology import SERVICES, Service, kafka_connection
from services.reporting.adapters.upgrade import read_model_problems
from shared.db import connect
from shared.migrations import KERNEL_MIGRATIONS, discover
from shared.observability import probes


async def service_status(service: Service) -> dict[str, Any]:
    """Relay lag, consumer lag per partition, open dead letters and timers of one service."""
    status: dict[str, Any] = {"service": service.name}
    dsn = service.database_url
    if dsn is None:
        return {**status, "error": f"{service.prefix}_DATABASE_URL is not set"}
    try:
        conn = await connect(dsn)
    except (OSError, asyncpg.PostgresError) as exc:
        return {**status, "error": f"database: {exc}"}
    try:
        if service.relays:
            status["relay"] = asdict(await probes.relay_lag(conn, service.name))
        status["dead_letters_open"] = await probes.open_dead_letters(conn)
        status["timers"] = asdict(await probes.timer_backlog(conn))
        if service.name == "reporting":
            # Whether an upgrade left reporting's read model needing `salesflow rebuild` (its `as_of` reads refuse
            # until then): the operator's first command should say so.
            reasons = await read_model_problems(conn, Path(str(resources.files("services.reporting") / "migrations")))
            status["read_model"] = {"rebuild_needed": bool(reasons), "reasons": reasons}
    except asyncpg.UndefinedTableError:
        return {**status, "error": "database not migrated yet (the service migrates it when it starts)"}
    finally:
        await conn.close()
    kafka = kafka_connection()
    if service.consumer_group is not None and kafka is not None:
        probe = probes.ConsumerLagProbe(kafka)
        try:
            partitions = await probe.lag(service.consumer_group, service.consumed_topics())
            status["consumer"] = {"group": service.consumer_group, "lag": sum(p.lag for p in partitions),
                                  "partitions": [{**asdict(p), "lag": p.lag} for p in partitions]}
        except Exception as exc:  # the broker being away is a status to show, not a crash
            status["consumer"] = {"group": service.consumer_group, "error": repr(exc)}
        finally:
            await probe.close()
    return status


async def dead_letters(service: Service, *, status: str | None, limit: int) -> list[dict[str, Any]]:
    conn = await _connect(service)
    try:
        rows = await conn.fetch(
            """SELECT id, consumer, kind, status, topic, partition, "offset", message_key, event_type, event_id,
                      attempts, reason, created_at, resolved_at
               FROM dead_letters WHERE ($1::text IS NULL OR status = $1) ORDER BY id LIMIT $2""", status, limit)
        return [dict(r) for r in rows]
    finally:
        await conn.close()


async def dead_letter(service: Service, dead_letter_id: int) -> dict[str, Any] | None:
    conn = await _connect(service)
    try:
        row = await conn.fetchrow("SELECT * FROM dead_letters WHERE id = $1", dead_letter_id)
    finally:
        await conn.close()
    if row is None:
        return None
    letter = dict(row)
    value = letter.get("value")
    if isinstance(value, bytes | bytearray):
        letter["value"] = bytes(value).decode("utf-8", "replace")
    return letter


def _migration_sources(service: Service) -> list[tuple[str, Path]]:
    sources = [("kernel", KERNEL_MIGRATIONS)]
    if service.migrations is not None:
        sources.append((service.name, Path(str(resources.files(service.migrations) / "migrations"))))
    return sources


async def migration_status(service: Service) -> list[dict[str, Any]]:
    """Every migration file of the service (kernel's and its own) with its state in the database: ``applied``,
    ``pending`` or ``changed`` (applied, but the file differs now: a migration was edited after the fact);
    plus ``unknown`` for what the database recorded and no file has."""
    conn = await _connect(service)
    try:
        exists = await conn.fetchval("SELECT to_regclass('public.schema_migrations') IS NOT NULL")
        rows = await conn.fetch("SELECT namespace, version, name, checksum, applied_at FROM schema_migrations"
                                ) if exists else []
    finally:
        await conn.close()
    recorded = {(r["namespace"], r["version"]): r for r in rows}
    result = []
    for namespace, folder in _migration_sources(service):
        for m in discover(namespace, folder):
            row = recorded.pop((namespace, m.version), None)
            state = "pending" if row is None else ("applied" if row["checksum"] == m.checksum else "changed")
            result.append({"migration": f"{namespace}/{m.name}", "state": state,
                           "applied_at": row["applied_at"] if row is not None else None})
    result += [{"migration": f"{ns}/{r['name']}", "state": "unknown", "applied_at": r["applied_at"]}
               for (ns, _), r in sorted(recorded.items())]
    return result


async def _connect(service: Service) -> asyncpg.Connection:
    if service.database_url is None:
        raise LookupError(f"{service.prefix}_DATABASE_URL is not set")
    return await connect(service.database_url)


__all__ = ["SERVICES", "dead_letter", "dead_letters", "migration_status", "service_status"]
