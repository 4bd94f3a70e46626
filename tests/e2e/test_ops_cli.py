"""The ops CLI (``salesflow``) against real leads and reporting processes, real PostgreSQL and Kafka — and the
dead-letter admin API's answers for poison letters (re-checked, never replayed into a 500) and bad ``limit``s."""

from __future__ import annotations

import asyncio
import json
import sys
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from shared.contracts.leads import LeadCreatedV1
from shared.messaging.connection import KafkaConnection
from shared.messaging.headers import EventHeaders
from tests.support.auth import auth_headers, token_for
from tests.support.infra import REPO, RUN_ID, Infra
from tests.support.processes import ServiceProcess, consumer_groups, inherited_env, start_service, stop_service
from tests.support.reporting import drop_database
from tests.support.upstream import publish, upstream_message
from tests.support.waiting import eventually

pytestmark = pytest.mark.e2e

CAPTURES = 3


@dataclass
class Stack:
    leads: ServiceProcess
    reporting: ServiceProcess
    reporting_dsn: str
    env: dict[str, str]
    prefix: str
    kafka: KafkaConnection


@pytest.fixture(scope="module")
async def stack(infra: Infra) -> AsyncIterator[Stack]:
    prefix = f"t{RUN_ID}ops"
    dsns = {}
    admin = await asyncpg.connect(infra.pg_admin_dsn)
    try:
        for name in ("leads", "reporting"):
            database = f"t{RUN_ID}_ops_{name}_{uuid.uuid4().hex[:6]}"
            await admin.execute(f'CREATE DATABASE "{database}"')
            dsns[name] = infra.dsn_for(database)
    finally:
        await admin.close()
    env = {**infra.kafka_env(), "SALESFLOW_TOPIC_PREFIX": prefix, **consumer_groups(prefix),
           "LEADS_DATABASE_URL": dsns["leads"], "REPORTING_DATABASE_URL": dsns["reporting"],
           "LEADS_RELAY_POLL_INTERVAL": "0.2"}
    started: list[ServiceProcess] = []
    try:
        leads = await start_service("leads", env)
        started.append(leads)
        reporting = await start_service("reporting", env)
        started.append(reporting)
        async with httpx.AsyncClient(headers=auth_headers("director"), timeout=20) as client:
            for i in range(CAPTURES):
                response = await client.post(f"{leads.url}/v1/leads", json={
                    "name": f"客户{i}", "phone": f"1370000{i:04d}", "channel": "website"})
                assert response.status_code == 201, response.text
        cli_env = {k: v for k, v in inherited_env().items() if not k.endswith("_DATABASE_URL")}
        cli_env.update(env, LEADS_HTTP_PORT=str(leads.port), REPORTING_HTTP_PORT=str(reporting.port))
        yield Stack(leads, reporting, dsns["reporting"], cli_env, prefix, infra.kafka)
    finally:
        for service in started:
            await stop_service(service)
        for dsn in dsns.values():
            await drop_database(infra, dsn)


