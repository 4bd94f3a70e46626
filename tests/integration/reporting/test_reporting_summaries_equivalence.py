"""The summaries the projection maintains give exactly the reports a fold of the raw facts gives — for generated
dealer histories (every topic, reassignments, shop checkouts linked later, cancellations, team moves) delivered
shuffled across topics, in random batch sizes and partly twice — now and as of generated moments (midnights, hour
boundaries, moments inside an hour, a fact's own moment). Real PostgreSQL, through the idempotent consumer."""

from __future__ import annotations

import random
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from unittest import mock

import asyncpg
import orjson
import pytest
from aiokafka import AIOKafkaProducer
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from services.reporting.adapters import summaries as summaries_module
from services.reporting.adapters.generations import (
    ActiveSchemaPool,
    create_generation,
    create_indexes,
    drop_secondary_indexes,
    generation_pool,
)
from services.reporting.adapters.summaries import (
    SUMMARY_TABLE_NAMES,
    FactFold,
    PostgresSummaries,
    RawContributions,
    build_summaries,
    write_rows,
)
from services.reporting.app.analysis import AfterSalesQuery, MonthlyAnalysisQuery
from services.reporting.app.campaigns import CampaignReportQuery
from services.reporting.app.queries import FunnelQuery, FunnelReportQuery
from services.reporting.app.reports import (
    Activities,
    AttainmentQuery,
    CommissionQuery,
    DailyReportQuery,
    GradeTableQuery,
)
from services.reporting.domain.commission import CommissionPlan, Tier
from services.reporting.domain.ledger import DUE_SOON
from services.reporting.domain.targets import METRICS, TargetLine
from services.reporting.main import MIGRATIONS, build_consumer
from services.reporting.rebuild import ensure_base_tables
from shared.contracts.leads import (
    CallRecordedV1,
    FollowUpLoggedV1,
    FollowUpScheduledV1,
    LeadAssignedV1,
    LeadCreatedV1,
    LeadGradedV1,
)
from shared.db import create_pool
from shared.messaging.consumer import IdempotentConsumer
from shared.messaging.dead_letters import DeadLetters
from shared.messaging.headers import EventHeaders
from tests.support.histories import BASE, CONSULTANTS, Published, as_records, histories
from tests.support.infra import Infra
from tests.support.reporting import drop_database, fresh_reporting_database, reset_read_model
from tests.support.upstream import FakeRecord

pytestmark = pytest.mark.integration

# The reports' clock: after every generated event, including those timed by their headers (publish time).
NOW = datetime.now(UTC) + timedelta(days=1)
MONTHS = ("2026-03", "2026-04", "2026-05")


class _NoProducer(AIOKafkaProducer):  # type: ignore[misc]
    def __init__(self) -> None:  # dead letters are not expected here; sending one would fail loudly
        pass


class MemoryTargets:
    def __init__(self, lines: list[TargetLine]) -> None:
        self._lines = lines

    async def lines(self, *, month: str | None = None, as_of: datetime | None = None) -> list[TargetLine]:
        return [line for line in self._lines if month is None or line.month == month]


TARGETS = MemoryTargets([TargetLine(scope, scope_id, month, metric, 3.0)
                         for month in MONTHS for metric in METRICS
                         for scope, scope_id in (("org", ""), ("team", "t1"), ("team", "t2"),
                                                 *(("consultant", c) for c in CONSULTANTS))])
PLAN = CommissionPlan("p", 1, "2026-01", "revenue", "marginal",
                      (Tier(Decimal(0), Decimal("0.01")), Tier(Decimal(300_000), Decimal("0.03"))))


@pytest.fixture(scope="module")
async def reporting(infra: Infra) -> AsyncIterator[tuple[asyncpg.Pool, IdempotentConsumer]]:
    dsn = await fresh_reporting_database(infra, "equivalence", MIGRATIONS)
    pool = await create_pool(dsn, min_size=1, max_size=4)
    consumer = build_consumer("reporting", ActiveSchemaPool(pool),
                              DeadLetters(consumer="reporting", producer=_NoProducer()))
    yield pool, consumer
    await pool.close()
    await drop_database(infra, dsn)


@pytest.fixture(scope="module")
async def rebuilt(infra: Infra) -> AsyncIterator[tuple[asyncpg.Pool, IdempotentConsumer]]:
    """A second read model, filled the way the rebuild fills one: bulk replay, then every group folded once."""
    dsn = await fresh_reporting_database(infra, "equivalence_bulk", MIGRATIONS)
    pool = await create_pool(dsn, min_size=1, max_size=4)
    consumer = build_consumer("reporting", ActiveSchemaPool(pool),
                              DeadLetters(consumer="reporting", producer=_NoProducer()), bulk=True)
    yield pool, consumer
    await pool.close()
    await drop_database(infra, dsn)


