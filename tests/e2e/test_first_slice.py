"""The first slice end to end: leads and reporting run as real processes against real Kafka and PostgreSQL;
a lead captured over HTTP shows up in reporting's funnel."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest

from tests.conftest import CreateDatabase
from tests.support.auth import auth_headers
from tests.support.infra import Infra
from tests.support.processes import ServiceProcess, start_service, stop_service
from tests.support.waiting import eventually

pytestmark = pytest.mark.e2e


@pytest.fixture
async def services(
    infra: Infra, create_database: CreateDatabase, unique: str
) -> AsyncIterator[dict[str, ServiceProcess]]:
    env = {
        **infra.kafka_env(),
        "SALESFLOW_TOPIC_PREFIX": unique,
        "LEADS_DATABASE_URL": await create_database("leads"),
        "REPORTING_DATABASE_URL": await create_database("reporting"),
        "LEADS_RELAY_POLL_INTERVAL": "0.5",
    }
    started: dict[str, ServiceProcess] = {}
    try:
        for name in ("leads", "reporting"):
            started[name] = await start_service(name, env)
        yield started
    finally:
        for service in started.values():
            await stop_service(service)


async def funnel(client: httpx.AsyncClient, reporting: ServiceProcess) -> dict:
    response = await client.get(f"{reporting.url}/v1/funnel")
    response.raise_for_status()
    return response.json()


async def test_a_captured_lead_is_counted_in_the_reporting_funnel(services: dict[str, ServiceProcess]) -> None:
    leads, reporting = services["leads"], services["reporting"]
    async with httpx.AsyncClient(headers=auth_headers("director"), timeout=10) as client:
        created = await client.post(f"{leads.url}/v1/leads", json={
            "name": "王小明", "phone": "+86 138-1234-5678", "channel": "online_shop", "interest": "Model 3",
        }, headers={"X-Correlation-Id": "e2e-1"})
        assert created.status_code == 201, created.text
        lead = created.json()
        assert lead["phone"] == "138****5678"  # a director is outside need-to-know: masked (docs/security.md)

        report = await eventually(lambda: funnel(client, reporting), until=lambda f: f["total_leads"] == 1,
                                  what="the lead in the funnel")
        assert report["stages"][0] == {"stage": "new", "current": 1, "reached": 1, "conversion_from_previous": None}
        assert report["by_channel"] == {"online_shop": 1}

        detail = (await client.get(f"{leads.url}/v1/leads/{lead['lead_id']}")).json()
        # No team configured: captured unassigned, with the first contact due (issue #3 added FollowUpScheduled).
        assert [h["event_type"] for h in detail["history"]] == ["LeadCreated", "FollowUpScheduled"]
        assert detail["history"][0]["correlation_id"] == "e2e-1"


async def test_invalid_input_is_refused_with_the_field_and_reason_and_nothing_is_stored(
    services: dict[str, ServiceProcess],
) -> None:
    leads, reporting = services["leads"], services["reporting"]
    async with httpx.AsyncClient(headers=auth_headers("director"), timeout=10) as client:
        bad_phone = await client.post(f"{leads.url}/v1/leads",
                                      json={"name": "李四", "phone": "12345", "channel": "call_center"})
        missing_name = await client.post(f"{leads.url}/v1/leads", json={"phone": "13812345678", "channel": "phone"})
        bad_channel = await client.post(f"{leads.url}/v1/leads",
                                        json={"name": "李四", "phone": "13812345678", "channel": "carrier_pigeon"})
        for response, field in ((bad_phone, "phone"), (missing_name, "name"), (bad_channel, "channel")):
            assert response.status_code == 422, response.text
            error = response.json()["error"]
            assert error["code"] == "validation_error"
            assert [f["field"] for f in error["fields"]] == [field]
            assert error["fields"][0]["reason"]

        ok = await client.post(f"{leads.url}/v1/leads",
                               json={"name": "李四", "phone": "13812345678", "channel": "call_center"})
        assert ok.status_code == 201
        report = await eventually(lambda: funnel(client, reporting), until=lambda f: f["total_leads"] >= 1,
                                  what="the valid lead")
        assert report["total_leads"] == 1
        assert report["by_channel"] == {"call_center": 1}


async def test_both_services_publish_health_and_openapi(services: dict[str, ServiceProcess]) -> None:
    async with httpx.AsyncClient(headers=auth_headers("director"), timeout=10) as client:
        for service in services.values():
            assert (await client.get(f"{service.url}/health/live")).json() == {"status": "ok"}
            assert (await client.get(f"{service.url}/health/ready")).status_code == 200
        leads_api = (await client.get(f"{services['leads'].url}/openapi.json")).json()
        reporting_api = (await client.get(f"{services['reporting'].url}/openapi.json")).json()
    assert "/v1/leads" in leads_api["paths"]
    assert "/v1/funnel" in reporting_api["paths"]
    assert "/admin/dead-letters" in reporting_api["paths"]


async def test_nothing_is_stored_for_refused_input(infra: Infra, create_database: CreateDatabase, unique: str) -> None:
    dsn = await create_database("leads")
    env = {**infra.kafka_env(), "SALESFLOW_TOPIC_PREFIX": unique,
           "LEADS_DATABASE_URL": dsn}
    leads = await start_service("leads", env)
    try:
        async with httpx.AsyncClient(headers=auth_headers("director"), timeout=10) as client:
            refused = await client.post(f"{leads.url}/v1/leads",
                                        json={"name": "李四", "phone": "0000", "channel": "phone"})
        assert refused.status_code == 422
        conn = await asyncpg.connect(dsn)
        try:
            assert await conn.fetchval("SELECT count(*) FROM events") == 0
        finally:
            await conn.close()
    finally:
        await stop_service(leads)
