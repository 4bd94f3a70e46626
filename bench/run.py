"""`make bench` / `make bench-smoke`: run the benchmarks and write bench/results/<stamp>.json plus
bench/results/latest.md (a readable table). Needs the stack up (the Makefile does `make up` first).

    python -m bench.run [--smoke] [--only append,relay,rebuild,e2e] [--relay-events N] [--rebuild-events N]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import append, auth, e2e, pipeline, report, reporting_scale
from bench.common import disk_flush_latency_us, postgres_flush_directory, versions
from bench.databases import drop_run_databases, dsn_parts, fresh_database
from shared.settings import KafkaSettings, load_settings

RESULTS = Path(__file__).parent / "results"


async def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--smoke", action="store_true", help="tiny sizes: checks the harness, measures nothing")
    parser.add_argument("--only", default="append,relay,rebuild,e2e,reporting,auth")
    parser.add_argument("--reporting-sizes", default="10000,100000,1000000",
                        help="lead counts for the reporting scale benchmark")
    parser.add_argument("--relay-events", type=int, default=None,
                        help="stored events the relay benchmark publishes (default 100,000; smoke 5,000)")
    parser.add_argument("--rebuild-events", type=int, default=None,
                        help="messages the rebuild benchmark replays (default 200,000; smoke 10,000)")
    args = parser.parse_args()
    admin = os.environ["SALESFLOW_PG_ADMIN_DSN"]
    kafka = load_settings(KafkaSettings).connection  # the admin principal from stack.sh env
    run_id = uuid.uuid4().hex[:6]
    prefix = f"bench{run_id}"
    selected = set(args.only.split(","))
    results: dict[str, Any] = {
        "started_at": datetime.now(UTC).isoformat(), "run_id": run_id, "smoke": args.smoke, "versions": versions(),
        "disk_flush": disk_flush_latency_us(postgres_flush_directory(), writes=20 if args.smoke else 200),
        # The machine may be shared: its load beside the figures says how much the rates can be trusted.
        "load_average_at_start": os.getloadavg(),
    }
    started = time.perf_counter()
    if "append" in selected:
        print("== event store append: salesflow vs eventsourcing vs raw asyncpg", flush=True)
        dsn = await fresh_database(admin, f"bench_append_{run_id}")
        results["append"] = await append.run(dsn, dsn_parts(dsn), smoke=args.smoke)
    if "relay" in selected:
        print("== relay publish vs raw aiokafka produce", flush=True)
        dsn = await fresh_database(admin, f"bench_relay_{run_id}")
        relay_events = args.relay_events or (5_000 if args.smoke else 100_000)
        results["relay"] = await pipeline.bench_relay(dsn, kafka, prefix, relay_events)
    if "rebuild" in selected:
        print("== projection rebuild vs bare getmany", flush=True)
        dsn = await fresh_database(admin, f"bench_rebuild_{run_id}")
        rebuild_events = args.rebuild_events or (10_000 if args.smoke else 200_000)
        results["rebuild"] = await pipeline.bench_rebuild(dsn, kafka, prefix, rebuild_events)
    if "e2e" in selected:
        print("== end to end: open-loop HTTP captures → relay → Kafka → reporting", flush=True)
        results["e2e"] = await e2e.run(admin, kafka, prefix, run_id, smoke=args.smoke)
    if "reporting" in selected:
        print("== reporting at scale: reports, as_of, rebuild, live projection while dashboards poll", flush=True)
        results["reporting"] = await reporting_scale.run(
            admin, kafka, run_id, smoke=args.smoke,
            sizes=[int(n) for n in args.reporting_sizes.split(",")], fresh_database=fresh_database)
    if "auth" in selected:
        print("== bearer-token validation CPU per request", flush=True)
        results["auth"] = await auth.run(smoke=args.smoke)
    results["duration_s"] = round(time.perf_counter() - started, 1)
    results["load_average_at_end"] = os.getloadavg()
    await drop_run_databases(admin, run_id)
    RESULTS.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    name = f"{'smoke-' if args.smoke else ''}{stamp}"
    (RESULTS / f"{name}.json").write_text(json.dumps(results, indent=2, ensure_ascii=False, default=str) + "\n")
    markdown = report.render(results)
    (RESULTS / ("smoke.md" if args.smoke else "latest.md")).write_text(markdown)
    print(markdown)
    print(f"results: bench/results/{name}.json")
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