async def summary_rows(pool: asyncpg.Pool) -> dict[str, set[tuple[Any, ...]]]:
    """Every summary table's rows with a non-zero value (a live batch may leave a row at zero), values rounded
    where they are sums of fractions, and the current-state table."""
    out = {}
    for table in (*SUMMARY_TABLE_NAMES, "report_lead_state"):
        rows = await pool.fetch(f"SELECT * FROM {table}")
        out[table] = {tuple(round(v, 6) if isinstance(v, float) else v for v in r.values()) for r in rows
                      if r.get("n", r.get("amount", 1))}
    return out


async def deliver(consumer: IdempotentConsumer, history: list[Published], seed: int,
                  records: list[Any] | None = None) -> None:
    """``history`` delivered shuffled, in random batch sizes, a third of it twice. ``records``: those records
    (as_records of the history) instead of new ones — two read models compared row by row need the same event ids
    and header times (see test_the_rebuild_builds_the_same_summaries_as_the_live_projection)."""
    rng = random.Random(seed)
    records = list(records) if records is not None else as_records(history)
    rng.shuffle(records)  # across topics and within a key: facts carry their own times
    records += rng.sample(records, k=len(records) // 3)  # redeliveries
    rng.shuffle(records)
    start = 0
    while start < len(records):
        size = rng.randint(1, 12)
        result = await consumer.process_batch(records[start:start + size])
        assert result.dead_lettered == 0
        start += size


async def reports(source: Any, watermark: Any, fold: FactFold, as_of: datetime | None) -> dict[str, Any]:
    """Every report reporting serves, computed from ``source``."""
    funnel = FunnelReportQuery(source, fold, watermark)
    activities = Activities(source)
    attainment = AttainmentQuery(activities, TARGETS, lambda: NOW)
    out: dict[str, Any] = {}
    out["funnel"] = await funnel(as_of=as_of)
    out["funnel_march"] = await funnel(period="2026-03", as_of=as_of)
    for group in ("channel", "team", "consultant", "product", "period"):
        out[f"funnel_by_{group}"] = await funnel(as_of=as_of, group_by=group)
    out["funnel_c1"] = await funnel(as_of=as_of, filters={"consultant": "c1"}, group_by="consultant")
    if as_of is None:
        out["funnel_v1"] = await FunnelQuery(source)()
        out["funnel_t1_by_channel"] = await funnel(filters={"team": "t1"}, group_by="channel")
        # All-time funnels in one dimension read report_funnel_all (migration 0008): a filter alone, a filter
        # with its own group, a value nobody has, and the bench's channel filter grouped by another dimension.
        out["funnel_v1_online_shop"] = await FunnelQuery(source)(channel="online_shop")
        out["funnel_t2"] = await funnel(filters={"team": "t2"})
        out["funnel_referral_by_channel"] = await funnel(filters={"channel": "referral"}, group_by="channel")
        out["funnel_nobody"] = await funnel(filters={"consultant": "nobody"})
        out["funnel_online_shop_by_team"] = await funnel(filters={"channel": "online_shop"}, group_by="team")
        # Two dimensions or more read report_funnel_all_cross (migration 0011).
        out["funnel_t1_referral_by_consultant"] = await funnel(filters={"team": "t1", "channel": "referral"},
                                                               group_by="consultant")
        out["funnel_c2_call_center"] = await funnel(filters={"consultant": "c2", "channel": "call_center"})
    for report in out.values():
        report.pop("data_as_of", None)
    for month in MONTHS:
        out[f"attainment_{month}"] = await attainment(month=month, as_of=as_of)
        out[f"commission_{month}"] = await CommissionQuery(activities, TARGETS, [PLAN], "p")(month=month,
                                                                                              as_of=as_of)
        out[f"monthly_{month}"] = await MonthlyAnalysisQuery(source, attainment)(month=month, as_of=as_of)
        out[f"aftersales_{month}"] = await AfterSalesQuery(source)(month=month, as_of=as_of)
    for day in range(0, 60, 3):
        name = (BASE + timedelta(days=day)).strftime("%Y-%m-%d")
        out[f"daily_{name}"] = await DailyReportQuery(source)(day=name, as_of=as_of)
    campaigns = CampaignReportQuery(source)
    out["campaigns"] = await campaigns(as_of=as_of)
    for period in (*MONTHS, "2026-03-09", "2026-04-15"):
        out[f"campaigns_{period}"] = await campaigns(period=period, as_of=as_of)
    out["campaigns_span"] = await campaigns(start=date(2026, 3, 10), end=date(2026, 4, 20), as_of=as_of)
    out["grades"] = await GradeTableQuery(source, lambda: NOW)(as_of=as_of)
    out["aftersales"] = await AfterSalesQuery(source)(as_of=as_of)
    return out


def _after_a_call_back_fell_due(history: list[Published]) -> list[datetime]:
    """A moment just after a missed call's call-back fell due: the as-of fold of that day must count it even when
    the lead had no other fact that day."""
    dues = sorted(p.event.call_back_due_at for p in history
                  if isinstance(p.event, CallRecordedV1) and p.event.call_back_due_at is not None)
    return [dues[-1] + timedelta(minutes=1)] if dues else []


async def _around_a_fact(pool: asyncpg.Pool, seed: int) -> list[datetime]:
    """A stored fact's own moment, the start of its UTC hour and a moment after it in the same hour: the summaries
    hold the hours before T's hour, the fold takes T's hour up to T (a fact at T itself included)."""
    at = await pool.fetchval("SELECT occurred_at FROM report_facts ORDER BY event_id OFFSET $1 LIMIT 1",
                             seed % max(1, await pool.fetchval("SELECT count(*) FROM report_facts")))
    if at is None:
        return []
    hour = at.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    return [at, hour, min(at + timedelta(minutes=7), hour + timedelta(minutes=59, seconds=59))]


@settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck), phases=[Phase.generate])
@given(history=histories(), seed=st.integers(0, 10_000),
       moments=st.lists(st.integers(0, 70 * 24 * 60), min_size=1, max_size=2),
       midnight=st.integers(0, 70), hour=st.integers(0, 70 * 24))
