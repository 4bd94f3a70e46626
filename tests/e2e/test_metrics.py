"""``/metrics`` on real services during a capture: the relay's lag rises while it cannot publish and falls back when
it can, reporting's projection lag and consumer lag follow the events, and HTTP and command series count the
requests (summed over two leads workers, prometheus-client's multiprocess mode)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest

from tests.conftest import CreateDatabase
from tests.support.auth import auth_headers
from tests.support.infra import Infra
from tests.support.metrics import scrape, series, total, value
from tests.support.processes import ServiceProcess, start_service, stop_service
from tests.support.waiting import eventually

pytestmark = pytest.mark.e2e

CAPTURES = 12


@pytest.fixture
async def stack(infra: Infra, create_database: CreateDatabase, unique: str
                ) -> AsyncIterator[tuple[ServiceProcess, ServiceProcess, asyncpg.Connection]]:
    leads_dsn, reporting_dsn = await create_database("leads"), await create_database("reporting")
    # The test holds the leads relay's advisory lock (per database), so the service's relay stands by and
    # committed events wait: a relay lag the test controls.
    blocker = await asyncpg.connect(leads_dsn)
    assert await blocker.fetchval("SELECT pg_try_advisory_lock(hashtextextended('relay:leads', 7244))")
    env = {**infra.kafka_env(), "SALESFLOW_TOPIC_PREFIX": unique,
           "LEADS_DATABASE_URL": leads_dsn, "REPORTING_DATABASE_URL": reporting_dsn, "LEADS_WORKERS": "2",
           "LEADS_RELAY_POLL_INTERVAL": "0.2"}
    started: list[ServiceProcess] = []
    try:
        started.append(await start_service("leads", env))
        started.append(await start_service("reporting", env))
        yield started[0], started[1], blocker
    finally:
        for service in started:
            await stop_service(service)
        await blocker.close()


async def test_lag_series_move_during_a_capture(
    stack: tuple[ServiceProcess, ServiceProcess, asyncpg.Connection], unique: str,
) -> None:
    leads, reporting, relay_lock = stack
    before = await scrape(reporting.url)
    assert value(before, "salesflow_dead_letters_open", consumer="reporting") == 0
    applied_before = total(before, "salesflow_projection_lag_seconds_count", consumer="reporting")

    async with httpx.AsyncClient(headers=auth_headers("director"), timeout=20) as client:
        responses = await asyncio.gather(*(
            client.post(f"{leads.url}/v1/leads", json={"name": f"客户{i}", "phone": f"1390000{i:04d}",
                                                      "channel": "website"}) for i in range(CAPTURES)))
    assert [r.status_code for r in responses] == [201] * CAPTURES

    # Stored, not published: the relay's lag is every capture's events, and the oldest one ages.
    held = await scrape(leads.url)
    behind = value(held, "salesflow_relay_events_behind", relay="leads")
    assert behind is not None
    assert behind >= CAPTURES
    first_age = value(held, "salesflow_relay_oldest_unpublished_age_seconds", relay="leads")
    assert first_age is not None
    assert first_age > 0
    aged = await eventually(lambda: scrape(leads.url), until=lambda s: (value(
        s, "salesflow_relay_oldest_unpublished_age_seconds", relay="leads") or 0) > first_age,
        what="the oldest unpublished event's age to grow")
    assert value(aged, "salesflow_relay_events_behind", relay="leads") == behind
    # Both workers answered some of the captures; the scrape adds them up.
    assert total(held, "salesflow_http_request_duration_seconds_count", method="POST", route="/v1/leads",
                 status="201") == CAPTURES
    assert value(held, "salesflow_commands_total", command="POST /v1/leads", outcome="accepted") == CAPTURES
    assert total(held, "salesflow_db_pool_connections", state="max") > 0

    await relay_lock.execute("SELECT pg_advisory_unlock_all()")  # the service's relay takes over

    caught_up = await eventually(lambda: scrape(leads.url), until=lambda s: value(
        s, "salesflow_relay_events_behind", relay="leads") == 0, timeout=60, what="the relay to catch up")
    assert value(caught_up, "salesflow_relay_oldest_unpublished_age_seconds", relay="leads") == 0
    assert total(caught_up, "salesflow_relay_published_events_total", relay="leads") == behind

    after = await eventually(
        lambda: scrape(reporting.url),
        until=lambda s: total(s, "salesflow_consumer_events_total", consumer="reporting", outcome="applied")
        >= behind and sum(p["partition"] != "" for p in series(s, "salesflow_consumer_lag_messages")) > 0
        and total(s, "salesflow_consumer_lag_messages", group=f"{unique}-reporting") == 0,
        timeout=60, what="reporting to apply every event and its group's committed offsets to reach the end")
    # The projection lag was observed for the batches (event recorded → read model committed) and is at least
    # the time the events were held back.
    assert total(after, "salesflow_projection_lag_seconds_count", consumer="reporting") > applied_before
    assert total(after, "salesflow_projection_lag_seconds_sum", consumer="reporting") >= first_age
    lagged_topics = {p["topic"] for p in series(after, "salesflow_consumer_lag_messages")}
    assert any(t.endswith(".leads") for t in lagged_topics)
