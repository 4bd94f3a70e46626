"""Work queues and the filtered lead list over HTTP against the leads process (real PostgreSQL, Kafka, the test
issuer's tokens): a consultant's own queue, a manager's team queue, who is refused, cursors and limits."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.support.auth import auth_headers
from tests.support.infra import RUN_ID, Infra
from tests.support.leads import scratch_database
from tests.support.processes import ServiceProcess, start_service, stop_service

pytestmark = pytest.mark.e2e

TEAM, OTHER = "wq-north", "wq-south"
_phones = itertools.count(40_000_001)
AS_DIRECTOR = auth_headers("director", subject="wq-dir")
AS_MANAGER = auth_headers("manager", subject="wq-max", team=TEAM)
AS_ANN = auth_headers("consultant", subject="wq-ann", team=TEAM)
AS_OTHER_MANAGER = auth_headers("manager", subject="wq-sam", team=OTHER)


@pytest.fixture(scope="module")
async def service(infra: Infra) -> AsyncIterator[ServiceProcess]:
    async with scratch_database(infra, "leads_wq_http") as dsn:
        process = await start_service("leads", {
            **infra.kafka_env(), "SALESFLOW_TOPIC_PREFIX": f"t{RUN_ID}leadswq", "LEADS_DATABASE_URL": dsn,
            "LEADS_RELAY_POLL_INTERVAL": "0.2"})
        try:
            async with httpx.AsyncClient(headers=AS_DIRECTOR, base_url=process.url, timeout=10) as client:
                for team in (TEAM, OTHER):
                    assert (await client.post("/v1/teams", json={"team_id": team, "name": team})).status_code == 201
                for consultant, team, role in (("wq-ann", TEAM, "consultant"), ("wq-bob", TEAM, "consultant"),
                                               ("wq-max", TEAM, "manager"), ("wq-cid", OTHER, "consultant"),
                                               ("wq-sam", OTHER, "manager")):
                    created = await client.post("/v1/consultants", json={
                        "consultant_id": consultant, "name": consultant, "team_id": team, "role": role})
                    assert created.status_code == 201, created.text
            yield process
        finally:
            await stop_service(process)


@pytest.fixture
async def client(service: ServiceProcess) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=service.url, timeout=10) as c:
        yield c


async def capture(client: httpx.AsyncClient, team: str, **fields: Any) -> dict[str, Any]:
    answer = await client.post("/v1/leads", headers=AS_DIRECTOR, json={
        "name": "王五", "phone": f"135 {next(_phones):08d}", "channel": "website", "team_id": team, **fields})
    assert answer.status_code == 201, answer.text
    lead: dict[str, Any] = answer.json()
    return lead


async def all_pages(client: httpx.AsyncClient, path: str, headers: dict[str, str], key: str = "items",
                    **params: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        answer = await client.get(path, headers=headers, params={**params, **({"cursor": cursor} if cursor else {})})
        assert answer.status_code == 200, answer.text
        items += answer.json()[key]
        cursor = answer.json()["next_cursor"]
        if cursor is None:
            return items


async def test_a_consultants_queue_has_their_follow_ups_in_order_and_the_manager_sees_the_teams(
    client: httpx.AsyncClient,
) -> None:
    leads = [await capture(client, TEAM) for _ in range(4)]
    anns = {lead["lead_id"] for lead in leads if lead["owner_id"] == "wq-ann"}
    bobs = {lead["lead_id"] for lead in leads if lead["owner_id"] == "wq-bob"}

    mine = await all_pages(client, "/v1/work-queue", AS_ANN, limit=1)
    team = await all_pages(client, "/v1/work-queue/team", AS_MANAGER, limit=3)
    bob_only = await all_pages(client, "/v1/work-queue/team", AS_MANAGER, consultant_id="wq-bob")

    assert anns
    assert bobs
    assert {i["lead_id"] for i in mine} == anns
    assert {(i["kind"], i["grade"], i["stage"], i["overdue"], i["customer_name"]) for i in mine} == {
        ("follow_up", "N", "new", False, "王五")}
    assert [i["due_at"] for i in mine] == sorted(i["due_at"] for i in mine)
    assert {i["lead_id"] for i in team} == anns | bobs
    assert {i["lead_id"] for i in bob_only} == bobs


async def test_the_team_queue_refuses_consultants_and_other_teams(client: httpx.AsyncClient) -> None:
    as_consultant = await client.get("/v1/work-queue/team", headers=AS_ANN)
    foreign_consultant = await client.get("/v1/work-queue/team", headers=AS_OTHER_MANAGER,
                                          params={"consultant_id": "wq-ann"})
    foreign_team = await client.get("/v1/work-queue/team", headers=AS_MANAGER, params={"team_id": OTHER})

    assert as_consultant.status_code == 403
    assert foreign_consultant.status_code == 404
    assert foreign_team.status_code == 403
    other = await capture(client, OTHER)
    theirs = await all_pages(client, "/v1/work-queue/team", AS_OTHER_MANAGER)
    ours = await all_pages(client, "/v1/work-queue/team", AS_MANAGER)
    assert other["lead_id"] in {i["lead_id"] for i in theirs}
    assert other["lead_id"] not in {i["lead_id"] for i in ours}


@pytest.mark.parametrize(("params", "field"), [
    ({"cursor": "not-a-cursor"}, "cursor"), ({"limit": 10_000}, "limit"), ({"grade": "Z"}, "grade"),
    ({"kind": "chores"}, "kind"), ({"idle_days": -1}, "idle_days"),
])
async def test_a_bad_cursor_limit_or_filter_is_422_naming_the_field(
    client: httpx.AsyncClient, params: dict[str, Any], field: str,
) -> None:
    answer = await client.get("/v1/work-queue", headers=AS_ANN, params=params)

    assert answer.status_code == 422
    assert field in answer.text


async def test_the_lead_list_pages_and_filters_in_the_callers_scope(client: httpx.AsyncClient) -> None:
    mine = [await capture(client, TEAM, channel="roadshow") for _ in range(3)]

    roadshow = await all_pages(client, "/v1/leads", AS_MANAGER, key="leads", channel="roadshow", limit=2)
    others_view = await all_pages(client, "/v1/leads", AS_OTHER_MANAGER, key="leads", channel="roadshow")
    bad_cursor = await client.get("/v1/leads", headers=AS_MANAGER, params={"cursor": "x"})

    assert {lead["lead_id"] for lead in mine} <= {lead["lead_id"] for lead in roadshow}
    assert others_view == []
    assert bad_cursor.status_code == 422
    assert "cursor" in bad_cursor.text


@pytest.mark.parametrize(("path", "base"), [("/v1/follow-ups", {"owner_id": "wq-ann"}), ("/v1/pool", {}),
                                            ("/v1/showroom-visits", {})])
@pytest.mark.parametrize(("params", "field"), [({"cursor": "not-a-cursor"}, "cursor"), ({"limit": 201}, "limit"),
                                               ({"limit": 0}, "limit")])
async def test_the_follow_up_pool_and_register_lists_page_and_refuse_a_bad_cursor_or_limit_naming_it(
    client: httpx.AsyncClient, path: str, base: dict[str, Any], params: dict[str, Any], field: str,
) -> None:
    first = await client.get(path, headers=AS_MANAGER, params={**base, "limit": 1})
    refused = await client.get(path, headers=AS_MANAGER, params={**base, **params})

    assert first.status_code == 200, first.text
    assert "next_cursor" in first.json()
    assert refused.status_code == 422
    assert field in refused.text


async def test_due_follow_ups_come_a_page_at_a_time_over_http(client: httpx.AsyncClient) -> None:
    owner = (await capture(client, OTHER))["owner_id"]  # south has one consultant: wq-cid
    for _ in range(2):
        await capture(client, OTHER)
    as_owner = auth_headers("consultant", subject=owner, team=OTHER)

    pages = await all_pages(client, "/v1/follow-ups", as_owner, key="leads", owner_id=owner, limit=1)

    assert len(pages) >= 3
    assert len({lead["lead_id"] for lead in pages}) == len(pages)