async def test_the_summaries_give_the_same_reports_as_a_fold_of_the_raw_facts_now_and_as_of(
    reporting: tuple[asyncpg.Pool, IdempotentConsumer], history: list[Published], seed: int, moments: list[int],
    midnight: int, hour: int,
) -> None:
    pool, consumer = reporting
    await reset_read_model(pool)
    await deliver(consumer, history, seed)
    active = ActiveSchemaPool(pool)
    summaries, fold = PostgresSummaries(active), FactFold(active, memoize=True)
    for as_of in (None, BASE + timedelta(days=midnight), BASE + timedelta(hours=hour),
                  *(BASE + timedelta(minutes=m) for m in moments), *await _around_a_fact(pool, seed),
                  *_after_a_call_back_fell_due(history)):
        from_summaries = await reports(summaries, summaries.watermark, fold, as_of)
        from_facts = await reports(fold, summaries.watermark, fold, as_of)
        for name in from_summaries:
            assert from_summaries[name] == from_facts[name], (name, as_of)
        # A grouped funnel's totals are its groups' sum (every lead in one group): they must be the ungrouped
        # funnel's, which is read on its own.
        ungrouped = {k: v for k, v in from_summaries["funnel"].items() if k != "filters"}
        for group in ("channel", "team", "consultant", "product", "period"):
            grouped = from_summaries[f"funnel_by_{group}"]
            assert {k: v for k, v in grouped.items() if k not in ("filters", "group_by", "groups")} == ungrouped, (
                group, as_of)


@settings(max_examples=6, deadline=None, suppress_health_check=list(HealthCheck), phases=[Phase.generate])
@given(history=histories(), seed=st.integers(0, 10_000),
       moments=st.lists(st.integers(0, 70 * 24 * 60), min_size=2, max_size=4))
async def test_the_as_of_funnel_reads_the_earlier_months_either_way_to_the_same_measures(
    reporting: tuple[asyncpg.Pool, IdempotentConsumer], history: list[Published], seed: int, moments: list[int],
) -> None:
    # The months known before as_of's are the monthly rows before it, or the all-time rows less the monthly rows
    # from its month on (whichever reads fewer months). The generated histories span a few months, so the moments
    # above rarely pick the second way by themselves: both are forced here and compared, and with the fold.
    pool, consumer = reporting
    await reset_read_model(pool)
    await deliver(consumer, history, seed)
    active = ActiveSchemaPool(pool)
    summaries, fold = PostgresSummaries(active), FactFold(active, memoize=True)
    last = await pool.fetchval("SELECT max(occurred_at) FROM report_facts")
    cuts: list[dict[str, Any]] = [
        {"cohorts": None, "filters": {}, "group_by": None},
        {"cohorts": None, "filters": {}, "group_by": "consultant"},
        {"cohorts": None, "filters": {"channel": "online_shop"}, "group_by": None},
        {"cohorts": None, "filters": {}, "group_by": "period"},
        {"cohorts": ["2026-03"], "filters": {}, "group_by": "team"},
        {"cohorts": ["2026-04"], "filters": {}, "group_by": None},  # the histories capture in March: none
        {"cohorts": ["2026-03", "2026-04"], "filters": {"consultant": "c1"}, "group_by": None}]
    for as_of in (*(BASE + timedelta(minutes=m) for m in moments), *([last] if last else [])):
        for cut in cuts:
            ways = []
            for later in (False, True):
                with mock.patch("services.reporting.adapters.summaries._fewer_months_from", lambda *_, w=later: w):
                    measures = await summaries.funnel(as_of=as_of, **cut)
                ways.append(_nonzero(measures))
            assert ways[0] == ways[1], (cut, as_of)
            assert ways[1] == _nonzero(await fold.funnel(as_of=as_of, captured=None, **cut)), (cut, as_of)


