"""Durable timers in the real process across restarts. Time is driven by the service's injectable clock
(``AFTERSALES_CLOCK_OFFSET_SECONDS``): the plan and the complaint are created by a process living "now"; that
process stops; a new process whose clock says "three days later" finds the stored timers and fires them — the
D+1 visit becomes overdue and the complaint breaches both SLA limits — and a third process fires nothing again."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from shared.contracts.orders import DeliveredV1
from tests.support.aftersales import create_module_database, drop_database, get_json
from tests.support.auth import auth_headers
from tests.support.infra import RUN_ID, Infra
from tests.support.kafka import header, read_topic
from tests.support.processes import start_service, stop_service
from tests.support.upstream import publish, upstream_message
from tests.support.waiting import eventually

pytestmark = pytest.mark.e2e

PREFIX = f"t{RUN_ID}ast"
THREE_DAYS = str(int(timedelta(days=3).total_seconds()))


@pytest.fixture(scope="module")
async def environment(infra: Infra) -> AsyncIterator[dict[str, str]]:
    name, dsn = await create_module_database(infra, "aftersales_timers")
    yield {**infra.kafka_env(), "SALESFLOW_TOPIC_PREFIX": PREFIX,
           "AFTERSALES_DATABASE_URL": dsn, "AFTERSALES_RELAY_POLL_INTERVAL": "0.2",
           "AFTERSALES_TIMER_POLL_INTERVAL": "0.2"}
    await drop_database(infra, name)


async def test_overdue_visits_and_sla_breaches_fire_once_after_restarts(
    infra: Infra, environment: dict[str, str],
) -> None:
    order = f"O-{uuid.uuid4().hex[:8]}"
    async with httpx.AsyncClient(headers=auth_headers("director"), timeout=10) as client:
        first = await start_service("aftersales", environment)
        try:
            delivered = DeliveredV1(order_id=order, customer_id="C-1", total_minor=1, currency="CNY",
                                    delivered_at=datetime.now(UTC))
            await publish(infra.kafka, f"{PREFIX}.orders", [upstream_message(delivered, key=order)])
            await eventually(lambda: get_json(client, f"{first.url}/v1/care-plans/{order}"), what="plan")
            opened = await client.post(f"{first.url}/v1/complaints", json={
                "customer_id": "C-1", "order_id": order, "category": "delivery", "description": "late"})
            complaint_id = opened.json()["complaint_id"]
            assert (await get_json(client, f"{first.url}/v1/visits?state=overdue"))["visits"] == []
            assert (await client.get(f"{first.url}/health/ready")).json()["checks"]["timers"]["fired"] == 0
        finally:
            await stop_service(first)

        later = {**environment, "AFTERSALES_CLOCK_OFFSET_SECONDS": THREE_DAYS}
        second = await start_service("aftersales", later)
        try:
            complaint = await eventually(
                lambda: get_json(client, f"{second.url}/v1/complaints/{complaint_id}"),
                until=lambda c: c["sla_state"] == "resolve_breached", what="both SLA limits breached")
            plan = await eventually(lambda: get_json(client, f"{second.url}/v1/care-plans/{order}"),
                                    until=lambda p: p["visits"][0]["status"] == "overdue", what="D+1 overdue")
        finally:
            await stop_service(second)
        assert complaint["escalation_level"] == 2
        assert [v["status"] for v in plan["visits"]] == ["overdue", "pending", "pending", "pending"]

        third = await start_service("aftersales", later)
        try:
            overdue = await get_json(client, f"{third.url}/v1/visits?state=overdue")
            complaint = await get_json(client, f"{third.url}/v1/complaints/{complaint_id}")
            plan = await get_json(client, f"{third.url}/v1/care-plans/{order}")
        finally:
            await stop_service(third)
    assert [(v["plan_id"], v["label"]) for v in overdue["visits"]] == [(order, "D+1")]
    assert [h["event_type"] for h in plan["history"]].count("ReturnVisitOverdue") == 1
    assert [h["event_type"] for h in complaint["history"]] == [
        "ComplaintOpened", "ComplaintSlaBreached", "ComplaintEscalated", "ComplaintSlaBreached",
        "ComplaintEscalated"]

    records: list[Any] = await read_topic(infra.kafka, f"{PREFIX}.aftersales", expect=8)
    types = [header(r, "ce_type") for r in records]
    assert types.count("salesflow.aftersales.ReturnVisitOverdue") == 1
    assert types.count("salesflow.aftersales.ComplaintSlaBreached") == 2
    assert types.count("salesflow.aftersales.ComplaintEscalated") == 2
