"""Reporting's summaries in PostgreSQL: how a batch of facts updates them (in the consumer's transaction), and
how reports read them — now, or as of a moment.

Write path (:meth:`PostgresSummaries.apply`), per batch:

1. the facts are inserted (keyed by event id: a duplicate is not new) with the entity they are about;
2. their links (order ↔ lead, quote ↔ order, complaint ↔ order) join the link graph, and the groups of the
   entities they touch are worked out again (a group is a connected part of the graph, see ``domain.ledger``);
   facts of entities whose group changed are moved to the new group;
3. every group whose facts changed is folded once, with the batch's changes, for the days from its earliest
   changed moment on; its "before" is its stored contributions (report_group_contributions, which the batch then
   replaces), and the difference is added to the summary tables (amount += delta). A group whose only new facts
   are its leads' grades and logged follow-ups, later than the rest of it, is not folded: what they add comes from
   the leads' current state (:func:`_late_groups`).

Because a group's measures depend only on its facts (sorted by their own times) and the consultants' team
history, not on arrival order, any delivery order and any number of duplicates end in the same summaries.
All of it runs under one transaction-scoped advisory lock per schema, so two consumers of the same schema (the
live one and a rebuild's catch-up) never fold a group from each other's half-written state.

Read path: reports "now" read the ``*_now`` tables (and the current-state table for due/overdue follow-ups);
reports ``as_of`` T sum monthly rows known before T's month, daily rows known from its first day to the day
before T, hourly rows of T's day before T's hour, and fold, for T's own hour, the groups that changed between its
start and T. Every read is bounded by the number of consultants × days × stages a report shows, plus one hour's
changes for `as_of`.
"""

from __future__ import annotations

import asyncio
from bisect import bisect_left
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import orjson

from services.reporting.app.ports import FactRow, UnsupportedBySummariesError
from services.reporting.domain.campaigns import CampaignInfo, catalogue
from services.reporting.domain.ledger import (
    CALL_RECORDED,
    CAMPAIGN_CREATED,
    CAMPAIGN_UPDATED,
    CONSULTANT_MOVED,
    CONSULTANT_REGISTERED,
    DUE_MEASURES,
    DUE_SOON,
    FOLLOW_UP_SCHEDULED,
    LATE_FACT_TYPES,
    LEAD_CREATED,
    ConsultantTeams,
    Fact,
    Folds,
    LeadState,
    Sums,
    add_into,
    contributions,
    entities_of,
    group_of,
    late_lead_facts,
    lead_states,
    measures_at,
    measures_before,
    recontribute,
)

AsOfGuard = Callable[[], Awaitable[None]]
FUNNEL_DIMS = ("channel", "team", "consultant", "product")
_DIM_INDEX = {"consultant": 0, "team": 1, "channel": 2, "product": 3}  # in (consultant, team, channel, product)
ACTIVITY_DIMS = ("day", "month", "consultant", "team", "channel", "product")
_TODAY = "(now() AT TIME ZONE 'UTC')::date"
# The write path's statements are short (index walks over a batch's entities, a few thousand rows), but the
# planner cannot estimate a recursive CTE and prices the link-graph walk at ~2M: over jit_above_cost, so with JIT on
# (PostgreSQL's default) every batch compiled it for ~280 ms to run it in ~15 ms (EXPLAIN ANALYZE after a rebuild of
# 2k leads, 2026-12-03). JIT off for the transaction, in the same round trip as the lock.
_JIT_OFF = "set_config('jit', 'off', true)"
_LOCK = f"SELECT pg_advisory_xact_lock(hashtext('reporting.summaries:' || current_schema())), {_JIT_OFF}"
_FACTS_OF_GROUPS = """SELECT event_id::text AS event_id, event_type, occurred_at, data, entity, group_id
                      FROM report_facts WHERE group_id = ANY($1::text[])"""


def _day(text: str) -> date:
    return date.fromisoformat(text)


def _month(day: str) -> str:
    return day[:7]


def _known(hour: str) -> tuple[date, int]:
    """A contribution's known hour (``YYYY-MM-DDTHH``, :func:`domain.ledger.hour_of`) as (day, hour)."""
    return _day(hour[:10]), int(hour[11:13])


class _UnionFind:
    def __init__(self) -> None:
        self.parent: dict[str, str] = {}

    def find(self, x: str) -> str:
        self.parent.setdefault(x, x)
        while self.parent[x] != x:
            self.parent[x] = self.parent[self.parent[x]]
            x = self.parent[x]
        return x

    def union(self, a: str, b: str) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)

    def groups(self) -> dict[str, str]:
        members: dict[str, list[str]] = defaultdict(list)
        for x in list(self.parent):
            members[self.find(x)].append(x)
        out = {}
        for component in members.values():
            name = group_of(component)
            for x in component:
                out[x] = name
        return out


def _fact(row: Any) -> Fact:
    """A fact from a row of :data:`_FACTS_OF_GROUPS` (by position: the fold reads many)."""
    return Fact(row[0], row[1], row[2], row[3])


def _teams(rows: Iterable[Mapping[str, Any]]) -> ConsultantTeams:
    return ConsultantTeams((r["consultant_id"], r["at"], r["team_id"]) for r in rows)


# Raw contributions, split by kind into three relations (the fold's keys, with the cohort as its month):
# (known_day, known_hour) is the UTC hour the difference happened in: the daily and monthly tables sum its day.
_RAW: dict[str, list[tuple[str, str]]] = {
    "a": [("day", "date"), ("metric", "text"), ("consultant", "text"), ("team", "text"), ("channel", "text"),
          ("product", "text"), ("known_day", "date"), ("known_hour", "int2"), ("v", "float8")],
    "f": [("cohort", "text"), ("measure", "text"), ("consultant", "text"), ("team", "text"), ("channel", "text"),
          ("product", "text"), ("known_day", "date"), ("known_hour", "int2"), ("v", "int8")],
    "s": [("consultant", "text"), ("measure", "text"), ("known_day", "date"), ("known_hour", "int2"),
          ("v", "int8")],
    "c": [("day", "date"), ("metric", "text"), ("channel", "text"), ("campaign", "text"), ("known_day", "date"),
          ("known_hour", "int2"), ("v", "float8")],
}
_DIMENSIONS = ("CROSS JOIN LATERAL (VALUES ('', ''), ('channel', f.channel), ('team', f.team), "
               "('consultant', f.consultant), ('product', f.product)) d(dim, dim_value)")
