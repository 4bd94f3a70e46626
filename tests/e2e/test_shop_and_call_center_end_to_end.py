"""Issue 17's "done when", in part: a simulated online shop and a simulated call center, each its own process
(tests/support/simulators.py), talk to salesflow only over their inbound Kafka topics (as their own principals,
User:shop and User:call-center) and HTTP (their bearer tokens: system clients of the test issuer, not Keycloak's
client credentials). leads, orders and webhooks run as processes. What must come out: the shop's inquiry, cart,
checkout and HTTP capture as the right leads; the call center's answered call as a follow-up on the caller's lead
by the agent, its missed call from an unknown number as a call-center lead with a call-back due; and the shop's
webhook receiver, down at first, gets the signed ContractSigned once it is up. Reporting is not part of it yet."""

from __future__ import annotations

import asyncio
import itertools
import json
import sys
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from services.webhooks.domain.signing import verify
from shared.contracts.inbound import INBOUND_CALLS, INBOUND_SHOP
from shared.messaging.connection import KafkaConnection
from shared.messaging.topics import dead_letter_topic, ensure_topics
from tests.support.auth import auth_headers, token_for
from tests.support.infra import REPO, RUN_ID, Infra
from tests.support.kafka_acls import own_principal, topic_acls
from tests.support.leads import scratch_database
from tests.support.processes import ServiceProcess, free_port, inherited_env, start_service, stop_service
from tests.support.waiting import eventually
from tests.support.webhook_receiver import Receiver

pytestmark = pytest.mark.e2e

SECRET = "shop-webhook-secret-0002"
DIRECTOR = auth_headers("director")
_phones = itertools.count(50_000_001)


def a_phone() -> str:
    return f"135{next(_phones):08d}"


