"""Reporting at scale (issue #12): fill 10k / 100k / 1M leads of realistic history (~10 events per lead over 12
months, 50 consultants in 5 teams) on the run's own topics and database, rebuild the read model from them (the
rebuild's rate next to a bare ``getmany`` of the same topics), then time every report and `as_of` query
(p50/p99, process CPU per request) and the live projection's rate with and without 10 dashboards polling.

The reports are timed in process, through the same query objects the HTTP endpoints call (the HTTP layer's
token check and JSON encoding are not included); the cache per watermark is off while timing single reports, and
on for the polling dashboards, as in the service. Topics and the database are dropped at the end.
"""

from __future__ import annotations

import asyncio
import os
import random
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import asyncpg
import orjson
from aiokafka.admin import AIOKafkaAdminClient

from bench.common import CpuMeter, Stopwatch, is_local_postgres, summary_ms
from bench.pipeline import bare_getmany
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
    finally:
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


async def _time(call: Callable[[], Awaitable[Any]], requests: int) -> dict[str, Any]:
    samples, cpu = [], []
    for _ in range(requests):
        watch, started = Stopwatch(), time.process_time()
        await call()
        samples.append(watch.elapsed)
        cpu.append(time.process_time() - started)
    out = summary_ms(samples)
    out["cpu_ms_per_request"] = round(1000 * sum(cpu) / len(cpu), 2)
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


async def run_size(admin_dsn: str, kafka: KafkaConnection, run_id: str, leads: int, *, requests: int,
                   live_events: int, fresh_database: Callable[[str, str], Awaitable[str]]) -> dict[str, Any]:
    prefix = f"bench{run_id}rep{leads}"
    topics = [f"{prefix}.{s}" for s in ("leads", "orders", "aftersales")]
    dsn = await fresh_database(admin_dsn, f"bench_reporting_{leads}_{run_id}")
    result: dict[str, Any] = {"leads": leads}
    try:
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
        active = ActiveSchemaPool(pool)
        producer = make_producer(kafka, client_id="bench-reporting-dlq")
        await producer.start()
        try:
            dead_letters = DeadLetters(consumer="reporting", producer=producer)
            database_pids = await _database_pids(pool)  # the pool's connections: min_size = max_size
            cpu = _meter(database_pids)
            cpu.start()
            watch = Stopwatch()
            # As the rebuild command does: bulk replay (facts only), then every group folded once.
            replayed = await replay_topics(kafka, topics, build_consumer("reporting", active, dead_letters,
                                                                             bulk=True))
            replay_s = watch.elapsed
            groups = await build_summaries(active)
            seconds = watch.elapsed
            result["rebuild"] = {"records": replayed.records, "seconds": round(seconds, 1),
                                 "replay_s": round(replay_s, 1), "fold_s": round(seconds - replay_s, 1),
                                 "groups": groups, "events_per_s": round(replayed.records / seconds),
                                 **_per_1k(cpu.stop(), replayed.records)}
            consumer = build_consumer("reporting", active, dead_letters)
            print(f"  {leads} leads: {replayed.records} events rebuilt at {result['rebuild']['events_per_s']}/s "
                  f"(bare getmany {result['bare_getmany_per_s']}/s)", flush=True)
            summaries, fold = PostgresSummaries(active), FactFold(active)
            result["reports"] = {}
            for name, call in endpoints(summaries, fold).items():
                result["reports"][name] = await _time(call, requests)
                print(f"    {name}: p50 {result['reports'][name]['p50_ms']} ms, "
                      f"p99 {result['reports'][name]['p99_ms']} ms", flush=True)
            records = live_records(prefix, leads, live_events, seed=1)
            half = len(records) // 2
            result["live_idle"] = await live_rate(consumer, records[:half], 0, summaries, fold, pool)
            result["live_10_dashboards"] = await live_rate(consumer, records[half:], 10, summaries, fold, pool)
            print(f"    live: {result['live_idle']['events_per_s']}/s idle, "
                  f"{result['live_10_dashboards']['events_per_s']}/s with 10 dashboards", flush=True)
            result["table_rows"] = {r["relname"]: r["n"] for r in await pool.fetch(
                "SELECT relname, n_live_tup AS n FROM pg_stat_user_tables WHERE relname LIKE 'report_%' "
                "ORDER BY relname")}
        finally:
            await producer.stop()
            await pool.close()
    finally:
        await delete_topics(kafka, topics)
    return result


async def run(admin_dsn: str, kafka: KafkaConnection, run_id: str, *, smoke: bool, sizes: list[int] | None,
              fresh_database: Callable[[str, str], Awaitable[str]]) -> dict[str, Any]:
    chosen = [300] if smoke else (sizes or [10_000, 100_000, 1_000_000])
    out: dict[str, Any] = {"sizes": [], "load_average_at_start": os.getloadavg(),
                           "note": "2-core machine shared with other engineers' test suites while measured"}
    for leads in chosen:
        out["sizes"].append(await run_size(admin_dsn, kafka, run_id, leads, requests=3 if smoke else REQUESTS,
                                           live_events=400 if smoke else 10_000, fresh_database=fresh_database))
    out["load_average_at_end"] = os.getloadavg()
    return out