# By the hour the difference happened (migration 0009): `as_of` T reads the hours of T's day before T's hour from
# these, so it folds only the groups that changed in T's own hour. Keyed by the known hour first: a read takes
# one day's rows.
_HOURLY_TABLES = (
    ("report_activity_hourly", "known_day, known_hour, day, metric, consultant_id, team_id, channel, product",
     "amount", "SELECT known_day, known_hour, day, metric, consultant, team, channel, product, sum(v) FROM a "
     "GROUP BY 1, 2, 3, 4, 5, 6, 7, 8"),
    # All four dimensions in one row, not one row per dimension as report_funnel_daily: inside an hour few leads
    # share a key, so the spread would be ~5 rows per difference (50k leads: 2.3M rows against 0.7M daily ones);
    # the read picks its dimension's column from one day's rows.
    ("report_funnel_hourly", "known_day, known_hour, cohort, measure, consultant_id, team_id, channel, product", "n",
     "SELECT known_day, known_hour, cohort, measure, consultant, team, channel, product, sum(v) FROM f "
     "GROUP BY 1, 2, 3, 4, 5, 6, 7, 8"),
    ("report_stock_hourly", "known_day, known_hour, consultant_id, measure", "n",
     "SELECT known_day, known_hour, consultant, measure, sum(v) FROM s GROUP BY 1, 2, 3, 4"),
    ("report_campaign_hourly", "known_day, known_hour, day, metric, channel, campaign_id", "amount",
     "SELECT known_day, known_hour, day, metric, channel, campaign, sum(v) FROM c GROUP BY 1, 2, 3, 4, 5, 6"),
)
# Every summary table as (table, key columns, value column, SELECT of its keys and Σ value from the raw relations):
# the spread to months and to one row per funnel dimension happens in PostgreSQL, in one pass per table.
_SUMMARY_TABLES = (
    ("report_activity_daily", "day, metric, consultant_id, team_id, channel, product, known_day", "amount",
     "SELECT day, metric, consultant, team, channel, product, known_day, sum(v) FROM a GROUP BY 1, 2, 3, 4, 5, 6, 7"),
    ("report_activity_monthly", "month, metric, consultant_id, team_id, channel, product, known_month", "amount",
     "SELECT to_char(day, 'YYYY-MM'), metric, consultant, team, channel, product, to_char(known_day, 'YYYY-MM'), "
     "sum(v) FROM a GROUP BY 1, 2, 3, 4, 5, 6, 7"),
    ("report_funnel_now", "cohort, measure, consultant_id, team_id, channel, product", "n",
     "SELECT cohort, measure, consultant, team, channel, product, sum(v) FROM f GROUP BY 1, 2, 3, 4, 5, 6"),
    ("report_funnel_dims", "cohort, dim, dim_value, measure", "n",
     f"SELECT cohort, dim, dim_value, measure, sum(v) FROM f {_DIMENSIONS} GROUP BY 1, 2, 3, 4"),
    ("report_funnel_all", "dim, dim_value, measure", "n",  # report_funnel_dims over all cohorts (migration 0008)
     f"SELECT dim, dim_value, measure, sum(v) FROM f {_DIMENSIONS} GROUP BY 1, 2, 3"),
    ("report_funnel_all_cross", "team_id, consultant_id, channel, product, measure", "n",  # migration 0011
     "SELECT team, consultant, channel, product, measure, sum(v) FROM f GROUP BY 1, 2, 3, 4, 5"),
    ("report_funnel_daily", "cohort, dim, dim_value, measure, known_day", "n",
     f"SELECT cohort, dim, dim_value, measure, known_day, sum(v) FROM f {_DIMENSIONS} GROUP BY 1, 2, 3, 4, 5"),
    ("report_funnel_monthly", "cohort, dim, dim_value, measure, known_month", "n",
     f"SELECT cohort, dim, dim_value, measure, to_char(known_day, 'YYYY-MM'), sum(v) FROM f {_DIMENSIONS} "
     "GROUP BY 1, 2, 3, 4, 5"),
    ("report_stock_now", "consultant_id, measure", "n",
     f"SELECT consultant, measure, sum(v) FROM s WHERE NOT measure = ANY('{{{','.join(sorted(DUE_MEASURES))}}}') "
     "GROUP BY 1, 2"),
    ("report_stock_daily", "consultant_id, measure, known_day", "n",
     "SELECT consultant, measure, known_day, sum(v) FROM s GROUP BY 1, 2, 3"),
    ("report_stock_monthly", "consultant_id, measure, known_month", "n",
     "SELECT consultant, measure, to_char(known_day, 'YYYY-MM'), sum(v) FROM s GROUP BY 1, 2, 3"),
    ("report_campaign_daily", "day, metric, channel, campaign_id, known_day", "amount",
     "SELECT day, metric, channel, campaign, known_day, sum(v) FROM c GROUP BY 1, 2, 3, 4, 5"),
    ("report_campaign_monthly", "month, metric, channel, campaign_id, known_month", "amount",
     "SELECT to_char(day, 'YYYY-MM'), metric, channel, campaign, to_char(known_day, 'YYYY-MM'), sum(v) FROM c "
     "GROUP BY 1, 2, 3, 4, 5"),
    *_HOURLY_TABLES,
)
SUMMARY_TABLE_NAMES = tuple(t[0] for t in _SUMMARY_TABLES)


def _inserts() -> list[str]:
    """One INSERT … SELECT per summary table of the sums of what relations ``a``, ``f``, ``s``, ``c`` hold (each
    SELECT groups by exactly the table's key, so it yields every key once)."""
    return [f"INSERT INTO {table} ({keys}, {value}) {select} HAVING sum(v) <> 0"
            for table, keys, value, select in _SUMMARY_TABLES]


def _upserts() -> list[str]:
    """The same as :func:`_inserts`, adding to the rows already there (a live batch's differences)."""
    return [f"{insert} ON CONFLICT ({keys}) DO UPDATE SET {value} = {table}.{value} + excluded.{value}"
            for insert, (table, keys, value, _) in zip(_inserts(), _SUMMARY_TABLES, strict=True)]


class RawContributions:
    """A batch's contributions ``(kind, *key, known_day) → delta`` as rows of the four raw relations."""

    def __init__(self) -> None:
        self.rows: dict[str, list[tuple[Any, ...]]] = {"a": [], "f": [], "s": [], "c": []}

    def add(self, deltas: Mapping[tuple[Any, ...], float]) -> None:
        a, f, s, c = self.rows["a"], self.rows["f"], self.rows["s"], self.rows["c"]
        for key, delta in deltas.items():
            if not delta:
                continue
            kind = key[0]
            if kind == "activity":
                a.append((_day(key[1]), *key[2:7], *_known(key[7]), delta))
            elif kind == "funnel":
                f.append((_month(key[1]), *key[2:7], *_known(key[7]), int(delta)))
            elif kind == "stock":
                s.append((key[1], key[2], *_known(key[3]), int(delta)))
            elif kind == "campaign":
                c.append((_day(key[1]), key[2], key[3], key[4], *_known(key[5]), delta))


async def write_rows(conn: Any, raw: RawContributions) -> None:
    """Add a batch's contributions to every summary table in one statement (one round trip): the raw rows go
    in as arrays, unnested server-side, and each table's upsert is a data-modifying CTE over them."""
    if not any(raw.rows.values()):
        return
    args: list[Any] = []
    sources = []
    for name, columns in _RAW.items():
        rows = raw.rows[name]
        arrays = [list(col) for col in zip(*rows, strict=True)] if rows else [[] for _ in columns]
        casts = []
        for array, (_, type_) in zip(arrays, columns, strict=True):
            args.append(array)
            casts.append(f"${len(args)}::{type_}[]")
        names = ", ".join(c for c, _ in columns)
        sources.append(f"{name} AS (SELECT * FROM unnest({', '.join(casts)}) AS {name}({names}))")
    writes = [f"w{i} AS ({sql})" for i, sql in enumerate(_upserts())]
    await conn.execute(f"WITH {', '.join(sources + writes)} SELECT 1", *args)


async def _create_raw_tables(conn: Any) -> None:
    for name, columns in _RAW.items():
        await conn.execute(f"CREATE TEMPORARY TABLE summary_raw_{name} "
                           f"({', '.join(f'{c} {t}' for c, t in columns)}) ON COMMIT DROP")


async def _copy_raw(conn: Any, raw: RawContributions, states: list[tuple[Any, ...]],
                    stored: list[tuple[str, bytes]]) -> None:
    for name, columns in _RAW.items():
        await conn.copy_records_to_table(f"summary_raw_{name}", records=raw.rows[name],
                                         columns=[c for c, _ in columns])
    await conn.copy_records_to_table("report_lead_state", records=states, columns=_STATE_COLUMNS)
    await conn.copy_records_to_table("report_group_contributions", records=stored,
                                     columns=["group_id", "contributions"])


async def _sum_raw_tables(conn: Any) -> None:
    """Fill the (emptied) summary tables with the sums of the raw tables: plain INSERTs, no ON CONFLICT."""
    # Temporary tables have no statistics until analysed, and the sums are hash aggregates: without both the
    # planner sorts on disk.
    await conn.execute(f"ANALYZE {', '.join(f'summary_raw_{name}' for name in _RAW)}")
    await conn.execute("SET LOCAL work_mem = '64MB'")
    sources = ", ".join(f"{name} AS (SELECT * FROM summary_raw_{name})" for name in _RAW)
    for sql in _inserts():
        await conn.execute(f"WITH {sources} {sql}")


async def _drop_indexes(conn: Any, tables: Sequence[str]) -> list[str]:
    """Drop every index of ``tables``, primary keys included, for a bulk load into them (in the caller's
    transaction); returns the statements that put them back. Building a key once over the loaded rows costs a
    fraction of maintaining it row by row (funnel_daily's 91k rows at 2k leads: 0.46 s against ~3 s for the
    upsert)."""
    rows = await conn.fetch(
        """SELECT i.indrelid::regclass::text AS table_name, i.indexrelid::regclass::text AS index_name,
                  pg_get_indexdef(i.indexrelid) AS index_def, quote_ident(c.conname) AS constraint_name,
                  pg_get_constraintdef(c.oid) AS constraint_def
           FROM pg_index i
           LEFT JOIN pg_constraint c ON c.conindid = i.indexrelid AND c.conrelid = i.indrelid
           WHERE i.indrelid = ANY($1::text[]::regclass[])
           ORDER BY i.indrelid, i.indexrelid""", list(tables))
    restore = []
    for r in rows:
        if r["constraint_name"] is not None:
            await conn.execute(f"ALTER TABLE {r['table_name']} DROP CONSTRAINT {r['constraint_name']}")
            restore.append(f"ALTER TABLE {r['table_name']} ADD CONSTRAINT {r['constraint_name']} "
                           f"{r['constraint_def']}")
        else:
            await conn.execute(f"DROP INDEX {r['index_name']}")
            restore.append(r["index_def"])
    return restore


