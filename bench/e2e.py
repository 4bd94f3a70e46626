"""End to end under open-loop load: HTTP lead captures → leads' event store → relay → Kafka → reporting's
read model. Both services run as real processes, exactly as `make run` starts them.

Per arrival rate: achieved rate, HTTP latency (from the scheduled send time), event-to-read-model latency
(``report_leads.projected_at - source_recorded_at``: the leads event's insert time to reporting's insert time, same
machine clock, both taken just before their transactions commit), backlog at the end of the step (events not yet
relayed, leads not yet in reporting), and CPU seconds per process.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import asyncpg
import orjson

from bench import profile
from bench.common import CpuMeter, pids_of, summary_ms
from bench.loadgen import open_loop

REPO = Path(__file__).resolve().parents[1]
CHANNELS = ["online_shop", "call_center", "website", "showroom", "phone"]
HTTP_P99_TARGET_MS = 20
READ_MODEL_P99_TARGET_MS = 100


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def start(name: str, env: dict[str, str]) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    log = open(f"/tmp/bench-{name}.log", "wb")  # noqa: SIM115, ASYNC230
    process = subprocess.Popen([sys.executable, "-m", f"services.{name}"], cwd=REPO, stdout=log, stderr=log,  # noqa: ASYNC220  (services outlive this coroutine)
                               env={**os.environ, **env, f"{name.upper()}_HTTP_PORT": str(port)})
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited; see /tmp/bench-{name}.log")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health/ready", timeout=1) as r:  # noqa: ASYNC210
                if r.status == 200:
                    return process, port
        except OSError:
            pass
        await asyncio.sleep(0.2)
    process.kill()
    raise RuntimeError(f"{name} not ready in 60 s")


def build_capture(run_id: str, step: int) -> Any:
    def build(i: int) -> tuple[str, bytes]:
        # Unique phone per request: 139 + 8 digits from (step, i).
        phone = f"139{step:02d}{i:06d}"
        return "/v1/leads", orjson.dumps({"name": "压测客户", "phone": phone, "channel": CHANNELS[i % len(CHANNELS)],
                                          "interest": "Model Y"})
    return build


async def backlog(leads_db: asyncpg.Connection, reporting_db: asyncpg.Connection) -> dict[str, int]:
    # A capture stores several events (LeadCreated, LeadAssigned, FollowUpScheduled, …); the relay backlog counts
    # them all, the reporting backlog counts leads.
    events = await leads_db.fetchval("SELECT count(*) FROM events")
    leads = await leads_db.fetchval("SELECT count(*) FROM events WHERE event_type = 'LeadCreated'")
    relayed = await leads_db.fetchval("SELECT coalesce(sum(published), 0)::bigint FROM relay_checkpoints")
    projected = await reporting_db.fetchval("SELECT count(*) FROM report_leads")
    return {"stored_events": events, "leads": leads, "not_yet_relayed": events - relayed,
            "not_yet_in_reporting": leads - projected}


PROFILE_RATE = 1000  # the step during which the leads process is sampled with py-spy


async def run(admin_dsn: str, bootstrap: str, prefix: str, run_id: str, *, smoke: bool) -> dict[str, Any]:
    from bench.run import fresh_database

    leads_dsn = await fresh_database(admin_dsn, f"bench_e2e_leads_{run_id}")
    reporting_dsn = await fresh_database(admin_dsn, f"bench_e2e_reporting_{run_id}")
    env = {"KAFKA_BOOTSTRAP_SERVERS": bootstrap, "SALESFLOW_TOPIC_PREFIX": f"{prefix}e2e",
           "LEADS_DATABASE_URL": leads_dsn, "REPORTING_DATABASE_URL": reporting_dsn,
           "LEADS_LOG_LEVEL": "WARNING", "REPORTING_LOG_LEVEL": "WARNING",
           "LEADS_DB_POOL_MAX": "40"}
    leads, leads_port = await start("leads", env)
    reporting, _ = await start("reporting", env)
    leads_db = await asyncpg.connect(leads_dsn)
    reporting_db = await asyncpg.connect(reporting_dsn)
    rates = [50] if smoke else [250, 500, 1000, 1500, 2000]
    duration = 3.0 if smoke else 20.0
    steps = []
    profiles: dict[str, Any] = {}
    try:
        meter_groups = {"leads": [leads.pid], "reporting": [reporting.pid], "kafka": pids_of("kafka.Kafka"),
                        "postgres": pids_of("postgres"), "loadgen": [os.getpid()]}
        # Warm-up: connections, JIT-less Python caches, Kafka metadata.
        await open_loop("127.0.0.1", leads_port, rate=100, duration=2, build=build_capture(run_id, 99))
        for step, rate in enumerate(rates):
            before = await reporting_db.fetchval("SELECT now()")
            cpu = CpuMeter(meter_groups)
            cpu.start()
            sampling = None
            if rate == PROFILE_RATE or smoke:
                raw = Path(f"/tmp/bench-profile-leads-{run_id}.txt")
                sampling = (raw, asyncio.create_task(profile.record(leads.pid, duration - 1, raw)))
            load = await open_loop("127.0.0.1", leads_port, rate=rate, duration=duration,
                                   build=build_capture(run_id, step))
            cpu_used = cpu.stop()
            if sampling is not None and await sampling[1]:
                profiles[f"leads@{rate}/s"] = profile.summarise(sampling[0])
            lag = await backlog(leads_db, reporting_db)
            drain_deadline = time.monotonic() + 60
            while (await backlog(leads_db, reporting_db))["not_yet_in_reporting"] > 0:
                if time.monotonic() > drain_deadline:
                    break
                await asyncio.sleep(0.2)
            delays = [r["d"] for r in await reporting_db.fetch(
                "SELECT extract(epoch FROM projected_at - source_recorded_at)::float8 AS d FROM report_leads "
                "WHERE captured_at >= $1", before)]
            http = summary_ms(load.latencies_s)
            read_model = summary_ms(delays)
            steps.append({
                "target_rate": rate, "duration_s": round(load.duration_s, 2),
                "achieved_rate": round(load.completed / load.duration_s, 1),
                "completed": load.completed, "errors": load.errors, "statuses": load.statuses,
                "connections": load.max_connections, "http": http, "event_to_read_model": read_model,
                "backlog_at_step_end": lag, "cpu_seconds": cpu_used,
                "meets_targets": bool(http["p99_ms"] is not None and http["p99_ms"] <= HTTP_P99_TARGET_MS
                                      and read_model["p99_ms"] is not None
                                      and read_model["p99_ms"] <= READ_MODEL_P99_TARGET_MS
                                      and load.errors == 0),
            })
            print(f"  {rate}/s: achieved {steps[-1]['achieved_rate']}/s, http p99 {http['p99_ms']} ms, "
                  f"read-model p99 {read_model['p99_ms']} ms, cpu {cpu_used}", flush=True)
    finally:
        await leads_db.close()
        await reporting_db.close()
        for process in (leads, reporting):
            process.terminate()
            process.wait(timeout=15)
    passing = [s["target_rate"] for s in steps if s["meets_targets"]]
    return {"workload": "POST /v1/leads (capture; unique phones; 5 channels)", "rates": steps, "profiles": profiles,
            "highest_rate_meeting_targets": max(passing) if passing else None,
            "targets": {"http_p99_ms": HTTP_P99_TARGET_MS, "read_model_p99_ms": READ_MODEL_P99_TARGET_MS}}
