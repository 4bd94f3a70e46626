"""Disaster drills, after the load has settled:

1. reporting's database is dropped → recreated by the deploy scripts, rebuilt from the topics with the documented
   ops command (``python -m services.reporting rebuild``) → every report answers what it answered before;
2. a topic is lost (deleted) → recreated, the owning service's relay republishes its event store from position 0,
   the consumer groups start that topic again from the beginning (consumers are idempotent) → every read model
   is what it was, and the topic holds every stored public event again.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from typing import Any

import asyncpg
import httpx
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.structs import OffsetAndMetadata

from faults.fleet import Fleet
from faults.reconcile import (
    StoredEvent,
    check_topic,
    diff,
    quiesce,
    read_topic,
    reporting_tables,
    snapshot_tables,
)
from faults.stack import REPO, PrivateStack
from shared.messaging.connection import KafkaConnection
from shared.messaging.topics import ensure_topics

# Reports compared before and after the reporting drill (as JSON; `as_of` pinned so "now" cannot differ).
REPORTS = ["/v1/funnel", "/v1/reports/funnel", "/v1/reports/funnel?group_by=channel", "/v1/reports/grades",
           "/v1/reports/commission?month={month}", "/v1/reports/monthly?month={month}",
           "/v1/reports/daily?day={day}", "/v1/reports/aftersales?month={month}"]
VOLATILE = {"generated_at", "last_projected_at", "schema", "data_as_of", "correlation_id"}


def _strip(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip(v) for k, v in value.items() if k not in VOLATILE}
    if isinstance(value, list):
        return [_strip(v) for v in value]
    return value


async def reports(url: str, headers: dict[str, str], as_of: str, month: str, day: str) -> dict[str, Any]:
    out = {}
    async with httpx.AsyncClient(base_url=url, timeout=120, headers=headers) as client:
        for path in REPORTS:
            p = path.format(month=month, day=day)
            sep = "&" if "?" in p else "?"
            response = await client.get(f"{p}{sep}as_of={as_of}" if p.startswith("/v1/reports") else p)
            out[p] = {"status": response.status_code, "body": _strip(response.json())}
    return out


async def drill_reporting_database(stack: PrivateStack, fleet: Fleet, dsns: dict[str, str], *,
                                   headers: dict[str, str], say: Any = print) -> dict[str, Any]:
    now = time.gmtime()
    month, day = time.strftime("%Y-%m", now), time.strftime("%Y-%m-%d", now)
    as_of = time.strftime("%Y-%m-%dT%H:%M:%SZ", now)
    url = fleet.services["reporting"].url
    before = await reports(url, headers, as_of, month, day)
    tables_before = await reporting_tables(dsns["reporting"])
    say("drill 1: dropping reporting's database")
    started = time.monotonic()
    fleet.stop_service("reporting")
    # Dropped by its owner (the reporting role; the admin role is no superuser), from the maintenance database.
    base, _, database = dsns["reporting"].rpartition("/")
    admin = await asyncpg.connect(f"{base}/postgres")
    try:
        await admin.execute(f'DROP DATABASE "{database}" WITH (FORCE)')
    finally:
        await admin.close()
    # The deploy scripts create what is missing (the database, with its owner and grants).
    await asyncio.to_thread(stack.up)
    rebuild = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "services.reporting", "rebuild", cwd=REPO,
        env={**os.environ, **fleet.service_env("reporting")}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    out, _ = await rebuild.communicate()
    if rebuild.returncode != 0:
        raise RuntimeError(f"reporting rebuild failed: {out.decode(errors='replace')[-1000:]}")
    fleet.spawn("reporting")
    await fleet.wait_ready(["reporting"])
    await quiesce(dsns)
    recovered = time.monotonic() - started
    after = await reports(url, headers, as_of, month, day)
    tables_after = await reporting_tables(dsns["reporting"])
    different = [p for p in before if before[p] != after.get(p)]
    # A report the reader may not see (403) compares nothing: every report must answer 200, before and after.
    not_ok = [p for p in before if before[p]["status"] != 200 or after.get(p, {}).get("status") != 200]
    return {"recovery_s": round(recovered, 1), "reports_compared": len(before), "reports_different": different,
            "reports_not_200": not_ok, "report_statuses": {p: r["status"] for p, r in before.items()},
            "tables": {t: diff(tables_before[t], tables_after[t]) for t in tables_before},
            "equal": not different and not not_ok
            and all(diff(tables_before[t], tables_after[t])["equal"] for t in tables_before)}


async def _reset_group(kafka: KafkaConnection, group: str, topic: str, partitions: list[int]) -> None:
    """Point ``group`` at offset 0 of ``topic`` (the recreated topic starts again; consumers are idempotent)."""
    consumer = AIOKafkaConsumer(group_id=group, enable_auto_commit=False, **kafka.client_options())
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in partitions]
        consumer.assign(tps)
        await consumer.commit({tp: OffsetAndMetadata(0, "") for tp in tps})
    finally:
        await consumer.stop()


READ_MODEL_TABLES = {
    "leads": ["leads_view", "leads_orders", "leads_referrals", "leads_customers"],
    "aftersales": ["care_plans", "care_visits", "follow_ups", "complaints", "referrals", "loyalty_balances"],
}


async def drill_topic_lost(stack: PrivateStack, fleet: Fleet, dsns: dict[str, str], events: list[StoredEvent], *,
                           service: str, topic_prefix: str, consumers: list[str], kafka: KafkaConnection,
                           say: Any = print) -> dict[str, Any]:
    topic = f"{topic_prefix}.{service}"
    before = {s: await snapshot_tables(dsns[s], t) for s, t in READ_MODEL_TABLES.items()}
    reporting_before = await reporting_tables(dsns["reporting"])
    say(f"drill 2: deleting topic {topic}")
    started = time.monotonic()
    for name in (service, *consumers):
        fleet.stop_service(name)
    admin = AIOKafkaAdminClient(**kafka.client_options())
    await admin.start()
    try:
        await admin.delete_topics([topic])
        deadline = time.monotonic() + 60
        while topic in set(await admin.list_topics()):
            if time.monotonic() > deadline:
                raise RuntimeError(f"{topic} still listed 60 s after deletion")
            await asyncio.sleep(0.5)
    finally:
        await admin.close()
    await ensure_topics(kafka, [topic])
    # The relay starts again from position 0 of the owning event store.
    conn = await asyncpg.connect(dsns[service])
    try:
        await conn.execute("UPDATE relay_checkpoints SET last_txid = '0'::xid8, last_position = 0, published = 0 "
                           "WHERE relay = $1", service)
    finally:
        await conn.close()
    for group in consumers:
        await _reset_group(kafka, group, topic, [0, 1, 2])
    for name in (service, *consumers):
        fleet.spawn(name)
    await fleet.wait_ready()
    await quiesce(dsns)
    recovered = time.monotonic() - started
    after = {s: await snapshot_tables(dsns[s], t) for s, t in READ_MODEL_TABLES.items()}
    reporting_after = await reporting_tables(dsns["reporting"])
    messages = await read_topic(kafka, topic)
    compared = {f"{s}.{t}": diff(before[s][t], after[s][t]) for s in before for t in before[s]}
    compared.update({f"reporting.{t}": diff(reporting_before[t], reporting_after[t]) for t in reporting_before})
    topic_check = check_topic(service, messages, events)
    return {"topic": topic, "recovery_s": round(recovered, 1), "read_models": compared, "topic_after": topic_check,
            "equal": all(c["equal"] for c in compared.values()) and topic_check["missing"] == 0
            and topic_check["order_violations"] == 0}
