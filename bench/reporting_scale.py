"""Reporting at scale (issue #12): fill 10k / 100k / 1M leads of realistic history (~10 events per lead over 12
months, 50 consultants in 5 teams) on the run's own topics and database, rebuild the read model from them (the
rebuild's rate next to a bare ``getmany`` of the same topics), then time every report and `as_of` query
(p50/p99, process CPU per request) and the live projection's rate with and without 10 dashboards polling.

The reports are timed in process, through the same query objects the HTTP endpoints call (the HTTP layer's
token check and JSON encoding are not included); the cache per watermark is off while timing single reports, and
on for the polling dashboards, as in the service. Topics and the database are dropped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import resource
import subprocess
import sys
import time
import tracemalloc
import uuid
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
import orjson
from aiokafka.admin import AIOKafkaAdminClient
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from bench.common import CpuMeter, Stopwatch, is_local_postgres, summary_ms
from bench.databases import fresh_database as _fresh_database
from bench.pipeline import bare_getmany
from services.reporting.adapters.exports import to_csv, to_xlsx
from services.reporting.adapters.generations import ActiveSchemaPool
from services.reporting.adapters.summaries import FactFold, PostgresSummaries, build_summaries
from services.reporting.app.analysis import AfterSalesQuery, MonthlyAnalysisQuery
from services.reporting.app.cache import WatermarkCache
from services.reporting.app.queries import FunnelQuery, FunnelReportQuery
from services.reporting.app.reports import (
    Activities,
    AttainmentQuery,
    CommissionQuery,
    DailyReportQuery,
    GradeTableQuery,
)
from services.reporting.domain.commission import CommissionPlan, Tier
from services.reporting.domain.targets import TargetLine
from services.reporting.wiring import MIGRATIONS, build_consumer
from shared.contracts.base import IntegrationEvent
from shared.contracts.leads import (
    AppointmentAttendedV1,
    AppointmentScheduledV1,
    ConsultantRegisteredV1,
    FollowUpLoggedV1,
    FollowUpScheduledV1,
    LeadAssignedV1,
    LeadCreatedV1,
    LeadGradedV1,
    LossApprovedV1,
    StageAdvancedV1,
)
from shared.contracts.orders import (
    ContractSignedV1,
    DeliveredV1,
    OrderLine,
    PaymentReceivedV1,
    QuoteIssuedV1,
    QuoteLine,
)
from shared.db import create_pool
from shared.messaging.connection import KafkaConnection
from shared.messaging.dead_letters import DeadLetters
from shared.messaging.headers import EventHeaders
from shared.messaging.relay import make_producer
from shared.messaging.replay import replay_topics
from shared.messaging.topics import ensure_topics
from shared.migrations import KERNEL_MIGRATIONS, migrate
from shared.settings import KafkaSettings, load_settings

TEAMS = [f"team{t}" for t in range(5)]
CONSULTANTS = {f"c{n:02d}": TEAMS[n % 5] for n in range(50)}
START = datetime(2025, 12, 1, tzinfo=UTC)  # twelve months of history before the bench's "now"
NOW = START + timedelta(days=365)
CHANNELS = ("call_center", "online_shop", "showroom", "referral", "autohome")
PRODUCTS = ("Model Y", "Han", "Seal", "Atto 3", "Dolphin")
REQUESTS = 20  # per report and size (p99 of 20 is the worst but one: reported as such)


class _Record:
    __slots__ = ("headers", "key", "offset", "partition", "topic", "value")

    def __init__(self, topic: str, key: bytes, value: bytes, headers: list[tuple[str, bytes]]) -> None:
        self.topic, self.key, self.value, self.headers, self.partition, self.offset = topic, key, value, headers, 0, 0


def _message(payload: IntegrationEvent, key: str) -> tuple[bytes, bytes, list[tuple[str, bytes]]]:
    now = datetime.now(UTC)
    # A contract without its own time field is timed by the header: as the producer does, the moment it
    # happened (lead_history schedules a follow-up a day before it is due, an appointment two days ahead) —
    # not the bench's wall clock, which would put facts of every history after all the live events.
    at = (payload.due_at - timedelta(days=1) if isinstance(payload, FollowUpScheduledV1) else
          payload.scheduled_for - timedelta(days=2) if isinstance(payload, AppointmentScheduledV1) else now)
    headers = EventHeaders(event_id=uuid.uuid4(), event_type=payload.event_type, schema_version=1,
                           source=f"salesflow/{payload.producer}", subject=key, time=at, recorded_time=now,
                           correlation_id="bench").encode()
    return key.encode(), orjson.dumps(payload.model_dump(mode="json")), headers


def lead_history(n: int, rng: random.Random) -> list[tuple[str, IntegrationEvent, str]]:
    """About ten events of one lead's life, on the topics their producers publish to."""
    lead = f"L{n:07d}"
    owner = f"c{rng.randrange(50):02d}"
    at = START + timedelta(seconds=rng.randrange(365 * 86400 - 40 * 86400))
    out: list[tuple[str, IntegrationEvent, str]] = [
        ("leads", LeadCreatedV1(lead_id=lead, customer_id=f"cu{n}", name="客户", phone="+8613800000000",
                                channel=rng.choice(CHANNELS), interest=rng.choice(PRODUCTS), captured_at=at,
                                referral_id=f"r{n}" if rng.random() < 0.08 else None), lead),
        ("leads", LeadAssignedV1(lead_id=lead, owner_id=owner, team_id=CONSULTANTS[owner], reason="round_robin",
                                 assigned_at=at + timedelta(seconds=2)), lead),
    ]

    def later(hours: float) -> datetime:
        nonlocal at
        at = at + timedelta(hours=rng.uniform(0.5, hours))
        return at

    out.append(("leads", FollowUpScheduledV1(lead_id=lead, sequence=1, due_at=at + timedelta(hours=24),
                                             owner_id=owner), lead))
    out.append(("leads", FollowUpLoggedV1(lead_id=lead, kind="call", outcome="ok", logged_by=owner,
                                          logged_at=later(20)), lead))
    out.append(("leads", StageAdvancedV1(lead_id=lead, from_stage="new", to_stage="contacted", moved_at=at), lead))
    out.append(("leads", LeadGradedV1(lead_id=lead, grade=rng.choice("HABC"), previous_grade="N", reason="r",
                                      graded_at=later(30)), lead))
    if rng.random() < 0.55:
        out.append(("leads", AppointmentScheduledV1(lead_id=lead, appointment_id=f"a{n}", kind="showroom_visit",
                                                    scheduled_for=at + timedelta(days=2), scheduled_by=owner), lead))
        if rng.random() < 0.7:
            out.append(("leads", AppointmentAttendedV1(lead_id=lead, appointment_id=f"a{n}", kind="showroom_visit",
                                                       attended_at=later(60)), lead))
            out.append(("leads", StageAdvancedV1(lead_id=lead, from_stage="contacted", to_stage="visited",
                                                 moved_at=at), lead))
            if rng.random() < 0.5:
                quote = f"q{n}"
                out.append(("orders", QuoteIssuedV1(
                    quote_id=quote, revision=1, lead_id=lead, consultant_id=owner,
                    lines=[QuoteLine(product="Y", quantity=1, unit_price_minor=200_000_00,
                                     line_total_minor=200_000_00)], subtotal_minor=200_000_00,
                    discount_minor=5_000_00, total_minor=195_000_00, currency="CNY",
                    valid_until=at + timedelta(days=7), issued_at=later(48)), quote))
                if rng.random() < 0.6:
                    order = f"o{n}"
                    out.append(("orders", ContractSignedV1(
                        order_id=order, lead_id=lead, consultant_id=owner,
                        lines=[OrderLine(product="Y", quantity=1, unit_price_minor=195_000_00)],
                        total_minor=195_000_00, currency="CNY", payment_plan="deposit_balance",
                        signed_at=later(72), quote_id=quote, subtotal_minor=200_000_00,
                        discount_minor=5_000_00), order))
                    out.append(("orders", PaymentReceivedV1(
                        order_id=order, payment_id=f"p{n}", kind="deposit", amount_minor=5_000_00, currency="CNY",
                        paid_total_minor=5_000_00, received_at=later(2)), order))
                    out.append(("orders", DeliveredV1(order_id=order, lead_id=lead, consultant_id=owner,
                                                      total_minor=195_000_00, currency="CNY",
                                                      delivered_at=later(24 * 20)), order))
                    return out
    if rng.random() < 0.3:
        out.append(("leads", LossApprovedV1(lead_id=lead, reason=rng.choice(("price", "competitor", "no_budget")),
                                            competitor_model=rng.choice((None, "Tesla Model 3")), approved_by="m",
                                            approved_at=later(200)), lead))
    return out


