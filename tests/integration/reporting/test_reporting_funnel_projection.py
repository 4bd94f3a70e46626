"""The funnel read model, checked against an independent computation over generated lead journeys (skips,
back-moves, stages reached through orders' events, losses, invalid leads), with events delivered shuffled
across leads and topics and partly twice — against real PostgreSQL, through the idempotent consumer."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.reporting.adapters.generations import ActiveSchemaPool
from services.reporting.adapters.summaries import FactFold, PostgresSummaries
from services.reporting.app.queries import FunnelReportQuery
from services.reporting.app.reports import Activities, AttainmentQuery, CommissionQuery, GradeTableQuery
from services.reporting.domain.commission import CommissionPlan, Tier
from services.reporting.domain.targets import TargetLine
from services.reporting.wiring import MIGRATIONS, build_consumer
from shared.contracts.leads import (
    FollowUpLoggedV1,
    FollowUpOverdueV1,
    FollowUpScheduledV1,
    LeadGradedV1,
    StageAdvancedV1,
)
from shared.contracts.orders import OrderCancelledV1
from shared.db import create_pool
from shared.messaging.consumer import IdempotentConsumer
from shared.messaging.dead_letters import DeadLetters
from tests.support.infra import Infra
from tests.support.reporting import (
    STAGES,
    Journey,
    actual_funnel,
    drop_database,
    expected_funnel,
    fresh_reporting_database,
    reset_read_model,
)
from tests.support.upstream import FakeRecord, upstream_message

pytestmark = pytest.mark.integration

BASE = datetime(2026, 3, 1, tzinfo=UTC)
CHANNELS = ("online_shop", "call_center", "referral")
REASONS = ("price", "competitor", "no_budget")


class _NoProducer(AIOKafkaProducer):  # type: ignore[misc]
    def __init__(self) -> None:  # dead letters are not expected here; sending one would fail loudly
        pass


@pytest.fixture(scope="module")
async def reporting(infra: Infra) -> AsyncIterator[tuple[asyncpg.Pool, IdempotentConsumer, FunnelReportQuery]]:
    dsn = await fresh_reporting_database(infra, "funnel", MIGRATIONS)
    pool = await create_pool(dsn, min_size=1, max_size=4)
    active = ActiveSchemaPool(pool)
    consumer = build_consumer("reporting", active, DeadLetters(consumer="reporting", producer=_NoProducer()))
    summaries = PostgresSummaries(active)
    yield pool, consumer, FunnelReportQuery(summaries, FactFold(active), summaries.watermark)
    await pool.close()
    await drop_database(infra, dsn)


@st.composite
def journeys(draw: st.DrawFn) -> list[Journey]:
    count = draw(st.integers(1, 12))
    out = []
    for n in range(count):
        captured = BASE + timedelta(days=draw(st.integers(0, 50)), minutes=n)
        journey = Journey(lead_id=f"L{n}", channel=draw(st.sampled_from(CHANNELS)),
                          owner_id=draw(st.sampled_from(("c1", "c2", "c3"))), team_id="t1", captured_at=captured)
        hours = 0.0
        current = "new"
        for _ in range(draw(st.integers(0, 6))):
            stage = draw(st.sampled_from([s for s in STAGES if s != current]))  # skips and back-moves
            hours += draw(st.integers(1, 200))
            via = draw(st.sampled_from(("leads", "orders")))
            journey.moves.append((hours, stage, via))
            current = stage
        ending = draw(st.sampled_from(("open", "open", "lost", "invalid")))
        if ending == "lost":
            journey.lost = (hours + 1, draw(st.sampled_from(REASONS)), draw(st.sampled_from((None, "BYD Han"))))
        elif ending == "invalid":
            journey.invalid_after = hours + 1
        out.append(journey)
    return out


def records_of(journeys: list[Journey]) -> list[FakeRecord]:
    return [FakeRecord(key, value, headers, topic=f"test.{topic}", offset=i)
            for i, (topic, (key, value, headers)) in enumerate(m for j in journeys for m in j.messages())]


async def deliver(consumer: IdempotentConsumer, records: list[FakeRecord], seed: int, duplicates: bool) -> None:
    records = list(records)
    rng = random.Random(seed)
    rng.shuffle(records)  # cross-topic and even per-lead order must not matter: facts carry their own times
    if duplicates:
        records += rng.sample(records, k=len(records) // 3)
    for start in range(0, len(records), 7):
        result = await consumer.process_batch(records[start:start + 7])
        assert result.dead_lettered == 0


async def reset(pool: asyncpg.Pool) -> None:
    await reset_read_model(pool)


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(generated=journeys(), seed=st.integers(0, 10_000), cut_days=st.integers(0, 60))
async def test_the_funnel_matches_an_independent_count_of_the_journeys_in_any_delivery_order(
    reporting: tuple[asyncpg.Pool, IdempotentConsumer, FunnelReportQuery], generated: list[Journey], seed: int,
    cut_days: int,
) -> None:
    pool, consumer, query = reporting
    await reset(pool)
    await deliver(consumer, records_of(generated), seed, duplicates=True)

    assert actual_funnel(await query()) == expected_funnel(generated, None)
    as_of = BASE + timedelta(days=cut_days)
    assert actual_funnel(await query(as_of=as_of)) == expected_funnel(generated, as_of)


async def test_replaying_the_same_events_again_changes_no_figure(
    reporting: tuple[asyncpg.Pool, IdempotentConsumer, FunnelReportQuery],
) -> None:
    pool, consumer, query = reporting
    await reset(pool)
    journeys_ = [Journey("A", "online_shop", "c1", "t1", BASE, moves=[(5, "visited", "leads"),
                                                                     (9, "contract_signed", "orders")]),
                 Journey("B", "call_center", "c2", "t1", BASE, moves=[(3, "presented", "leads"),
                                                                     (4, "contacted", "leads")],
                         lost=(8, "price", "BYD Han"))]
    records = records_of(journeys_)
    await deliver(consumer, records, 1, duplicates=False)
    first = await query(group_by="channel")
    await deliver(consumer, records, 2, duplicates=True)
    second = await query(group_by="channel")
    first.pop("data_as_of")
    second.pop("data_as_of")
    assert first == second
    assert first["groups"]["online_shop"]["won"] == 1
    assert first["lost_by_stage"] == {"contacted": 1}
    assert first["lost_by_competitor"] == {"BYD Han": 1}
    assert {s["stage"]: s["entered"] for s in first["stages"]}["presented"] == 1
    assert {s["stage"]: s["reached"] for s in first["stages"]}["presented"] == 2  # A skipped past it


async def test_a_contract_signed_before_its_lead_was_created_is_not_lost(
    reporting: tuple[asyncpg.Pool, IdempotentConsumer, FunnelReportQuery],
) -> None:
    pool, consumer, query = reporting
    await reset(pool)
    journey = Journey("S", "online_shop", "c1", "t1", BASE, moves=[(1, "contract_signed", "orders")])
    messages = journey.messages()
    orders_first = [m for m in messages if m[0] == "orders"] + [m for m in messages if m[0] == "leads"]
    for topic, (key, value, headers) in orders_first:
        await consumer.process_batch([FakeRecord(key, value, headers, topic=f"test.{topic}")])
        if topic == "orders":
            assert (await query())["total_leads"] == 0  # not visible without the lead, but kept
    report = await query()
    assert report["won"] == 1
    assert {s["stage"]: s["current"] for s in report["stages"]}["contract_signed"] == 1


async def test_leads_late_echo_of_an_order_does_not_move_the_current_stage_back(
    reporting: tuple[asyncpg.Pool, IdempotentConsumer, FunnelReportQuery],
) -> None:
    pool, consumer, query = reporting
    await reset(pool)
    journey = Journey("E", "showroom", "c1", "t1", BASE,
                      moves=[(1, "contract_signed", "orders"), (2, "delivered", "orders")])
    # leads reacts to ContractSigned on its own clock, here after the delivery: its StageAdvanced (with the order
    # id) echoes the orders fact, it is not a newer stage.
    echo = StageAdvancedV1(lead_id="E", from_stage="new", to_stage="contract_signed", order_id="o-E-0",
                           reason="contract_signed", moved_at=journey.at(3))
    records = [*records_of([journey]), FakeRecord(*upstream_message(echo, key="E"), topic="test.leads")]
    await deliver(consumer, records, 5, duplicates=False)
    report = await query()
    assert {s["stage"]: s["current"] for s in report["stages"]}["delivered"] == 1
    assert {s["stage"]: s["entered"] for s in report["stages"]}["contract_signed"] == 1


async def test_a_cancelled_order_no_longer_counts_as_a_contract_or_revenue_but_did_as_of_before(
    reporting: tuple[asyncpg.Pool, IdempotentConsumer, FunnelReportQuery],
) -> None:
    pool, consumer, _ = reporting
    await reset(pool)
    journey = Journey("X", "phone", "c1", "t1", BASE, moves=[(2, "contract_signed", "orders")])
    cancel = OrderCancelledV1(order_id="o-X-0", lead_id="X", reason="changed mind", refund_due_minor=0,
                              currency="CNY", cancelled_at=journey.at(30))
    records = [*records_of([journey]), FakeRecord(*upstream_message(cancel, key="o-X-0"), topic="test.orders")]
    await deliver(consumer, records, 3, duplicates=False)
    activities = Activities(PostgresSummaries(ActiveSchemaPool(pool)))

    now = await activities(period="2026-03", as_of=None)
    before = await activities(period="2026-03", as_of=journey.at(10))
    assert [m for (m, *_), v in now.items() if m in ("contracts", "revenue") and v] == []
    assert sorted(m for (m, *_), v in before.items() if m in ("contracts", "revenue") and v) == ["contracts",
                                                                                                 "revenue"]


class MemoryTargets:
    def __init__(self, lines: list[TargetLine]) -> None:
        self._lines = lines

    async def lines(self, *, month: str | None = None, as_of: datetime | None = None) -> list[TargetLine]:
        return [line for line in self._lines if month is None or line.month == month]


def expected_by_consultant(journeys: list[Journey], month: str) -> dict[str, dict[str, float]]:
    """Contracts, revenue and visits per consultant in the month, straight from the journeys."""
    out: dict[str, dict[str, float]] = {}
    for j in journeys:
        row = out.setdefault(j.owner_id, {"contracts": 0, "revenue": 0, "visits": 0})
        visit_months = set()
        for hours, stage, via in j.moves:
            when = j.at(hours).strftime("%Y-%m")
            if stage == "contract_signed" and via == "orders" and when == month:
                row["contracts"] += 1
                row["revenue"] += 100_000
            if stage == "visited" and when == month:
                visit_months.add(when)
        row["visits"] += len(visit_months)
    return out


@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
@given(generated=journeys(), targets=st.lists(st.integers(1, 5), min_size=3, max_size=3))
async def test_attainment_and_commission_match_an_independent_calculation_over_generated_journeys(
    reporting: tuple[asyncpg.Pool, IdempotentConsumer, FunnelReportQuery], generated: list[Journey],
    targets: list[int],
) -> None:
    pool, consumer, _ = reporting
    await reset(pool)
    await deliver(consumer, records_of(generated), 7, duplicates=True)
    month = "2026-03"
    lines = [TargetLine("consultant", c, month, metric, float(t * (100_000 if metric == "revenue" else 1)))
             for c, t in zip(("c1", "c2", "c3"), targets, strict=True) for metric in ("contracts", "revenue", "visits")]
    activities = Activities(PostgresSummaries(ActiveSchemaPool(pool)))
    query = AttainmentQuery(activities, MemoryTargets(lines), lambda: BASE)
    report = await query(month=month, today=datetime(2026, 3, 20, tzinfo=UTC))
    expected = expected_by_consultant(generated, month)

    for row in report["lines"]:
        actual = expected.get(row["scope_id"], {}).get(row["metric"], 0)
        assert row["actual"] == actual, row
        assert row["variance_rate"] == round((actual - row["target"]) / row["target"], 4)

    plan = CommissionPlan("p", 1, "2026-01", "revenue", "marginal",
                          (Tier(Decimal(0), Decimal("0.01")), Tier(Decimal(150_000), Decimal("0.03"))),
                          min_attainment=Decimal("0.5"))
    statements = (await CommissionQuery(activities, MemoryTargets(lines), [plan], "p")(month=month))["statements"]
    for s in statements:
        revenue = expected.get(s["consultant_id"], {}).get("revenue", 0)
        target = next(line.base for line in lines if line.scope_id == s["consultant_id"]
                      and line.metric == "revenue")
        band1, band2 = min(revenue, 150_000), max(0, revenue - 150_000)
        commission = round(band1 * 0.01 + band2 * 0.03) if revenue / target >= 0.5 else 0
        assert s["commission_minor"] == commission, s


async def test_the_grade_table_counts_open_leads_by_current_grade_and_due_and_overdue_follow_ups(
    reporting: tuple[asyncpg.Pool, IdempotentConsumer, FunnelReportQuery],
) -> None:
    pool, consumer, _ = reporting
    await reset(pool)
    now = BASE + timedelta(days=10)
    a, b, c = (Journey(n, "phone", "c1", "t1", BASE) for n in ("GA", "GB", "GC"))
    extra = [
        LeadGradedV1(lead_id="GA", grade="H", previous_grade="N", reason="ready", graded_at=BASE + timedelta(days=1)),
        LeadGradedV1(lead_id="GB", grade="B", previous_grade="N", reason="later", graded_at=BASE + timedelta(days=1)),
        LeadGradedV1(lead_id="GB", grade="A", previous_grade="B", reason="closer", graded_at=BASE + timedelta(days=2)),
        # GA: due yesterday, never followed up → overdue (and the timer said so)
        FollowUpScheduledV1(lead_id="GA", sequence=1, due_at=now - timedelta(days=1), owner_id="c1"),
        FollowUpOverdueV1(lead_id="GA", sequence=1, due_at=now - timedelta(days=1), owner_id="c1",
                          detected_at=now - timedelta(days=1)),
        # GB: due in 5 hours → due today; followed up once before
        FollowUpLoggedV1(lead_id="GB", kind="call", outcome="ok", logged_by="c1", logged_at=now - timedelta(days=3)),
        FollowUpScheduledV1(lead_id="GB", sequence=2, due_at=now + timedelta(hours=5), owner_id="c1"),
        # GC: due yesterday but followed up after it was scheduled → not overdue
        FollowUpScheduledV1(lead_id="GC", sequence=1, due_at=now - timedelta(days=1), owner_id="c1"),
        FollowUpLoggedV1(lead_id="GC", kind="visit", outcome="ok", logged_by="c1", logged_at=now - timedelta(hours=2)),
    ]
    records = [*records_of([a, b, c]),
               *(FakeRecord(*upstream_message(e, key=e.lead_id), topic="test.leads") for e in extra)]
    await deliver(consumer, records, 5, duplicates=True)

    table = await GradeTableQuery(PostgresSummaries(ActiveSchemaPool(pool)), lambda: now)()
    (row,) = table["consultants"]
    assert row == {"consultant_id": "c1", "N": 1, "H": 1, "A": 1, "B": 0, "C": 0, "open": 3, "due_today": 1,
                   "overdue": 1, "on_time_follow_up_rate": round(2 / 3, 4)}