class PostgresSummaries:
    """``pool`` is anything with asyncpg's ``acquire()`` (the live service passes a schema-switching pool).

    ``bulk=True`` is the rebuild's mode: batches only store facts, links and team moves, and
    :func:`build_summaries` folds every group once at the end (instead of refolding a group each time a batch
    touches it, which a replay does ~10 times per lead)."""

    def __init__(self, pool: Any, *, bulk: bool = False, as_of_guard: AsOfGuard | None = None) -> None:
        self._pool = pool
        self._bulk = bulk
        # The service's check that the read model holds what `as_of` sums (adapters.upgrade.ReadModelCheck): it
        # raises RebuildNeededError rather than let an upgrade that was not followed by a rebuild answer wrong.
        self._as_of_guard = as_of_guard

    # --- write path ----------------------------------------------------------------------------------------------

    async def apply(self, tx: Any, facts: Sequence[FactRow]) -> None:
        """Insert the facts and fold the changes into the summaries, in the caller's transaction."""
        if not facts:
            return
        await tx.execute(_LOCK)
        located = [(f, *entities_of(f.event_type, f.data, f.event_id)) for f in facts]
        touched = sorted({e for _, primary, mentions in located for e in (primary, *mentions)})
        edges = [(p, m) for _, p, ms in located for m in ms] + [(m, p) for _, p, ms in located for m in ms]
        if edges:
            a, b = zip(*set(edges), strict=True)
            await tx.execute("INSERT INTO report_edges (a, b) SELECT * FROM unnest($1::text[], $2::text[]) "
                             "ON CONFLICT DO NOTHING", list(a), list(b))
        if self._bulk:
            await self._store(tx, facts, located, {p: p for _, p, _ in located})
            return
        # The connected parts of the link graph around what the batch touches, with their links and current
        # groups, in one round trip. Every step is an index lookup per entity (the LATERALs' OFFSET 0 keeps the
        # planner from flattening them into joins): it cannot estimate a recursive CTE's size, and chose hash joins
        # over whole seq scans of report_entities and report_edges, 16 ms per batch at 20k leads and growing with
        # history — the largest single CPU cost in PostgreSQL at 50 commands/s (bench, 2026-12-02).
        links = _UnionFind()
        old: dict[str, str] = {}
        for row in await tx.fetch(
                "WITH RECURSIVE r(e) AS (SELECT unnest($1::text[]) UNION "
                "SELECT x.b FROM r CROSS JOIN LATERAL (SELECT ed.b FROM report_edges ed WHERE ed.a = r.e OFFSET 0) x) "
                "SELECT r.e, x.b, (SELECT en.group_id FROM report_entities en WHERE en.entity = r.e) AS group_id "
                "FROM r LEFT JOIN LATERAL (SELECT ed.b FROM report_edges ed WHERE ed.a = r.e OFFSET 0) x ON true",
                touched):
            links.find(row["e"])
            if row["b"] is not None:
                links.union(row["e"], row["b"])
            if row["group_id"] is not None:
                old[row["e"]] = row["group_id"]
        groups = links.groups()
        changed = {e: g for e, g in groups.items() if old.get(e) != g}
        if changed:
            await tx.execute(
                "INSERT INTO report_entities (entity, group_id) SELECT * FROM unnest($1::text[], $2::text[]) "
                "ON CONFLICT (entity) DO UPDATE SET group_id = excluded.group_id",
                list(changed), list(changed.values()))
            moved = {e: g for e, g in changed.items() if e in old}
            if moved:
                await tx.execute(
                    "UPDATE report_facts f SET group_id = m.g FROM unnest($1::text[], $2::text[]) AS m(e, g) "
                    "WHERE f.entity = m.e", list(moved), list(moved.values()))
        # Read before the batch's facts are stored, so that what it finds is the rest of each group.
        found = await _late_state(tx, _late_candidates(located, groups, changed, old))
        new_ids = await _insert_facts(tx, located, groups)
        fresh = [f for f in facts if f.event_id in new_ids]
        moves = [f for f in fresh if f.event_type in (CONSULTANT_REGISTERED, CONSULTANT_MOVED)]
        team_rows = await tx.fetch("SELECT consultant_id, at, team_id FROM report_consultants")
        teams_before = _teams(team_rows)
        teams_after = teams_before
        affected = {groups[p] for f, p, _ in located if f.event_id in new_ids}
        affected |= {old[e] for e in changed if e in old} | set(changed.values())
        since_teams: datetime | None = None
        if moves:
            await _team_moves(tx, moves)
            teams_after = _teams(await tx.fetch("SELECT consultant_id, at, team_id FROM report_consultants"))
            since_teams = min(f.occurred_at for f in moves)
            affected |= {r["group_id"] for r in await tx.fetch(
                "SELECT DISTINCT group_id FROM report_facts WHERE consultant_id = ANY($1::text[])",
                list({f.data["consultant_id"] for f in moves}))}
        names = sorted(affected)
        stored = {g: c for g, (_, _, c, _) in found.items() if c is not None}
        unread = [g for g in names if g not in found]
        if unread:
            stored.update((r[0], r[1]) for r in await tx.fetch(
                "SELECT group_id, contributions FROM report_group_contributions WHERE group_id = ANY($1::text[])",
                unread))
        late = {} if moves else _late_groups(located, new_ids, groups, found, teams_after)
        folded = [g for g in names if g not in late]
        rows = await tx.fetch(_FACTS_OF_GROUPS, folded) if folded else []
        fold = asyncio.ensure_future(asyncio.to_thread(
            _fold_changes, rows, new_ids, old, teams_before, teams_after, since_teams, stored, late))
        try:
            # The capture rows and the watermark neither feed the fold nor depend on it: they are written while it
            # runs in its thread, so the batch waits for the longer of the two rather than their sum (the capture
            # insert was ~8 % of a replayed batch's time, bench rebuild 2026-12-04).
            await _captures(tx, fresh)
            await _progress(tx, fresh)
        except BaseException:
            fold.cancel()  # the thread finishes on its own (it only computes); nothing waits for its result
            raise
        deltas, states, contributed = await fold
        raw = RawContributions()
        raw.add(deltas)
        await write_rows(tx, raw)
        await _store_contributions(tx, contributed)
        if states:
            await tx.execute(
                """INSERT INTO report_lead_state (lead_id, group_id, channel, product, captured_at, owner_id, team_id,
                                                  grade, stage, furthest_stage, status, due_at, last_logged_at)
                   SELECT * FROM json_to_recordset($1::json) AS r(lead_id text, group_id text, channel text,
                        product text, captured_at timestamptz, owner_id text, team_id text, grade text, stage text,
                        furthest_stage text, status text, due_at timestamptz, last_logged_at timestamptz)
                   ON CONFLICT (lead_id) DO UPDATE SET group_id = excluded.group_id, channel = excluded.channel,
                     product = excluded.product, captured_at = excluded.captured_at, owner_id = excluded.owner_id,
                     team_id = excluded.team_id, grade = excluded.grade, stage = excluded.stage,
                     furthest_stage = excluded.furthest_stage, status = excluded.status, due_at = excluded.due_at,
                     last_logged_at = excluded.last_logged_at""",
                orjson.dumps(states).decode())

    async def _store(self, tx: Any, facts: Sequence[FactRow], located: Sequence[tuple[FactRow, str, list[str]]],
                     groups: Mapping[str, str]) -> None:
        """Bulk mode: the facts (group = their own entity until :func:`build_summaries`), captures, team moves.

        The facts are inserted without ``ON CONFLICT … RETURNING``: every fact handed to the projection is new,
        because the consumer hands over only the event ids its claim in ``processed_messages`` found unprocessed, and
        a bulk load is the only writer of its read model (a rebuild's fresh generation, until the switch). That lets
        the rebuild load report_facts without its primary key (built once after the load, see
        ``generations.drop_secondary_indexes``): a duplicate that got past the claim would make that build fail and
        the rebuild stop before its switch, not count twice. The facts insert was the replay's largest statement
        (2026-12-04 profile)."""
        await tx.execute(f"INSERT INTO report_facts ({_FACT_COLUMNS}) {_FACTS_RECORDSET}", _facts_json(located, groups))
        fresh = list(facts)
        await _captures(tx, fresh)
        await _team_moves(tx, fresh)
        await _progress(tx, fresh)

    # --- read path -----------------------------------------------------------------------------------------------

    async def funnel(self, *, cohorts: Sequence[str] | None, as_of: datetime | None,
                     filters: Mapping[str, str | None], group_by: str | None) -> dict[str, Counter[str]]:
        """Funnel measures per group value ('' when not grouped) for leads captured in the ``cohorts`` months
        (None: all). ``as_of`` supports one dimension at a time (a filter, a group_by, or both on the same one);
        the caller folds the facts for anything else (see :class:`FactFold`)."""
        if as_of is not None and self._as_of_guard is not None:
            await self._as_of_guard()
        active = {k: v for k, v in filters.items() if v is not None}
        out: dict[str, Counter[str]] = defaultdict(Counter)
        dims = set(active) | ({group_by} if group_by and group_by != "period" else set())
        async with self._pool.acquire() as conn:
            if as_of is None and not cohorts and group_by != "period":
                if len(dims) <= 1:
                    return await _funnel_all(conn, next(iter(dims), None) or "", active, group_by)
                return await _funnel_all_cross(conn, active, group_by)
            if as_of is None and len(dims) <= 1:
                dim_: str = next(iter(dims), None) or ""
                group_ = "cohort" if group_by == "period" else "dim_value" if group_by else "''"
                for r in await conn.fetch(
                        f"SELECT {group_} AS g, measure, sum(n)::bigint AS n FROM report_funnel_dims "
                        "WHERE dim = $1 AND ($2::text[] IS NULL OR cohort = ANY($2::text[])) "
                        "AND ($3::text IS NULL OR dim_value = $3) GROUP BY 1, 2",
                        dim_, list(cohorts) if cohorts else None, active.get(dim_) if dim_ else None):
                    out[r["g"]][r["measure"]] += r["n"]
                return out
            if as_of is None:
                where = ["($1::text[] IS NULL OR cohort = ANY($1::text[]))"]
                args: list[Any] = [list(cohorts) if cohorts else None]
                for name, wanted in active.items():
                    args.append(wanted)
                    where.append(f"{_column(name)} = ${len(args)}")
                group = "cohort" if group_by == "period" else _column(group_by) if group_by else "''"
                for r in await conn.fetch(
                        f"SELECT {group} AS g, measure, sum(n)::bigint AS n FROM report_funnel_now "
                        f"WHERE {' AND '.join(where)} GROUP BY 1, 2", *args):
                    out[r["g"]][r["measure"]] += r["n"]
                return out
            if len(dims) > 1:
                raise UnsupportedBySummariesError("as_of with more than one funnel dimension")
            dim: str = next(iter(dims), None) or ""
            value: str | None = active.get(dim) if dim else None
            day0, month0 = _day_start(as_of), month_key(as_of)
            group = "cohort" if group_by == "period" else "dim_value" if group_by else "''"
            hour_dim = _column(dim) if dim else "''"  # the hourly rows hold every dimension in its own column
            # The months known before as_of's, one of two ways to the same sums: the monthly rows before it, or
            # the all-time rows (report_funnel_all / _dims: the same differences over every known month) less the
            # monthly rows from its month on — whichever reads fewer months. The monthly rows of a dimension grow
            # with history and, as leads fill their histogram buckets, with leads (100k leads: ~7.5k rows per known
            # month by consultant); the usual `as_of` is recent, where the second way reads a month or two.
            span = await conn.fetchrow("SELECT min(known_month) AS first, max(known_month) AS last "
                                       "FROM report_funnel_monthly WHERE dim = $1", dim)
            later = span["first"] is not None and _fewer_months_from(month0, span["first"], span["last"])
            if later and cohorts is None and group_by != "period":
                months = """SELECT '' AS cohort, dim_value, measure, n FROM report_funnel_all
                            WHERE dim = $1 AND ($4::text IS NULL OR dim_value = $4)
                            UNION ALL
                            SELECT cohort, dim_value, measure, -n FROM report_funnel_monthly
                            WHERE dim = $1 AND known_month >= $2 AND ($4::text IS NULL OR dim_value = $4)"""
            elif later:
                months = """SELECT cohort, dim_value, measure, n FROM report_funnel_dims
                            WHERE dim = $1 AND ($3::text[] IS NULL OR cohort = ANY($3::text[]))
                              AND ($4::text IS NULL OR dim_value = $4)
                            UNION ALL
                            SELECT cohort, dim_value, measure, -n FROM report_funnel_monthly
                            WHERE dim = $1 AND known_month >= $2 AND ($3::text[] IS NULL OR cohort = ANY($3::text[]))
                              AND ($4::text IS NULL OR dim_value = $4)"""
            else:
                months = """SELECT cohort, dim_value, measure, n FROM report_funnel_monthly
                            WHERE dim = $1 AND known_month < $2 AND ($3::text[] IS NULL OR cohort = ANY($3::text[]))
                              AND ($4::text IS NULL OR dim_value = $4)"""
            # One row per group with its measures as two arrays (decoded in C, one Counter update each): by
            # consultant ~9k (group, measure) sums at 100k leads, which a Python step each made ~3 ms.
            rows = await _fetch_planned_for(conn,
                f"""SELECT g, array_agg(measure) AS measures, array_agg(n) AS ns FROM (
                    SELECT {group} AS g, measure, sum(n)::bigint AS n FROM (
                        {months}
                        UNION ALL
                        SELECT cohort, dim_value, measure, n FROM report_funnel_daily
                        WHERE dim = $1 AND known_day >= $5 AND known_day < $6
                          AND ($3::text[] IS NULL OR cohort = ANY($3::text[])) AND ($4::text IS NULL OR dim_value = $4)
                        UNION ALL
                        SELECT cohort, {hour_dim}, measure, n FROM report_funnel_hourly
                        WHERE known_day = $6 AND known_hour < $7
                          AND ($3::text[] IS NULL OR cohort = ANY($3::text[])) AND ($4::text IS NULL OR {hour_dim} = $4)
                    ) x GROUP BY 1, 2) y GROUP BY g""",
                dim, month0, list(cohorts) if cohorts else None, value, _month_first(as_of), day0.date(),
                _hour_of_day(as_of))
            for r in rows:
                out[r["g"]].update(dict(zip(r["measures"], r["ns"], strict=True)))
            partial = await self._partial(conn, as_of, due=False)
        for key, n in partial.items():
            if key[0] != "funnel" or (cohorts and _month(key[1]) not in cohorts):
                continue
            values = key[3:7]
            if dim and value is not None and values[_DIM_INDEX[dim]] != value:
                continue
            g = _month(key[1]) if group_by == "period" else values[_DIM_INDEX[dim]] if group_by else ""
            out[g][key[2]] += int(n)
        return out

    async def activity(self, *, start: date, end: date, as_of: datetime | None,
                       by: Sequence[str] = ("consultant",)) -> Sums:
        """Σ of activity metrics with an activity day in [start, end), as ``(metric, *by values)``."""
        return await self._flows(ACTIVITY_FLOWS, start=start, end=end, as_of=as_of, by=by)

    async def campaign_flows(self, *, start: date, end: date, as_of: datetime | None,
                             by: Sequence[str] = ("channel", "campaign")) -> Sums:
        """Σ of the channel/campaign cost metrics with a day in [start, end), as ``(metric, *by values)``."""
        return await self._flows(CAMPAIGN_FLOWS, start=start, end=end, as_of=as_of, by=by)

    async def _flows(self, flows: Flows, *, start: date, end: date, as_of: datetime | None,
                     by: Sequence[str]) -> Sums:
        """Σ of one kind of day-keyed counters (``flows``: its daily and monthly tables) over [start, end)."""
        if as_of is not None and self._as_of_guard is not None:
            await self._as_of_guard()
        whole_months = start.day == 1 and end.day == 1 and "day" not in by
        months = _months(start, end)

        def select(monthly: bool) -> str:
            return ", ".join(["metric", *(f"{flows.column(b, monthly=monthly)} AS c{i}" for i, b in enumerate(by))])

        group = ", ".join(["metric", *(f"c{i}" for i in range(len(by)))])
        out: Sums = defaultdict(float)
        async with self._pool.acquire() as conn:
            # "Now" leaves out what is known only from a later day on: call-back tasks falling due after today
            # (the projection writes a group's future due moments ahead; see domain.ledger.change_times).
            if as_of is None and whole_months:
                rows = await conn.fetch(
                    f"""SELECT {group}, sum(amount) AS v FROM (
                            SELECT {select(True)}, amount FROM {flows.monthly} WHERE month = ANY($1::text[])
                            UNION ALL
                            SELECT {select(False)}, -amount FROM {flows.daily}
                            WHERE day >= $2 AND day < $3 AND known_day > {_TODAY}
                        ) x GROUP BY {group}""", months, start, end)
            elif as_of is None:
                rows = await conn.fetch(f"SELECT {select(False)}, sum(amount) AS v FROM {flows.daily} "
                                        f"WHERE day >= $1 AND day < $2 AND known_day <= {_TODAY} GROUP BY {group}",
                                        start, end)
            else:
                # Monthly rows known before as_of's month, daily rows known from its first day to the day before,
                # hourly rows of as_of's day before its hour, then as_of's own hour folded (_partial).
                known_from = _month_first(as_of) if whole_months else date(1, 1, 1)
                rows = await conn.fetch(
                    f"""SELECT {group}, sum(amount) AS v FROM (
                            SELECT {select(True) if whole_months else select(False)}, amount
                            FROM {flows.monthly if whole_months else flows.daily}
                            WHERE {'month = ANY($1::text[]) AND known_month < $2' if whole_months
                                   else 'false AND $1::text[] IS NULL AND $2::text IS NULL'}
                            UNION ALL
                            SELECT {select(False)}, amount FROM {flows.daily}
                            WHERE day >= $3 AND day < $4 AND known_day >= $5 AND known_day < $6
                            UNION ALL
                            SELECT {select(False)}, amount FROM {flows.hourly}
                            WHERE known_day = $6 AND known_hour < $7 AND day >= $3 AND day < $4
                        ) x GROUP BY {group}""",
                    months, month_key(as_of), start, end, known_from, _day_start(as_of).date(),
                    _hour_of_day(as_of))
                for key, v in (await self._partial(conn, as_of, due=False)).items():
                    if key[0] == flows.kind and start <= _day(key[1]) < end:
                        out[(key[2], *(flows.value(key, b) for b in by))] += v
        for r in rows:
            out[tuple(r[i] for i in range(len(by) + 1))] += r["v"]
        return {k: v for k, v in out.items() if abs(v) > 1e-9}

    async def campaign_catalogue(self, *, as_of: datetime | None) -> dict[str, CampaignInfo]:
        return await campaign_catalogue(self._pool, as_of)

    async def stock(self, *, as_of: datetime | None, now: datetime) -> Counter[tuple[str, str]]:
        """Open leads per owner: ``(consultant, measure)`` → count."""
        if as_of is not None and self._as_of_guard is not None:
            await self._as_of_guard()
        out: Counter[tuple[str, str]] = Counter()
        async with self._pool.acquire() as conn:
            if as_of is None:
                for r in await conn.fetch("SELECT consultant_id, measure, n FROM report_stock_now WHERE n <> 0"):
                    out[r["consultant_id"], r["measure"]] += r["n"]
                for r in await conn.fetch(
                        """SELECT coalesce(owner_id, '') AS c, count(*) FILTER (WHERE due_at <= $1) AS overdue,
                                  count(*) FILTER (WHERE due_at > $1) AS due_today
                           FROM report_lead_state WHERE status = 'open' AND due_at IS NOT NULL AND due_at <= $2
                           GROUP BY 1""", now, now + DUE_SOON):
                    out[r["c"], "overdue"] += r["overdue"]
                    out[r["c"], "due_today"] += r["due_today"]
            else:
                for r in await conn.fetch(
                        """SELECT consultant_id, measure, sum(n)::bigint AS n FROM (
                               SELECT consultant_id, measure, n FROM report_stock_monthly WHERE known_month < $1
                               UNION ALL SELECT consultant_id, measure, n FROM report_stock_daily
                               WHERE known_day >= $2 AND known_day < $3
                               UNION ALL SELECT consultant_id, measure, n FROM report_stock_hourly
                               WHERE known_day = $3 AND known_hour < $4) x GROUP BY 1, 2""",
                        month_key(as_of), _month_first(as_of), _day_start(as_of).date(), _hour_of_day(as_of)):
                    out[r["consultant_id"], r["measure"]] += r["n"]
                for key, n in (await self._partial(conn, as_of)).items():
                    if key[0] == "stock":
                        out[key[1], key[2]] += int(n)
        return Counter({k: v for k, v in out.items() if v})

    async def _partial(self, conn: Any, as_of: datetime, *, due: bool = True) -> Sums:
        """What changed between the start of ``as_of``'s UTC hour and ``as_of`` (keys without the known hour):
        the groups with a fact, a team move, a due moment (a follow-up overdue, a call-back due) or (``due``: for
        the open-lead stock, the only measures it moves) a follow-up becoming due soon in that window, folded for
        it. The summaries hold everything before that hour (the hourly tables, migration 0009)."""
        start = _hour_start(as_of)
        # The team moves as an array the facts' consultant index is probed with: as a join, the planner priced a
        # parallel sequential scan of report_facts (50k leads: ~15 ms starting workers, for no move at all).
        # A follow-up becomes due soon DUE_SOON before it is due: the groups whose due moment is in the window, and
        # (``due``) those whose due moment is DUE_SOON after it — two ranges as long as the window, not one of a day.
        soon = DUE_SOON if due else timedelta(0)
        groups = [r["group_id"] for r in await conn.fetch(
            """SELECT group_id FROM report_facts WHERE occurred_at >= $1 AND occurred_at <= $2
               UNION SELECT group_id FROM report_facts WHERE due_at >= $1 AND due_at <= $2
               UNION SELECT group_id FROM report_facts WHERE due_at >= $3 AND due_at <= $4
               UNION SELECT group_id FROM report_facts WHERE consultant_id = ANY(ARRAY(
                   SELECT consultant_id FROM report_consultants WHERE at >= $1 AND at <= $2))""",
            start, as_of, start + soon, as_of + soon)]
        if not groups:
            return {}
        rows = await conn.fetch(_FACTS_OF_GROUPS, groups)
        teams = _teams(await conn.fetch("SELECT consultant_id, at, team_id FROM report_consultants"))
        return await asyncio.to_thread(_partial_fold, rows, teams, start, as_of)

    async def consultant_teams(self) -> ConsultantTeams:
        """Every consultant's team history (ConsultantRegistered / ConsultantMovedTeam): the access rules narrow a
        manager's per-consultant report rows to the consultants of their team."""
        async with self._pool.acquire() as conn:
            return _teams(await conn.fetch("SELECT consultant_id, at, team_id FROM report_consultants"))

    async def watermark(self) -> dict[str, Any]:
        async with self._pool.acquire() as conn:
            row = await conn.fetchrow(
                "SELECT last_event_at, last_projected_at, events, batches, current_schema() AS schema "
                "FROM report_progress")
        return {"last_event_at": row["last_event_at"], "last_projected_at": row["last_projected_at"],
                "events": row["events"], "batches": row["batches"], "schema": row["schema"]}

    async def has_processed(self, consumer: str, event_id: str) -> bool:
        async with self._pool.acquire() as conn:
            return bool(await conn.fetchval(
                "SELECT EXISTS (SELECT 1 FROM processed_messages WHERE consumer = $1 AND event_id = $2::uuid)",
                consumer, event_id))


