"""The webhooks service as a process: a client subscribes its URL over HTTP; public events produced onto Kafka (as
the orders relay would) are POSTed, signed, to a real HTTP receiver on 127.0.0.1 — which is down for a while
(connection refused) and then up. A delivery whose retry rounds run out while the receiver is down is the
subscription's dead letter, and is delivered once redelivered; one that is still pending when the receiver comes
back is delivered by its next round. The receiver verifies every signature; a replayed one fails."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from services.webhooks.domain.signing import ID_HEADER, TIMESTAMP_HEADER, SignatureError, verify
from shared.contracts.orders import ContractSignedV1, OrderLine
from tests.support.auth import auth_headers
from tests.support.infra import RUN_ID, Infra
from tests.support.leads import publish, scratch_database
from tests.support.processes import ServiceProcess, free_port, start_service, stop_service
from tests.support.waiting import eventually
from tests.support.webhook_receiver import Receiver

pytestmark = pytest.mark.e2e

SECRET = "shop-webhook-secret-0001"
CLIENT = auth_headers(None, scopes=["webhooks:manage"], client="shop")
OTHER_CLIENT = auth_headers(None, scopes=["webhooks:manage"], client="call-center")


@dataclass
class Stack:
    service: ServiceProcess
    infra: Infra
    prefix: str
    client: httpx.AsyncClient

    async def contract_signed(self, order_id: str) -> uuid.UUID:
        signed = ContractSignedV1(
            order_id=order_id, lead_id=None, customer_name="网购客户", customer_phone="+8613700000001",
            channel="online_shop", lines=[OrderLine(product="MUG", quantity=1, unit_price_minor=99_00)],
            total_minor=99_00, currency="CNY", payment_plan="full", signed_at=datetime.now(UTC))
        return await publish(self.infra.kafka, f"{self.prefix}.orders", signed, key=order_id,
                             source="salesflow/orders")

    async def deliveries(self, subscription_id: str, status: str | None = None) -> list[dict[str, Any]]:
        params = {"status": status} if status else {}
        response = await self.client.get(f"/v1/webhooks/subscriptions/{subscription_id}/deliveries", params=params)
        assert response.status_code == 200, response.text
        found: list[dict[str, Any]] = response.json()["deliveries"]
        return found


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    down = Receiver(free_port())
    yield down
    down.stop()


@pytest.fixture
async def stack(infra: Infra) -> AsyncIterator[Stack]:
    prefix = f"t{RUN_ID}webhooks{uuid.uuid4().hex[:6]}"
    async with scratch_database(infra, "webhooks") as dsn:
        # Short rounds, so "down for a while" is seconds: rounds after 0.5 s, 1 s, 1 s …; dead after 4 rounds.
        service = await start_service("webhooks", {
            **infra.kafka_env(), "SALESFLOW_TOPIC_PREFIX": prefix, "WEBHOOKS_DATABASE_URL": dsn,
            "WEBHOOKS_CONSUMER_GROUP": f"{prefix}-webhooks",  # this run's alone (the broker is shared)
            "WEBHOOKS_POLL_INTERVAL": "0.1", "WEBHOOKS_ATTEMPTS_PER_ROUND": "2",
            "WEBHOOKS_ATTEMPT_WAIT_SECONDS": "0.05", "WEBHOOKS_ATTEMPT_WAIT_MAX_SECONDS": "0.1",
            "WEBHOOKS_ROUND_BACKOFF_SECONDS": "0.5",
            "WEBHOOKS_ROUND_BACKOFF_MAX_SECONDS": "1", "WEBHOOKS_MAX_ROUNDS": "4", "WEBHOOKS_HTTP_TIMEOUT": "2",
        })
        try:
            async with httpx.AsyncClient(base_url=service.url, headers=CLIENT, timeout=10) as client:
                yield Stack(service, infra, prefix, client)
        finally:
            await stop_service(service)


async def subscribe(stack: Stack, url: str) -> str:
    response = await stack.client.post("/v1/webhooks/subscriptions", json={
        "url": url, "event_types": ["salesflow.orders.ContractSigned"], "secret": SECRET})
    assert response.status_code == 201, response.text
    assert "secret" not in response.json()
    subscription_id: str = response.json()["subscription_id"]
    return subscription_id


async def test_deliveries_reach_the_receiver_signed_after_it_was_down_including_a_redelivered_dead_letter(
    stack: Stack, receiver: Receiver,
) -> None:
    subscription = await subscribe(stack, receiver.url)

    # The receiver is down: the first delivery runs out of rounds and becomes the subscription's dead letter.
    first = await stack.contract_signed(f"O-{RUN_ID}-1")
    dead = await eventually(lambda: stack.deliveries(subscription, "dead"), timeout=60, what="a dead letter")
    assert (dead[0]["event_id"], dead[0]["rounds"], dead[0]["attempts"]) == (str(first), 4, 8)
    assert "ConnectError" in dead[0]["last_error"]

    # Still down: a second delivery fails its first round and waits for the next.
    second = await stack.contract_signed(f"O-{RUN_ID}-2")
    await eventually(lambda: stack.deliveries(subscription, "pending"),
                     until=lambda ds: any(d["event_id"] == str(second) and d["rounds"] >= 1 for d in ds),
                     what="the second delivery's failed round")

    receiver.start()  # up again
    delivered = await eventually(lambda: stack.deliveries(subscription, "delivered"), timeout=30,
                                 what="the pending delivery, delivered by its next round")
    assert [d["event_id"] for d in delivered] == [str(second)]

    response = await stack.client.post(f"/v1/webhooks/deliveries/{dead[0]['delivery_id']}/redelivery")
    assert response.status_code == 202, response.text
    await eventually(lambda: stack.deliveries(subscription, "delivered"), until=lambda ds: len(ds) == 2,
                     timeout=30, what="the redelivered dead letter")
    assert await stack.deliveries(subscription, "dead") == []

    bodies = {json.loads(r.body)["event_id"]: r for r in receiver.received}
    assert set(bodies) == {str(first), str(second)}
    for event_id, delivery in bodies.items():
        verify(secret=SECRET, headers=delivery.headers, body=delivery.body, now=time.time())
        payload = json.loads(delivery.body)
        assert (payload["type"], payload["data"]["currency"]) == ("salesflow.orders.ContractSigned", "CNY")
        assert delivery.headers[ID_HEADER] in {d["delivery_id"] for d in await stack.deliveries(subscription)}
        assert event_id in {str(first), str(second)}
    # Replayed outside the window, a captured delivery no longer verifies.
    captured = bodies[str(second)]
    with pytest.raises(SignatureError, match="replay window"):
        verify(secret=SECRET, headers=captured.headers, body=captured.body,
               now=int(captured.headers[TIMESTAMP_HEADER]) + 301)


async def test_a_subscription_is_its_clients_alone_and_bad_input_names_the_field(stack: Stack) -> None:
    subscription = await subscribe(stack, "http://127.0.0.1:9/hook")
    async with httpx.AsyncClient(base_url=stack.service.url, headers=OTHER_CLIENT, timeout=10) as other:
        assert (await other.get(f"/v1/webhooks/subscriptions/{subscription}")).status_code == 404
        assert (await other.delete(f"/v1/webhooks/subscriptions/{subscription}")).status_code == 404
        assert (await other.get("/v1/webhooks/subscriptions")).json()["subscriptions"] == []
    refused = await stack.client.post("/v1/webhooks/subscriptions", json={
        "url": "http://127.0.0.1:9/hook", "event_types": ["salesflow.orders.Nope"], "secret": SECRET})
    assert refused.status_code == 422
    assert refused.json()["error"]["fields"][0]["field"] == "event_types"
    no_scope = auth_headers(None, scopes=["leads:capture"], client="shop")
    assert (await stack.client.get("/v1/webhooks/subscriptions", headers=no_scope)).status_code == 403
    assert (await stack.client.delete(f"/v1/webhooks/subscriptions/{subscription}")).status_code == 204
