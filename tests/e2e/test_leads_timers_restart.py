"""Durable timers across restarts of the real process: a lead is captured, the service stops, and a new process
started "later" (LEADS_CLOCK_OFFSET_SECONDS moves its clock forward instead of the test waiting) fires the stored
timers: the missed first contact becomes FollowUpOverdue once; later the idle lead is released to the pool,
where a colleague claims it while its previous owner is held back by the cool-down."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest

from tests.support.auth import auth_headers
from tests.support.infra import RUN_ID, Infra
from tests.support.leads import scratch_database
from tests.support.processes import ServiceProcess, start_service, stop_service
from tests.support.waiting import eventually

pytestmark = pytest.mark.e2e

DAY = timedelta(days=1).total_seconds()


@pytest.fixture(scope="module")
async def env(infra: Infra) -> AsyncIterator[dict[str, str]]:
    async with scratch_database(infra, "leads_timers") as dsn:
        yield {**infra.kafka_env(), "SALESFLOW_TOPIC_PREFIX": f"t{RUN_ID}leadstimers",
               "LEADS_DATABASE_URL": dsn, "LEADS_TIMER_POLL_INTERVAL": "0.2", "LEADS_POOL_IDLE_DAYS": "7",
               "LEADS_CLAIM_COOLDOWN_DAYS": "3"}


async def started(env: dict[str, str], *, days_later: float) -> ServiceProcess:
    return await start_service("leads", {**env, "LEADS_CLOCK_OFFSET_SECONDS": str(days_later * DAY)})


async def history(client: httpx.AsyncClient, lead_id: str) -> list[str]:
    detail: dict[str, Any] = (await client.get(f"/v1/leads/{lead_id}")).json()
    return [h["event_type"] for h in detail["history"]]


async def test_the_overdue_and_pool_timers_fire_after_restarts(env: dict[str, str]) -> None:
    service = await started(env, days_later=0)
    try:
        async with httpx.AsyncClient(headers=auth_headers("director"), base_url=service.url, timeout=10) as client:
            await client.post("/v1/teams", json={"team_id": "south", "name": "South"})
            for consultant in ("amy", "ben"):
                await client.post("/v1/consultants", json={"consultant_id": consultant, "name": consultant,
                                                           "team_id": "south"})
            lead = (await client.post("/v1/leads", json={"name": "客户", "phone": "13512345678",
                                                         "channel": "website", "team_id": "south"})).json()
            owner = lead["owner_id"]
            colleague = "ben" if owner == "amy" else "amy"
            assert "FollowUpOverdue" not in await history(client, lead["lead_id"])
    finally:
        await stop_service(service)

    service = await started(env, days_later=2)  # the first contact was due after 24 h
    try:
        async with httpx.AsyncClient(headers=auth_headers("director"), base_url=service.url, timeout=10) as client:
            events = await eventually(lambda: history(client, lead["lead_id"]),
                                      until=lambda h: "FollowUpOverdue" in h, what="the overdue after a restart")
            assert "LeadReleasedToPool" not in events
            due = (await client.get("/v1/follow-ups", params={"owner_id": owner})).json()["leads"]
            assert [r["lead_id"] for r in due] == [lead["lead_id"]]
            assert due[0]["overdue"] is True
    finally:
        await stop_service(service)

    service = await started(env, days_later=8)  # 7 days without follow-up: to the pool
    try:
        async with httpx.AsyncClient(headers=auth_headers("director"), base_url=service.url, timeout=10) as client:
            events = await eventually(lambda: history(client, lead["lead_id"]),
                                      until=lambda h: "LeadReleasedToPool" in h, what="the release to the pool")
            assert events.count("FollowUpOverdue") == 1, "the overdue timer fired once, across restarts"
            pool = (await client.get("/v1/pool", params={"team_id": "south"})).json()["leads"]
            assert [r["lead_id"] for r in pool] == [lead["lead_id"]]

            too_soon = await client.post(f"/v1/leads/{lead['lead_id']}/claim", json={"consultant_id": owner})
            assert too_soon.status_code == 409
            assert too_soon.json()["error"]["code"] == "claim_cooldown"
            claimed = await client.post(f"/v1/leads/{lead['lead_id']}/claim", json={"consultant_id": colleague})
            assert claimed.status_code == 200
            assert claimed.json()["owner_id"] == colleague
            assert (await client.get("/v1/pool", params={"team_id": "south"})).json()["leads"] == []
    finally:
        await stop_service(service)