async def _funnel_all(conn: Any, dim: str, active: Mapping[str, str], group_by: str | None
                      ) -> dict[str, Counter[str]]:
    """The funnel of every cohort now, in one dimension (``dim``; '' = none): the rows of ``report_funnel_all``,
    one per value × measure, already summed over the cohorts (migration 0008)."""
    value = active.get(dim) if dim else None
    out: dict[str, Counter[str]] = defaultdict(Counter)
    # A value's measures as two arrays (asyncpg decodes them in C) and a Counter made from them in one call: the
    # funnel by consultant is ~9k rows at 100k leads, and a Python step per row was its second-largest Python cost
    # after building the reports (cProfile, 2026-12-04).
    for r in await conn.fetch("SELECT dim_value, array_agg(measure ORDER BY measure) AS measures, "
                              "array_agg(n ORDER BY measure) AS ns FROM report_funnel_all "
                              "WHERE dim = $1 AND ($2::text IS NULL OR dim_value = $2) AND n <> 0 "
                              "GROUP BY dim_value", dim, value):
        counts = dict(zip(r["measures"], r["ns"], strict=True))
        if group_by:
            out[r["dim_value"]] = Counter(counts)
        else:
            out[""].update(counts)
    return out


async def _funnel_all_cross(conn: Any, active: Mapping[str, str], group_by: str | None) -> dict[str, Counter[str]]:
    """The funnel of every cohort now, filtered and grouped in two dimensions or more: sums of
    ``report_funnel_all_cross`` (all four dimensions per row, summed over the cohorts; migration 0011)."""
    where, args = [], []
    for name, wanted in active.items():
        args.append(wanted)
        where.append(f"{_column(name)} = ${len(args)}")
    group = _column(group_by) if group_by else "''"
    out: dict[str, Counter[str]] = defaultdict(Counter)
    for r in await conn.fetch(f"SELECT {group} AS g, measure, sum(n)::bigint AS n FROM report_funnel_all_cross "
                              f"WHERE {' AND '.join(where) or 'true'} GROUP BY 1, 2 HAVING sum(n) <> 0", *args):
        out[r["g"]][r["measure"]] += r["n"]
    return out