async def fill(kafka: KafkaConnection, prefix: str, leads: int, seed: int) -> int:
    topics = [f"{prefix}.{s}" for s in ("leads", "orders", "aftersales")]
    await ensure_topics(kafka, topics)
    producer = make_producer(kafka, client_id="bench-reporting-fill")
    await producer.start()
    rng = random.Random(seed)
    sent = 0
    bar = _Progress(f"fill {leads:,} leads", leads)
    try:
        for consultant, team in CONSULTANTS.items():
            key, value, headers = _message(ConsultantRegisteredV1(
                consultant_id=consultant, name=consultant, team_id=team, role="consultant",
                registered_at=START - timedelta(days=30)), consultant)
            await producer.send(f"{prefix}.leads", value=value, key=key, headers=headers)
        for start in range(0, leads, 2000):
            acks = []
            for n in range(start, min(leads, start + 2000)):
                for topic, payload, key_ in lead_history(n, rng):
                    key, value, headers = _message(payload, key_)
                    acks.append(await producer.send(f"{prefix}.{topic}", value=value, key=key, headers=headers))
            await asyncio.gather(*acks)
            sent += len(acks)
            bar.update(min(leads, start + 2000), leads)
    finally:
        bar.close()
        await producer.stop()
    return sent + len(CONSULTANTS)