@dataclass
class World:
    infra: Infra
    prefix: str
    leads: ServiceProcess
    orders: ServiceProcess
    webhooks: ServiceProcess
    shop: KafkaConnection
    call_center: KafkaConnection
    client: httpx.AsyncClient

    async def simulate(self, principal: KafkaConnection, topic: str, token: str,
                       messages: list[dict[str, Any]], http: list[dict[str, Any]] | None = None
                       ) -> list[dict[str, Any]]:
        """Run a simulated system as its own process until it has sent everything; its HTTP answers."""
        env = {**inherited_env(), "SIM_TOPIC": topic, "SIM_TOKEN": token, "SIM_MESSAGES": json.dumps(messages),
               "SIM_HTTP": json.dumps(http or []), "SIM_KAFKA": json.dumps({
                   "bootstrap_servers": principal.bootstrap_servers, "security_protocol": principal.security_protocol,
                   "sasl_mechanism": principal.sasl_mechanism, "username": principal.username,
                   "password": principal.password})}
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "tests.support.simulators", cwd=REPO, env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await asyncio.wait_for(process.communicate(), timeout=120)
        assert process.returncode == 0, err.decode()
        return [json.loads(line) for line in out.decode().splitlines() if line.strip()]

    async def leads_of(self, phone: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = (await self.client.get(f"{self.leads.url}/v1/customers/leads",
                                                              params={"phone": phone})).json()["leads"]
        return found

    async def lead(self, lead_id: str) -> dict[str, Any]:
        detail: dict[str, Any] = (await self.client.get(f"{self.leads.url}/v1/leads/{lead_id}")).json()
        return detail


@pytest.fixture(scope="module")
async def world(infra: Infra) -> AsyncIterator[World]:
    prefix = f"t{RUN_ID}e2e17"
    shop_topic, calls_topic = f"{prefix}.{INBOUND_SHOP}", f"{prefix}.{INBOUND_CALLS}"
    read = [shop_topic, calls_topic, *(f"{prefix}.{s}" for s in ("leads", "orders", "aftersales"))]
    await ensure_topics(infra.kafka, [*read, *map(dead_letter_topic, read)])
    shop, call_center = own_principal(infra, "shop"), own_principal(infra, "call-center")
    assert shop.username is not None
    assert call_center.username is not None
    env = {**infra.kafka_env(), "SALESFLOW_TOPIC_PREFIX": prefix}
    async with scratch_database(infra, "e2e17_leads") as leads_dsn, \
            scratch_database(infra, "e2e17_orders") as orders_dsn, \
            scratch_database(infra, "e2e17_webhooks") as webhooks_dsn, \
            topic_acls(infra, [(shop.username, shop_topic), (call_center.username, calls_topic)]):
        started: list[ServiceProcess] = []
        try:
            started.append(await start_service("leads", {
                **env, "LEADS_DATABASE_URL": leads_dsn, "LEADS_CONSUMER_GROUP": f"{prefix}-leads",
                "LEADS_DEFAULT_TEAM_ID": "t1", "LEADS_TIMER_POLL_INTERVAL": "0.2"}))
            started.append(await start_service("orders", {
                **env, "ORDERS_DATABASE_URL": orders_dsn, "ORDERS_CONSUMER_GROUP": f"{prefix}-orders",
                "ORDERS_RELAY_POLL_INTERVAL": "0.2"}))
            started.append(await start_service("webhooks", {
                **env, "WEBHOOKS_DATABASE_URL": webhooks_dsn, "WEBHOOKS_CONSUMER_GROUP": f"{prefix}-webhooks",
                "WEBHOOKS_POLL_INTERVAL": "0.1", "WEBHOOKS_ATTEMPTS_PER_ROUND": "2",
                "WEBHOOKS_ATTEMPT_WAIT_SECONDS": "0.05", "WEBHOOKS_ATTEMPT_WAIT_MAX_SECONDS": "0.1",
                "WEBHOOKS_ROUND_BACKOFF_SECONDS": "0.5", "WEBHOOKS_ROUND_BACKOFF_MAX_SECONDS": "1",
                "WEBHOOKS_MAX_ROUNDS": "30"}))
            leads, orders, webhooks = started
            async with httpx.AsyncClient(headers=DIRECTOR, timeout=10) as client:
                for path, body in (("/v1/teams", {"team_id": "t1", "name": "t1"}),
                                   ("/v1/consultants", {"consultant_id": "c1", "name": "陈一", "team_id": "t1"}),
                                   ("/v1/consultants", {"consultant_id": "c2", "name": "李二", "team_id": "t1"})):
                    response = await client.post(f"{leads.url}{path}", json=body)
                    assert response.status_code in (200, 201), response.text
                yield World(infra, prefix, leads, orders, webhooks, shop, call_center, client)
        finally:
            for service in reversed(started):
                await stop_service(service)


async def test_the_shop_and_the_call_center_over_kafka_and_http_make_the_right_work(world: World) -> None:
    receiver = Receiver(free_port())  # the shop's webhook endpoint: down until started below
    try:
        await _scenario(world, receiver)
    finally:
        receiver.stop()


async def _scenario(world: World, receiver: Receiver) -> None:
    asked, carted, bought, posted, called, missed = (a_phone() for _ in range(6))
    shop_token = token_for(None, scopes=["leads:capture", "orders:checkout", "webhooks:manage"], client="shop")
    now = datetime.now(UTC)
    answers = await world.simulate(world.shop, f"{world.prefix}.{INBOUND_SHOP}", shop_token, http=[
        {"method": "POST", "url": f"{world.webhooks.url}/v1/webhooks/subscriptions",
         "json": {"url": receiver.url, "event_types": ["salesflow.orders.ContractSigned"], "secret": SECRET}},
        {"method": "POST", "url": f"{world.leads.url}/v1/leads",
         "json": {"name": "郑十", "phone": posted, "channel": "online_shop", "source_system": "shop",
                  "external_id": f"Q-{RUN_ID}-http"}},
    ], messages=[
        {"type": "salesflow.inbound.shop.InquirySubmitted", "key": f"Q-{RUN_ID}-1", "payload": {
            "inquiry_id": f"Q-{RUN_ID}-1", "name": "王五", "phone": asked, "interest": "Model Y",
            "submitted_at": now.isoformat()}},
        {"type": "salesflow.inbound.shop.CartAbandoned", "key": f"C-{RUN_ID}-1", "payload": {
            "cart_id": f"C-{RUN_ID}-1", "name": "赵六", "phone": carted, "items": [{"product": "WALLBOX"}],
            "abandoned_at": now.isoformat()}},
        {"type": "salesflow.inbound.shop.OrderCheckedOut", "key": f"SO-{RUN_ID}-1", "payload": {
            "shop_order_id": f"SO-{RUN_ID}-1", "customer_name": "孙八", "customer_phone": bought,
            "lines": [{"product": "MUG", "quantity": 2, "unit_price_minor": 50_00}], "total_minor": 100_00,
            "paid_minor": 100_00, "currency": "CNY", "checked_out_at": now.isoformat()}},
        {"type": "salesflow.inbound.shop.InquirySubmitted", "key": f"Q-{RUN_ID}-2", "payload": {
            "inquiry_id": f"Q-{RUN_ID}-2", "name": "周九", "phone": called, "submitted_at": now.isoformat()}},
    ])
    assert [a["status"] for a in answers] == [201, 201]
    subscription = answers[0]["body"]["subscription_id"]

    # The caller of the answered call must have a lead before the call is reported (the call center calls back
    # an inquiry): wait for it, then the call center reports its calls.
    caller_lead = (await eventually(lambda: world.leads_of(called), what="the inquiry of the caller"))[0]
    center_token = token_for(None, scopes=["leads:capture"], client="call-center")
    missed_at = now - timedelta(minutes=30)
    await world.simulate(world.call_center, f"{world.prefix}.{INBOUND_CALLS}", center_token, messages=[
        {"type": "salesflow.inbound.calls.CallRecorded", "key": f"CALL-{RUN_ID}-1", "payload": {
            "call_id": f"CALL-{RUN_ID}-1", "caller_number": called, "direction": "inbound", "agent_id": "c2",
            "started_at": now.isoformat(), "duration_seconds": 180, "outcome": "answered",
            "recording_url": "https://cc.example/rec/1"}},
        {"type": "salesflow.inbound.calls.CallRecorded", "key": f"CALL-{RUN_ID}-2", "payload": {
            "call_id": f"CALL-{RUN_ID}-2", "caller_number": missed, "direction": "inbound",
            "started_at": missed_at.isoformat(), "duration_seconds": 0, "outcome": "missed"}},
    ])

    # The shop's leads.
    assert [(x["channel"], x["interest"]) for x in await eventually(lambda: world.leads_of(asked), what="inquiry")
            ] == [("online_shop", "Model Y")]
    assert [x["interest"] for x in await eventually(lambda: world.leads_of(carted), what="cart")] == [
        "abandoned cart: WALLBOX"]
    assert [x["channel"] for x in await world.leads_of(posted)] == ["online_shop"]
    bought_leads = await eventually(lambda: world.leads_of(bought), what="the buyer's lead")
    assert [x["stage"] for x in bought_leads] == ["contract_signed"]
    assert all(x["owner_id"] in ("c1", "c2") for x in (*await world.leads_of(asked), *await world.leads_of(posted)))

    # The call center's work: a follow-up by the agent on the caller's lead; a call-back on a new lead.
    detail = await eventually(lambda: world.lead(caller_lead["lead_id"]),
                              until=lambda d: d["stage"] == "contacted", what="the answered call's follow-up")
    logged = next(e for e in detail["history"] if e["event_type"] == "FollowUpLogged")
    assert (logged["data"]["kind"], logged["data"]["logged_by"]) == ("call", "c2")
    missed_leads = await eventually(lambda: world.leads_of(missed), what="the missed caller's lead")
    assert [x["channel"] for x in missed_leads] == ["call_center"]
    missed_detail = await world.lead(missed_leads[0]["lead_id"])
    recorded = next(e for e in missed_detail["history"] if e["event_type"] == "CallRecorded")
    assert datetime.fromisoformat(recorded["data"]["call_back_due_at"]) == missed_at + timedelta(hours=2)

    # The webhook: refused while the receiver is down, delivered and correctly signed once it is up.
    async with httpx.AsyncClient(base_url=world.webhooks.url, timeout=10,
                                 headers={"Authorization": f"Bearer {shop_token}"}) as shop_api:
        async def deliveries() -> list[dict[str, Any]]:
            found: list[dict[str, Any]] = (await shop_api.get(
                f"/v1/webhooks/subscriptions/{subscription}/deliveries")).json()["deliveries"]
            return found

        await eventually(deliveries, until=lambda ds: any(d["rounds"] >= 1 for d in ds), timeout=60,
                         what="a failed round while the receiver is down")
        receiver.start()
        done = await eventually(deliveries, until=lambda ds: bool(ds) and all(d["status"] == "delivered" for d in ds),
                                timeout=30, what="the delivery once the receiver is up")
    assert len(receiver.received) == len(done) == 1
    delivery = receiver.received[0]
    verify(secret=SECRET, headers=delivery.headers, body=delivery.body, now=time.time())
    body = json.loads(delivery.body)
    assert (body["type"], body["data"]["shop_order_id"]) == ("salesflow.orders.ContractSigned", f"SO-{RUN_ID}-1")
    assert body["data"]["customer_phone"] == f"+86{bought}"
    assert uuid.UUID(body["event_id"])