_FACT_COLUMNS = ("event_id, event_type, lead_id, order_id, consultant_id, occurred_at, data, source_recorded_at, "
                 "entity, group_id, due_at")
_FACTS_RECORDSET = f"""SELECT {_FACT_COLUMNS}
    FROM json_to_recordset($1::json) AS r(event_id uuid, event_type text, lead_id text, order_id text,
         consultant_id text, occurred_at timestamptz, data jsonb, source_recorded_at timestamptz, entity text,
         group_id text, due_at timestamptz)"""


async def _insert_facts(tx: Any, located: Sequence[tuple[FactRow, str, list[str]]],
                        groups: Mapping[str, str]) -> set[str]:
    """Store the facts (keyed by event id: a redelivered one is not new); returns the ids that were new."""
    return set(await tx.fetchval(
        f"""WITH ins AS (
               INSERT INTO report_facts ({_FACT_COLUMNS}) {_FACTS_RECORDSET}
               ON CONFLICT (event_id) DO NOTHING RETURNING event_id::text AS id)
           SELECT coalesce(array_agg(id), '{{}}') FROM ins""",
        _facts_json(located, groups)))


def _facts_json(located: Sequence[tuple[FactRow, str, list[str]]], groups: Mapping[str, str]) -> str:
    return orjson.dumps([{
        "event_id": f.event_id, "event_type": f.event_type, "lead_id": f.lead_id, "order_id": f.order_id,
        "consultant_id": f.consultant_id, "occurred_at": f.occurred_at, "data": f.data,
        "source_recorded_at": f.source_recorded_at, "entity": primary, "group_id": groups[primary],
        "due_at": _due_at(f),
    } for f, primary, _ in located]).decode()


