"""End to end under open-loop load: a sales department's mix of commands and reads over HTTP → the event stores
of leads and orders → relay → Kafka → reporting's read model. The three services run as real processes, exactly
as `make run` starts them; the ladder runs once per leads worker count (``LEADS_WORKERS``).

Workload (:data:`MIX`, every 20 requests): 7 captures (new customers, assigned round robin in a team of ten
consultants), 4 follow-ups, 1 grade change, 1 appointment, 1 quote and 2 payments (orders), and 4 reads (a
consultant's H-grade open leads, their overdue follow-ups); the follow-ups, grades, appointments, quotes and reads
go round leads captured before the measurement, the payments round orders signed before it.
Per arrival rate: achieved rate, HTTP latency (from the scheduled send time), event-to-read-model latency of the
captures (``report_leads.projected_at - source_recorded_at``: the leads event's insert time to reporting's insert
time, same machine clock, both taken just before their transactions commit), backlog at the end of the step
(events not yet relayed, leads not yet in reporting), and CPU seconds per process. The ladder stops after the
first step that achieves less than 90 % of its arrival rate: beyond saturation more steps only measure queueing.
Then one overload step offers 3 × the highest achieved rate: accepted rate, 503 count, latency of the accepted.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import asyncpg
import orjson

from bench import profile
from bench.common import CpuMeter, Pids, pids_of, summary_ms
from bench.databases import fresh_database
from bench.loadgen import Request, open_loop
from shared.messaging.connection import KafkaConnection
from tests.support.auth import auth_env, auth_headers

if TYPE_CHECKING:
    from bench.e2e_step import StepObserver

REPO = Path(__file__).resolve().parents[1]
CHANNELS = ["online_shop", "call_center", "website", "showroom", "phone"]
HTTP_P99_TARGET_MS = 20
READ_MODEL_P99_TARGET_MS = 100


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def admin_env() -> dict[str, str]:
    """The environment without the services' own Kafka principals: the bench's topic prefix is its own, which
    their ACLs do not name, so the services it starts sign in as the admin (KAFKA_SASL_*) like the tests'."""
    return {k: v for k, v in os.environ.items() if not k.endswith(("_KAFKA_SASL_USERNAME", "_KAFKA_SASL_PASSWORD"))}


async def start(name: str, env: dict[str, str]) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    log = open(f"/tmp/bench-{name}.log", "wb")  # noqa: SIM115, ASYNC230
    process = subprocess.Popen([sys.executable, "-m", f"services.{name}"], cwd=REPO, stdout=log, stderr=log,  # noqa: ASYNC220  (services outlive this coroutine)
                               env={**admin_env(), **auth_env(), **env, f"{name.upper()}_HTTP_PORT": str(port)})
    await wait_ready(process, port, name, f"/tmp/bench-{name}.log")
    return process, port


