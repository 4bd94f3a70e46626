"""After-sales against real PostgreSQL, in process: the unit of work (events + read tables + timers commit
together or not at all), the Delivered/LeadCreated reactions through the real IdempotentConsumer, and durable
timers fired by a TimerRunner with a fake clock — including a fresh runner after a "restart"."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest

from services.aftersales.adapters.queries import PostgresCareQueries
from services.aftersales.adapters.rebuild import READ_TABLES, rebuild_read_tables
from services.aftersales.adapters.repository import EventSourcedAftersales, postgres_aftersales_units_of_work
from services.aftersales.app import commands as cmd
from services.aftersales.app.ports import CommandContext
from services.aftersales.app.reactions import AftersalesReactions
from services.aftersales.app.timer_handlers import AftersalesTimers
from services.aftersales.app.timers import timer_plans
from services.aftersales.domain.care_plan import CarePlan
from services.aftersales.domain.complaint import Complaint
from services.aftersales.domain.errors import InsufficientPointsError
from services.aftersales.domain.policy import policy_from_dict
from services.aftersales.main import MIGRATIONS
from shared.contracts.leads import LeadCreatedV1
from shared.contracts.orders import DeliveredV1
from shared.domain import Aggregate
from shared.eventstore import ConcurrencyError
from shared.eventstore.store import PostgresEventStore
from shared.messaging.consumer import IdempotentConsumer
from shared.messaging.dead_letters import DeadLetters
from shared.runtime.bootstrap import prepare_database
from shared.timers import TimerRunner
from tests.conftest import CreateDatabase
from tests.support.upstream import as_record, upstream_message

pytestmark = pytest.mark.integration

DELIVERED_AT = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)
POLICY = policy_from_dict(json.loads(
    (Path(__file__).resolve().parents[3] / "services/aftersales/config/aftersales.json").read_text()))


class FakeClock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
async def db(create_database: CreateDatabase) -> AsyncIterator[asyncpg.Pool]:
    pool = await prepare_database(await create_database("aftersales"), service="aftersales",
                                  migrations=MIGRATIONS, min_size=1, max_size=6)
    yield pool
    await pool.close()


class World:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool
        self.clock = FakeClock(DELIVERED_AT)
        self.store = EventSourcedAftersales(pool)
        self.units_of_work = postgres_aftersales_units_of_work(pool, PostgresEventStore(pool), timer_plans)
        self.consumer = IdempotentConsumer(
            name="aftersales", pool=pool, dead_letters=DeadLetters(consumer="aftersales", producer=None),  # type: ignore[arg-type]
            handlers=AftersalesReactions(unit_of_work=self.units_of_work, clock=self.clock,
                                         policy=POLICY).handlers())
        self.ids = iter(f"id-{n}" for n in range(10_000))

    def runner(self) -> TimerRunner:
        """A new runner, as a restarted process would build it: all it knows is in the database."""
        timers = AftersalesTimers(unit_of_work=self.units_of_work, clock=self.clock)
        return TimerRunner(pool=self.pool, handlers=timers.handlers(), clock=self.clock, batch_size=50)

    def handler(self, cls: type[cmd.HandlerT]) -> cmd.HandlerT:
        return cls(unit_of_work=self.units_of_work, clock=self.clock, new_id=lambda: next(self.ids), policy=POLICY)

    async def commit(self, *aggregates: Aggregate) -> None:
        """What a handler's unit of work does with what it loaded and changed."""
        async with self.units_of_work() as uow:
            for aggregate in aggregates:
                uow.add(aggregate)
            await uow.commit(CTX, DELIVERED_AT)

    async def types(self, stream: str) -> list[str]:
        return [r["event_type"] for r in await self.pool.fetch(
            "SELECT event_type FROM events WHERE stream_id = $1 ORDER BY version", stream)]


@pytest.fixture
def world(db: asyncpg.Pool) -> World:
    return World(db)