def _nonzero(measures: dict[str, Any]) -> dict[str, dict[str, int]]:
    """Measures without zeros, groups without measures: a count that sums to 0 reads the same as none (the
    reports skip both), and the all-time rows less the later months can leave such sums where the earlier
    months had no row."""
    out = {g: {k: n for k, n in m.items() if n} for g, m in measures.items()}
    return {g: m for g, m in out.items() if m}


def _record(event: Any, key: str, at: datetime, offset: int) -> FakeRecord:
    """A leads record whose header time (the occurrence time of a contract without its own time field) is ``at``."""
    headers = EventHeaders(event_id=uuid.uuid4(), event_type=event.event_type, schema_version=event.schema_version,
                           source="salesflow/leads", subject=key, time=at).encode()
    return FakeRecord(key.encode(), orjson.dumps(event.model_dump(mode="json")), headers, topic="test.leads",
                      offset=offset)


async def test_as_of_counts_a_follow_up_that_becomes_due_soon_or_due_in_an_hour_without_facts(
    reporting: tuple[asyncpg.Pool, IdempotentConsumer],
) -> None:
    # The follow-up is scheduled days ahead, so the hours it becomes due soon (DUE_SOON before) and due in hold no
    # fact of its group: as of a moment in those hours only the due moments put the group into the folded hour.
    pool, consumer = reporting
    await reset_read_model(pool)
    captured = datetime(2026, 3, 2, 9, 10, tzinfo=UTC)
    due = datetime(2026, 3, 6, 15, 20, tzinfo=UTC)
    records = [
        _record(LeadCreatedV1(lead_id="L9", customer_id="cust-L9", name="张三", phone="+8613800000000",
                              channel="call_center", interest="Han", captured_at=captured), "L9", captured, 0),
        _record(LeadAssignedV1(lead_id="L9", owner_id="c1", team_id="t1", reason="manual",
                               assigned_at=captured + timedelta(minutes=1)), "L9", captured, 1),
        _record(FollowUpScheduledV1(lead_id="L9", sequence=1, due_at=due, owner_id="c1"), "L9",
                captured + timedelta(minutes=5), 2),
    ]
    assert (await consumer.process_batch(records)).dead_lettered == 0
    active = ActiveSchemaPool(pool)
    summaries, fold = PostgresSummaries(active), FactFold(active, memoize=True)
    seen = []
    for as_of in (due - DUE_SOON - timedelta(minutes=1), due - DUE_SOON + timedelta(minutes=3),
                  due - timedelta(minutes=1), due + timedelta(minutes=3)):
        from_summaries = await GradeTableQuery(summaries, lambda: NOW)(as_of=as_of)
        assert from_summaries == await GradeTableQuery(fold, lambda: NOW)(as_of=as_of), as_of
        row = from_summaries["consultants"][0]
        seen.append((row["due_today"], row["overdue"]))
    assert seen == [(0, 0), (1, 0), (1, 0), (0, 1)]


async def test_a_lead_with_no_activity_in_the_summaries_shows_everywhere_as_zero(
    reporting: tuple[asyncpg.Pool, IdempotentConsumer],
) -> None:
    pool, _ = reporting
    await reset_read_model(pool)
    summaries = PostgresSummaries(ActiveSchemaPool(pool))
    report = await FunnelReportQuery(summaries, FactFold(ActiveSchemaPool(pool)), summaries.watermark)()
    assert report["total_leads"] == 0
    assert (await DailyReportQuery(summaries)(day="2026-03-02"))["consultants"] == []