async def wait_ready(process: subprocess.Popen[bytes], port: int, name: str, log_path: str) -> None:
    """Until the service on ``port`` answers /health/ready (60 s); it is killed if it does not."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited; see {log_path}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health/ready", timeout=1) as r:  # noqa: ASYNC210
                if r.status == 200:
                    return
        except OSError:
            pass
        await asyncio.sleep(0.2)
    process.kill()
    raise RuntimeError(f"{name} not ready in 60 s")


def capture_body(step: int, i: int) -> bytes:
    # Unique phone per request: 139 + 8 digits from (step, i).
    return orjson.dumps({"name": "压测客户", "phone": f"139{step:03d}{i:05d}", "channel": CHANNELS[i % len(CHANNELS)],
                         "interest": "Model Y"})


MIX = ("capture", "follow_up", "capture", "my_leads", "capture", "follow_up", "quote", "capture", "due_follow_ups",
       "payment", "capture", "follow_up", "grade", "capture", "my_leads", "appointment", "capture", "follow_up",
       "payment", "due_follow_ups")
"""The i-th request of a step is ``MIX[i % 20]``: 35 % captures, 20 % follow-ups, 5 % grade changes, 5 %
appointments, 5 % quotes, 10 % payments, 20 % reads."""
GRADES = ("A", "B", "H", "C")
QUOTE_LINE = {"product": "MODEL-Y-LR", "description": "Model Y 长续航", "unit_price_minor": 26_390_000}
PAYMENT_MINOR = 100  # 1 yuan a payment: a seeded order never runs out of balance, whatever the rate


@dataclass(frozen=True)
class Workload:
    """What a step's requests go to: the services' ports and the leads and orders made before the measurement."""
    leads_port: int
    orders_port: int
    lead_ids: list[str]
    order_ids: list[str]


def build_workload(step: int, w: Workload) -> Any:
    soon = (datetime.now(UTC) + timedelta(days=2)).isoformat()
    valid_until = (datetime.now(UTC) + timedelta(days=30)).isoformat()

    def build(i: int) -> Request:
        kind, n = MIX[i % len(MIX)], i // len(MIX)  # n: which round of the mix, spreads the requests over the seed
        lead = w.lead_ids[(n * 7 + i) % len(w.lead_ids)]
        consultant = f"bench-c{i % CONSULTANTS}"
        if kind == "capture":
            return Request(w.leads_port, "POST", "/v1/leads", capture_body(step, i), kind)
        if kind == "follow_up":
            return Request(w.leads_port, "POST", f"/v1/leads/{lead}/follow-ups",
                           orjson.dumps({"kind": "call", "outcome": "interested, wants a test drive"}), kind)
        if kind == "grade":
            return Request(w.leads_port, "POST", f"/v1/leads/{lead}/grade",
                           orjson.dumps({"grade": GRADES[n % len(GRADES)], "reason": "budget confirmed"}), kind)
        if kind == "appointment":
            return Request(w.leads_port, "POST", f"/v1/leads/{lead}/appointments",
                           orjson.dumps({"kind": "showroom_visit", "scheduled_for": soon}), kind)
        if kind == "quote":
            return Request(w.orders_port, "POST", "/v1/quotes", orjson.dumps(
                {"consultant_id": consultant, "lead_id": lead, "lines": [QUOTE_LINE], "currency": "CNY",
                 "valid_until": valid_until}), kind)
        if kind == "payment":
            order = w.order_ids[(n * 2 + i) % len(w.order_ids)]
            return Request(w.orders_port, "POST", f"/v1/orders/{order}/payments", orjson.dumps(
                {"kind": "other", "amount_minor": PAYMENT_MINOR, "currency": "CNY", "method": "bank_transfer",
                 "reference": f"bench-{step}-{i}"}), kind)
        if kind == "my_leads":
            return Request(w.leads_port, "GET", f"/v1/leads?owner_id={consultant}&grade=H", label=kind)
        return Request(w.leads_port, "GET", f"/v1/follow-ups?owner_id={consultant}&within_hours=0",
                       label=kind)
    return build


BENCH_TEAM = "bench-team"
CONSULTANTS = 10
# The bench team's manager captures and follows up (a token from the test issuer, valid for the whole run); its
# validation is part of every measured request, as in production.
BENCH_HEADERS = auth_headers("manager", subject="bench-manager", team=BENCH_TEAM, expires_in=6 * 3600)
# Setting up the organisation (teams, consultants) is a director's command (docs/security.md).
SETUP_HEADERS = auth_headers("director", subject="bench-director", expires_in=6 * 3600)


async def post(port: int, path: str, body: dict[str, Any], headers: dict[str, str] = BENCH_HEADERS) -> Any:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=orjson.dumps(body), method="POST",
                                     headers={"Content-Type": "application/json", **headers})
    with await asyncio.to_thread(urllib.request.urlopen, request, timeout=30) as response:
        return orjson.loads(response.read())


async def register_team(port: int) -> None:
    """The captures' default team (LEADS_DEFAULT_TEAM_ID), so every capture is assigned round robin."""
    await post(port, "/v1/teams", {"team_id": BENCH_TEAM, "name": "电销一组"}, SETUP_HEADERS)
    for n in range(CONSULTANTS):
        await post(port, "/v1/consultants", {"consultant_id": f"bench-c{n}", "name": f"顾问{n}",
                                             "team_id": BENCH_TEAM}, SETUP_HEADERS)