class _Targets:
    def __init__(self) -> None:
        self._lines = [TargetLine(scope, scope_id, (START + timedelta(days=31 * m)).strftime("%Y-%m"), metric, 10.0)
                       for m in range(12) for metric in ("new_leads", "visits", "contracts", "revenue")
                       for scope, scope_id in (("org", ""), *(("team", t) for t in TEAMS),
                                               *(("consultant", c) for c in CONSULTANTS))]

    async def lines(self, *, month: str | None = None, as_of: datetime | None = None) -> list[TargetLine]:
        return [line for line in self._lines if month is None or line.month == month]


class _Progress:
    """A progress bar (rich) on a terminal; on a log file, a line every ~5 % or minute instead of redraws."""

    def __init__(self, label: str, total: int | None) -> None:
        self._label, self._started, self._last = label, time.monotonic(), 0.0
        self._bar: Progress | None = None
        if sys.stdout.isatty():
            self._bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TimeElapsedColumn(), TimeRemainingColumn())
            self._task = self._bar.add_task(label, total=total)
            self._bar.start()
        else:
            print(f"  {label}: started (load {os.getloadavg()[0]:.1f})", flush=True)

    def update(self, done: int, total: int) -> None:
        if self._bar is not None:
            self._bar.update(self._task, completed=done, total=total)
            return
        now = time.monotonic()
        if now - self._last >= 60 or (total and done * 20 // total != (done - 1) * 20 // total) or done == total:
            self._last = now
            rate = done / max(now - self._started, 1e-9)
            print(f"  {self._label}: {done:,}/{total:,} ({rate:,.0f}/s, {now - self._started:,.0f} s, "
                  f"load {os.getloadavg()[0]:.1f})", flush=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()
        else:
            print(f"  {self._label}: done in {time.monotonic() - self._started:,.0f} s "
                  f"(load {os.getloadavg()[0]:.1f})", flush=True)

    def __enter__(self) -> _Progress:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def _commit() -> str:
    """The commit the measured code is at (with "+dirty" when the worktree differs from it)."""
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], capture_output=True, text=True, cwd=Path(__file__).parent.parent,
                              check=False).stdout.strip()
    return git("rev-parse", "--short", "HEAD") + ("+dirty" if git("status", "--porcelain", "--", "services",
                                                                   "shared", "bench") else "")


# The report tables the API exports (services/reporting/api.py): name, the call, the rows' key, the columns.
def _exports(summaries: PostgresSummaries, fold: FactFold) -> list[tuple[str, Callable[[], Awaitable[Any]], str,
                                                                        list[str]]]:
    calls = endpoints(summaries, fold)
    return [
        ("funnel", calls["funnel group_by=consultant"], "stages",
         ["stage", "entered", "reached", "current", "conversion_from_previous", "median_hours_in_stage",
          "p90_hours_in_stage"]),
        ("grades", calls["grades"], "consultants",
         ["consultant_id", "N", "H", "A", "B", "C", "open", "due_today", "overdue", "on_time_follow_up_rate"]),
        ("daily", calls["daily"], "consultants", []),
        ("monthly kpis_by_consultant", calls["monthly"], "kpis_by_consultant", []),
    ]