def delivered(order_id: str = "O-1", lead_id: str = "L-1", customer_id: str = "C-1") -> DeliveredV1:
    return DeliveredV1(order_id=order_id, lead_id=lead_id, customer_id=customer_id, customer_name="张三",
                       customer_phone="+8613812345678", total_minor=20_000_000, currency="CNY",
                       delivered_at=DELIVERED_AT)


CTX = CommandContext(correlation_id="test", actor="tester")


async def test_a_delivered_event_delivered_twice_or_replayed_schedules_exactly_one_plan(world: World) -> None:
    same_id = uuid.uuid4()
    first = upstream_message(delivered(), key="O-1", event_id=same_id)
    again = upstream_message(delivered(), key="O-1", event_id=same_id)        # Kafka redelivery
    replay = upstream_message(delivered(), key="O-1")                          # orders republished it
    result = await world.consumer.process_batch([as_record(first, 0)])
    assert result.applied == 1
    second = await world.consumer.process_batch([as_record(again, 1), as_record(replay, 2)])
    # The redelivered id is skipped; the replay under a new id is applied as a no-op, not dead-lettered.
    assert (second.duplicates, second.applied, second.dead_lettered) == (1, 1, 0)
    assert await world.types("care-plan-O-1") == ["CarePlanScheduled"]
    assert await world.pool.fetchval("SELECT count(*) FROM care_visits WHERE plan_id = 'O-1'") == 4
    assert await world.pool.fetchval("SELECT count(*) FROM timers WHERE kind = 'aftersales.visit_overdue'") == 4
    assert await world.types("loyalty-C-1") == ["PointsAwarded"]
    assert await world.pool.fetchval("SELECT balance FROM loyalty_balances WHERE customer_id = 'C-1'") == 2_100


async def test_an_overdue_visit_fires_once_from_a_restarted_runner_and_not_for_completed_visits(world: World) -> None:
    await world.consumer.process_batch([as_record(upstream_message(delivered(), key="O-1"))])
    first = world.runner()
    task = asyncio.create_task(first.run())  # the "old process": nothing is due yet
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await world.handler(cmd.CompleteReturnVisitHandler)(
        cmd.CompleteReturnVisit("O-1", 2, score=5), CTX)  # D+3 done early: its timer is cancelled
    world.clock.now = DELIVERED_AT + timedelta(days=5)
    restarted = world.runner()
    assert await restarted.fire_due() == 1
    assert await restarted.fire_due() == 0
    assert await world.runner().fire_due() == 0
    assert (await world.types("care-plan-O-1")).count("ReturnVisitOverdue") == 1
    statuses = dict(await world.pool.fetch("SELECT visit_no, status FROM care_visits WHERE plan_id = 'O-1'"))
    assert statuses == {1: "overdue", 2: "completed", 3: "pending", 4: "pending"}


async def test_a_missed_acknowledgement_breaches_the_sla_and_escalates(world: World) -> None:
    complaint = (await world.handler(cmd.OpenComplaintHandler)(
        cmd.OpenComplaint("C-1", "delivery", severity="medium", description="scratched door"), CTX)).aggregate
    world.clock.now = DELIVERED_AT + timedelta(hours=25)
    assert await world.runner().fire_due() == 1
    assert await world.types(f"complaint-{complaint.id}") == ["ComplaintOpened", "ComplaintSlaBreached",
                                                              "ComplaintEscalated"]
    row = await world.pool.fetchrow("SELECT sla_state, escalation_level FROM complaints")
    assert (row["sla_state"], row["escalation_level"]) == ("acknowledge_breached", 1)
    await world.handler(cmd.ResolveComplaintHandler)(cmd.ResolveComplaint(complaint.id, "repainted"), CTX)
    world.clock.now = DELIVERED_AT + timedelta(days=10)
    assert await world.runner().fire_due() == 0  # the resolve timer was cancelled with the resolution
    assert await world.pool.fetchval("SELECT status FROM timers WHERE timer_id LIKE '%resolve%'") == "cancelled"


