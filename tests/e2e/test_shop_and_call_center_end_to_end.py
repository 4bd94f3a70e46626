"""Issue 17's "done when", in part: a simulated online shop and a simulated call center, each its own process
(tests/support/simulators.py), talk to salesflow only over their inbound Kafka topics (as their own principals,
User:shop and User:call-center) and HTTP, with the bearer tokens each gets itself from the real Keycloak by OAuth
client credentials (clients ``shop`` and ``call-center`` of deploy/keycloak/realm-salesflow.json); every service
trusts Keycloak only, so people (the director) sign in there too. leads, orders, webhooks and reporting run as
processes. What must come out: the shop's inquiry, cart, checkout and HTTP capture as the right leads; the call
center's answered call as a follow-up on the caller's lead by the agent, its missed calls from unknown numbers as
call-center leads with a call-back due (one called back in time, one never); the shop's webhook receiver, down at
first, gets the signed ContractSigned once it is up; and reporting's leads per channel and call KPIs (calls per
consultant, connect rate, talk time, call-back within SLA) equal what the test works out from what it sent."""

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

from services.reporting.wiring import MIGRATIONS as REPORTING_MIGRATIONS
from services.webhooks.domain.signing import verify
from shared.contracts.inbound import INBOUND_CALLS, INBOUND_SHOP
from shared.messaging.connection import KafkaConnection
from shared.messaging.topics import dead_letter_topic, ensure_topics
from tests.support.infra import REPO, RUN_ID, Infra
from tests.support.kafka_acls import own_principal, topic_acls
from tests.support.keycloak import SYSTEM_SECRETS, bearer, issuer, person_token, system_token, token_endpoint
from tests.support.leads import scratch_database
from tests.support.processes import ServiceProcess, free_port, inherited_env, start_service, stop_service
from tests.support.reporting import drop_database, fresh_reporting_database
from tests.support.waiting import eventually
from tests.support.webhook_receiver import Receiver

pytestmark = pytest.mark.e2e

