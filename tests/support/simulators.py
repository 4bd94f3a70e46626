"""A simulated outside system (the online shop, the call center) as its own process: it talks to salesflow only
the way the real one would — messages on its inbound topic as its own Kafka principal, and HTTP calls with its
bearer token. ``python -m tests.support.simulators`` reads its script from the environment:

- ``SIM_KAFKA``: JSON ``{"bootstrap_servers", "security_protocol", "sasl_mechanism", "username", "password"}``
- ``SIM_TOPIC``: its inbound topic; ``SIM_MESSAGES``: JSON list of ``{"type", "key", "payload"}`` (each payload is
  validated against its contract before it is sent, with fresh CloudEvents headers)
- ``SIM_OAUTH``: JSON ``{"token_url", "client_id", "client_secret"}``: the system gets its bearer token itself, by
  OAuth client credentials from the identity provider (Keycloak), as the real one would
- ``SIM_HTTP``: JSON list of ``{"method", "url", "json"}`` calls with that token, made before the messages

and prints one JSON line per HTTP answer (``{"status", "body"}``); exits non-zero if anything failed.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import uuid
from datetime import UTC, datetime

import httpx
import orjson
from aiokafka import AIOKafkaProducer

from shared.contracts import registry
from shared.messaging.connection import KafkaConnection
from shared.messaging.headers import EventHeaders


async def run() -> None:
    oauth = json.loads(os.environ["SIM_OAUTH"])
    async with httpx.AsyncClient(timeout=30) as issuer:
        granted = await issuer.post(oauth["token_url"], data={"grant_type": "client_credentials"},
                                    auth=(oauth["client_id"], oauth["client_secret"]))
        granted.raise_for_status()
    token = granted.json()["access_token"]
    async with httpx.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=20) as client:
        for call in json.loads(os.environ.get("SIM_HTTP", "[]")):
            response = await client.request(call["method"], call["url"], json=call.get("json"))
            print(json.dumps({"status": response.status_code, "body": response.json()}), flush=True)
    messages = json.loads(os.environ.get("SIM_MESSAGES", "[]"))
    if not messages:
        return
    kafka = KafkaConnection(**json.loads(os.environ["SIM_KAFKA"]))
    producer = AIOKafkaProducer(**kafka.client_options(), enable_idempotence=True, acks="all")
    await producer.start()
    try:
        for message in messages:
            contract = next(c for c in registry if c.event_type == message["type"])
            payload = contract.model_validate(message["payload"])
            headers = EventHeaders(event_id=uuid.uuid4(), event_type=contract.event_type,
                                   schema_version=contract.schema_version, source=f"simulated/{contract.producer}",
                                   subject=message["key"], time=datetime.now(UTC))
            await producer.send_and_wait(os.environ["SIM_TOPIC"], orjson.dumps(payload.model_dump(mode="json")),
                                         key=message["key"].encode(), headers=headers.encode())
    finally:
        await producer.stop()


if __name__ == "__main__":
    try:
        asyncio.run(run())
    except Exception as exc:  # the test reads the reason from stderr
        print(f"simulator failed: {exc!r}", file=sys.stderr)
        sys.exit(1)