@settings(max_examples=6, deadline=None, suppress_health_check=list(HealthCheck), phases=[Phase.generate])
@given(history=histories(), seed=st.integers(0, 10_000))
async def test_the_rebuild_builds_the_same_summaries_as_the_live_projection(
    reporting: tuple[asyncpg.Pool, IdempotentConsumer], rebuilt: tuple[asyncpg.Pool, IdempotentConsumer],
    history: list[Published], seed: int,
) -> None:
    live_pool, live = reporting
    bulk_pool, bulk = rebuilt
    await reset_read_model(live_pool)
    await reset_read_model(bulk_pool)
    # The same records to both: facts without a time field of their own (FollowUpScheduled,
    # AppointmentScheduled) take the header's, which as_records draws from the clock, and ties in time are ordered by
    # event id. Records drawn for each delivery made the two read models differ (a flake) when the two draws
    # straddled an hour — a different known hour in the hourly tables — or when two such facts of one lead shared
    # a microsecond in one draw, ordered by event ids that differ between the draws.
    records = as_records(history)
    await deliver(live, history, seed, records)
    await deliver(bulk, history, seed + 1, records)
    await build_summaries(ActiveSchemaPool(bulk_pool), chunk=3)  # several chunks, as a large rebuild has
    from_live, from_bulk = await summary_rows(live_pool), await summary_rows(bulk_pool)
    assert any(from_live.values())
    for table in from_live:
        assert from_bulk[table] == from_live[table], table
    # The groups' stored contributions (the live path's "before") too: the next live batch starts from them.
    assert await group_contributions(bulk_pool) == await group_contributions(live_pool)


@settings(max_examples=3, deadline=None, suppress_health_check=list(HealthCheck), phases=[Phase.generate])
@given(history=histories(), seed=st.integers(0, 10_000), cut=st.floats(0.2, 0.8))
async def test_groups_without_stored_contributions_are_measured_from_their_facts_and_stored_from_then_on(
    reporting: tuple[asyncpg.Pool, IdempotentConsumer], rebuilt: tuple[asyncpg.Pool, IdempotentConsumer],
    history: list[Published], seed: int, cut: float,
) -> None:
    # A read model filled before the groups' contributions were stored (migration 0010 on a live database):
    # the first batch that touches such a group measures it from its facts, without and with the batch.
    live_pool, live = reporting
    bulk_pool, bulk = rebuilt
    await reset_read_model(live_pool)
    await reset_read_model(bulk_pool)
    records = as_records(history)
    split = int(len(records) * cut)
    await deliver(live, history[:split], seed, records[:split])
    await live_pool.execute("TRUNCATE report_group_contributions")
    await deliver(live, history[split:], seed, records[split:])
    await deliver(bulk, history, seed + 1, records)
    await build_summaries(ActiveSchemaPool(bulk_pool), chunk=3)
    from_live, from_bulk = await summary_rows(live_pool), await summary_rows(bulk_pool)
    for table in from_live:
        assert from_bulk[table] == from_live[table], table


def _late_tail(history: list[Published], picks: list[tuple[int, bool, int, str, int]]) -> list[Published]:
    """Grades and logged follow-ups of the history's leads (and of one it does not know), after every fact of it
    (its header-timed facts are timed now): what a live day mostly brings. The first is a grade of L-late, which
    the test captures with the history."""
    leads = [p.event.lead_id for p in history if isinstance(p.event, LeadCreatedV1)] + ["L-unknown"]
    start = datetime.now(UTC) + timedelta(hours=1)
    out = []
    for n, (lead_index, graded, minutes, grade, doer) in enumerate(picks):
        lead, at = leads[lead_index % len(leads)], start + timedelta(minutes=minutes)
        if n == 0:  # first, a grade of a lead captured before (nobody's, so no team move): it takes the path under test
            lead, at, graded = "L-late", start, True
        logged_by = (None, "c1", "c3", "c-new")[doer]
        event: Any = (LeadGradedV1(lead_id=lead, grade=grade, previous_grade="N", reason="r", graded_at=at)
                      if graded else FollowUpLoggedV1(lead_id=lead, kind="call", outcome="ok", logged_by=logged_by,
                                                      logged_at=at))
        out.append(Published("leads", lead, event))
    return out


def _late_at(p: Published) -> datetime:
    return getattr(p.event, "graded_at", None) or p.event.logged_at


@settings(max_examples=8, deadline=None, suppress_health_check=list(HealthCheck), phases=[Phase.generate])
@given(history=histories(), seed=st.integers(0, 10_000),
       picks=st.lists(st.tuples(st.integers(0, 50), st.booleans(), st.integers(0, 300), st.sampled_from("NHABCX"),
                                st.integers(0, 3)), min_size=1, max_size=40))