def _due_at(f: FactRow) -> Any:
    """The moment a fact's measures change by time passing (the as-of fold of a day looks for them): a
    follow-up's due time, a missed call's call-back due time."""
    if f.event_type == FOLLOW_UP_SCHEDULED:
        return f.data.get("due_at")
    if f.event_type == CALL_RECORDED:
        return f.data.get("call_back_due_at")
    return None


async def _store_contributions(tx: Any, contributed: Mapping[str, bytes | None]) -> None:
    """Each changed group's contributions replace its stored ones (the next batch's "before"); gone groups'
    (merged into another) are deleted."""
    kept = {g: c for g, c in contributed.items() if c is not None}
    gone = [g for g, c in contributed.items() if c is None]
    if kept:
        await tx.execute(
            "INSERT INTO report_group_contributions (group_id, contributions) "
            "SELECT * FROM unnest($1::text[], $2::bytea[]) "
            "ON CONFLICT (group_id) DO UPDATE SET contributions = excluded.contributions",
            list(kept), list(kept.values()))
    if gone:
        await tx.execute("DELETE FROM report_group_contributions WHERE group_id = ANY($1::text[])", gone)


async def _progress(tx: Any, fresh: Sequence[FactRow]) -> None:
    """The read-model watermark (the query cache's key) moves with every batch."""
    await tx.execute(
        "UPDATE report_progress SET events = events + $1, batches = batches + 1, "
        "last_projected_at = clock_timestamp(), last_event_at = greatest(last_event_at, $2::timestamptz) "
        "WHERE id = 1", len(fresh), max((f.occurred_at for f in fresh), default=None))


async def _captures(tx: Any, fresh: Sequence[FactRow]) -> None:
    """The capture row: what the end-to-end benchmark times (source_recorded_at → projected_at)."""
    captures = [f for f in fresh if f.event_type == LEAD_CREATED]
    if captures:
        await tx.execute(
            """INSERT INTO report_leads (lead_id, customer_id, channel, stage, grade, owner_id, captured_at,
                                         source_recorded_at, interest, order_id)
               SELECT lead_id, customer_id, channel, stage, grade, owner_id, captured_at, source_recorded_at,
                      interest, order_id
               FROM json_to_recordset($1::json) AS r(lead_id text, customer_id text, channel text, stage text,
                    grade text, owner_id text, captured_at timestamptz, source_recorded_at timestamptz,
                    interest text, order_id text)
               ON CONFLICT (lead_id) DO NOTHING""",
            orjson.dumps([{**f.data, "source_recorded_at": f.source_recorded_at} for f in captures]).decode())


async def _team_moves(tx: Any, fresh: Sequence[FactRow]) -> None:
    moves = [f for f in fresh if f.event_type in (CONSULTANT_REGISTERED, CONSULTANT_MOVED)]
    if moves:
        await tx.execute(
            "INSERT INTO report_consultants (event_id, consultant_id, at, team_id) "
            "SELECT * FROM unnest($1::uuid[], $2::text[], $3::timestamptz[], $4::text[]) ON CONFLICT DO NOTHING",
            [f.event_id for f in moves], [f.data["consultant_id"] for f in moves], [f.occurred_at for f in moves],
            [str(f.data.get("to_team_id") or f.data.get("team_id") or "") for f in moves])


async def build_summaries(pool: Any, *, chunk: int = 2_000) -> int:
    """After a bulk load: work out every group from the link graph, fold each group once and write the summaries
    and the current-state table with COPY. Returns the number of groups."""
    async with pool.acquire() as conn, conn.transaction():
        # One transaction: a reader (or a crash) sees the old link groups and summaries or the new ones, keyed and
        # indexed, never a part. The rebuild also builds them in a schema no reader uses until it switches to it.
        await conn.execute(f"SELECT {_JIT_OFF}")  # the fetches and sums below are priced high, compiled for nothing
        links = _UnionFind()
        for r in await conn.fetch("SELECT DISTINCT entity FROM report_facts"):
            links.find(r["entity"])
        for r in await conn.fetch("SELECT a, b FROM report_edges"):
            links.union(r["a"], r["b"])
        groups = links.groups()
        await conn.execute("TRUNCATE report_entities")
        await conn.copy_records_to_table("report_entities", records=list(groups.items()),
                                         columns=["entity", "group_id"])
        await conn.execute("UPDATE report_facts f SET group_id = e.group_id FROM report_entities e "
                           "WHERE e.entity = f.entity AND f.group_id IS DISTINCT FROM e.group_id")
        teams = _teams(await conn.fetch("SELECT consultant_id, at, team_id FROM report_consultants"))
        names = sorted(set(groups.values()))
        built = (*SUMMARY_TABLE_NAMES, "report_lead_state", "report_group_contributions")
        await conn.execute(f"TRUNCATE {', '.join(built)}")
        restore = await _drop_indexes(conn, built)
        await _create_raw_tables(conn)
        # A chunk of groups at a time (memory stays flat in the history): while one chunk is folded in a
        # thread, the previous one's rows are copied; PostgreSQL sums them into the tables at the end.
        folded: tuple[RawContributions, list[tuple[Any, ...]], list[tuple[str, bytes]]] | None = None
        for start in range(0, len(names), chunk):
            fetched = await conn.fetch(_FACTS_OF_GROUPS, names[start:start + chunk])
            folding = asyncio.create_task(asyncio.to_thread(_fold_groups, fetched, teams))
            if folded is not None:
                await _copy_raw(conn, *folded)
            folded = await folding
        if folded is not None:
            await _copy_raw(conn, *folded)
        await _sum_raw_tables(conn)
        for statement in restore:
            await conn.execute(statement)
        # Fresh statistics for the reports and for the live path's first batches after a rebuild (the link graph,
        # the facts of a group): after a bulk load the tables have none until autovacuum gets to them. Of the facts
        # only the columns they are looked up by: the jsonb payload's statistics are most of the cost.
        await conn.execute(f"ANALYZE {', '.join(built)}, report_entities, report_edges, "
                           "report_facts (group_id, entity, consultant_id, event_type, occurred_at, due_at)")
        return len(names)


_STATE_COLUMNS = ["lead_id", "group_id", "channel", "product", "captured_at", "owner_id", "team_id", "grade", "stage",
                  "furthest_stage", "status", "due_at", "last_logged_at"]


def _fold_groups(rows: Sequence[Any], teams: ConsultantTeams) -> tuple[RawContributions, list[tuple[Any, ...]],
                                                                      list[tuple[str, bytes]]]:
    facts: dict[str, list[Fact]] = defaultdict(list)
    for r in rows:
        facts[r[5]].append(_fact(r))
    deltas: Sums = {}
    states = []
    stored = []
    for g, group in facts.items():
        folds: Folds = {}
        contributed = contributions(group, teams, folds=folds)
        add_into(deltas, contributed)
        stored.append((g, _encode_contributions(contributed)))
        for s in lead_states(group, teams, folds):
            row = _state_row(g, s)
            states.append(tuple(row[c] for c in _STATE_COLUMNS))
    raw = RawContributions()
    raw.add(deltas)
    return raw, states, stored


def _state_row(group: str, s: Any) -> dict[str, Any]:
    return {"lead_id": s.lead_id, "group_id": group, "channel": s.channel, "product": s.product,
            "captured_at": s.captured_at, "owner_id": s.owner_id, "team_id": s.team_id, "grade": s.grade,
            "stage": s.stage, "furthest_stage": s.furthest_stage, "status": s.status,
            "due_at": s.due_at if s.due_at and (s.last_logged_at is None or s.due_at > s.last_logged_at) else None,
            "last_logged_at": s.last_logged_at}


