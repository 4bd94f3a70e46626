"""Fixed cost of the running system: leads, orders and reporting started the way bench/e2e.py starts them (real
processes, their own databases and topic prefix), then left IDLE for ``--seconds``. Prints CPU seconds per service
process, per PostgreSQL backend (grouped by database and application_name, from pg_stat_activity and /proc) and the
pg_stat_database deltas (xact_commit, tup_returned, tup_fetched) per database. Whatever an idle system spends is
a poller or a timer, not work: this is where to look for it.

    flock /work/coord/bench.lock .venv/bin/python -m bench.idle_cost --seconds 30
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import time
from collections import defaultdict

import asyncpg

from bench.common import cpu_seconds, pids_of
from bench.databases import fresh_database
from bench.e2e import BENCH_TEAM, SEED_LEADS, SEED_ORDERS, register_team, seed_leads, seed_orders, start

STATS = "SELECT datname, xact_commit, tup_returned, tup_fetched FROM pg_stat_database WHERE datname = ANY($1::text[])"


async def backends(admin: asyncpg.Connection, names: list[str]) -> dict[int, str]:
    rows = await admin.fetch("SELECT pid, datname, application_name FROM pg_stat_activity "
                             "WHERE datname = ANY($1::text[])", names)
    return {r["pid"]: f"{r['datname']}/{r['application_name'] or '-'}" for r in rows}


def read_cpu(pids: list[int]) -> dict[int, float]:
    out = {}
    for pid in pids:
        with contextlib.suppress(FileNotFoundError, ProcessLookupError):
            out[pid] = cpu_seconds(pid)
    return out


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--prefix", default="idlecost")
    parser.add_argument("--seed", action="store_true", help="first seed leads and orders as e2e does")
    args = parser.parse_args()
    admin_dsn = os.environ["SALESFLOW_PG_ADMIN_DSN"]
    names = {s: f"{args.prefix}_{s}" for s in ("leads", "orders", "reporting")}
    dsns = {s: await fresh_database(admin_dsn, n) for s, n in names.items()}
    env = {"SALESFLOW_TOPIC_PREFIX": f"{args.prefix}e2e", "LEADS_DATABASE_URL": dsns["leads"],
           "ORDERS_DATABASE_URL": dsns["orders"], "REPORTING_DATABASE_URL": dsns["reporting"],
           "LEADS_LOG_LEVEL": "WARNING", "ORDERS_LOG_LEVEL": "WARNING", "REPORTING_LOG_LEVEL": "WARNING",
           "LEADS_DEFAULT_TEAM_ID": BENCH_TEAM}
    started = {s: await start(s, env) for s in ("leads", "reporting", "orders")}
    procs = {s: p for s, (p, _) in started.items()}
    if args.seed:  # the data e2e measures on: pollers whose cost grows with the tables show only with it
        await register_team(started["leads"][1])
        lead_ids = await seed_leads(started["leads"][1], SEED_LEADS)
        await seed_orders(started["orders"][1], lead_ids[:SEED_ORDERS])
    admin = await asyncpg.connect(admin_dsn)
    try:
        await asyncio.sleep(5)  # past start-up: migrations, first metadata fetches
        print(f"load average at start: {os.getloadavg()}")
        service_pids = {s: [p.pid] for s, p in procs.items()}
        svc0 = {s: read_cpu(p) for s, p in service_pids.items()}
        pg_all0 = read_cpu(pids_of("postgres"))
        be0 = await backends(admin, list(names.values()))
        be_cpu0 = read_cpu(list(be0))
        st0 = {r["datname"]: r for r in await admin.fetch(STATS, list(names.values()))}
        t0 = time.monotonic()
        await asyncio.sleep(args.seconds)
        elapsed = time.monotonic() - t0
        st1 = {r["datname"]: r for r in await admin.fetch(STATS, list(names.values()))}
        be_cpu1 = read_cpu(list(be0))
        pg_all1 = read_cpu(pids_of("postgres"))
        svc1 = {s: read_cpu(p) for s, p in service_pids.items()}
        print(f"load average at end: {os.getloadavg()}")
    finally:
        await admin.close()
        for p in procs.values():
            p.terminate()
            p.wait(timeout=15)
    print(f"idle {elapsed:.1f} s — CPU seconds (and cores):")
    for s in svc0:
        used = sum(svc1[s].get(p, 0) - c for p, c in svc0[s].items())
        print(f"  {s:12s} {used:7.2f} s  {used / elapsed:.3f} cores")
    pg = sum(pg_all1.get(p, 0) - c for p, c in pg_all0.items())
    print(f"  {'postgres':12s} {pg:7.2f} s  {pg / elapsed:.3f} cores (all processes)")
    grouped: dict[str, list[float]] = defaultdict(list)
    for pid, label in be0.items():
        if pid in be_cpu0 and pid in be_cpu1:
            grouped[label].append(be_cpu1[pid] - be_cpu0[pid])
    print("PostgreSQL backends by database/application_name: count, CPU s")
    for label, cpus in sorted(grouped.items(), key=lambda kv: -sum(kv[1])):
        print(f"  {label:45s} {len(cpus):3d} {sum(cpus):7.2f} s")
    print("pg_stat_database deltas per second: xact_commit, tup_returned, tup_fetched")
    for n in names.values():
        a, b = st0[n], st1[n]
        print(f"  {n:22s} " + "  ".join(f"{(b[k] - a[k]) / elapsed:9.1f}"
                                       for k in ("xact_commit", "tup_returned", "tup_fetched")))


if __name__ == "__main__":
    asyncio.run(main())
