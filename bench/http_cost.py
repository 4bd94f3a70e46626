"""CPU the leads process spends per HTTP request (issue 14 item 2): leads started as a real process the way
bench/e2e.py starts it (its own database ``httpcost_leads_<stamp>``, its own topic prefix), then fixed-rate
open-loop runs of one request kind each through bench/loadgen.py, and per run: leads CPU ms per request (utime +
stime from /proc, the process only: no reporting, no orders), HTTP p50/p99 from the scheduled send time, and the
load average before and after.

Kinds: ``read`` (``GET /v1/leads?owner_id&grade=H``, a consultant's H-grade open leads), ``capture``
(``POST /v1/leads``, a new phone each), ``live`` (``GET /health/live``: the floor — the server, the middleware and
routing, no token, no database), ``idle`` (no requests for as long: the background's CPU per second — relay,
timers, pollers — which every other figure includes; ``net_cpu_ms_per_request`` subtracts the last idle run's).
``--profile`` samples the leads process with py-spy (native frames) during an extra read+capture run and prints
the on-CPU frames (bench/profile.py's summary).

    flock /work/coord/bench.lock .venv/bin/python -m bench.http_cost --requests 2000 --rate 200
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg

from bench import profile
from bench.common import cpu_seconds, summary_ms
from bench.databases import fresh_database
from bench.e2e import (
    BENCH_HEADERS,
    BENCH_TEAM,
    CONSULTANTS,
    REPO,
    admin_env,
    capture_body,
    free_port,
    process_tree,
    register_team,
    seed_leads,
    start,
    wait_ready,
)
from bench.loadgen import Request, open_loop
from shared.settings import KafkaSettings, load_settings
from tests.support.auth import auth_env
from tests.support.kafka import delete_topics_starting_with


async def start_granian(env: dict[str, str], factory: str) -> tuple[subprocess.Popen[bytes], int]:
    """leads under granian instead of uvicorn, for a same-app comparison: ``factory`` (module:function, importable
    through PYTHONPATH) builds the app as run_service does; one worker process, asyncio on uvloop, HTTP/1."""
    port = free_port()
    log = open("/tmp/httpcost-granian-leads.log", "wb")  # noqa: SIM115, ASYNC230
    granian = os.path.join(os.path.dirname(sys.executable), "granian")
    process = subprocess.Popen(  # noqa: ASYNC220  (the service outlives this coroutine)
        [granian, "--interface", "asgi", "--factory", "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
         "--loop", "uvloop", "--http", "1", "--no-ws", "--log-level", "warning", factory],
        cwd=REPO, stdout=log, stderr=log, env={**admin_env(), **auth_env(), **env})
    await wait_ready(process, port, "granian leads", "/tmp/httpcost-granian-leads.log")
    return process, port


def tree_cpu_seconds(pid: int) -> float:
    """CPU of the service's process and its children (granian's worker; uvicorn: the process alone)."""
    return sum(cpu_seconds(p) for p in process_tree(pid))


def builder(kind: str, port: int, step: int) -> Callable[[int], Request]:
    def build(i: int) -> Request:
        if kind == "capture":
            return Request(port, "POST", "/v1/leads", capture_body(step, i), kind)
        if kind == "read":
            return Request(port, "GET", f"/v1/leads?owner_id=bench-c{i % CONSULTANTS}&grade=H", label=kind)
        if kind == "mixed":
            return builder("capture" if i % 2 else "read", port, step)(i)
        return Request(port, "GET", "/health/live", label=kind)
    return build


async def measure(kind: str, port: int, pid: int, *, rate: float, requests: int, step: int,
                  idle_ms_per_s: float | None = None) -> dict[str, Any]:
    load_before = os.getloadavg()
    cpu = tree_cpu_seconds(pid)
    if kind == "idle":  # no requests for as long as a run lasts: the background's CPU (relay, timers, pollers)
        started = time.perf_counter()
        await asyncio.sleep(requests / rate)
        used = tree_cpu_seconds(pid) - cpu
        return {"kind": kind, "seconds": round(time.perf_counter() - started, 2),
                "leads_cpu_ms_per_second": round(1000 * used / (time.perf_counter() - started), 2),
                "loadavg_before": load_before, "loadavg_after": os.getloadavg()}
    result = await open_loop("127.0.0.1", rate=rate, duration=requests / rate, build=builder(kind, port, step),
                             headers=BENCH_HEADERS)
    used = tree_cpu_seconds(pid) - cpu
    http = summary_ms(result.latencies_s)
    done = max(result.completed, 1)
    net = None if idle_ms_per_s is None else round((1000 * used - idle_ms_per_s * result.duration_s) / done, 3)
    return {"kind": kind, "rate": rate, "completed": result.completed, "errors": result.errors,
            "statuses": result.statuses, "leads_cpu_ms_per_request": round(1000 * used / done, 3),
            "net_cpu_ms_per_request": net,
            "p50_ms": http["p50_ms"], "p99_ms": http["p99_ms"],
            "loadavg_before": load_before, "loadavg_after": os.getloadavg()}


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--rate", type=float, default=200)
    parser.add_argument("--capture-rate", type=float, default=100,
                        help="captures' rate: one worker with the default pool saturates on them sooner than on reads")
    parser.add_argument("--kinds", default="idle,live,read,capture")
    parser.add_argument("--rounds", type=int, default=1, help="repeat every kind this many times (alternating)")
    parser.add_argument("--profile", action="store_true", help="py-spy the leads process during an extra run")
    parser.add_argument("--profile-kind", default="mixed", help="that run's requests: mixed (reads and captures), "
                                                                "live, read or capture")
    parser.add_argument("--log-level", default="WARNING", help="LEADS_LOG_LEVEL (INFO: the access log is written)")
    parser.add_argument("--granian", metavar="MODULE:FACTORY",
                        help="serve leads with granian through this app factory (uvicorn, as in production, if not)")
    parser.add_argument("--seed", type=int, default=500, help="leads captured before the measurement")
    args = parser.parse_args()
    admin_dsn = os.environ["SALESFLOW_PG_ADMIN_DSN"]
    stamp = datetime.now(UTC).strftime("%Y%m%d%H%M%S")
    name = f"httpcost_leads_{stamp}"
    dsn = await fresh_database(admin_dsn, name)
    prefix = f"httpcost{stamp}"
    env = {"SALESFLOW_TOPIC_PREFIX": prefix, "LEADS_DATABASE_URL": dsn,
           "LEADS_LOG_LEVEL": args.log_level, "LEADS_DEFAULT_TEAM_ID": BENCH_TEAM}
    leads, port = await (start_granian(env, args.granian) if args.granian else start("leads", env))
    try:
        await register_team(port)
        await seed_leads(port, args.seed)
        # Warm-up: the pool's connections, prepared statements, the token's first check, Python's caches.
        for kind in ("read", "capture"):
            await open_loop("127.0.0.1", rate=100, duration=2, build=builder(kind, port, 990),
                            headers=BENCH_HEADERS)
        await asyncio.sleep(2)  # the relay publishes the seed meanwhile; let it finish before measuring
        results: list[dict[str, Any]] = []
        idle: float | None = None
        for r in range(args.rounds):
            for n, kind in enumerate(args.kinds.split(",")):
                rate = args.capture_rate if kind == "capture" else args.rate
                results.append(await measure(kind, port, leads.pid, rate=rate, requests=args.requests,
                                             step=100 + r * 10 + n, idle_ms_per_s=idle))
                idle = results[-1].get("leads_cpu_ms_per_second", idle)
                print(json.dumps(results[-1]), flush=True)
        if args.profile:
            raw = Path(f"/tmp/httpcost-profile-{stamp}.txt")
            seconds = max(5, int(args.requests / args.capture_rate))
            sampling = asyncio.create_task(profile.record(leads.pid, seconds, raw))
            await asyncio.sleep(0.5)
            await open_loop("127.0.0.1", rate=args.capture_rate, duration=seconds,
                            build=builder(args.profile_kind, port, 200), headers=BENCH_HEADERS)
            if await sampling:
                print(json.dumps(profile.summarise(raw, top=40), indent=1))
                print(f"raw stacks: {raw}")
    finally:
        leads.terminate()
        leads.wait(timeout=15)
        admin = await asyncpg.connect(admin_dsn)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()
        await delete_topics_starting_with(load_settings(KafkaSettings).connection, prefix)


if __name__ == "__main__":
    asyncio.run(main())