def _fold_changes(rows: Sequence[Mapping[str, Any]], new_ids: set[str], old: Mapping[str, str],
                  teams_before: ConsultantTeams, teams_after: ConsultantTeams, since_teams: datetime | None,
                  stored: Mapping[str, bytes], late: Mapping[str, _Late] | None = None,
                  ) -> tuple[Sums, list[dict[str, Any]], dict[str, bytes | None]]:
    """The summaries' deltas for the groups in ``rows`` (their facts now) and in ``late`` (their new facts
    measured without their history, :func:`_late_groups`), their leads' current state, and their contributions
    now (None: the group is gone) given ``stored``, their contributions before the batch."""
    after: dict[str, list[Fact]] = defaultdict(list)
    before: dict[str, list[Fact]] = defaultdict(list)
    changed_at: dict[str, datetime] = {}
    for r in rows:
        fact = _fact(r)
        now_in, was_in = r["group_id"], None if r["event_id"] in new_ids else old.get(r["entity"], r["group_id"])
        after[now_in].append(fact)
        if was_in is not None:
            before[was_in].append(fact)
        if was_in != now_in:
            for g in (now_in, was_in):
                if g is not None:
                    changed_at[g] = min(changed_at.get(g, fact.at), fact.at)
    if since_teams is not None:
        for g in after:
            changed_at[g] = min(changed_at.get(g, since_teams), since_teams)
    deltas: Sums = {}
    states: list[dict[str, Any]] = []
    contributed: dict[str, bytes | None] = {}
    for g, (delta, leads) in (late or {}).items():
        add_into(deltas, delta)
        contributed[g] = _add_to_contributions(stored[g], delta)
        states.extend(_state_row(g, s) for s in leads)
    for g, since in changed_at.items():
        now_facts, was_facts = after.get(g, []), before.get(g, [])
        folds: Folds = {}  # the group's folded prefixes, shared by the calls below
        if g in stored or not was_facts:
            # Every change is at or after ``since`` (new facts, facts moved in or out, team moves), so the stored
            # contributions before its day still hold: the group is folded for its days from there on only.
            delta, now = recontribute(now_facts, teams_after, _decode_contributions(stored.get(g)), since, folds)
            add_into(deltas, delta)
        else:
            # A group with facts but no stored contributions (a read model built before they were stored):
            # measured without and with the batch, and its contributions stored from now on.
            previous = measures_before(now_facts, teams_after, since, folds)
            add_into(deltas, contributions(now_facts, teams_after, since=since, previous=previous, folds=folds))
            same_past = (teams_before is teams_after
                         and {f.event_id for f in was_facts} <= {f.event_id for f in now_facts})
            add_into(deltas, contributions(was_facts, teams_before, since=since,
                                           previous=previous if same_past else None, folds=folds), -1)
            now = contributions(now_facts, teams_after, folds=folds)
        contributed[g] = _encode_contributions(now) if now_facts else None
        if now_facts:
            states.extend(_state_row(g, s) for s in lead_states(now_facts, teams_after, folds))
    return {k: v for k, v in deltas.items() if v}, states, contributed


_Late = tuple[Sums, list[LeadState]]
"""A group's new facts measured without its history: the delta to its contributions, its leads' new states."""

# For the groups a batch may only add grades or logged follow-ups to, read before the batch's facts are stored:
# the latest time and due moment of their facts, their stored contributions and the current state of their leads.
# Index lookups per group (OFFSET 0 keeps the planner from flattening the LATERALs): as a join, it hashed a
# sequential scan of every group's contributions (EXPLAIN ANALYZE, 500 groups of 10k leads).
_LATE_STATE = """
    WITH g AS (SELECT group_id, max(occurred_at) AS latest, max(due_at) AS latest_due,
                      array_agg(lead_id) FILTER (WHERE event_type = $2) AS leads
               FROM report_facts WHERE group_id = ANY($1::text[]) GROUP BY group_id)
    SELECT g.group_id AS g, g.latest, g.latest_due, c.contributions, s.lead_id, s.group_id, s.channel, s.product,
           s.captured_at, s.owner_id, s.team_id, s.grade, s.stage, s.furthest_stage, s.status, s.due_at,
           s.last_logged_at
    FROM g
    LEFT JOIN LATERAL (SELECT contributions FROM report_group_contributions c WHERE c.group_id = g.group_id
                       OFFSET 0) c ON true
    LEFT JOIN LATERAL (SELECT * FROM report_lead_state s WHERE s.lead_id = ANY(g.leads) OFFSET 0) s ON true"""

_Found = tuple[datetime, datetime | None, bytes | None, dict[str, LeadState]]
"""A group before the batch: its latest fact time and due moment, stored contributions, its leads' state."""


def _late_fact(f: FactRow, primary: str, mentions: Sequence[str], groups: Mapping[str, str],
               changed: Mapping[str, str], unsettled: set[str]) -> bool:
    """Whether ``f`` may be measured from its lead's state: a grade or logged follow-up of a lead, linking
    nothing, in a group the batch moves nothing in or out of."""
    return (f.event_type in LATE_FACT_TYPES and not mentions and primary == f"lead:{f.data.get('lead_id')}"
            and primary not in changed and groups[primary] not in unsettled
            and f.occurred_at.tzinfo is not None)  # compared with the stored facts' times


def _late_candidates(located: Sequence[tuple[FactRow, str, list[str]]], groups: Mapping[str, str],
                     changed: Mapping[str, str], old: Mapping[str, str]) -> list[str]:
    """The groups all of whose facts in the batch are :func:`_late_fact` (a batch with a team move has none)."""
    unsettled = {*changed.values(), *(old[e] for e in changed if e in old)}
    late: set[str] = set()
    other: set[str] = set()
    for f, primary, mentions in located:
        if f.event_type in (CONSULTANT_REGISTERED, CONSULTANT_MOVED):
            return []
        (late if _late_fact(f, primary, mentions, groups, changed, unsettled) else other).add(groups[primary])
    return sorted(late - other)


async def _late_state(tx: Any, candidates: Sequence[str]) -> dict[str, _Found]:
    found: dict[str, _Found] = {}
    if not candidates:
        return found
    for r in await tx.fetch(_LATE_STATE, candidates, LEAD_CREATED):
        _, _, _, leads = found.setdefault(r["g"], (r["latest"], r["latest_due"], r["contributions"], {}))
        if r["lead_id"] is not None and r["group_id"] == r["g"]:
            leads[r["lead_id"]] = LeadState(
                r["lead_id"], r["channel"], r["product"], r["captured_at"], r["owner_id"], r["team_id"], r["grade"],
                r["stage"], r["furthest_stage"], r["status"], r["due_at"], r["last_logged_at"])
    return found


def _late_groups(located: Sequence[tuple[FactRow, str, list[str]]], new_ids: set[str], groups: Mapping[str, str],
                 found: Mapping[str, _Found], teams: ConsultantTeams) -> dict[str, _Late]:
    """The groups (of ``found``: all the batch's facts in them are :func:`_late_fact`) whose new facts are all
    later than the rest of the group, measured from their leads' current state and stored contributions instead
    of a fold of their history (:func:`domain.ledger.late_lead_facts`)."""
    new: dict[str, dict[str, Fact]] = defaultdict(dict)
    for f, primary, _ in located:
        g = groups[primary]
        if f.event_id in new_ids and g in found:
            new[g][f.event_id] = Fact(f.event_id, f.event_type, f.occurred_at, f.data)
    out: dict[str, _Late] = {}
    for g, facts in new.items():
        latest, latest_due, stored, leads = found[g]
        if latest is None or stored is None:
            continue
        by_lead: dict[str, list[Fact]] = defaultdict(list)
        for fact in facts.values():
            by_lead[fact.data["lead_id"]].append(fact)
        # Every lead's state row holds its owner's team as of the group's latest fact, which the batch moves on.
        until = max(fact.at for fact in facts.values())
        if any(teams.team(s.owner_id, latest) != teams.team(s.owner_id, until) for s in leads.values()):
            continue
        delta: Sums = {}
        states = []
        for lead, lead_facts in by_lead.items():
            measured = late_lead_facts(leads[lead], lead_facts, teams, latest, latest_due) if lead in leads else None
            if measured is None:
                break
            add_into(delta, measured[0])
            states.append(measured[1])
        else:
            out[g] = (delta, states)
    return out


def _add_to_contributions(stored: bytes, delta: Sums) -> bytes:
    """``delta`` added to a group's stored contributions (:func:`_encode_contributions`), kept canonical: a new
    key goes where the sort puts it, a value that reaches zero is dropped, as a fold of the group would leave
    them (the deltas are counts: exact in floats)."""
    keys, values = orjson.loads(stored)
    for key, change in delta.items():
        encoded = orjson.dumps(key)
        i = bisect_left(keys, encoded, key=orjson.dumps)
        if i < len(keys) and orjson.dumps(keys[i]) == encoded:
            value = values[i] + change
            if value:
                values[i] = float(value)
            else:
                del keys[i], values[i]
        else:
            keys.insert(i, list(key))
            values.insert(i, float(change))
    return orjson.dumps([keys, values])


def _encode_contributions(contributions: Sums) -> bytes:
    """A group's contributions as stored (report_group_contributions): ``[[key, …], [value, …]]`` in JSON, two
    arrays orjson writes and reads in C (~8 µs / ~15 µs for a scale-bench group's ~30 keys). A table of the keys'
    repeated strings halved the size but took ~30 µs each way in Python (measured on 2k groups, 2026-12-04).

    Canonical: keys sorted, values as floats. The live fold and the rebuild reach the same sums in different orders
    and with ints or floats, and `salesflow verify` compares this table byte for byte with a recomputation."""
    keys = sorted(contributions, key=orjson.dumps)
    return orjson.dumps([keys, [float(contributions[k]) for k in keys]])


def _decode_contributions(stored: bytes | None) -> Sums:
    if not stored:
        return {}
    keys, values = orjson.loads(stored)
    return dict(zip(map(tuple, keys), values, strict=True))