async def salesflow(stack: Stack, *args: str) -> tuple[int, str]:
    """Run the console script as an operator would; (exit code, stdout + stderr)."""
    script = Path(sys.executable).with_name("salesflow")
    process = await asyncio.create_subprocess_exec(
        str(script), *args, cwd=REPO, env={**stack.env, "COLUMNS": "200", "SALESFLOW_OPS_TOKEN": token_for("ops")},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    try:
        output, _ = await asyncio.wait_for(process.communicate(), 300)
    finally:
        if process.returncode is None:  # cancelled (a test timeout): leave nothing running behind
            process.kill()
            await process.wait()
    return process.returncode or 0, output.decode()


async def salesflow_json(stack: Stack, *args: str) -> Any:
    code, output = await salesflow(stack, *args, "--json")
    assert code == 0, output
    return json.loads(output)


async def open_letters(stack: Stack) -> list[dict[str, Any]]:
    async with httpx.AsyncClient(headers=auth_headers("ops"), timeout=10) as client:
        response = await client.get(f"{stack.reporting.url}/admin/dead-letters")
    assert response.status_code == 200, response.text
    return list(response.json()["dead_letters"])


def caught_up(statuses: list[dict[str, Any]]) -> bool:
    """Every capture published by leads' relay and consumed by reporting. A consumer lag of 0 alone is not enough:
    it is also 0 before the relay has published anything (seen on a loaded machine: verify then compared two empty
    read models)."""
    by_service = {s["service"]: s for s in statuses}
    relay = by_service.get("leads", {}).get("relay") or {}
    consumer = by_service.get("reporting", {}).get("consumer") or {}
    return (relay.get("events_behind") == 0 and consumer.get("lag") == 0
            and sum(p["end"] for p in consumer.get("partitions") or []) >= CAPTURES)


async def reporting_caught_up(stack: Stack) -> None:
    await eventually(lambda: salesflow_json(stack, "status"), until=caught_up, timeout=120,
                     what="leads' relay and reporting to catch up")


def poison(key: str, value: bytes) -> tuple[bytes, bytes, list[tuple[str, bytes]]]:
    headers = EventHeaders(event_id=uuid.uuid4(), event_type=LeadCreatedV1.event_type, schema_version=1,
                           source="salesflow/leads", subject=key, time=datetime.now(UTC))
    return key.encode(), value, headers.encode()


@pytest.mark.timeout(900)  # four CLI runs, each a replay of the topics; slow on a busy machine
async def test_verify_finds_a_tampered_read_model_and_rebuild_repairs_it(stack: Stack) -> None:
    # First in the module: the poison test below leaves a key that a recomputation parks again (verify says so).
    await reporting_caught_up(stack)
    code, output = await salesflow(stack, "verify")
    assert code == 0, output
    assert "matches a recomputation" in output

    conn = await asyncpg.connect(stack.reporting_dsn)
    try:
        schema = await conn.fetchval("SELECT schema_name FROM public.reporting_active_schema WHERE id = 1")
        removed = await conn.fetchval(
            f'DELETE FROM "{schema}".report_leads WHERE lead_id = (SELECT min(lead_id) FROM "{schema}".report_leads)'
            " RETURNING lead_id")
    finally:
        await conn.close()
    assert removed is not None
    code, output = await salesflow(stack, "verify")
    assert code == 1, output
    assert "report_leads: 0 row(s) only in the live read model, 1 only in the recomputation" in output
    assert removed in output

    code, output = await salesflow(stack, "rebuild")
    assert code == 0, output
    assert "rebuilt" in output
    code, output = await salesflow(stack, "verify")
    assert code == 0, output


async def test_limit_and_status_parameters_are_validated(stack: Stack) -> None:
    async with httpx.AsyncClient(headers=auth_headers("ops"), timeout=10) as client:
        for query in ("limit=-1", "limit=0", "limit=abc", "limit=1000000", "status=bogus"):
            response = await client.get(f"{stack.reporting.url}/admin/dead-letters?{query}")
            assert response.status_code == 422, (query, response.text)
            assert response.json()["error"]["fields"][0]["field"] == query.split("=")[0]
        assert (await client.get(f"{stack.reporting.url}/admin/dead-letters?limit=5")).status_code == 200


@pytest.mark.timeout(600)
async def test_poison_dead_letters_are_rechecked_never_replayed_into_a_500(stack: Stack) -> None:
    key = f"lead-poison-{uuid.uuid4().hex[:6]}"
    valid = upstream_message(LeadCreatedV1(
        lead_id=key, customer_id=f"c-{key}", name="钱七", phone="+8613700009999", channel="website",
        interest=None, captured_at=datetime.now(UTC)), key=key)
    await publish(stack.kafka, f"{stack.prefix}.leads", [poison(key, b"{not json"), poison(key, b"[]"), valid])
    letters = await eventually(lambda: open_letters(stack), until=lambda d: len([x for x in d if x[
        "message_key"] == key]) == 3, timeout=60, what="two poison letters and the valid event parked behind")
    first, second, parked = sorted((x for x in letters if x["message_key"] == key), key=lambda x: x["id"])
    assert (first["kind"], second["kind"], parked["kind"]) == ("failed", "failed", "parked")

    async with httpx.AsyncClient(headers=auth_headers("ops"), timeout=20) as client:
        retried = await client.post(f"{stack.reporting.url}/admin/dead-letters/{first['id']}/retry")
        assert retried.status_code == 409, retried.text
        assert retried.json()["error"]["code"] == "dead_letter_still_failing"
        assert "not JSON" in retried.json()["error"]["reason"]
        assert first["id"] in {x["id"] for x in await open_letters(stack)}  # unchanged

        skipped = await client.post(f"{stack.reporting.url}/admin/dead-letters/{first['id']}/skip")
        assert skipped.status_code == 200, skipped.text
        # The second poison letter was re-checked, still fails, and now blocks its key: the valid one stays parked.
        assert skipped.json() == {"skipped": first["id"], "released": 0, "blocked_by": second["id"],
                                  "reason": skipped.json()["reason"]}
        assert "does not match" in skipped.json()["reason"]
        again = await client.post(f"{stack.reporting.url}/admin/dead-letters/{first['id']}/skip")
        assert again.status_code == 404, again.text
    still_open = {x["id"]: x for x in await open_letters(stack) if x["message_key"] == key}
    assert set(still_open) == {second["id"], parked["id"]}
    assert still_open[second["id"]]["kind"] == "failed"

    # The CLI: list, show, retry (still failing: a clear message and exit 1), skip (releases the valid event).
    listed = await salesflow_json(stack, "dead-letters", "list", "--service", "reporting")
    assert {x["id"] for x in listed if x["message_key"] == key and x["consumer"] == "reporting"} == {
        second["id"], parked["id"]}
    shown = await salesflow_json(stack, "dead-letters", "show", str(parked["id"]), "--service", "reporting")
    assert shown["headers"]["ce_type"] == LeadCreatedV1.event_type
    assert key in shown["value"]
    code, output = await salesflow(stack, "dead-letters", "retry", str(second["id"]), "--service", "reporting")
    assert code == 1, output
    assert "409" in output
    assert "still fails" in output
    assert "Traceback" not in output
    code, output = await salesflow(stack, "dead-letters", "skip", str(second["id"]), "--service", "reporting")
    assert code == 0, output
    assert "'released': 1" in output
    assert [x for x in await open_letters(stack) if x["message_key"] == key] == []
    code, output = await salesflow(stack, "dead-letters", "show", "999999", "--service", "reporting")
    assert code == 1
    assert "no dead letter 999999" in output


@pytest.mark.timeout(600)
async def test_status_shows_relay_and_consumer_lag_dead_letters_and_timers(stack: Stack) -> None:
    await reporting_caught_up(stack)
    statuses = {s["service"]: s for s in await salesflow_json(stack, "status")}
    leads, reporting = statuses["leads"], statuses["reporting"]
    assert leads["relay"]["events_behind"] == 0
    assert leads["timers"]["pending"] > 0  # every capture schedules its follow-up
    assert reporting["consumer"]["group"] == f"{stack.prefix}-reporting"
    topics = {p["topic"] for p in reporting["consumer"]["partitions"]}
    assert f"{stack.prefix}.leads" in topics
    assert sum(p["end"] for p in reporting["consumer"]["partitions"]) >= CAPTURES
    assert "relay" not in reporting  # reporting publishes nothing
    assert "error" in statuses["orders"]  # not configured here: said, not crashed
    code, table = await salesflow(stack, "status")
    assert code == 0, table
    assert "consumer lag by partition" in table


async def test_migrate_status_lists_every_migration_as_applied(stack: Stack) -> None:
    statuses = await salesflow_json(stack, "migrate", "status")
    for service in ("leads", "reporting"):
        assert statuses[service], service
        assert {m["state"] for m in statuses[service]} == {"applied"}, statuses[service]
        assert any(m["migration"].startswith("kernel/") for m in statuses[service])
        assert any(m["migration"].startswith(f"{service}/") for m in statuses[service])
    assert "error" in statuses["orders"]