async def test_late_grades_and_follow_ups_measured_from_the_stored_state_match_a_fold_and_a_rebuild(
    reporting: tuple[asyncpg.Pool, IdempotentConsumer], rebuilt: tuple[asyncpg.Pool, IdempotentConsumer],
    history: list[Published], seed: int, picks: list[tuple[int, bool, int, str, int]],
) -> None:
    # A group whose new facts are only grades / logged follow-ups later than the rest of it is measured from its
    # leads' state and stored contributions, not folded (summaries._late_groups). After the history: L-late's grade
    # alone; the earliest third shuffled and partly twice (some earlier than what their group already has: folded);
    # the rest in time order in batches of 1-6 (most take the path, several facts of a group in a batch, some in
    # the same hour), last, so that no later fold of their groups rewrites what it stored.
    live_pool, live = reporting
    bulk_pool, bulk = rebuilt
    await reset_read_model(live_pool)
    await reset_read_model(bulk_pool)
    history = [*history, Published("leads", "L-late", LeadCreatedV1(
        lead_id="L-late", customer_id="cust-L-late", name="李四", phone="+8613900000000", channel="walk_in",
        interest="Han", captured_at=BASE + timedelta(days=3)))]
    tail = _late_tail(history, picks)
    records, late = as_records(history), as_records(tail)
    await deliver(live, history, seed, records)
    timed = sorted(zip(late, tail, strict=True), key=lambda rp: _late_at(rp[1]))  # stable: the first stays first
    third = len(timed) // 3
    measured = []
    original = summaries_module._late_groups

    def spy(*args: Any) -> Any:
        out = original(*args)
        measured.append(len(out))
        return out

    rng = random.Random(seed)
    with mock.patch.object(summaries_module, "_late_groups", spy):
        assert (await live.process_batch([late[0]])).dead_lettered == 0
        await deliver(live, [p for _, p in timed[:third]], seed, [r for r, _ in timed[:third]])
        start = third
        while start < len(timed):
            size = rng.randint(1, 6)
            assert (await live.process_batch([r for r, _ in timed[start:start + size]])).dead_lettered == 0
            start += size
    assert measured[0] > 0  # the path under test was taken (L-late's grade)
    await deliver(bulk, history + tail, seed + 1, records + late)
    await build_summaries(ActiveSchemaPool(bulk_pool), chunk=3)
    from_live, from_bulk = await summary_rows(live_pool), await summary_rows(bulk_pool)
    for table in from_live:
        assert from_bulk[table] == from_live[table], table
    assert await group_contributions(bulk_pool) == await group_contributions(live_pool)
    # Added to in place, the stored contributions stay as a fold encodes them (`salesflow verify` compares them
    # byte for byte): keys in canonical order, no zeros.
    for r in await live_pool.fetch("SELECT contributions FROM report_group_contributions"):
        keys, values = orjson.loads(r["contributions"])
        assert keys == sorted(keys, key=orjson.dumps)
        assert all(values)
    active = ActiveSchemaPool(live_pool)
    summaries, fold = PostgresSummaries(active), FactFold(active, memoize=True)
    moment = _late_at(tail[seed % len(tail)])
    for as_of in (None, moment, moment + timedelta(minutes=30), moment.replace(minute=0, second=0, microsecond=0)):
        from_summaries = await reports(summaries, summaries.watermark, fold, as_of)
        from_facts = await reports(fold, summaries.watermark, fold, as_of)
        for name in from_summaries:
            assert from_summaries[name] == from_facts[name], (name, as_of)


