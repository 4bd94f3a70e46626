"""What reporting's write side costs on a filled database (``bench.reporting_reads fill``), without Kafka: the
summary build a rebuild ends with (``build_summaries`` over every group), and the live projection of the scale
bench's live events (``live_records``: follow-ups and grades of existing leads, in batches of 500, through the
idempotent consumer). CPU of this process and of its PostgreSQL backends, per 1k events, with the load average:
before/after figures of a change to the fold or the summary tables, at the same size and data.

    python -m bench.reporting_write_cost build --dsn postgresql://…/x
    python -m bench.reporting_write_cost live --dsn postgresql://…/x [--events 5000]

``live`` adds its events to the database (the same events, new event ids each run): run it once per copy of the
data.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from typing import Any

import orjson

from bench.reporting_scale import _database_pids, _meter, live_records
from services.reporting.adapters.generations import ActiveSchemaPool
from services.reporting.adapters.summaries import build_summaries
from services.reporting.wiring import build_consumer
from shared.db import create_pool
from shared.messaging.dead_letters import DeadLetters
from shared.messaging.relay import make_producer
from shared.settings import KafkaSettings, load_settings


async def measure(dsn: str, step: str, events: int) -> dict[str, Any]:
    pool = await create_pool(dsn, min_size=4, max_size=4)  # min = max: every backend is known when metering
    try:
        active = ActiveSchemaPool(pool)
        out: dict[str, Any] = {"step": step, "load_average_at_start": os.getloadavg()}
        cpu = _meter(await _database_pids(pool))
        started = time.perf_counter()
        cpu.start()
        if step == "build":
            out["groups"] = await build_summaries(active)
            out["events"] = await pool.fetchval("SELECT count(*) FROM report_facts")
        else:
            leads = await pool.fetchval("SELECT count(*) FROM report_lead_state")
            # Dead letters need a producer, but these events make none: it is never started (no Kafka needed).
            producer = make_producer(load_settings(KafkaSettings).connection, client_id="bench-reporting-write")
            consumer = build_consumer("reporting", active, DeadLetters(consumer="reporting", producer=producer))
            records = live_records("bench", leads, events, seed=1)  # the same events on every copy
            for start in range(0, len(records), 500):
                await consumer.process_batch(records[start:start + 500])
            out["events"] = len(records)
        used = cpu.stop()
        out["seconds"] = round(time.perf_counter() - started, 1)
        out.update({f"{name}_cpu_ms_per_1k": round(1e6 * used.get(name, 0.0) / max(out["events"], 1), 1)
                    for name in ("bench_process", "postgres")})
        out["load_average_at_end"] = os.getloadavg()
        return out
    finally:
        await pool.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("step", choices=("build", "live"))
    parser.add_argument("--dsn", required=True)
    parser.add_argument("--events", type=int, default=5_000)
    args = parser.parse_args()
    print(orjson.dumps(asyncio.run(measure(args.dsn, args.step, args.events))).decode(), flush=True)


if __name__ == "__main__":
    main()