async def seed_leads(port: int, count: int) -> list[str]:
    """Leads for the follow-ups, grades, appointments, quotes and reads, captured before the measurement (closed
    loop, not measured)."""
    ids: list[str] = []

    async def one(i: int) -> None:
        ids.append((await post(port, "/v1/leads", orjson.loads(capture_body(999, i))))["lead_id"])

    for start in range(0, count, 20):
        await asyncio.gather(*(one(i) for i in range(start, min(count, start + 20))))
    return ids


async def seed_orders(port: int, lead_ids: list[str]) -> list[str]:
    """Signed orders (quote → acceptance → contract) for the payments, made before the measurement."""
    valid_until = (datetime.now(UTC) + timedelta(days=30)).isoformat()
    ids: list[str] = []

    async def one(n: int, lead_id: str) -> None:
        quote = await post(port, "/v1/quotes", {"consultant_id": f"bench-c{n % CONSULTANTS}", "lead_id": lead_id,
                                                "lines": [QUOTE_LINE], "currency": "CNY",
                                                "valid_until": valid_until})
        await post(port, f"/v1/quotes/{quote['quote_id']}/acceptance", {})
        order = await post(port, f"/v1/quotes/{quote['quote_id']}/contract", {"payment_plan": "full"})
        ids.append(order["order_id"])

    for start in range(0, len(lead_ids), 20):
        await asyncio.gather(*(one(start + n, lead) for n, lead in enumerate(lead_ids[start:start + 20])))
    return ids


def process_tree(pid: int) -> list[int]:
    """A service's process and its worker processes."""
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    return [pid, *(int(p) for p in out.split())]


async def backlog(leads_db: asyncpg.Connection, reporting_db: asyncpg.Connection) -> dict[str, int]:
    # A capture stores several events (LeadCreated, LeadAssigned, FollowUpScheduled, …); the relay backlog counts
    # them all, the reporting backlog counts leads.
    events = await leads_db.fetchval("SELECT count(*) FROM events")
    leads = await leads_db.fetchval("SELECT count(*) FROM events WHERE event_type = 'LeadCreated'")
    relayed = await leads_db.fetchval("SELECT coalesce(sum(published), 0)::bigint FROM relay_checkpoints")
    projected = await reporting_db.fetchval("SELECT count(*) FROM report_leads")
    return {"stored_events": events, "leads": leads, "not_yet_relayed": events - relayed,
            "not_yet_in_reporting": leads - projected}


RATES = [50, 100, 150, 200, 250, 300, 400, 500, 750, 1000, 1500, 2000]
WORKER_COUNTS = (1, 2)
async def drain(leads_db: asyncpg.Connection, reporting_db: asyncpg.Connection, what: str) -> None:
    """Wait (up to a minute) until everything stored is relayed and every lead is in reporting."""
    deadline = time.monotonic() + 60
    while True:
        lag = await backlog(leads_db, reporting_db)
        if lag["not_yet_relayed"] <= 0 and lag["not_yet_in_reporting"] <= 0:
            return
        if time.monotonic() > deadline:
            print(f"  backlog after {what} not drained in 60 s: {lag}", flush=True)
            return
        await asyncio.sleep(0.2)


PROFILE_RATE = 200  # the rate of the extra step during which a leads worker is sampled (first configuration)
SEED_LEADS = 2000
SEED_ORDERS = 200  # payments round these: at 1,000/s each order takes one payment every 2 s (few version races)
SATURATED = 0.9  # accepted (2xx) ÷ offered below this: the step is saturated and the ladder stops
OVERLOAD_FACTOR = 3  # the overload step offers this many times the capacity the ladder found
LEADS_MAX_IN_FLIGHT = 64  # commands in flight per leads worker before it answers 503 (shared/runtime/admission.py)


