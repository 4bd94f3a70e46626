"""The real identity provider: tokens from Keycloak (running natively, realm from deploy/keycloak/) drive the leads
service, which validates them against Keycloak's own JWKS — a person by the password grant, the shop by client
credentials. Also checks that the realm issues what the services read: audiences, roles, team, scopes."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from tests.conftest import CreateDatabase
from tests.support.infra import Infra
from tests.support.keycloak import bearer, claims, issuer, person_token, system_token
from tests.support.processes import ServiceProcess, start_service, stop_service

pytestmark = pytest.mark.e2e


@pytest.fixture
async def leads(infra: Infra, create_database: CreateDatabase, unique: str) -> AsyncIterator[ServiceProcess]:
    service = await start_service("leads", {
        **infra.kafka_env(), "SALESFLOW_TOPIC_PREFIX": unique,
        "LEADS_DATABASE_URL": await create_database("leads_kc"), "SALESFLOW_AUTH_ISSUER": issuer(),
        "SALESFLOW_AUTH_JWKS_REFRESH_COOLDOWN_SECONDS": "10"})
    try:
        yield service
    finally:
        await stop_service(service)


async def test_the_realm_issues_audiences_roles_team_and_scopes() -> None:
    person = claims(await person_token("c1"))
    assert person["iss"] == issuer()
    assert {"salesflow-leads", "salesflow-orders", "salesflow-aftersales", "salesflow-reporting"} <= set(
        person["aud"])
    assert (person["sub"], person["team"]) == ("c1", "t1")
    assert "consultant" in person["realm_access"]["roles"]
    shop = claims(await system_token("shop"))
    assert {"leads:capture", "orders:checkout"} <= set(shop["scope"].split())
    assert not {"consultant", "manager", "director", "ops"} & set(shop.get("realm_access", {}).get("roles", []))
    call_center = claims(await system_token("call-center"))
    assert "orders:checkout" not in call_center["scope"].split()


async def test_keycloak_tokens_drive_the_api_and_the_rules_hold(leads: ServiceProcess) -> None:
    director, shop = bearer(await person_token("d1")), bearer(await system_token("shop"))
    c1, c3, m1 = [bearer(await person_token(u)) for u in ("c1", "c3", "m1")]
    async with httpx.AsyncClient(base_url=leads.url, timeout=20) as client:
        assert (await client.post("/v1/teams", json={"team_id": "t1", "name": "一组"}, headers=director)
                ).status_code == 201
        for body in ({"consultant_id": "c1", "name": "陈一", "team_id": "t1"},
                     {"consultant_id": "m1", "name": "王经理", "team_id": "t1", "role": "manager"}):
            assert (await client.post("/v1/consultants", json=body, headers=director)).status_code == 201

        captured = await client.post("/v1/leads", headers=shop, json={
            "name": "张三", "phone": "13812345678", "channel": "online_shop", "team_id": "t1"})
        assert captured.status_code == 201, captured.text
        lead = captured.json()
        assert lead["owner_id"] == "c1"

        mine = await client.get(f"/v1/leads/{lead['lead_id']}", headers=c1)
        assert mine.status_code == 200
        assert mine.json()["phone"] == "+8613812345678"
        assert mine.json()["history"][0]["actor"] == claims(shop["Authorization"][7:])["sub"]
        assert (await client.get(f"/v1/leads/{lead['lead_id']}", headers=c3)).status_code == 404
        # The shop may capture, not read or work leads: for it the lead does not exist.
        assert (await client.post(f"/v1/leads/{lead['lead_id']}/grade", headers=shop,
                                  json={"grade": "H", "reason": "ready"})).status_code == 404

        requested = await client.post(f"/v1/leads/{lead['lead_id']}/loss-request", headers=c1,
                                      json={"reason": "bought_competitor"})
        assert requested.status_code == 200, requested.text
        approved = await client.post(f"/v1/leads/{lead['lead_id']}/loss-request/approve", headers=m1, json={})
        assert approved.status_code == 200, approved.text
        assert approved.json()["status"] == "lost"

        assert (await client.get("/v1/channels", headers={"Authorization": "Bearer forged"})).status_code == 401