async def export_memory(summaries: PostgresSummaries, fold: FactFold) -> dict[str, Any]:
    """The API's CSV and XLSX exports of the report tables at this size: rows, bytes, and the peak of Python
    memory allocated while writing them (tracemalloc; the report itself is computed before, as the API does)."""
    out: dict[str, Any] = {}
    for name, call, key, columns in _exports(summaries, fold):
        report = await call()
        rows = report[key]
        columns = columns or sorted({c for row in rows for c in row})
        for fmt in ("csv", "xlsx"):
            tracemalloc.start()
            size = _write_export(rows, columns, name, fmt)
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            out[f"{name} {fmt}"] = {"rows": len(rows), "bytes": size, "peak_alloc_kib": round(peak / 1024)}
    return out


def _write_export(rows: Iterable[dict[str, Any]], columns: list[str], name: str, fmt: str) -> int:
    """Write an export as the API does and return its size in bytes (the XLSX file is deleted after)."""
    if fmt == "csv":
        return sum(len(chunk) for chunk in to_csv(rows, columns))
    path = to_xlsx(rows, columns, title=name)
    try:
        return os.path.getsize(path)
    finally:
        os.unlink(path)


def _synthetic_rows(count: int) -> Iterator[dict[str, Any]]:
    """Rows shaped like the daily report's (a consultant id, counts, rates), made one at a time."""
    for n in range(count):
        yield {"consultant_id": f"c{n % 50:02d}", "day": "2026-11-14", "new_leads": n % 97, "visits": n % 31,
               "contracts": n % 7, "revenue": n * 1000, "conversion": (n % 7) / 31, "satisfaction": 0.875,
               "channel": "online_shop", "name": "客户"}


def export_rss(rows: int, fmt: str) -> dict[str, Any]:
    """Peak RSS of this process after writing ``rows`` synthetic rows through the export writer (run in a fresh
    process per size, so the peak is the export's)."""
    columns = list(next(_synthetic_rows(1)))
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    size = _write_export(_synthetic_rows(rows), columns, "synthetic", fmt)
    return {"rows": rows, "format": fmt, "bytes": size, "seconds": round(time.perf_counter() - started, 2),
            "max_rss_kib_before": before, "max_rss_kib_after": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}


def export_rss_scaling(sizes: Sequence[int] = (0, 10_000, 100_000, 1_000_000),
                       xlsx_sizes: Sequence[int] = (0, 10_000, 100_000)) -> list[dict[str, Any]]:
    """Memory flat in the size of the export? One fresh process per format and row count."""
    out = []
    for fmt, counts in (("csv", sizes), ("xlsx", xlsx_sizes)):
        for rows in counts:
            done = subprocess.run([sys.executable, "-m", "bench.reporting_scale", "export-rss", "--rows", str(rows),
                                   "--format", fmt], capture_output=True, text=True, check=True,
                                  cwd=Path(__file__).parent.parent)
            out.append(json.loads(done.stdout.strip().splitlines()[-1]))
            print(f"    export {fmt} {rows:,} rows: {out[-1]}", flush=True)
    return out


def _meter(database_pids: list[int]) -> CpuMeter:
    """CPU of the bench process (projection, folds, queries) and of this run's PostgreSQL backends: per 1k events
    it is far less sensitive to the shared machine's load than a rate."""
    return CpuMeter({"bench_process": [os.getpid()], "postgres": lambda: database_pids})


