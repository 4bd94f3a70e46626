"""Reporting's live projection at a size, without Kafka (issue #12): a database filled once with the scale bench's
histories (``bench.reporting_reads fill``), copied per run (``CREATE DATABASE … TEMPLATE``), so a before/after
pair projects the same live events onto the same state; then the scale bench's live events (follow-ups logged and
grades, "today", batches of 500) through the consumer's ``process_batch`` — idle and with N dashboards polling —
with this process's and its PostgreSQL backends' CPU per 1k events.

    python -m bench.reporting_live fill --admin-dsn postgresql://…/postgres --template rpt_live_tmpl --leads 10000
    python -m bench.reporting_live run --admin-dsn … --template rpt_live_tmpl --events 4000 [--profile out.prof]

``--profile`` runs the idle half under cProfile (this process only) and writes the stats file.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import time
from typing import Any
from unittest import mock

import asyncpg
import orjson

from bench.common import Stopwatch
from bench.reporting_reads import fill
from bench.reporting_scale import _database_pids, _meter, _per_1k, live_rate, live_records
from services.reporting.adapters import summaries as summaries_module
from services.reporting.adapters.generations import ActiveSchemaPool
from services.reporting.adapters.summaries import FactFold, PostgresSummaries
from services.reporting.wiring import build_consumer
from shared.db import create_pool
from shared.messaging.dead_letters import DeadLetters
from shared.messaging.relay import make_producer
from shared.settings import KafkaSettings, load_settings


def _dsn(admin_dsn: str, name: str) -> str:
    return admin_dsn.rsplit("/", 1)[0] + "/" + name


async def _recreate(admin_dsn: str, name: str, template: str | None = None) -> None:
    conn = await asyncpg.connect(admin_dsn)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
    finally:
        await conn.close()


async def _drop(admin_dsn: str, name: str) -> None:
    conn = await asyncpg.connect(admin_dsn)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


async def run(admin_dsn: str, template: str, events: int, dashboards: int, profile: str | None) -> dict[str, Any]:
    name = f"{template}_run"
    await _recreate(admin_dsn, name, template)
    pool = await create_pool(_dsn(admin_dsn, name), min_size=8, max_size=8)
    producer = make_producer(load_settings(KafkaSettings).connection, client_id="bench-reporting-live")
    try:
        active = ActiveSchemaPool(pool)
        leads = await pool.fetchval("SELECT count(*) FROM report_lead_state")
        consumer = build_consumer("reporting", active, DeadLetters(consumer="reporting", producer=producer))
        summaries, fold = PostgresSummaries(active), FactFold(active)
        records = live_records("bench", leads, events, seed=1)
        half = len(records) // 2
        out: dict[str, Any] = {"leads": leads, "load_average_at_start": os.getloadavg()}
        if profile:
            # The fold runs in a worker thread, which cProfile does not see: run it inline while profiling.
            async def inline(func: Any, /, *args: Any, **kwargs: Any) -> Any:
                return func(*args, **kwargs)

            profiler = cProfile.Profile()
            cpu = _meter(await _database_pids(pool))
            cpu.start()
            watch = Stopwatch()
            with mock.patch.object(asyncio, "to_thread", inline):
                profiler.enable()
                for start in range(0, half, 500):
                    await consumer.process_batch(records[start:start + 500])
                profiler.disable()
            out["profiled"] = {"events": half, "seconds": round(watch.elapsed, 2), **_per_1k(cpu.stop(), half)}
            profiler.dump_stats(profile)
        else:
            # The live path's fold (a worker thread's CPU), timed apart from the rest of the process.
            folding = [0.0]
            original = summaries_module._fold_changes

            def timed(*args: Any) -> Any:
                started = time.thread_time()
                try:
                    return original(*args)
                finally:
                    folding[0] += time.thread_time() - started

            with mock.patch.object(summaries_module, "_fold_changes", timed):
                out["live_idle"] = await live_rate(consumer, records[:half], 0, summaries, fold, pool)
                out["live_idle"]["fold_cpu_ms_per_1k"] = round(1e6 * folding[0] / half, 1)
                folding[0] = 0.0
                out["live_dashboards"] = await live_rate(consumer, records[half:], dashboards, summaries, fold,
                                                         pool)
                out["live_dashboards"]["fold_cpu_ms_per_1k"] = round(1e6 * folding[0] / (len(records) - half), 1)
        out["load_average_at_end"] = os.getloadavg()
        return out
    finally:
        await pool.close()
        await _drop(admin_dsn, name)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("step", choices=("fill", "run", "drop"))
    parser.add_argument("--admin-dsn", required=True)
    parser.add_argument("--template", required=True)
    parser.add_argument("--leads", type=int, default=10_000)
    parser.add_argument("--events", type=int, default=4_000)
    parser.add_argument("--dashboards", type=int, default=10)
    parser.add_argument("--profile", default=None)
    args = parser.parse_args()
    if args.step == "fill":
        asyncio.run(_recreate(args.admin_dsn, args.template))
        asyncio.run(fill(_dsn(args.admin_dsn, args.template), args.leads))
    elif args.step == "drop":
        asyncio.run(_drop(args.admin_dsn, args.template))
    else:
        print(orjson.dumps(asyncio.run(run(args.admin_dsn, args.template, args.events, args.dashboards,
                                           args.profile))).decode(), flush=True)


if __name__ == "__main__":
    main()
