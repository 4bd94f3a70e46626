"""Reporting's read path at a size, without Kafka (issue #12): fill a database of its own with the scale bench's
histories straight through the projection's bulk path and ``build_summaries`` (what the rebuild does after its
replay), keep it, and time the report and ``as_of`` endpoints against it as often as needed — before and after a
change to the read path, at the same size and data.

    python -m bench.reporting_reads fill --dsn postgresql://…/wt_x --leads 100000
    python -m bench.reporting_reads time --dsn postgresql://…/wt_x [--requests 20] [--only 'as_of']

The figures are the scale bench's (same endpoints, same query objects, p50/p99 and this process's CPU per
request); the load average is printed next to them because the machine is shared.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import asyncpg
import orjson

from bench.reporting_scale import (
    CONSULTANTS,
    REQUESTS,
    START,
    _message,
    _Record,
    _time,
    endpoints,
    lead_history,
)
from services.reporting.adapters.generations import ActiveSchemaPool
from services.reporting.adapters.summaries import FactFold, PostgresSummaries, build_summaries
from services.reporting.wiring import MIGRATIONS, build_consumer
from shared.contracts.leads import ConsultantRegisteredV1
from shared.db import create_pool
from shared.messaging.dead_letters import DeadLetters
from shared.messaging.relay import make_producer
from shared.migrations import KERNEL_MIGRATIONS, migrate
from shared.settings import KafkaSettings, load_settings

_BATCH = 5_000


def _batches(leads: int, seed: int) -> Iterator[list[_Record]]:
    """The scale bench's histories (same seed per size, so the same leads), a batch at a time: memory stays flat."""
    rng = random.Random(seed)
    batch = [_Record("bench.leads", *_message(ConsultantRegisteredV1(
        consultant_id=consultant, name=consultant, team_id=team, role="consultant",
        registered_at=START - timedelta(days=30)), consultant)) for consultant, team in CONSULTANTS.items()]
    for n in range(leads):
        batch.extend(_Record(f"bench.{topic}", *_message(payload, key)) for topic, payload, key in lead_history(n, rng))
        if len(batch) >= _BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


async def fill(dsn: str, leads: int) -> None:
    conn = await asyncpg.connect(dsn)
    await migrate(conn, [("kernel", KERNEL_MIGRATIONS), ("reporting", MIGRATIONS)])
    await conn.close()
    pool = await create_pool(dsn, min_size=2, max_size=4)
    # Dead letters need a producer, but a clean history makes none: it is never started, so no Kafka is needed.
    producer = make_producer(load_settings(KafkaSettings).connection, client_id="bench-reporting-reads")
    try:
        active = ActiveSchemaPool(pool)
        consumer = build_consumer("reporting", active, DeadLetters(consumer="reporting", producer=producer),
                                  bulk=True)
        started, events = time.perf_counter(), 0
        for batch in _batches(leads, seed=leads):
            await consumer.process_batch(batch)
            events += len(batch)
        stored = time.perf_counter() - started
        groups = await build_summaries(active)
        print(orjson.dumps({"leads": leads, "events": events, "store_s": round(stored, 1),
                            "build_s": round(time.perf_counter() - started - stored, 1), "groups": groups,
                            "load_average": os.getloadavg()}).decode(), flush=True)
    finally:
        await pool.close()


async def time_reads(dsn: str, requests: int, only: str | None) -> None:
    pool = await create_pool(dsn, min_size=4, max_size=8)
    try:
        active = ActiveSchemaPool(pool)
        leads = await pool.fetchval("SELECT count(*) FROM report_lead_state")
        results: dict[str, Any] = {"leads": leads, "requests": requests, "load_average_at_start": os.getloadavg()}
        for name, call in endpoints(PostgresSummaries(active), FactFold(active)).items():
            if only and only not in name:
                continue
            results[name] = await _time(call, requests)
            print(f"{name}: p50 {results[name]['p50_ms']} / p99 {results[name]['p99_ms']} ms "
                  f"(cpu {results[name]['cpu_ms_per_request']}) load {os.getloadavg()[0]:.1f}", flush=True)
        results["load_average_at_end"] = os.getloadavg()
        print(orjson.dumps(results).decode(), flush=True)
    finally:
        await pool.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("step", choices=("fill", "time"))
    parser.add_argument("--dsn", required=True)
    parser.add_argument("--leads", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=REQUESTS)
    parser.add_argument("--only", default=None, help="time only the endpoints whose name contains this")
    args = parser.parse_args()
    if args.step == "fill":
        asyncio.run(fill(args.dsn, args.leads))
    else:
        asyncio.run(time_reads(args.dsn, args.requests, args.only))


if __name__ == "__main__":
    main()