async def _database_pids(pool: Any) -> list[int]:
    return [r["pid"] for r in await pool.fetch(
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database()") if is_local_postgres(r["pid"])]


def _per_1k(used: dict[str, float], events: int) -> dict[str, float]:
    return {f"{name}_cpu_ms_per_1k": round(1e6 * used.get(name, 0.0) / max(events, 1), 1)
            for name in ("bench_process", "postgres")}


async def _time(call: Callable[[], Awaitable[Any]], requests: int, *, database_pids: list[int] | None = None,
                budget_s: float | None = None) -> dict[str, Any]:
    """p50/p99 of ``requests`` calls and the bench process's CPU per request; with ``database_pids``, the CPU of
    those PostgreSQL backends per request too. ``budget_s`` stops early (after at least 3 calls) when the calls
    have taken that long: at 1M leads a slow ``as_of`` would otherwise hold the bench lock for half an hour."""
    samples, cpu = [], []
    meter = CpuMeter({"postgres": database_pids}) if database_pids else None
    if meter is not None:
        meter.start()
    for _ in range(requests):
        watch, started = Stopwatch(), time.process_time()
        await call()
        samples.append(watch.elapsed)
        cpu.append(time.process_time() - started)
        if budget_s is not None and len(samples) >= 3 and sum(samples) > budget_s:
            break
    out = summary_ms(samples)
    out["cpu_ms_per_request"] = round(1000 * sum(cpu) / len(cpu), 2)
    if meter is not None:
        out["postgres_cpu_ms_per_request"] = round(1000 * meter.stop().get("postgres", 0.0) / len(samples), 2)
    return out


def endpoints(summaries: PostgresSummaries, fold: FactFold) -> dict[str, Callable[[], Awaitable[Any]]]:
    targets = _Targets()
    activities = Activities(summaries)
    attainment = AttainmentQuery(activities, targets, lambda: NOW)
    plan = CommissionPlan("p", 1, "2025-01", "revenue", "marginal",
                          (Tier(Decimal(0), Decimal("0.01")), Tier(Decimal(1_000_000_00), Decimal("0.02"))))
    funnel = FunnelReportQuery(summaries, fold, summaries.watermark)
    grades = GradeTableQuery(summaries, lambda: NOW)
    month = (NOW - timedelta(days=20)).strftime("%Y-%m")
    day = (NOW - timedelta(days=20)).strftime("%Y-%m-%d")
    mid_day = NOW - timedelta(days=45, hours=9, minutes=17)
    midnight = (NOW - timedelta(days=45)).replace(hour=0, minute=0, second=0, microsecond=0)

    async def dashboard() -> None:
        await asyncio.gather(funnel(), attainment(month=month), grades())

    return {
        "GET /v1/funnel": lambda: FunnelQuery(summaries)(),
        "GET /v1/reports/funnel": lambda: funnel(),
        "funnel period=month": lambda: funnel(period=month),
        "funnel group_by=consultant": lambda: funnel(group_by="consultant"),
        "funnel channel filter + group_by=team": lambda: funnel(filters={"channel": "online_shop"},
                                                                group_by="team"),
        "attainment": lambda: attainment(month=month),
        "commission": lambda: CommissionQuery(activities, targets, [plan], "p")(month=month),
        "grades": lambda: grades(),
        "daily": lambda: DailyReportQuery(summaries)(day=day),
        "monthly": lambda: MonthlyAnalysisQuery(summaries, attainment)(month=month),
        "aftersales": lambda: AfterSalesQuery(summaries)(month=month),
        "dashboard refresh (3 calls)": dashboard,
        "as_of funnel (midnight)": lambda: funnel(as_of=midnight),
        "as_of funnel (inside a day)": lambda: funnel(as_of=mid_day),
        "as_of funnel group_by=consultant (inside a day)": lambda: funnel(as_of=mid_day, group_by="consultant"),
        "as_of attainment (inside a day)": lambda: attainment(month=mid_day.strftime("%Y-%m"), as_of=mid_day),
        "as_of daily (inside a day)": lambda: DailyReportQuery(summaries)(day=mid_day.strftime("%Y-%m-%d"),
                                                                          as_of=mid_day),
        "as_of grades (inside a day)": lambda: grades(as_of=mid_day),
        "as_of monthly (midnight)": lambda: MonthlyAnalysisQuery(summaries, attainment)(
            month=midnight.strftime("%Y-%m"), as_of=midnight),
    }


def live_records(prefix: str, leads: int, count: int, seed: int) -> list[_Record]:
    """New events for existing leads, as they arrive live: follow-ups logged and stage moves, 'today'."""
    rng = random.Random(seed)
    out = []
    at = NOW - timedelta(hours=6)
    for i in range(count):
        lead = f"L{rng.randrange(leads):07d}"
        owner = f"c{rng.randrange(50):02d}"
        at += timedelta(milliseconds=200)
        payload: IntegrationEvent = (FollowUpLoggedV1(lead_id=lead, kind="call", outcome="ok", logged_by=owner,
                                                      logged_at=at) if i % 2 else
                                     LeadGradedV1(lead_id=lead, grade=rng.choice("HABC"), previous_grade="N",
                                                  reason="r", graded_at=at))
        key, value, headers = _message(payload, lead)
        out.append(_Record(f"{prefix}.leads", key, value, headers))
    return out


async def live_rate(consumer: Any, records: list[_Record], dashboards: int, summaries: PostgresSummaries,
                    fold: FactFold, pool: Any) -> dict[str, Any]:
    cache = WatermarkCache(summaries.watermark)
    calls = endpoints(summaries, fold)
    done = asyncio.Event()
    polls = 0

    async def poll() -> None:
        nonlocal polls
        while not done.is_set():
            await asyncio.gather(
                cache.get("funnel", calls["GET /v1/reports/funnel"]), cache.get("attainment", calls["attainment"]),
                cache.get("grades", calls["grades"]))
            polls += 1
            await asyncio.sleep(2.0)  # the dashboard refreshes every 2 s

    pollers = [asyncio.create_task(poll()) for _ in range(dashboards)]
    database_pids = await _database_pids(pool)
    cpu = _meter(database_pids)
    cpu.start()
    watch = Stopwatch()
    for start in range(0, len(records), 500):
        await consumer.process_batch(records[start:start + 500])
    seconds = watch.elapsed
    used = cpu.stop()  # with the dashboards' report computations, which run in the same process
    done.set()
    await asyncio.gather(*pollers)
    return {"events": len(records), "seconds": round(seconds, 2), "events_per_s": round(len(records) / seconds),
            "dashboards": dashboards, "dashboard_refreshes": polls, "report_computations": cache.computations,
            **_per_1k(used, len(records))}


async def delete_topics(kafka: KafkaConnection, topics: list[str]) -> None:
    admin = AIOKafkaAdminClient(**kafka.client_options())
    await admin.start()
    try:
        await admin.delete_topics(topics)
    except Exception as exc:
        print(f"could not delete topics {topics}: {exc}", flush=True)
    finally:
        await admin.close()


def _names(run_id: str, leads: int) -> tuple[str, list[str], str]:
    """The run's topic prefix, its topics and its database name (the run id is in all, so they can be found)."""
    prefix = f"bench{run_id}rep{leads}"
    return prefix, [f"{prefix}.{s}" for s in ("leads", "orders", "aftersales")], f"bench_reporting_{leads}_{run_id}"


async def prepare(admin_dsn: str, kafka: KafkaConnection, run_id: str, leads: int, *,
                  fresh_database: Callable[[str, str], Awaitable[str]]) -> dict[str, Any]:
    """Fill the run's topics and rebuild its database from them (the long part: tens of minutes at 1M leads).
    Returns the result so far, with what ``measure`` needs to find the topics and database again."""
    prefix, topics, database = _names(run_id, leads)
    dsn = await fresh_database(admin_dsn, database)
    result: dict[str, Any] = {"leads": leads, "run_id": run_id, "prefix": prefix, "database": database,
                              "prepared_on_commit": _commit(), "load_average_before_fill": os.getloadavg()}
    watch = Stopwatch()
    result["events"] = await fill(kafka, prefix, leads, seed=leads)
    result["fill_s"] = round(watch.elapsed, 1)
    watch = Stopwatch()
    bare = await bare_getmany(kafka, topics, max_records=5000)
    result["bare_getmany_per_s"] = round(bare / watch.elapsed)
    conn = await asyncpg.connect(dsn)
    await migrate(conn, [("kernel", KERNEL_MIGRATIONS), ("reporting", MIGRATIONS)])
    await conn.close()
    pool = await create_pool(dsn, min_size=8, max_size=8)
    producer = make_producer(kafka, client_id="bench-reporting-dlq")
    await producer.start()
    try:
        active = ActiveSchemaPool(pool)
        dead_letters = DeadLetters(consumer="reporting", producer=producer)
        database_pids = await _database_pids(pool)  # the pool's connections: min_size = max_size
        cpu = _meter(database_pids)
        result["load_average_before_rebuild"] = os.getloadavg()
        cpu.start()
        watch = Stopwatch()
        # As the rebuild command does: bulk replay (facts only), then every group folded once.
        with _Progress(f"rebuild {leads:,} leads: replay", None) as bar:
            replayed = await replay_topics(kafka, topics, build_consumer("reporting", active, dead_letters,
                                                                         bulk=True), progress=bar.update)
        replay_s = watch.elapsed
        with _Progress(f"rebuild {leads:,} leads: build_summaries", None):
            groups = await build_summaries(active)
        seconds = watch.elapsed
        result["rebuild"] = {"records": replayed.records, "seconds": round(seconds, 1),
                             "replay_s": round(replay_s, 1), "fold_s": round(seconds - replay_s, 1),
                             "groups": groups, "events_per_s": round(replayed.records / seconds),
                             **_per_1k(cpu.stop(), replayed.records)}
        result["load_average_after_rebuild"] = os.getloadavg()
        result["database_bytes"] = await pool.fetchval("SELECT pg_database_size(current_database())")
    finally:
        await producer.stop()
        await pool.close()
    print(f"  {leads} leads: {result['rebuild']['records']} events rebuilt at {result['rebuild']['events_per_s']}/s "
          f"(bare getmany {result['bare_getmany_per_s']}/s)", flush=True)
    return result


PHASES = ("reports", "as_of", "live", "exports")


async def measure(dsn: str, kafka: KafkaConnection, result: dict[str, Any], *, phases: Sequence[str] = PHASES,
                  requests: int, live_events: int, budget_s: float | None = None) -> None:
    """The timed part, on a prepared database: adds to ``result`` in place, a phase at a time (each phase can run
    under its own hold of the bench lock). The live phase adds ``live_events`` events to the read model."""
    leads, prefix = result["leads"], result["prefix"]
    pool = await create_pool(dsn, min_size=8, max_size=8)
    producer = make_producer(kafka, client_id="bench-reporting-dlq")
    await producer.start()
    try:
        active = ActiveSchemaPool(pool)
        summaries, fold = PostgresSummaries(active), FactFold(active)
        database_pids = await _database_pids(pool)
        for phase in phases:
            started = {"load_average_at_start": os.getloadavg(), "commit": _commit(),
                       "started_at": datetime.now(UTC).isoformat(timespec="seconds")}
            if phase in ("reports", "as_of"):
                timed = result.setdefault("reports", {})
                for name, call in endpoints(summaries, fold).items():
                    if name.startswith("as_of") != (phase == "as_of"):
                        continue
                    timed[name] = await _time(call, requests, database_pids=database_pids, budget_s=budget_s)
                    print(f"    {name}: p50 {timed[name]['p50_ms']} ms, p99 {timed[name]['p99_ms']} ms, CPU "
                          f"{timed[name]['cpu_ms_per_request']} + {timed[name]['postgres_cpu_ms_per_request']} ms "
                          f"(load {os.getloadavg()[0]:.1f})", flush=True)
            elif phase == "live":
                consumer = build_consumer("reporting", active, DeadLetters(consumer="reporting", producer=producer))
                # A different seed each time the phase runs on a kept database: new events, not duplicates.
                runs = result.get("live_runs", 0)
                records = live_records(prefix, leads, live_events, seed=1 + runs)
                half = len(records) // 2
                result["live_idle"] = await live_rate(consumer, records[:half], 0, summaries, fold, pool)
                result["live_10_dashboards"] = await live_rate(consumer, records[half:], 10, summaries, fold, pool)
                result["live_runs"] = runs + 1
                print(f"    live: {result['live_idle']['events_per_s']}/s idle, "
                      f"{result['live_10_dashboards']['events_per_s']}/s with 10 dashboards", flush=True)
            elif phase == "exports":
                result["exports"] = await export_memory(summaries, fold)
                print(f"    exports: {result['exports']}", flush=True)
            else:
                raise ValueError(f"unknown phase {phase!r}: one of {PHASES}")
            result.setdefault("phases", {})[phase] = {**started, "load_average_at_end": os.getloadavg()}
        result["table_rows"] = {r["relname"]: r["n"] for r in await pool.fetch(
            "SELECT relname, n_live_tup AS n FROM pg_stat_user_tables WHERE relname LIKE 'report_%' "
            "ORDER BY relname")}
    finally:
        await producer.stop()
        await pool.close()


async def drop(admin_dsn: str, kafka: KafkaConnection, run_id: str, leads: int) -> None:
    _, topics, database = _names(run_id, leads)
    await delete_topics(kafka, topics)
    conn = await asyncpg.connect(admin_dsn)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
    finally:
        await conn.close()


async def run_size(admin_dsn: str, kafka: KafkaConnection, run_id: str, leads: int, *, requests: int,
                   live_events: int, fresh_database: Callable[[str, str], Awaitable[str]]) -> dict[str, Any]:
    """Prepare, measure every phase, drop: the whole size in one go (``make bench``, ``make bench-smoke``)."""
    try:
        result = await prepare(admin_dsn, kafka, run_id, leads, fresh_database=fresh_database)
        await measure(admin_dsn.rsplit("/", 1)[0] + "/" + result["database"], kafka, result, requests=requests,
                      live_events=live_events)
    finally:
        await drop(admin_dsn, kafka, run_id, leads)
    return result


async def run(admin_dsn: str, kafka: KafkaConnection, run_id: str, *, smoke: bool, sizes: list[int] | None,
              fresh_database: Callable[[str, str], Awaitable[str]]) -> dict[str, Any]:
    chosen = [300] if smoke else (sizes or [10_000, 100_000, 1_000_000])
    out: dict[str, Any] = {"sizes": [], "load_average_at_start": os.getloadavg(),
                           "note": "2-core machine shared with other engineers' test suites while measured"}
    for leads in chosen:
        out["sizes"].append(await run_size(admin_dsn, kafka, run_id, leads, requests=3 if smoke else REQUESTS,
                                           live_events=400 if smoke else 10_000, fresh_database=fresh_database))
    # Memory flat in the size of an export: the writers at growing row counts, a fresh process each.
    out["exports"] = {"load_average_at_start": os.getloadavg(), "commit": _commit(),
                      "runs": await asyncio.to_thread(export_rss_scaling, *(((0, 1000), (0, 1000)) if smoke else ())),
                      "load_average_at_end": os.getloadavg()}
    out["load_average_at_end"] = os.getloadavg()
    return out


def _save(path: Path, result: dict[str, Any]) -> None:
    path.write_text(json.dumps(result, indent=2, ensure_ascii=False, default=str) + "\n")


async def _main(args: argparse.Namespace, path: Path, result: dict[str, Any] | None) -> None:
    admin = os.environ["SALESFLOW_PG_ADMIN_DSN"]
    kafka = load_settings(KafkaSettings).connection
    if result is None:  # prepare
        result = await prepare(admin, kafka, args.run_id, args.leads, fresh_database=_fresh_database)
        _save(path, result)
        print(f"kept {result['database']} and topics {result['prefix']}.*: {path}", flush=True)
        return
    if args.step == "drop":
        await drop(admin, kafka, result["run_id"], result["leads"])
        result["dropped_at"] = datetime.now(UTC).isoformat(timespec="seconds")
        _save(path, result)
        return
    dsn = admin.rsplit("/", 1)[0] + "/" + result["database"]
    for phase in args.phases.split(","):  # saved after each, so an interrupted run keeps what it measured
        await measure(dsn, kafka, result, phases=[phase], requests=args.requests, live_events=args.live_events,
                      budget_s=args.budget_s)
        _save(path, result)


def main() -> None:
    """Run a size in steps, keeping its topics and database between them (the 1M fill and rebuild take tens of
    minutes: run them outside the bench lock, and only the timed phases under it)::

        python -m bench.reporting_scale prepare --leads 1000000 --run-id scale1m1 --state S.json
        flock /work/coord/bench.lock python -m bench.reporting_scale measure --state S.json --phases reports
        flock /work/coord/bench.lock python -m bench.reporting_scale measure --state S.json --phases as_of
        python -m bench.reporting_scale drop --state S.json
        python -m bench.reporting_scale exports-scaling --state E.json
        python -m bench.reporting_scale render S10k.json S100k.json S1M.json [--exports E.json]
    """
    parser = argparse.ArgumentParser(description=main.__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("step", choices=("prepare", "measure", "drop", "export-rss", "exports-scaling", "render"))
    parser.add_argument("files", nargs="*", help="render: the sizes' state files, in order")
    parser.add_argument("--state", help="the size's JSON: written by prepare, added to by measure")
    parser.add_argument("--leads", type=int, default=10_000)
    parser.add_argument("--run-id", default=f"sc{uuid.uuid4().hex[:6]}")
    parser.add_argument("--phases", default=",".join(PHASES))
    parser.add_argument("--requests", type=int, default=REQUESTS)
    parser.add_argument("--budget-s", type=float, default=60.0, help="per endpoint: stop after this long (≥ 3 calls)")
    parser.add_argument("--live-events", type=int, default=10_000)
    parser.add_argument("--rows", type=int, default=0)
    parser.add_argument("--format", default="csv")
    parser.add_argument("--exports", help="render: the exports-scaling JSON")
    args = parser.parse_args()
    if args.step == "export-rss":
        print(json.dumps(export_rss(args.rows, args.format)))
    elif args.step == "exports-scaling":
        scaling = {"load_average_at_start": os.getloadavg(), "commit": _commit(), "runs": export_rss_scaling(),
                   "load_average_at_end": os.getloadavg()}
        _save(Path(args.state), scaling)
    elif args.step == "render":
        from bench.report import reporting_section
        sizes = [json.loads(Path(f).read_text()) for f in args.files]
        exports = json.loads(Path(args.exports).read_text()) if args.exports else None
        print("\n".join(reporting_section({"sizes": sizes, "note": "see each size's phases", "exports": exports,
                                           "load_average_at_start": sizes[0].get("load_average_before_fill"),
                                           "load_average_at_end": os.getloadavg()})))
    else:
        path = Path(args.state)
        asyncio.run(_main(args, path, None if args.step == "prepare" else json.loads(path.read_text())))


if __name__ == "__main__":
    main()