SECRET = "shop-webhook-secret-0002"
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
    reporting: ServiceProcess
    shop: KafkaConnection
    call_center: KafkaConnection
    client: httpx.AsyncClient

    async def simulate(self, principal: KafkaConnection, topic: str, client_id: str,
                       messages: list[dict[str, Any]], http: list[dict[str, Any]] | None = None
                       ) -> list[dict[str, Any]]:
        """Run a simulated system as its own process until it has sent everything (it signs in at Keycloak as
        ``client_id`` by client credentials); its HTTP answers."""
        oauth = {"token_url": token_endpoint(), "client_id": client_id, "client_secret": SYSTEM_SECRETS[client_id]}
        env = {**inherited_env(), "SIM_TOPIC": topic, "SIM_OAUTH": json.dumps(oauth),
               "SIM_MESSAGES": json.dumps(messages),
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
    # Every service trusts the real Keycloak (and only it): the systems' and the director's tokens come from there.
    env = {**infra.kafka_env(), "SALESFLOW_TOPIC_PREFIX": prefix, "SALESFLOW_AUTH_ISSUER": issuer()}
    reporting_dsn = await fresh_reporting_database(infra, "e2e17", REPORTING_MIGRATIONS)
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
            started.append(await start_service("reporting", {**env, "REPORTING_DATABASE_URL": reporting_dsn}))
            leads, orders, webhooks, reporting = started
            director = bearer(await person_token("d1"))
            async with httpx.AsyncClient(headers=director, timeout=10) as client:
                for path, body in (("/v1/teams", {"team_id": "t1", "name": "t1"}),
                                   ("/v1/consultants", {"consultant_id": "c1", "name": "陈一", "team_id": "t1"}),
                                   ("/v1/consultants", {"consultant_id": "c2", "name": "李二", "team_id": "t1"})):
                    response = await client.post(f"{leads.url}{path}", json=body)
                    assert response.status_code in (200, 201), response.text
                yield World(infra, prefix, leads, orders, webhooks, reporting, shop, call_center, client)
        finally:
            for service in reversed(started):
                await stop_service(service)
            await drop_database(infra, reporting_dsn)


async def test_the_shop_and_the_call_center_over_kafka_and_http_make_the_right_work(world: World) -> None:
    receiver = Receiver(free_port())  # the shop's webhook endpoint: down until started below
    try:
        await _scenario(world, receiver)
    finally:
        receiver.stop()


async def _scenario(world: World, receiver: Receiver) -> None:
    asked, carted, bought, posted, called, missed, late, kept = (a_phone() for _ in range(8))
    now = datetime.now(UTC)
    answers = await world.simulate(world.shop, f"{world.prefix}.{INBOUND_SHOP}", "shop", http=[
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
    missed_at = now - timedelta(minutes=30)
    # The calls as the call center reports them: (number, agent, started, talk seconds or None for a missed call).
    # Missed calls come from unknown numbers: `missed` is due in 1.5 h, `late` was due an hour ago (nobody called
    # back), `kept` is due in 30 min and is called back (an answered outbound call, sent once its missed call is
    # recorded, so it cannot overtake it).
    calls = [(called, "c2", now, 180), (missed, None, missed_at, None), (late, None, now - timedelta(hours=3), None),
             (kept, None, now - timedelta(minutes=90), None)]
    call_back = (kept, "c1", now, 60)
    await world.simulate(world.call_center, f"{world.prefix}.{INBOUND_CALLS}", "call-center",
                         messages=[_call_message(n, call) for n, call in enumerate(calls, 1)])

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

    # The call-back of `kept`, once its missed call is on its lead.
    await eventually(lambda: world.leads_of(kept), what="the kept caller's lead")
    await world.simulate(world.call_center, f"{world.prefix}.{INBOUND_CALLS}", "call-center",
                         messages=[_call_message(len(calls) + 1, call_back, direction="outbound")])
    await _check_the_reports(world, now, calls=[*calls, call_back], kept=kept,
                             shop_phones=[asked, carted, posted, bought, called])

    # The webhook: refused while the receiver is down, delivered and correctly signed once it is up.
    shop_token = await system_token("shop")
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


Call = tuple[str, str | None, datetime, int | None]


def _call_message(n: int, call: Call, direction: str = "inbound") -> dict[str, Any]:
    number, agent, started, talk = call
    return {"type": "salesflow.inbound.calls.CallRecorded", "key": f"CALL-{RUN_ID}-{n}", "payload": {
        "call_id": f"CALL-{RUN_ID}-{n}", "caller_number": number, "direction": direction, "agent_id": agent,
        "started_at": started.isoformat(), "duration_seconds": talk or 0,
        "outcome": "missed" if talk is None else "answered",
        **({"recording_url": f"https://cc.example/rec/{n}"} if talk else {})}}


async def _check_the_reports(world: World, now: datetime, *, calls: list[Call], kept: str,
                             shop_phones: list[str]) -> None:
    """Reporting's leads per channel and call KPIs against what the test sent. Calls are credited to the agent's
    consultant, else (no agent: the missed calls) to the lead's owner; a call-back is due 2 h after its missed
    call started (`late`'s: at once, it was reported after that), is the lead's owner's, and is in SLA when the
    lead logged a follow-up (the answered call-back) no later than that. Read as of just after `kept`'s was due."""
    owner = {phone: (await world.leads_of(phone))[0]["owner_id"] for phone, *_ in calls}
    expected: dict[str, dict[str, float]] = {}
    for phone, agent, _, talk in calls:
        row = expected.setdefault(agent or owner[phone], {})
        row["calls"] = row.get("calls", 0) + 1
        if talk is not None:
            row["calls_answered"] = row.get("calls_answered", 0) + 1
            row["talk_seconds"] = row.get("talk_seconds", 0) + talk
    history = (await world.lead((await world.leads_of(kept))[0]["lead_id"]))["history"]
    called_back = [datetime.fromisoformat(e["data"]["logged_at"]) for e in history
                   if e["event_type"] == "FollowUpLogged"]
    dues = {phone: started + timedelta(hours=2) for phone, _, started, talk in calls if talk is None}
    as_of = dues[kept] + timedelta(seconds=1)
    for phone, due in dues.items():
        if due <= as_of:  # `late` and `kept`; `missed` is not due yet
            row = expected.setdefault(owner[phone], {})
            row["call_backs_due"] = row.get("call_backs_due", 0) + 1
            if phone == kept and any(done <= due for done in called_back):
                row["call_backs_in_sla"] = row.get("call_backs_in_sla", 0) + 1
    assert sum(r.get("call_backs_in_sla", 0) for r in expected.values()) == 1, "the call-back was logged in time"
    months = sorted({moment.astimezone(UTC).strftime("%Y-%m") for moment in (now, as_of)})
    director = bearer(await person_token("d1"))

    async def kpis_by_consultant() -> dict[str, dict[str, float]]:
        found: dict[str, dict[str, float]] = {}
        async with httpx.AsyncClient(base_url=world.reporting.url, headers=director, timeout=20) as client:
            for month in months:
                report = (await client.get("/v1/reports/kpis", params={"month": month,
                                                                       "as_of": as_of.isoformat()})).json()
                for row in report["kpis_by_consultant"]:
                    sums = found.setdefault(row["consultant_id"], {})
                    for name in ("calls", "calls_answered", "talk_seconds", "call_backs_due", "call_backs_in_sla"):
                        if row[name]:
                            sums[name] = sums.get(name, 0) + row[name]
        return {c: r for c, r in found.items() if r}

    assert await eventually(kpis_by_consultant, until=lambda r: r == expected, timeout=40,
                            what=f"the call KPIs per consultant in reporting: {expected}") == expected
    # The rates from those counts, in the org's KPIs (one month unless a due moment crossed into the next).
    async with httpx.AsyncClient(base_url=world.reporting.url, headers=director, timeout=20) as client:
        if len(months) == 1:
            org = (await client.get("/v1/reports/kpis", params={"month": months[0], "as_of": as_of.isoformat()})
                   ).json()["kpis"]
            answered = [talk for *_, talk in calls if talk is not None]
            assert org["connect_rate"] == round(len(answered) / len(calls), 4)
            assert org["average_talk_seconds"] == round(sum(answered) / len(answered), 4)
            assert org["call_back_sla_rate"] == round(1 / sum(1 for d in dues.values() if d <= as_of), 4)
        # Leads per channel: every number the shop sent is an online-shop lead, every unknown caller a
        # call-center lead.
        funnel = (await client.get("/v1/reports/funnel", params={"group_by": "channel"})).json()
    unknown_callers = [phone for phone, *_ in calls if phone not in shop_phones]
    assert {channel: group["total_leads"] for channel, group in funnel["groups"].items()} == {
        "online_shop": len(shop_phones), "call_center": len(set(unknown_callers))}
