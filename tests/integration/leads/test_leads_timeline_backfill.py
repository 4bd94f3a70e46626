"""The customer timeline's backfill against real Kafka and PostgreSQL: orders' and aftersales' events published
before the read model had them (or after its rows were lost) come back when the operator replays the topics —
through the projection's own handlers and merges followed as the page does — a second run (the operator command,
``python -m services.leads backfill-timeline``) writes nothing twice, and the live consumer group's committed
offsets do not move."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from services.leads.app.customer_card import MergeCustomers
from services.leads.backfill import backfill_timeline
from shared.contracts.aftersales import ComplaintOpenedV1, ComplaintResolvedV1, PointsAwardedV1
from shared.contracts.orders import ContractSignedV1, OrderLine, PaymentReceivedV1
from shared.messaging.topics import ensure_topics
from tests.integration.leads.conftest import team_with
from tests.integration.leads.test_leads_customer_overview import DIRECTOR, PRICE, capture
from tests.support.infra import Infra
from tests.support.leads import T0, LeadsInProcess, ctx, leads_in_process, publish, scratch_database
from tests.support.processes import inherited_env

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
async def database(infra: Infra) -> AsyncIterator[str]:
    async with scratch_database(infra, "leads_backfill") as dsn:
        yield dsn


@pytest.fixture(scope="module")
async def leads(database: str) -> AsyncIterator[LeadsInProcess]:  # the backfill command needs the database's URL
    async with leads_in_process(database) as app:
        yield app


@pytest.fixture(scope="module", autouse=True)
async def team(leads: LeadsInProcess) -> None:
    await team_with(leads, "west", ["w1"], manager="wm")


def at(hours: int) -> Any:
    return T0 + timedelta(hours=hours)


def others(page: dict[str, Any]) -> list[tuple[str, str]]:
    return [(e["source"], e["event_type"]) for e in page["timeline"] if e["source"] != "leads"]


async def lines(leads: LeadsInProcess) -> int:
    count: int = await leads.pool.fetchval("SELECT count(*) FROM leads_customer_events")
    return count


async def committed(infra: Infra, group: str, partitions: list[TopicPartition]) -> dict[TopicPartition, int | None]:
    reader = AIOKafkaConsumer(**infra.kafka.client_options(), group_id=group, enable_auto_commit=False)
    await reader.start()
    try:
        return {tp: await reader.committed(tp) for tp in partitions}
    finally:
        await reader.stop()


async def test_the_backfill_brings_lost_history_back_once_follows_merges_and_leaves_the_live_group_alone(
        infra: Infra, database: str, leads: LeadsInProcess, phone: Callable[[], str], unique: str) -> None:
    prefix = f"{unique}tl"
    orders_topic, aftersales_topic = f"{prefix}.orders", f"{prefix}.aftersales"
    topics = [orders_topic, aftersales_topic]
    await ensure_topics(infra.kafka, topics)
    survivor, duplicate = await capture(leads, phone()), await capture(leads, phone())
    order = f"O-{unique}"
    complaint = f"K-{unique}"
    # What orders and aftersales published before the timeline had them: under the duplicate customer's ids.
    await publish(infra.kafka, orders_topic, ContractSignedV1(
        order_id=order, lead_id=duplicate.id, customer_id=duplicate.customer_id,
        lines=[OrderLine(product="MY", quantity=1, unit_price_minor=PRICE)], total_minor=PRICE, currency="CNY",
        payment_plan="deposit_balance", signed_at=at(2)), key=order, source="orders")
    await publish(infra.kafka, orders_topic, PaymentReceivedV1(
        order_id=order, payment_id=f"P-{order}", kind="deposit", amount_minor=40_000_00, currency="CNY",
        paid_total_minor=40_000_00, received_at=at(3)), key=order, source="orders")
    await publish(infra.kafka, aftersales_topic, ComplaintOpenedV1(
        complaint_id=complaint, customer_id=duplicate.customer_id, order_id=order, category="service",
        severity="high", opened_at=at(4), acknowledge_due_at=at(28), resolve_due_at=at(52)),
        key=complaint, source="aftersales")
    await publish(infra.kafka, aftersales_topic, ComplaintResolvedV1(
        complaint_id=complaint, resolution="fixed", resolved_at=at(5)), key=complaint, source="aftersales")
    await publish(infra.kafka, aftersales_topic, PointsAwardedV1(
        customer_id=duplicate.customer_id, points=120, reason="delivery", reference=f"delivery:{order}",
        balance_after=120, awarded_at=at(6)), key=duplicate.customer_id, source="aftersales")
    await leads.cards.merge(MergeCustomers(survivor.customer_id, duplicate.customer_id), ctx())

    # The live consumer group has read both topics to their end and committed it.
    live_group = f"{prefix}-leads"
    partitions = [TopicPartition(t, p) for t in topics for p in range(3)]
    live = AIOKafkaConsumer(**infra.kafka.client_options(), group_id=live_group, enable_auto_commit=False)
    await live.start()
    try:
        live.assign(partitions)
        ends = await live.end_offsets(partitions)
        await live.commit({tp: offset for tp, offset in ends.items()})
    finally:
        await live.stop()
    assert await committed(infra, live_group, partitions) == ends

    assert others(await leads.overview.overview(DIRECTOR, survivor.customer_id)) == []  # never consumed
    first = await backfill_timeline(database, infra.kafka, topics, show_progress=False)
    assert (first.records, first.applied, first.dead_lettered) == (5, 5, 0)
    page = await leads.overview.overview(DIRECTOR, survivor.customer_id)
    expected = [("orders", "ContractSigned"), ("orders", "PaymentReceived"), ("aftersales", "ComplaintOpened"),
                ("aftersales", "ComplaintResolved"), ("aftersales", "PointsAwarded")]
    assert others(page) == expected  # the merged duplicate's history is the survivor's
    [summary_order] = page["summary"]["orders"]
    assert (summary_order["order_id"], summary_order["paid_minor"], summary_order["balance_minor"]) == (
        order, 40_000_00, PRICE - 40_000_00)
    assert page["summary"]["points"] == 120

    # The timeline's rows are lost (the order's state survives: an old event must not move it back).
    await leads.pool.execute("DELETE FROM leads_customer_events WHERE order_id = $1 OR subject = $2 "
                             "OR customer_ref = $3", order, complaint, duplicate.customer_id)
    assert others(await leads.overview.overview(DIRECTOR, survivor.customer_id)) == []
    before = await lines(leads)
    again = await backfill_timeline(database, infra.kafka, topics, show_progress=False)
    assert (again.records, again.applied, again.lines_before, again.lines_after) == (5, 5, before, before + 5)
    assert others(await leads.overview.overview(DIRECTOR, survivor.customer_id)) == expected

    # Run twice in a row, as the operator does it: nothing doubles.
    env = {**inherited_env(), **infra.kafka_env(), "SALESFLOW_TOPIC_PREFIX": prefix,
           "LEADS_DATABASE_URL": database, "PATH": os.environ.get("PATH", "")}
    command = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "services.leads", "backfill-timeline", "--quiet", env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await command.communicate()
    assert command.returncode == 0, err.decode()
    assert f"read 5 records from {orders_topic}, {aftersales_topic}" in out.decode()
    assert f"timeline lines {before + 5} → {before + 5}" in out.decode()
    page = await leads.overview.overview(DIRECTOR, survivor.customer_id)
    assert others(page) == expected
    assert [o["paid_minor"] for o in page["summary"]["orders"]] == [40_000_00]
    # Neither run joined or moved the live group; each run's own processed ids are gone.
    assert await committed(infra, live_group, partitions) == ends
    assert await leads.pool.fetchval(
        "SELECT count(*) FROM processed_messages WHERE consumer LIKE 'leads-timeline-backfill-%'") == 0