async def test_a_referral_lead_delivered_earns_the_referrer_points_once(world: World) -> None:
    referral = await world.handler(cmd.RegisterReferralHandler)(
        cmd.RegisterReferral("C-REF", "李四", "13800001111", "Model Y", referral_id="R-1"), CTX)
    assert referral.created
    lead = LeadCreatedV1(lead_id="L-9", customer_id="C-9", name="李四", phone="+8613800001111", channel="referral",
                         captured_at=DELIVERED_AT, referral_id="R-1", referrer_customer_id="C-REF")
    await world.consumer.process_batch([as_record(upstream_message(lead, key="L-9"))])
    assert await world.pool.fetchval("SELECT lead_id FROM referrals WHERE referral_id = 'R-1'") == "L-9"
    for _ in range(2):
        await world.consumer.process_batch(
            [as_record(upstream_message(delivered("O-9", lead_id="L-9", customer_id="C-9"), key="O-9"))])
    assert await world.types("referral-R-1") == ["ReferralRegistered", "ReferralLeadLinked", "ReferralRewarded"]
    assert await world.types("loyalty-C-REF") == ["PointsAwarded"]
    assert await world.pool.fetchval("SELECT balance FROM loyalty_balances WHERE customer_id = 'C-REF'") == 500


async def test_nothing_is_half_written_when_one_of_several_streams_is_stale(world: World) -> None:
    await world.consumer.process_batch([as_record(upstream_message(delivered(), key="O-1"))])
    plan = await world.store.load(CarePlan, "O-1")
    stale = await world.store.load(CarePlan, "O-1")
    assert plan is not None
    assert stale is not None
    plan.mark_overdue(1, now=DELIVERED_AT + timedelta(days=3))
    await world.commit(plan)
    fresh = Complaint.open_complaint(
        complaint_id="K-1", customer_id="C-1", order_id=None, category="other", severity="low", description="x",
        opened_by=None, opened_at=DELIVERED_AT, sla=POLICY.sla, categories=POLICY.categories,
        severities=POLICY.severities)
    stale.complete_visit(3, score=4, scale=POLICY.scale, answers={}, notes=None, completed_by=None,
                         completed_at=DELIVERED_AT, follow_up_task_id="T")
    with pytest.raises(ConcurrencyError):
        await world.commit(fresh, stale)
    assert await world.types("complaint-K-1") == []
    assert await world.pool.fetchval("SELECT count(*) FROM complaints") == 0
    assert await world.pool.fetchval("SELECT count(*) FROM timers WHERE kind = 'aftersales.complaint_sla'") == 0
    assert await world.pool.fetchval("SELECT status FROM care_visits WHERE plan_id = 'O-1' AND visit_no = 3") == \
        "pending"


async def test_two_writers_of_the_same_plan_store_one_and_refuse_the_other(world: World) -> None:
    await world.consumer.process_batch([as_record(upstream_message(delivered(), key="O-1"))])
    first, second = await world.store.load(CarePlan, "O-1"), await world.store.load(CarePlan, "O-1")
    assert first is not None
    assert second is not None
    for copy, score in ((first, 4), (second, 5)):
        copy.complete_visit(1, score=score, scale=POLICY.scale, answers={}, notes=None, completed_by=None,
                            completed_at=DELIVERED_AT, follow_up_task_id="T")
    await world.commit(first)
    with pytest.raises(ConcurrencyError):
        await world.commit(second)
    assert (await world.types("care-plan-O-1")).count("ReturnVisitCompleted") == 1
    assert await world.pool.fetchval("SELECT score FROM care_visits WHERE plan_id = 'O-1' AND visit_no = 1") == 4


