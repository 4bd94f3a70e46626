"""A small SQL migration runner: versioned ``NNNN_name.sql`` files, each applied once, in order, recorded.

The kernel's own tables (event store, relay checkpoints, processed messages, dead letters) live in
``shared/sql`` under the namespace ``kernel``; each service adds its own folder under its own namespace.
Runners in several processes are serialised with an advisory lock, each file runs in its own transaction,
and a file that changed after it was applied is refused (its checksum no longer matches).

**Rules** are different: SQL functions that hold business rules (a service's dedupe lookup, its round robin; the
kernel's append) have one current definition, kept in ``<folder>/rules/<name>.sql`` and written so it can be
applied again (``CREATE OR REPLACE``, ``DROP … IF EXISTS``). After the versioned migrations of every source, each
rule file whose text is new or changed is applied (and its checksum recorded in ``schema_rules``); an unchanged
one is skipped. So a reader finds a rule in one named file, and changing it is editing that file — the versioned
migrations keep only the history of tables.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import asyncpg

KERNEL_MIGRATIONS = Path(__file__).parent / "sql"
_FILE_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")
_LOCK_KEY = 7244_0001


class MigrationError(RuntimeError):
    """A migration folder is malformed, or an applied migration's file was edited afterwards."""


@dataclass(frozen=True)
class Migration:
    namespace: str
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def discover_rules(namespace: str, folder: Path) -> list[Migration]:
    """The ``rules/*.sql`` files of a migrations folder, by name (version 0: rules have no order in history)."""
    rules = folder / "rules"
    return [Migration(namespace, 0, path.stem, path.read_text()) for path in sorted(rules.glob("*.sql"))]


def discover(namespace: str, folder: Path) -> list[Migration]:
    """Read ``NNNN_name.sql`` files from a folder, sorted by version; rejects duplicates and stray names."""
    migrations: list[Migration] = []
    for path in sorted(folder.glob("*.sql")):
        match = _FILE_NAME.match(path.name)
        if match is None:
            raise MigrationError(f"{path}: migration files are named NNNN_lower_snake.sql")
        migrations.append(Migration(namespace, int(match.group(1)), path.stem, path.read_text()))
    versions = [m.version for m in migrations]
    if len(set(versions)) != len(versions):
        raise MigrationError(f"{folder}: two migrations share a version number")
    return migrations


async def migrate(conn: asyncpg.Connection, sources: list[tuple[str, Path]]) -> list[str]:
    """Apply pending migrations from ``(namespace, folder)`` sources; returns the names applied this time."""
    applied_now: list[str] = []
    await conn.execute("SELECT pg_advisory_lock($1)", _LOCK_KEY)
    try:
        await conn.execute(
            """CREATE TABLE IF NOT EXISTS schema_migrations (
                   namespace text NOT NULL, version integer NOT NULL, name text NOT NULL,
                   checksum text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now(),
                   PRIMARY KEY (namespace, version))"""
        )
        rows = await conn.fetch("SELECT namespace, version, name, checksum FROM schema_migrations")
        done = {(r["namespace"], r["version"]): r for r in rows}
        for namespace, folder in sources:
            for migration in discover(namespace, folder):
                previous = done.get((namespace, migration.version))
                if previous is not None:
                    if previous["checksum"] != migration.checksum:
                        raise MigrationError(
                            f"{namespace}/{migration.name} was changed after it was applied; "
                            "add a new migration instead of editing an applied one"
                        )
                    continue
                async with conn.transaction():
                    await conn.execute(migration.sql)
                    await conn.execute(
                        "INSERT INTO schema_migrations (namespace, version, name, checksum) VALUES ($1,$2,$3,$4)",
                        namespace, migration.version, migration.name, migration.checksum,
                    )
                applied_now.append(f"{namespace}/{migration.name}")
        applied_now += await _apply_rules(conn, sources)
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", _LOCK_KEY)
    return applied_now


async def _apply_rules(conn: asyncpg.Connection, sources: list[tuple[str, Path]]) -> list[str]:
    """Apply every new or changed rule file (see the module docstring); returns the names applied."""
    await conn.execute(
        """CREATE TABLE IF NOT EXISTS schema_rules (
               namespace text NOT NULL, name text NOT NULL, checksum text NOT NULL,
               applied_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (namespace, name))"""
    )
    current = {(r["namespace"], r["name"]): r["checksum"]
               for r in await conn.fetch("SELECT namespace, name, checksum FROM schema_rules")}
    applied: list[str] = []
    for namespace, folder in sources:
        for rule in discover_rules(namespace, folder):
            if current.get((namespace, rule.name)) == rule.checksum:
                continue
            async with conn.transaction():
                await conn.execute(rule.sql)
                await conn.execute(
                    """INSERT INTO schema_rules (namespace, name, checksum) VALUES ($1, $2, $3)
                       ON CONFLICT (namespace, name) DO UPDATE SET checksum = EXCLUDED.checksum, applied_at = now()""",
                    namespace, rule.name, rule.checksum,
                )
            applied.append(f"{namespace}/rules/{rule.name}")
    return applied
