"""Campaigns over HTTP, against the leads service as a real process (real PostgreSQL, Kafka and Keycloak tokens):
a manager creates a campaign (a consultant may not; bad fields are named), edits it and records its spend; leads
captured with UTM parameters are linked to it by its code or its id, an unknown campaign id is refused naming the
field with nothing written; the public LeadCreated and the campaign's events are on the leads topic."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import orjson
import pytest

from tests.support.auth import auth_headers
from tests.support.infra import RUN_ID, Infra
from tests.support.kafka import header, read_topic
from tests.support.leads import scratch_database
from tests.support.processes import ServiceProcess, start_service, stop_service

pytestmark = pytest.mark.e2e

TEAM = "promo"
ANN = auth_headers("consultant", subject="ann", team=TEAM)
MANAGER = auth_headers("manager", subject="mia", team=TEAM)


@pytest.fixture(scope="module")
async def service(infra: Infra) -> AsyncIterator[tuple[ServiceProcess, str]]:
    prefix = f"t{RUN_ID}campaigns"
    async with scratch_database(infra, "campaigns_http") as dsn:
        process = await start_service("leads", {
            **infra.kafka_env(), "SALESFLOW_TOPIC_PREFIX": prefix, "LEADS_DATABASE_URL": dsn,
            "LEADS_RELAY_POLL_INTERVAL": "0.2", "LEADS_DEFAULT_TEAM_ID": TEAM})
        try:
            async with httpx.AsyncClient(headers=auth_headers("director"), base_url=process.url, timeout=10) as c:
                assert (await c.post("/v1/teams", json={"team_id": TEAM, "name": "Promo"})).status_code == 201
                created = await c.post("/v1/consultants", json={"consultant_id": "ann", "name": "Ann", "team_id": TEAM})
                assert created.status_code == 201, created.text
            yield process, prefix
        finally:
            await stop_service(process)


async def test_a_campaign_is_created_charged_and_credited_with_the_leads_its_links_bring(
        service: tuple[ServiceProcess, str], infra: Infra) -> None:
    process, prefix = service
    today = datetime.now(UTC).date()
    body = {"code": f"expo-{RUN_ID}", "name": "车展 2026", "kind": "exhibition", "channel": "exhibition",
            "starts_on": today.isoformat(), "ends_on": (today + timedelta(days=3)).isoformat(),
            "budget_minor": 8_000_000}
    async with httpx.AsyncClient(base_url=process.url, timeout=10) as http:
        forbidden = await http.post("/v1/campaigns", headers=ANN, json=body)
        assert forbidden.status_code == 403
        bad = await http.post("/v1/campaigns", headers=MANAGER, json={**body, "kind": "billboard"})
        assert (bad.status_code, bad.json()["error"]["fields"][0]["field"]) == (422, "kind"), bad.text
        created = await http.post("/v1/campaigns", headers=MANAGER, json=body)
        assert created.status_code == 201, created.text
        campaign = created.json()["campaign_id"]
        again = await http.post("/v1/campaigns", headers=MANAGER, json=body)
        assert (again.status_code, again.json()["error"]["code"]) == (409, "campaign_code_taken")

        edited = await http.patch(f"/v1/campaigns/{campaign}", headers=MANAGER, json={"budget_minor": 9_000_000})
        assert (edited.status_code, edited.json()["budget_minor"]) == (200, 9_000_000)
        for amount in (3_000_000, -500_000):
            spent = await http.post(f"/v1/campaigns/{campaign}/spend", headers=MANAGER,
                                    json={"amount_minor": amount, "note": "展位"})
            assert spent.status_code == 201, spent.text
        over = await http.post(f"/v1/campaigns/{campaign}/spend", headers=MANAGER, json={"amount_minor": -9_000_000})
        assert (over.status_code, over.json()["error"]["fields"][0]["field"]) == (422, "amount_minor")

        by_code = await http.post("/v1/leads", headers=ANN, json={
            "name": "钱先生", "phone": "135 0000 8801", "channel": "exhibition", "utm_source": "dongchedi",
            "utm_medium": "banner", "utm_campaign": f"expo-{RUN_ID}"})
        by_id = await http.post("/v1/leads", headers=ANN, json={
            "name": "孙女士", "phone": "135 0000 8802", "channel": "website", "campaign_id": campaign})
        assert (by_code.status_code, by_id.status_code) == (201, 201), (by_code.text, by_id.text)
        assert by_code.json()["campaign_id"] == by_id.json()["campaign_id"] == campaign
        assert by_code.json()["utm"] == {"utm_source": "dongchedi", "utm_medium": "banner",
                                         "utm_campaign": f"expo-{RUN_ID}"}
        unknown = await http.post("/v1/leads", headers=ANN, json={
            "name": "李", "phone": "135 0000 8803", "channel": "website", "campaign_id": "no-such-campaign"})
        assert (unknown.status_code, unknown.json()["error"]["fields"][0]["field"]) == (422, "campaign_id"), \
            unknown.text
        nobody = await http.get("/v1/customers/leads", headers=auth_headers("director"),
                                params={"phone": "135 0000 8803"})
        assert nobody.json()["leads"] == []

        shown = (await http.get(f"/v1/campaigns/{campaign}", headers=ANN)).json()
        listed = (await http.get("/v1/campaigns", headers=ANN)).json()["campaigns"]
    assert (shown["spent_minor"], shown["budget_minor"], [e["amount_minor"] for e in shown["spend_entries"]]) == (
        2_500_000, 9_000_000, [3_000_000, -500_000])
    assert [c["campaign_id"] for c in listed] == [campaign]

    # Team, consultant; two leads (created, assigned, follow-up each); the campaign (created, updated, 2 × spend).
    records = await read_topic(infra.kafka, f"{prefix}.leads", expect=12)
    by_type: dict[str, list[dict[str, object]]] = {}
    for r in records:
        by_type.setdefault(header(r, "ce_type"), []).append(orjson.loads(r.value))
    created_leads = by_type["salesflow.leads.LeadCreated"]
    assert sorted((x["campaign_id"], x["utm_campaign"] or "") for x in created_leads) == sorted(
        [(campaign, f"expo-{RUN_ID}"), (campaign, "")])
    assert [x["amount_minor"] for x in by_type["salesflow.leads.CampaignSpendRecorded"]] == [3_000_000, -500_000]
    assert len(by_type["salesflow.leads.CampaignCreated"]) == len(by_type["salesflow.leads.CampaignUpdated"]) == 1