async def test_a_late_logged_follow_up_ends_its_overdue_count_without_a_fold_of_the_group(
    reporting: tuple[asyncpg.Pool, IdempotentConsumer], rebuilt: tuple[asyncpg.Pool, IdempotentConsumer],
) -> None:
    # An open lead with a follow-up overdue since the day before: logging it, later than anything of the group,
    # is measured from the lead's state (summaries._late_groups) and ends the overdue count from then on — as
    # a fold of the facts and a rebuild have it.
    live_pool, live = reporting
    bulk_pool, bulk = rebuilt
    await reset_read_model(live_pool)
    await reset_read_model(bulk_pool)
    captured = datetime(2026, 3, 2, 9, 10, tzinfo=UTC)
    due = datetime(2026, 3, 3, 15, 20, tzinfo=UTC)
    logged = datetime(2026, 3, 4, 10, 5, tzinfo=UTC)
    history = [
        _record(LeadCreatedV1(lead_id="L9", customer_id="cust-L9", name="张三", phone="+8613800000000",
                              channel="call_center", interest="Han", captured_at=captured), "L9", captured, 0),
        _record(LeadAssignedV1(lead_id="L9", owner_id="c1", team_id="t1", reason="manual",
                               assigned_at=captured + timedelta(minutes=1)), "L9", captured, 1),
        _record(FollowUpScheduledV1(lead_id="L9", sequence=1, due_at=due, owner_id="c1"), "L9",
                captured + timedelta(minutes=5), 2),
    ]
    late = [_record(FollowUpLoggedV1(lead_id="L9", kind="call", outcome="ok", logged_by="c1", logged_at=logged),
                    "L9", logged, 3)]
    measured = []
    original = summaries_module._late_groups

    def spy(*args: Any) -> Any:
        out = original(*args)
        measured.append(sorted(out))
        return out

    assert (await live.process_batch(history)).dead_lettered == 0
    with mock.patch.object(summaries_module, "_late_groups", spy):
        assert (await live.process_batch(late)).dead_lettered == 0
    assert measured == [["lead:L9"]]
    assert (await bulk.process_batch(history + late)).dead_lettered == 0
    await build_summaries(ActiveSchemaPool(bulk_pool), chunk=3)
    from_live, from_bulk = await summary_rows(live_pool), await summary_rows(bulk_pool)
    for table in from_live:
        assert from_bulk[table] == from_live[table], table
    assert await group_contributions(bulk_pool) == await group_contributions(live_pool)
    active = ActiveSchemaPool(live_pool)
    summaries, fold = PostgresSummaries(active), FactFold(active, memoize=True)
    seen = []
    for as_of in (logged - timedelta(minutes=1), logged, logged + timedelta(minutes=3), logged + timedelta(hours=2)):
        from_summaries = await GradeTableQuery(summaries, lambda: NOW)(as_of=as_of)
        assert from_summaries == await GradeTableQuery(fold, lambda: NOW)(as_of=as_of), as_of
        seen.append(from_summaries["consultants"][0]["overdue"])
    assert seen == [1, 0, 0, 0]


async def group_contributions(pool: asyncpg.Pool) -> dict[str, frozenset[tuple[Any, ...]]]:
    """Every group's stored contributions (JSON ``[[key, …], [value, …]]``), values rounded (sums of fractions),
    zeros left out."""
    out = {}
    for r in await pool.fetch("SELECT group_id, contributions FROM report_group_contributions"):
        keys, values = orjson.loads(r["contributions"])
        out[r["group_id"]] = frozenset((*k, round(v, 6)) for k, v in zip(keys, values, strict=True) if round(v, 6))
    return out


@settings(max_examples=2, deadline=None, suppress_health_check=list(HealthCheck), phases=[Phase.generate])
@given(history=histories(), seed=st.integers(0, 10_000))
async def test_migrations_0008_and_0011_fill_the_all_time_funnels_of_a_read_model_built_before_them(
    reporting: tuple[asyncpg.Pool, IdempotentConsumer], history: list[Published], seed: int,
) -> None:
    # A read model projected before 0008 / 0011 has no report_funnel_all / _cross rows; each migration's INSERT
    # must give the ones the projection maintains (the same sums, from the cohort rows).
    pool, consumer = reporting
    await reset_read_model(pool)
    await deliver(consumer, history, seed)
    # The generated leads are all captured in March: differences for a May cohort under the same dimension values,
    # through the projection's own write path (keyed by the hour they happened in), make every all-time row a sum
    # over two cohorts.
    may = RawContributions()
    may.add({("funnel", "2026-05-10", measure, "c1", "t1", "online_shop", "Model Y", "2026-05-10T09"): 2
             for measure in ("total", "current:new", "reached:new")})
    async with pool.acquire() as conn, conn.transaction():
        await write_rows(conn, may)
    for migration, table in (("0008_funnel_all.sql", "report_funnel_all"),
                             ("0011_funnel_all_cross.sql", "report_funnel_all_cross")):
        maintained = (await summary_rows(pool))[table]
        assert maintained
        script = (MIGRATIONS / migration).read_text()
        backfill = script[script.index(f"INSERT INTO {table} "):]
        await pool.execute(f"TRUNCATE {table}")
        await pool.execute(backfill)
        assert (await summary_rows(pool))[table] == maintained, table


