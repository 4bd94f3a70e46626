"""The bulk import's jobs and rows in PostgreSQL (migration 0006; the rules are in app/imports.py)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

import asyncpg

from services.leads.app.imports import IMPORT_SOURCE, ImportJob, ListedRow, PhoneFacts, RowResult
from shared.unit_of_work.retry import RetryableConflictError

_JOB_COLUMNS = """job_id, dry_run, status, file_name, file_sha256, team_id, channel, requested_by, total_rows,
    processed, created_at, finished_at"""


class PostgresImportTransaction:
    """One chunk's transaction: the captures run on ``conn``, the rows' outcomes are written on it."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn

    async def unprocessed(self, job_id: str, limit: int) -> list[ListedRow]:
        rows = await self.conn.fetch(
            "SELECT row_number, input FROM leads_import_rows WHERE job_id = $1 AND outcome IS NULL "
            "ORDER BY row_number LIMIT $2", job_id, limit)
        return [ListedRow.from_input(r["row_number"], r["input"]) for r in rows]

    async def record(self, job_id: str, results: Sequence[RowResult], *, finished_at: datetime | None) -> None:
        await self.conn.execute(
            """UPDATE leads_import_rows r SET outcome = u.outcome, lead_id = u.lead_id, owner_id = u.owner_id,
                   field = u.field, reason = u.reason
               FROM unnest($2::int[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[])
                   AS u(row_number, outcome, lead_id, owner_id, field, reason)
               WHERE r.job_id = $1 AND r.row_number = u.row_number""",
            job_id, [r.row_number for r in results], [r.outcome for r in results], [r.lead_id for r in results],
            [r.owner_id for r in results], [r.field for r in results], [r.reason for r in results])
        await self.conn.execute(
            "UPDATE leads_import_jobs SET processed = processed + $2, "
            "status = CASE WHEN $3::timestamptz IS NULL THEN 'running' ELSE 'done' END, finished_at = $3 "
            "WHERE job_id = $1", job_id, len(results), finished_at)


class PostgresImportJobs:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def create(self, job: ImportJob, rows: Sequence[ListedRow]) -> None:
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute(
                f"INSERT INTO leads_import_jobs ({_JOB_COLUMNS}) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12)",
                job.job_id, job.dry_run, job.status, job.file_name, job.file_sha256, job.team_id, job.channel,
                job.requested_by, job.total_rows, job.processed, job.created_at, job.finished_at)
            await conn.execute(
                "INSERT INTO leads_import_rows (job_id, row_number, input) "
                "SELECT $1, u.n, u.i::jsonb FROM unnest($2::int[], $3::text[]) AS u(n, i)",
                job.job_id, [r.row_number for r in rows], [json.dumps(r.as_input(), ensure_ascii=False)
                                                          for r in rows])

    async def job(self, job_id: str) -> ImportJob | None:
        row = await self._pool.fetchrow(f"SELECT {_JOB_COLUMNS} FROM leads_import_jobs WHERE job_id = $1", job_id)
        return ImportJob(**dict(row)) if row else None

    async def counts(self, job_id: str) -> dict[str, int]:
        rows = await self._pool.fetch(
            "SELECT outcome, count(*) AS n FROM leads_import_rows WHERE job_id = $1 AND outcome IS NOT NULL "
            "GROUP BY outcome", job_id)
        return {r["outcome"]: r["n"] for r in rows}

    async def results(self, job_id: str, *, after_row: int, limit: int, outcome: str | None
                      ) -> list[dict[str, Any]]:
        rows = await self._pool.fetch(
            "SELECT row_number, outcome, lead_id, owner_id, field, reason, input FROM leads_import_rows "
            "WHERE job_id = $1 AND row_number > $2 AND ($4::text IS NULL OR outcome = $4) "
            "ORDER BY row_number LIMIT $3", job_id, after_row, limit, outcome)
        return [dict(r) for r in rows]

    async def pending(self) -> list[str]:
        rows = await self._pool.fetch(
            "SELECT job_id FROM leads_import_jobs WHERE status <> 'done' ORDER BY created_at, job_id")
        return [r["job_id"] for r in rows]

    async def team_exists(self, team_id: str) -> bool:
        return bool(await self._pool.fetchval("SELECT EXISTS (SELECT 1 FROM leads_teams WHERE team_id = $1)",
                                              team_id))

    async def facts(self, phones: Sequence[str], keys: Sequence[str]) -> PhoneFacts:
        async with self._pool.acquire() as conn:
            open_phones = await conn.fetch(
                "SELECT DISTINCT phone FROM leads_view WHERE is_open AND phone = ANY($1::text[])", list(phones))
            customers = await conn.fetch("SELECT phone FROM leads_customers WHERE phone = ANY($1::text[])",
                                         list(phones))
            imported = await conn.fetch(
                "SELECT external_id FROM leads_external_ids WHERE source_system = $1 "
                "AND external_id = ANY($2::text[])", IMPORT_SOURCE, list(keys))
        return PhoneFacts(open_phones=frozenset(r["phone"] for r in open_phones),
                          customer_phones=frozenset(r["phone"] for r in customers),
                          imported_keys=frozenset(r["external_id"] for r in imported))

    @asynccontextmanager
    async def transaction(self, job_id: str) -> AsyncIterator[PostgresImportTransaction | None]:
        """The job's transaction; None when another worker (another replica) holds the job's lock."""
        async with self._pool.acquire() as conn:
            try:
                async with conn.transaction():
                    if not await conn.fetchval("SELECT pg_try_advisory_xact_lock(hashtextextended($1, 7245))",
                                               f"leads.import:{job_id}"):
                        yield None
                        return
                    yield PostgresImportTransaction(conn)
            except asyncpg.DeadlockDetectedError as exc:
                # Rows of one chunk hold phone locks while the team's rotation is taken; a capture over HTTP
                # takes them in the other order for another phone of the chunk. PostgreSQL breaks the cycle;
                # the chunk is redone (app/imports.py retries it).
                raise RetryableConflictError(str(exc)) from exc