async def run(admin_dsn: str, kafka: KafkaConnection, prefix: str, run_id: str, *, smoke: bool) -> dict[str, Any]:
    configs = []
    for workers in (1,) if smoke else WORKER_COUNTS:
        print(f"  leads with {workers} worker(s)", flush=True)
        # ANALYZE after the seed: a production database has statistics; without them the services' cached plans are
        # the ones planned on near-empty tables (autovacuum analyses a fresh database only a minute or more later),
        # and one cold run scanned all of report_facts per batch (bench/results/e2e-lowrate-20261204.md).
        configs.append(await run_ladder(admin_dsn, kafka, f"{prefix}w{workers}", f"{run_id}_w{workers}",
                                        workers, profile_rate=PROFILE_RATE if workers == 1 else None, smoke=smoke,
                                        analyze_after_seed=True))
    passing = [c["highest_rate_meeting_targets"] for c in configs if c["highest_rate_meeting_targets"]]
    return {"workload": "per 20 requests: 7 × POST /v1/leads (capture; unique phones; 5 channels; round robin in a "
                        f"team of {CONSULTANTS}), 4 × POST /v1/leads/{{id}}/follow-ups, 1 × POST …/grade, 1 × POST "
                        "…/appointments, 1 × POST /v1/quotes and 2 × POST /v1/orders/{id}/payments (orders), "
                        "2 × GET /v1/leads?owner_id&grade=H, 2 × GET /v1/follow-ups?owner_id (overdue); on leads "
                        f"and orders made before the run ({SEED_LEADS} leads, {SEED_ORDERS} signed orders)",
            "configs": configs, "highest_rate_meeting_targets": max(passing) if passing else None,
            "targets": {"http_p99_ms": HTTP_P99_TARGET_MS, "read_model_p99_ms": READ_MODEL_P99_TARGET_MS}}


