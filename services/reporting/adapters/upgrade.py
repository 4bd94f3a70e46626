"""Does the active read model hold what this code reads, or does it need ``salesflow rebuild`` first?

Two ways an upgrade leaves it incomplete without any error:

1. **A summary table added to a populated read model starts empty.** Migrations 0004/0005 (the summaries),
   0009 (hour-keyed rows) and 0010 (each group's stored contributions) create tables the projection fills from
   then on; what it projected before is missing from them until a rebuild. `as_of` inside a past day then sums
   empty hourly rows, and a live batch folds a touched group against no stored "before". Migration 0012 records
   this in ``report_read_model.rebuild_needed`` (worked out once, when it runs: facts projected before one of those
   migrations was applied); a rebuild builds a fresh generation whose row says nothing is needed.
2. **A migration applied after a rebuild misses the generation.** The service migrates ``public``; the active read
   model may be a rebuild's generation schema (``reporting_g…``), which has the tables of the migrations that
   existed when it was built. A table created later exists only in public, and the generation's
   ``search_path = <generation>, public`` resolves it there: reads and live writes use public's copy (empty, or
   backfilled from public's stale read model) instead of the generation's. Detected by comparing the tables the
   migration files create with the active schema's.

Either way the answer is the same: `salesflow rebuild`. :func:`read_model_problems` names the reasons; the service
logs them at start, ``/health/ready`` reports them (``read_model``), and `as_of` reads refuse
(:class:`RebuildNeededError`) rather than answer wrong.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from services.reporting.app.ports import RebuildNeededError

# CREATE TABLE with an unqualified name: a read-model table (every read-model schema has it). Qualified ones
# (public.report_targets, public.reporting_active_schema) live in public only.
_CREATES = re.compile(r"^\s*CREATE\s+TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?([a-z_][a-z0-9_]*)\s*\(",
                      re.IGNORECASE | re.MULTILINE)


def read_model_tables(migrations: Path) -> dict[str, str]:
    """Every table reporting's migration files create in a read-model schema → the file that creates it."""
    out: dict[str, str] = {}
    for path in sorted(migrations.glob("[0-9][0-9][0-9][0-9]_*.sql")):
        for name in _CREATES.findall(path.read_text()):
            out.setdefault(name.lower(), path.stem)
    return out


async def read_model_problems(conn: Any, migrations: Path) -> list[str]:
    """Why the active read model needs a rebuild (empty: it does not). ``conn`` is any connection to reporting's
    database; the active schema is read from ``public.reporting_active_schema``."""
    schema = await conn.fetchval("SELECT schema_name FROM public.reporting_active_schema WHERE id = 1")
    if schema is None:
        return []
    expected = read_model_tables(migrations)
    present = {r["tablename"] for r in await conn.fetch(
        "SELECT tablename FROM pg_tables WHERE schemaname = $1", schema)}
    problems = []
    # report_read_model is bookkeeping, read from the active schema only: a generation built before 0012 lacks it
    # and is judged by its tables alone (it was built with every migration older than itself).
    missing = sorted(set(expected) - present - {"report_read_model"})
    if missing:
        files = sorted({expected[t] for t in missing})
        problems.append(f"the active read model {schema} lacks {', '.join(missing)} (created by "
                        f"{', '.join(files)} after it was built; they resolve to public's copy): run "
                        "`salesflow rebuild`")
    if "report_read_model" in present:
        reason = await conn.fetchval(f'SELECT rebuild_needed FROM "{schema}".report_read_model WHERE id = 1')
        if reason:
            problems.append(f"{reason}: run `salesflow rebuild`")
    return problems


class ReadModelCheck:
    """The problems of the active read model, worked out once per active schema: a rebuild switches the schema
    (``public.reporting_active_schema``), which is the only way they go away (or, for (2), appear after a
    migration, which restarts the service). One catalog lookup per call to notice the switch."""

    def __init__(self, pool: Any, migrations: Path) -> None:
        self._pool = pool
        self._migrations = migrations
        self._known: tuple[str, list[str]] | None = None

    async def problems(self) -> list[str]:
        async with self._pool.acquire() as conn:
            schema = await conn.fetchval("SELECT schema_name FROM public.reporting_active_schema WHERE id = 1")
            if self._known is None or self._known[0] != schema:
                self._known = (schema, await read_model_problems(conn, self._migrations))
        return list(self._known[1])

    async def require(self) -> None:
        """Raise :class:`RebuildNeededError` when the read model cannot answer `as_of` exactly."""
        problems = await self.problems()
        if problems:
            raise RebuildNeededError("; ".join(problems))

    async def readiness(self) -> dict[str, Any]:
        """``/health/ready``'s ``read_model`` check. Ready even when a rebuild is needed: the rebuild serves the
        current generation until it switches, and taking the service out of rotation for that long would blank
        every dashboard; `as_of` refuses meanwhile, and the reasons say what is affected."""
        problems = await self.problems()
        return {"ok": True, "rebuild_needed": bool(problems), "reasons": problems}
