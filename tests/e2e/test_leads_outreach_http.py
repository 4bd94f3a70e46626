"""Outreach batches over HTTP against the leads process (real PostgreSQL, Kafka, the test issuer's tokens): a
manager turns the team's lost customers into a batch that lands in two consultants' work queues round robin, a
repeat with the same Idempotency-Key creates nothing, the batch is published and shows its progress."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.support.auth import auth_headers
from tests.support.infra import RUN_ID, Infra
from tests.support.kafka import header, read_topic
from tests.support.leads import body, scratch_database
from tests.support.processes import ServiceProcess, start_service, stop_service
from tests.support.waiting import eventually

pytestmark = pytest.mark.e2e

TEAM = "ob-east"
PREFIX = f"t{RUN_ID}leadsob"
_phones = itertools.count(60_000_001)
AS_DIRECTOR = auth_headers("director", subject="ob-dir")
AS_MANAGER = auth_headers("manager", subject="ob-max", team=TEAM)
AS = {name: auth_headers("consultant", subject=name, team=TEAM) for name in ("ob-ann", "ob-bob", "ob-cat")}


@pytest.fixture(scope="module")
async def service(infra: Infra) -> AsyncIterator[ServiceProcess]:
    async with scratch_database(infra, "leads_ob_http") as dsn:
        process = await start_service("leads", {
            **infra.kafka_env(), "SALESFLOW_TOPIC_PREFIX": PREFIX, "LEADS_DATABASE_URL": dsn,
            "LEADS_RELAY_POLL_INTERVAL": "0.2"})
        try:
            async with httpx.AsyncClient(headers=AS_DIRECTOR, base_url=process.url, timeout=10) as client:
                assert (await client.post("/v1/teams", json={"team_id": TEAM, "name": TEAM})).status_code == 201
                for consultant, role in (("ob-ann", "consultant"), ("ob-bob", "consultant"),
                                         ("ob-cat", "consultant"), ("ob-max", "manager")):
                    created = await client.post("/v1/consultants", json={
                        "consultant_id": consultant, "name": consultant, "team_id": TEAM, "role": role})
                    assert created.status_code == 201, created.text
            yield process
        finally:
            await stop_service(process)


@pytest.fixture
async def client(service: ServiceProcess) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=service.url, timeout=30) as c:
        yield c


async def a_lost_customer(client: httpx.AsyncClient) -> dict[str, Any]:
    captured = await client.post("/v1/leads", headers=AS_MANAGER, json={
        "name": "赵六", "phone": f"133 {next(_phones):08d}", "channel": "roadshow", "team_id": TEAM})
    assert captured.status_code == 201, captured.text
    lead: dict[str, Any] = captured.json()
    path = f"/v1/leads/{lead['lead_id']}/loss-request"
    assert (await client.post(path, headers=AS_MANAGER, json={"reason": "price"})).status_code == 200
    assert (await client.post(f"{path}/approve", headers=AS_MANAGER, json={})).status_code == 200
    return lead


async def queue(client: httpx.AsyncClient, consultant: str) -> list[dict[str, Any]]:
    answer = await client.get("/v1/work-queue", headers=AS[consultant], params={"limit": 200})
    assert answer.status_code == 200, answer.text
    items: list[dict[str, Any]] = answer.json()["items"]
    return items


async def test_a_managers_outreach_batch_lands_in_two_consultants_queues_round_robin_and_a_repeat_does_nothing(
    client: httpx.AsyncClient, infra: Infra,
) -> None:
    lost = [await a_lost_customer(client) for _ in range(4)]
    due = (datetime.now(UTC) + timedelta(days=1)).replace(microsecond=0)
    request = {"filters": {"audience": "lost", "channel": "roadshow", "lost_reason": "price"},
               "consultant_ids": ["ob-ann", "ob-bob"], "due_at": due.isoformat(), "note": "win them back"}
    key = {"Idempotency-Key": f"roadshow-{RUN_ID}"}
    queues_before = {c: await queue(client, c) for c in ("ob-ann", "ob-bob", "ob-cat")}

    first = await client.post("/v1/outreach-batches", headers={**AS_MANAGER, **key}, json=request)
    queues_after = {c: await queue(client, c) for c in ("ob-ann", "ob-bob", "ob-cat")}
    repeat = await client.post("/v1/outreach-batches", headers={**AS_MANAGER, **key}, json=request)
    queues_after_repeat = {c: await queue(client, c) for c in ("ob-ann", "ob-bob", "ob-cat")}

    assert first.status_code == 201, first.text
    assert repeat.status_code == 200, repeat.text
    batch = first.json()
    assert repeat.json() == batch
    assert (batch["selected"], batch["reactivated"]) == (4, 4)
    assert [t["source_lead_id"] for t in batch["tasks"]] == [lead["lead_id"] for lead in lost]
    assert [t["consultant_id"] for t in batch["tasks"]] == ["ob-ann", "ob-bob", "ob-ann", "ob-bob"]
    for consultant in ("ob-ann", "ob-bob"):
        new = [i for i in queues_after[consultant] if i not in queues_before[consultant]]
        assert {i["lead_id"] for i in new} == {t["lead_id"] for t in batch["tasks"]
                                               if t["consultant_id"] == consultant}
        assert {(i["kind"], i["customer_name"], datetime.fromisoformat(i["due_at"])) for i in new} == {
            ("follow_up", "赵六", due)}
    assert queues_after["ob-cat"] == queues_before["ob-cat"]
    assert queues_after_repeat == queues_after

    shown = await client.get(f"/v1/outreach-batches/{batch['batch_id']}", headers=AS_MANAGER)
    assert shown.status_code == 200, shown.text
    assert shown.json()["progress"] == {"due": 4}
    assert (await client.get(f"/v1/outreach-batches/{batch['batch_id']}", headers=AS["ob-ann"])).status_code == 404

    async def published() -> list[Any]:
        records = await read_topic(infra.kafka, f"{PREFIX}.leads", expect=1)
        return [r for r in records if r.key == batch["batch_id"].encode()]
    [event] = await eventually(published, what="OutreachBatchCreated on the leads topic")
    assert header(event, "ce_type") == "salesflow.leads.OutreachBatchCreated"
    assert (body(event)["selected"], body(event)["consultant_ids"]) == (4, ["ob-ann", "ob-bob"])


async def test_a_consultant_may_not_create_a_batch_and_bad_input_is_422_naming_the_field(
    client: httpx.AsyncClient,
) -> None:
    request = {"filters": {"audience": "lost"}, "consultant_ids": ["ob-ann"]}
    as_consultant = await client.post("/v1/outreach-batches", headers=AS["ob-ann"], json=request)
    bad_audience = await client.post("/v1/outreach-batches", headers=AS_MANAGER,
                                     json={**request, "filters": {"audience": "everyone"}})
    no_consultants = await client.post("/v1/outreach-batches", headers=AS_MANAGER,
                                       json={**request, "consultant_ids": []})
    unknown = await client.post("/v1/outreach-batches", headers=AS_MANAGER,
                                json={**request, "consultant_ids": ["ob-nobody"]})

    assert as_consultant.status_code == 403
    assert bad_audience.status_code == 422
    assert "audience" in bad_audience.text
    assert no_consultants.status_code == 422
    assert "consultant_ids" in no_consultants.text
    assert unknown.status_code == 404