class _FailsBeforeTheKeys:
    """A pool whose connection fails where a summary build puts the tables' keys back: after every summary row
    was inserted into the emptied, unindexed tables — the worst moment for a crash."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = ActiveSchemaPool(pool)

    @asynccontextmanager
    async def acquire(self) -> AsyncIterator[Any]:
        async with self._pool.acquire() as conn:
            yield _FailingConnection(conn)


class _FailingConnection:
    def __init__(self, conn: Any) -> None:
        self._conn = conn

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)

    async def execute(self, query: str, *args: Any) -> Any:
        if query.startswith("ALTER TABLE") and "ADD CONSTRAINT" in query:
            raise RuntimeError("crash before the keys are back")
        return await self._conn.execute(query, *args)


async def _indexes(pool: asyncpg.Pool) -> list[str]:
    return [r["indexdef"] for r in await pool.fetch(
        "SELECT indexdef FROM pg_indexes WHERE tablename = ANY($1::text[]) ORDER BY indexname",
        [*SUMMARY_TABLE_NAMES, "report_lead_state"])]


@settings(max_examples=2, deadline=None, suppress_health_check=list(HealthCheck), phases=[Phase.generate])
@given(history=histories(), seed=st.integers(0, 10_000))
async def test_a_summary_build_that_fails_half_way_leaves_the_previous_summaries_whole_and_can_run_again(
    rebuilt: tuple[asyncpg.Pool, IdempotentConsumer], history: list[Published], seed: int,
) -> None:
    pool, bulk = rebuilt
    await reset_read_model(pool)
    await deliver(bulk, history, seed)
    await build_summaries(ActiveSchemaPool(pool), chunk=3)
    before, keys = await summary_rows(pool), await _indexes(pool)
    assert any(before.values())
    # A primary key each, report_lead_state's due index and the read path's five (migrations 0006, 0007, 0011).
    assert len(keys) == len(SUMMARY_TABLE_NAMES) + 7

    with pytest.raises(RuntimeError, match="crash before the keys"):
        await build_summaries(_FailsBeforeTheKeys(pool), chunk=3)
    assert await summary_rows(pool) == before
    assert await _indexes(pool) == keys

    await build_summaries(ActiveSchemaPool(pool), chunk=3)
    assert await summary_rows(pool) == before
    assert await _indexes(pool) == keys


async def _schema_indexes(pool: asyncpg.Pool, schema: str) -> set[tuple[str, str]]:
    return {(r["indexname"], r["indexdef"]) for r in await pool.fetch(
        "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = $1 AND tablename = ANY($2::text[])",
        schema, [*SUMMARY_TABLE_NAMES, "report_lead_state"])}


async def _facts_indexes(pool: asyncpg.Pool, schema: str) -> set[tuple[str, str]]:
    return {(r["indexname"], r["indexdef"]) for r in await pool.fetch(
        "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = $1 AND tablename = 'report_facts'", schema)}


@settings(max_examples=1, deadline=None, suppress_health_check=list(HealthCheck), phases=[Phase.generate])
@given(history=histories(), seed=st.integers(0, 10_000))
async def test_a_rebuild_keeps_every_index_the_migrations_give_the_summary_tables(
    infra: Infra, history: list[Published], seed: int,
) -> None:
    # The read path's indexes (migration 0006) matter only if a rebuild, which bulk-loads with the indexes
    # dropped, puts every one of them back: the generation's secondary indexes after the replay, the summary
    # tables' keys and indexes inside build_summaries.
    dsn = await fresh_reporting_database(infra, "indexes", MIGRATIONS)
    schema = "reporting_gindexes"
    await ensure_base_tables(dsn)
    await create_generation(dsn, schema, MIGRATIONS)
    pool = await generation_pool(dsn, schema)
    try:
        migrated = await _schema_indexes(pool, schema)
        assert {"report_funnel_daily_known", "report_funnel_monthly_known", "report_funnel_now_channel",
                "report_activity_daily_known", "report_funnel_all_cross_channel"} <= {name for name, _ in migrated}

        facts_migrated = await _facts_indexes(pool, schema)
        assert "report_facts_pkey" in {name for name, _ in facts_migrated}
        # As the rebuild does before its bulk replay (report_facts' key included: the bulk load inserts plainly).
        dropped = await drop_secondary_indexes(dsn, schema, primary_keys_of=("report_facts",))
        assert await _schema_indexes(pool, schema) < migrated
        assert await _facts_indexes(pool, schema) == set()
        bulk = build_consumer("rebuild", pool, DeadLetters(consumer="rebuild", producer=_NoProducer()), bulk=True)
        await deliver(bulk, history, seed)
        await create_indexes(dsn, dropped)
        await build_summaries(pool, chunk=3)

        assert any((await summary_rows(pool)).values())
        assert await _schema_indexes(pool, schema) == migrated
        assert await _facts_indexes(pool, schema) == facts_migrated
    finally:
        await pool.close()
        await drop_database(infra, dsn)