async def run_ladder(admin_dsn: str, kafka: KafkaConnection, prefix: str, run_id: str, workers: int, *,
                     profile_rate: int | None, smoke: bool, rates: list[int] | None = None,
                     duration: float | None = None, ladder: bool = True,
                     observer: StepObserver | None = None, env_extra: dict[str, str] | None = None,
                     analyze_after_seed: bool = False) -> dict[str, Any]:
    """One ladder. ``rates``/``duration`` replace the defaults; ``ladder=False`` runs exactly the given steps (no
    saturation stop, no profile step, no overload step); ``observer`` is called around each step (bench.e2e_step's
    per-backend CPU and pg_stat deltas); ``env_extra`` adds settings for the services (A/B runs);
    ``analyze_after_seed`` runs ANALYZE in the three databases once the seed is projected (what autovacuum does a
    minute or more later; it also makes the services' cached plans be planned again)."""
    leads_dsn = await fresh_database(admin_dsn, f"bench_e2e_leads_{run_id}")
    reporting_dsn = await fresh_database(admin_dsn, f"bench_e2e_reporting_{run_id}")
    orders_dsn = await fresh_database(admin_dsn, f"bench_e2e_orders_{run_id}")
    env = {"KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap_servers, "SALESFLOW_TOPIC_PREFIX": f"{prefix}e2e",
           "LEADS_DATABASE_URL": leads_dsn, "REPORTING_DATABASE_URL": reporting_dsn,
           "ORDERS_DATABASE_URL": orders_dsn,
           "LEADS_LOG_LEVEL": "WARNING", "REPORTING_LOG_LEVEL": "WARNING", "ORDERS_LOG_LEVEL": "WARNING",
           "LEADS_DB_POOL_MAX": str(max(10, 40 // workers)), "LEADS_WORKERS": str(workers),
           "LEADS_DEFAULT_TEAM_ID": BENCH_TEAM, "LEADS_MAX_IN_FLIGHT": str(LEADS_MAX_IN_FLIGHT),
           **(env_extra or {})}
    started: list[subprocess.Popen[bytes]] = []
    try:  # a service that does not start must not leave the others running (they would poll a dropped database)
        leads, leads_port = await start("leads", env)
        started.append(leads)
        reporting, _ = await start("reporting", env)
        started.append(reporting)
        orders, orders_port = await start("orders", env)
    except BaseException:
        for process in started:
            process.terminate()
            process.wait(timeout=15)
        raise
    leads_db = await asyncpg.connect(leads_dsn)
    reporting_db = await asyncpg.connect(reporting_dsn)
    rates = rates or ([50] if smoke else RATES)
    duration = duration or (3.0 if smoke else 20.0)
    steps: list[dict[str, Any]] = []
    profiles: dict[str, Any] = {}
    try:
        deadline = time.monotonic() + 60
        while len(process_tree(leads.pid)) < (workers + 1 if workers > 1 else 1):
            if time.monotonic() > deadline:
                raise RuntimeError(f"leads did not start {workers} workers")
            await asyncio.sleep(0.2)
        leads_pids = process_tree(leads.pid)
        meter_groups: dict[str, Pids] = {
            "leads": leads_pids, "orders": [orders.pid], "reporting": [reporting.pid],
            "kafka": pids_of("kafka.Kafka"),
            "postgres": lambda: pids_of("postgres"),  # backends come and go with connections
            "loadgen": [os.getpid()]}
        await register_team(leads_port)
        lead_ids = await seed_leads(leads_port, 50 if smoke else SEED_LEADS)
        workload = Workload(leads_port, orders_port, lead_ids,
                            await seed_orders(orders_port, lead_ids[:10 if smoke else SEED_ORDERS]))
        # Warm-up: connections of every worker, Python caches, Kafka metadata.
        await open_loop("127.0.0.1", rate=100, duration=2, build=build_workload(998, workload),
                        headers=BENCH_HEADERS)
        # The first step must not pay for relaying and projecting the seed: wait until both are through.
        await drain(leads_db, reporting_db, "seed")
        if analyze_after_seed:
            for dsn in (leads_dsn, orders_dsn, reporting_dsn):
                conn = await asyncpg.connect(dsn)
                try:
                    await conn.execute("ANALYZE")
                finally:
                    await conn.close()
        for step, rate in enumerate(rates):
            before = await reporting_db.fetchval("SELECT now()")
            cpu = CpuMeter(meter_groups)
            if observer is not None:
                await observer.before_step({"leads": leads_pids, "orders": [orders.pid],
                                            "reporting": [reporting.pid]})
            cpu.start()
            load = await open_loop("127.0.0.1", rate=rate, duration=duration,
                                   build=build_workload(step, workload), headers=BENCH_HEADERS)
            cpu_used = cpu.stop()
            observed = await observer.after_step(load.completed) if observer is not None else None
            lag = await backlog(leads_db, reporting_db)
            await drain(leads_db, reporting_db, f"{rate}/s")
            delays = [r["d"] for r in await reporting_db.fetch(
                "SELECT extract(epoch FROM projected_at - source_recorded_at)::float8 AS d FROM report_leads "
                "WHERE captured_at >= $1", before)]
            http = summary_ms(load.latencies_s)
            read_model = summary_ms(delays)
            achieved = load.completed / load.duration_s
            # Answers of any status per second, and the 2xx among them: since back-pressure, a step past capacity
            # is answered in full (the excess with 503), so only the accepted rate says what the service did.
            accepted = sum(n for status, n in load.statuses.items() if 200 <= status < 300) / load.duration_s
            steps.append({
                "target_rate": rate, "duration_s": round(load.duration_s, 2),
                "achieved_rate": round(achieved, 1), "accepted_rate": round(accepted, 1),
                "completed": load.completed, "errors": load.errors, "statuses": load.statuses,
                "connections": load.max_connections, "http": http, "event_to_read_model": read_model,
                "http_by_kind": {kind: summary_ms(v) for kind, v in sorted(load.latencies_by_label_s.items())},
                "backlog_at_step_end": lag, "cpu_seconds": cpu_used,
                "leads_cpu_ms_per_request": round(1000 * cpu_used["leads"] / load.completed, 2)
                if load.completed else None,
                "meets_targets": bool(http["p99_ms"] is not None and http["p99_ms"] <= HTTP_P99_TARGET_MS
                                      and read_model["p99_ms"] is not None
                                      and read_model["p99_ms"] <= READ_MODEL_P99_TARGET_MS
                                      and load.errors == 0 and set(load.statuses) <= {200, 201}),
                **({"detail": observed} if observed is not None else {}),
            })
            print(f"  {rate}/s: achieved {steps[-1]['achieved_rate']}/s (accepted {steps[-1]['accepted_rate']}/s), "
                  f"http p99 {http['p99_ms']} ms, "
                  f"read-model p99 {read_model['p99_ms']} ms, cpu {cpu_used}", flush=True)
            if ladder and accepted < SATURATED * rate:
                break
        if not ladder:
            return {"leads_workers": workers, "rates": steps}
        if profile_rate is not None or smoke:
            # A step of its own, not one of the ladder's: py-spy with native frames stops the process for every
            # sample (200 a second), which adds up to seconds of latency to the step it watches.
            sampled_rate = 50 if smoke or profile_rate is None else profile_rate
            raw = Path(f"/tmp/bench-profile-leads-{run_id}.txt")
            sampling = asyncio.create_task(profile.record(leads_pids[-1], duration - 1, raw))
            await open_loop("127.0.0.1", rate=sampled_rate, duration=duration,
                            build=build_workload(len(rates) + 1, workload), headers=BENCH_HEADERS)
            if await sampling:
                profiles[f"leads@{sampled_rate}/s"] = profile.summarise(raw)
            await drain(leads_db, reporting_db, "profile")
        overload = await overload_step(workload, steps, duration, meter_groups)
        await drain(leads_db, reporting_db, "overload")
    finally:
        await leads_db.close()
        await reporting_db.close()
        for process in (leads, orders, reporting):
            process.terminate()
            process.wait(timeout=15)
    passing = [s["target_rate"] for s in steps if s["meets_targets"]]
    return {"leads_workers": workers, "rates": steps, "profiles": profiles, "overload": overload,
            "highest_rate_meeting_targets": max(passing) if passing else None}


async def overload_step(workload: Workload, steps: list[dict[str, Any]], duration: float,
                        meter_groups: dict[str, Pids]) -> dict[str, Any]:
    """Offer ``OVERLOAD_FACTOR`` × the capacity (the highest rate the ladder got accepted): back-pressure should keep
    the accepted rate near capacity, answer the rest 503 at once, and keep the accepted requests' latency bounded
    (issue 14: ≥ 90 % of capacity)."""
    capacity = max(s["accepted_rate"] for s in steps)
    offered = round(OVERLOAD_FACTOR * capacity)
    cpu = CpuMeter(meter_groups)
    cpu.start()
    load = await open_loop("127.0.0.1", rate=offered, duration=duration,
                           build=build_workload(len(steps), workload), headers=BENCH_HEADERS)
    cpu_used = cpu.stop()
    accepted = sum(n for status, n in load.statuses.items() if 200 <= status < 300)
    accepted_rate = accepted / load.duration_s
    result = {
        "capacity_rate": capacity, "offered_rate": offered, "duration_s": round(load.duration_s, 2),
        "accepted_rate": round(accepted_rate, 1), "share_of_capacity": round(accepted_rate / capacity, 3),
        "refused_503": load.statuses.get(503, 0), "errors": load.errors, "statuses": load.statuses,
        "http_accepted": summary_ms(load.accepted_latencies_s), "http_all": summary_ms(load.latencies_s),
        "cpu_seconds": cpu_used,
    }
    print(f"  overload {offered}/s (3 × {capacity}/s): accepted {result['accepted_rate']}/s "
          f"({result['share_of_capacity']:.0%} of capacity), {result['refused_503']} × 503, "
          f"accepted p99 {result['http_accepted']['p99_ms']} ms", flush=True)
    return result