def _partial_fold(rows: Sequence[Mapping[str, Any]], teams: ConsultantTeams, start: datetime,
                  as_of: datetime) -> Sums:
    facts: dict[str, list[Fact]] = defaultdict(list)
    for r in rows:
        facts[r["group_id"]].append(_fact(r))
    out: Sums = defaultdict(float)
    for group in facts.values():
        for key, v in contributions(group, teams, since=start, until=as_of).items():
            out[key[:-1]] += v
    return out


def _column(dim: str) -> str:
    return {"consultant": "consultant_id", "team": "team_id", "channel": "channel", "product": "product"}[dim]


@dataclass(frozen=True, slots=True)
class Flows:
    """One kind of day-keyed counters: its fold key ``(kind, day, metric, *dimensions)``, its summary tables and
    the column each dimension is in (``day`` and ``month`` come from the day)."""

    kind: str
    daily: str
    monthly: str
    dimensions: tuple[tuple[str, str], ...]  # (dimension, column), in the fold key's order
    hourly: str  # the daily table's rows by known hour (as_of's own day)

    def column(self, dim: str, *, monthly: bool) -> str:
        if dim == "day":
            if monthly:
                raise ValueError("day needs the daily table")
            return "day::text"
        if dim == "month":
            return "month" if monthly else "to_char(day, 'YYYY-MM')"
        return dict(self.dimensions)[dim]

    def value(self, key: tuple[Any, ...], dim: str) -> Any:
        day = key[1]
        if dim in ("day", "month"):
            return day if dim == "day" else day[:7]
        return key[3 + [d for d, _ in self.dimensions].index(dim)]


ACTIVITY_FLOWS = Flows("activity", "report_activity_daily", "report_activity_monthly", (
    ("consultant", "consultant_id"), ("team", "team_id"), ("channel", "channel"), ("product", "product")),
    "report_activity_hourly")
CAMPAIGN_FLOWS = Flows("campaign", "report_campaign_daily", "report_campaign_monthly", (
    ("channel", "channel"), ("campaign", "campaign_id")), "report_campaign_hourly")


def _day_start(moment: datetime) -> datetime:
    m = moment.astimezone(UTC)
    return datetime(m.year, m.month, m.day, tzinfo=UTC)


async def _fetch_planned_for(conn: Any, sql: str, *args: Any) -> list[Any]:
    """``conn.fetch`` planned for its arguments every time. The `as_of` funnel read is a prepared statement whose
    optional filters (``$3 IS NULL OR …``) leave PostgreSQL's generic plan estimating ~100 rows where ~75k come
    (by consultant, 50k leads): after five executions PostgreSQL switched to it, a sort-based GroupAggregate
    (EXPLAIN ANALYZE of the 7th EXECUTE: 108 ms, the custom plan 47–84 ms). A custom plan costs ~1 ms of planning;
    the setting is local to a transaction, so the pooled connection's other users keep theirs."""
    async with conn.transaction():
        await conn.execute("SELECT set_config('plan_cache_mode', 'force_custom_plan', true)")
        return list(await conn.fetch(sql, *args))


def _hour_start(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def _hour_of_day(moment: datetime) -> int:
    """The UTC hour of ``moment``: the hourly rows of its day before it are summed, its own hour is folded."""
    return moment.astimezone(UTC).hour


def _month_first(moment: datetime) -> date:
    m = moment.astimezone(UTC)
    return date(m.year, m.month, 1)


def month_key(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m")


def _fewer_months_from(month: str, first: str, last: str) -> bool:
    """Whether fewer known months are ``month`` or later (up to ``last``) than before it (from ``first``)."""
    later = len(_months(_month_date(month), _next_month(_month_date(last))))
    return later < len(_months(_month_date(first), _month_date(month)))


def _month_date(month: str) -> date:
    return date(int(month[:4]), int(month[5:7]), 1)


def _next_month(first: date) -> date:
    return date(first.year + first.month // 12, first.month % 12 + 1, 1)


def _months(start: date, end: date) -> list[str]:
    out, d = [], date(start.year, start.month, 1)
    while d < end:
        out.append(d.strftime("%Y-%m"))
        d = date(d.year + d.month // 12, d.month % 12 + 1, 1)
    return out


class FactFold:
    """The same read interface as :class:`PostgresSummaries`, computed by folding every raw fact (audits, the
    equivalence test, and the cuts the summaries do not hold). Cost grows with history: not for dashboards."""

    def __init__(self, pool: Any, *, memoize: bool = False) -> None:
        self._pool = pool
        self._memo: dict[Any, Sums] | None = {} if memoize else None  # for a fixed set of facts (tests)

    async def _measures(self, as_of: datetime | None, captured: tuple[datetime, datetime] | None = None
                        ) -> Sums:
        if self._memo is not None:
            if (as_of, captured) not in self._memo:
                self._memo[as_of, captured] = await self._fold(as_of, captured)
            return self._memo[as_of, captured]
        return await self._fold(as_of, captured)

    async def _fold(self, as_of: datetime | None, captured: tuple[datetime, datetime] | None) -> Sums:
        async with self._pool.acquire() as conn:
            if captured is None:
                rows = await conn.fetch("SELECT event_id::text AS event_id, event_type, occurred_at, data, entity, "
                                        "group_id FROM report_facts")
            else:
                rows = await conn.fetch(_FACTS_OF_GROUPS, [r["group_id"] for r in await conn.fetch(
                    "SELECT DISTINCT group_id FROM report_facts WHERE event_type = 'salesflow.leads.LeadCreated' "
                    "AND occurred_at >= $1 AND occurred_at < $2", *captured)])
            teams = _teams(await conn.fetch("SELECT consultant_id, at, team_id FROM report_consultants"))
        moment = as_of or datetime.max.replace(tzinfo=UTC) - timedelta(days=2)
        return await asyncio.to_thread(_fold_all, rows, teams, moment)

    async def funnel(self, *, cohorts: Sequence[str] | None, as_of: datetime | None,
                     filters: Mapping[str, str | None], group_by: str | None,
                     captured: tuple[datetime, datetime] | None = None) -> dict[str, Counter[str]]:
        out: dict[str, Counter[str]] = defaultdict(Counter)
        for key, n in (await self._measures(as_of, captured)).items():
            if key[0] != "funnel":
                continue
            day, measure, values = key[1], key[2], key[3:7]
            if cohorts and _month(day) not in cohorts:
                continue
            if captured and not (captured[0] <= datetime.fromisoformat(day).replace(tzinfo=UTC) < captured[1]):
                continue
            if any(v is not None and values[_DIM_INDEX[d]] != v for d, v in filters.items()):
                continue
            g = _month(day) if group_by == "period" else values[_DIM_INDEX[group_by]] if group_by else ""
            out[g][measure] += int(n)
        return out

    async def activity(self, *, start: date, end: date, as_of: datetime | None,
                       by: Sequence[str] = ("consultant",)) -> Sums:
        return await self._flows(ACTIVITY_FLOWS, start, end, as_of, by)

    async def campaign_flows(self, *, start: date, end: date, as_of: datetime | None,
                             by: Sequence[str] = ("channel", "campaign")) -> Sums:
        return await self._flows(CAMPAIGN_FLOWS, start, end, as_of, by)

    async def _flows(self, flows: Flows, start: date, end: date, as_of: datetime | None,
                     by: Sequence[str]) -> Sums:
        out: Sums = defaultdict(float)
        for key, v in (await self._measures(as_of)).items():
            if key[0] == flows.kind and start <= _day(key[1]) < end:
                out[(key[2], *(flows.value(key, b) for b in by))] += v
        return {k: v for k, v in out.items() if abs(v) > 1e-9}

    async def campaign_catalogue(self, *, as_of: datetime | None) -> dict[str, CampaignInfo]:
        return await campaign_catalogue(self._pool, as_of)

    async def stock(self, *, as_of: datetime | None, now: datetime) -> Counter[tuple[str, str]]:
        out: Counter[tuple[str, str]] = Counter()
        for key, n in (await self._measures(as_of or now)).items():
            if key[0] == "stock":
                out[key[1], key[2]] += int(n)
        return Counter({k: v for k, v in out.items() if v})


async def campaign_catalogue(pool: Any, as_of: datetime | None) -> dict[str, CampaignInfo]:
    """The campaigns (code, name, kind, channel, period, budget) as their facts describe them as of ``as_of``.
    Read from the facts of the two campaign types (index on type and time): they grow with campaigns and their
    edits, not with leads."""
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT event_type, data FROM report_facts WHERE event_type = ANY($1::text[]) "
            "AND ($2::timestamptz IS NULL OR occurred_at <= $2) ORDER BY occurred_at, event_id",
            [CAMPAIGN_CREATED, CAMPAIGN_UPDATED], as_of)
    return catalogue((r["event_type"].rsplit(".", 1)[-1], r["data"]) for r in rows)


def _fold_all(rows: Sequence[Mapping[str, Any]], teams: ConsultantTeams, moment: datetime) -> Sums:
    groups: dict[str, list[Fact]] = defaultdict(list)
    for r in rows:
        groups[r["group_id"]].append(_fact(r))
    out: Sums = {}
    for facts in groups.values():
        add_into(out, measures_at(facts, moment, teams))
    return out