async def test_redeeming_beyond_the_balance_stores_nothing(world: World) -> None:
    await world.consumer.process_batch([as_record(upstream_message(delivered(), key="O-1"))])
    redeem = world.handler(cmd.RedeemPointsHandler)
    with pytest.raises(InsufficientPointsError):
        await redeem(cmd.RedeemPoints("C-1", 2_101, "gift"), CTX)
    spent = await redeem(cmd.RedeemPoints("C-1", 2_100, "gift", reference="r-1"), CTX)
    retried = await redeem(cmd.RedeemPoints("C-1", 2_100, "gift", reference="r-1", expected_version=1), CTX)
    assert (spent.created, retried.created) == (True, False)
    assert retried.aggregate.balance == 0
    assert await world.types("loyalty-C-1") == ["PointsAwarded", "PointsRedeemed"]
    assert await world.pool.fetchval("SELECT balance FROM loyalty_balances WHERE customer_id = 'C-1'") == 0
    timeline = await PostgresCareQueries(world.pool).timeline("C-1", limit=10)
    assert [r["event_type"] for r in timeline] == ["CarePlanScheduled", "PointsAwarded", "PointsRedeemed"]


async def test_the_satisfaction_summary_compares_scores_across_labels_and_consultants(world: World) -> None:
    for order, consultant in (("O-1", "U-1"), ("O-2", "U-2")):
        payload = delivered(order).model_copy(update={"consultant_id": consultant})
        await world.consumer.process_batch([as_record(upstream_message(payload, key=order))])
    complete = world.handler(cmd.CompleteReturnVisitHandler)
    world.clock.now = DELIVERED_AT + timedelta(days=3)  # D+1 done late (after its 24 h grace), D+3 on time
    for order, visit_no, score in (("O-1", 1, 5), ("O-1", 2, 4), ("O-2", 1, 1)):
        await complete(cmd.CompleteReturnVisit(order, visit_no, score=score), CTX)
    summary = await PostgresCareQueries(world.pool).satisfaction(since=None, until=None)
    assert (summary["completed_visits"], summary["low_scores"], summary["late_visits"]) == (3, 1, 2)
    assert summary["mean_score_pct"] == pytest.approx((100 + 75 + 0) / 3, abs=0.01)
    assert [(r["label"], r["completed_visits"], r["mean_score_pct"]) for r in summary["by_label"]] == [
        ("D+1", 2, 50.0), ("D+3", 1, 75.0)]
    assert [(r["consultant_id"], r["mean_score_pct"], r["low_scores"]) for r in summary["by_consultant"]] == [
        ("U-1", 87.5, 0), ("U-2", 0.0, 1)]
    assert summary["pending_visits"] == 5


async def test_the_read_tables_rebuilt_from_the_events_equal_the_live_ones(world: World) -> None:
    referral = await world.handler(cmd.RegisterReferralHandler)(
        cmd.RegisterReferral("C-REF", "李四", "13800001111", referral_id="R-1"), CTX)
    lead = LeadCreatedV1(lead_id="L-1", customer_id="C-1", name="李四", phone="+8613800001111", channel="referral",
                         captured_at=DELIVERED_AT, referral_id=referral.aggregate.id, referrer_customer_id="C-REF")
    await world.consumer.process_batch([as_record(upstream_message(lead, key="L-1"), 0),
                                        as_record(upstream_message(delivered(), key="O-1"), 1)])
    await world.handler(cmd.CompleteReturnVisitHandler)(cmd.CompleteReturnVisit("O-1", 1, score=1), CTX)
    complaint = (await world.handler(cmd.OpenComplaintHandler)(
        cmd.OpenComplaint("C-1", "service", severity="low", description="rude"), CTX)).aggregate
    world.clock.now = DELIVERED_AT + timedelta(days=4)
    await world.runner().fire_due()
    await world.handler(cmd.ResolveComplaintHandler)(cmd.ResolveComplaint(complaint.id, "apologised"), CTX)

    async def snapshot() -> dict[str, list[tuple[object, ...]]]:
        tables = {}
        for table in READ_TABLES:
            rows = await world.pool.fetch(f"SELECT * FROM {table}")
            # Whole rows (the timeline's too: keyed by stream and version, no generated id); only a complaint's
            # updated_at is the projection's own clock.
            tables[table] = sorted((tuple(v for k, v in r.items() if k != "updated_at") for r in rows), key=repr)
        return tables

    live = await snapshot()
    assert all(live[t] for t in READ_TABLES)
    assert await rebuild_read_tables(world.pool) == 5
    assert await snapshot() == live
