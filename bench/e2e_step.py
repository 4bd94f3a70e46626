"""One or a few fixed-rate steps of the e2e workload (bench/e2e.py), with the detail a ladder does not record: CPU
per PostgreSQL backend (grouped by database and the service process on the other end of its socket), and per
request: transactions (pg_stat_database), rows read, and sequential/index scans per table (pg_stat_user_tables).
This is where a fixed cost per request or per wake-up shows (issue 14 item 3). Not part of ``make bench``.

    flock /work/coord/bench.lock .venv/bin/python -m bench.e2e_step --rates 50 --seconds 30
    ... --env LEADS_SOMETHING=1     # A/B: a setting for the services

Prints one JSON document (the step as e2e records it, plus ``detail``) and a readable summary.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import subprocess
import time
import uuid
from collections import defaultdict
from pathlib import Path
from typing import Any

import asyncpg

from bench import e2e, profile
from bench.common import cpu_seconds
from bench.databases import drop_run_databases
from shared.settings import KafkaSettings, load_settings
from tests.support.kafka import delete_topics_starting_with

DATABASE_STATS = ("xact_commit", "xact_rollback", "tup_returned", "tup_fetched", "tup_inserted", "tup_updated",
                  "tup_deleted")
TABLE_STATS = ("seq_scan", "seq_tup_read", "idx_scan", "idx_tup_fetch", "n_tup_ins", "n_tup_upd", "n_tup_del")
_SS_PID = re.compile(r"pid=(\d+)")


def _socket_owners() -> dict[int, int]:
    """Local TCP port → pid of the process holding it (``ss -tnp``): whose connection a backend serves."""
    owners: dict[int, int] = {}
    out = subprocess.run(["ss", "-tnpH"], capture_output=True, text=True).stdout
    for line in out.splitlines():
        fields = line.split()
        if len(fields) < 6 or not fields[4].endswith(":5432"):
            continue
        match = _SS_PID.search(fields[5])
        if match:
            owners[int(fields[3].rsplit(":", 1)[1])] = int(match.group(1))
    return owners


class StepObserver:
    """Snapshots before and after a step: per-backend CPU and pg_stat counters of the run's three databases."""

    def __init__(self, admin_dsn: str, run_id: str, *, profile_seconds: float | None = None) -> None:
        self._admin_dsn = admin_dsn
        # py-spy (native frames, 200 samples/s) of the leads worker and reporting during the step: CPU shares, not
        # latency (it stops the process for every sample).
        self._profile_seconds = profile_seconds
        self._sampling: dict[str, tuple[asyncio.Task[bool], Path]] = {}
        self._names = {s: f"bench_e2e_{s}_{run_id}_w1" for s in ("leads", "orders", "reporting")}
        self._services: dict[str, list[int]] = {}
        self._before: dict[str, Any] = {}

    def use_workers(self, workers: int, run_id: str) -> None:
        self._names = {s: f"bench_e2e_{s}_{run_id}_w{workers}" for s in ("leads", "orders", "reporting")}

    async def _snapshot(self) -> dict[str, Any]:
        admin = await asyncpg.connect(self._admin_dsn)
        try:
            names = list(self._names.values())
            # Counters of the step, not of a backend that has not reported yet (PostgreSQL 15 flushes a backend's
            # stats at most once a second): a short pause before each snapshot would not fix that; 30-s steps do.
            backends = await admin.fetch(
                "SELECT pid, datname, client_port, left(regexp_replace(query, '\\s+', ' ', 'g'), 70) AS query "
                "FROM pg_stat_activity WHERE datname = ANY($1::text[])", names)
            database = {r["datname"]: dict(r) for r in await admin.fetch(
                f"SELECT datname, {', '.join(DATABASE_STATS)} FROM pg_stat_database WHERE datname = ANY($1::text[])",
                names)}
        finally:
            await admin.close()
        tables: dict[str, dict[str, Any]] = {}
        for service, name in self._names.items():
            conn = await asyncpg.connect(self._admin_dsn.rsplit("/", 1)[0] + "/" + name)
            try:
                for r in await conn.fetch(f"SELECT relname, {', '.join(TABLE_STATS)} FROM pg_stat_user_tables"):
                    tables[f"{service}.{r['relname']}"] = {k: r[k] or 0 for k in TABLE_STATS}
            finally:
                await conn.close()
        cpu = {}
        for r in backends:
            with contextlib.suppress(OSError):
                cpu[r["pid"]] = cpu_seconds(r["pid"])
        return {"at": time.monotonic(), "backends": {r["pid"]: dict(r) for r in backends}, "cpu": cpu,
                "database": database, "tables": tables, "owners": _socket_owners()}

    async def before_step(self, services: dict[str, list[int]]) -> None:
        self._services = services
        self._before = await self._snapshot()
        if self._profile_seconds:
            for name in ("leads", "reporting"):
                raw = Path(f"/tmp/e2e-step-profile-{name}-{os.getpid()}.txt")
                self._sampling[name] = (asyncio.create_task(
                    profile.record(services[name][-1], self._profile_seconds, raw)), raw)

    async def after_step(self, completed: int) -> dict[str, Any]:
        after = await self._snapshot()
        profiles = {name: profile.summarise(raw, top=30) for name, (task, raw) in self._sampling.items()
                    if await task}
        self._sampling = {}
        before = self._before
        elapsed = after["at"] - before["at"]
        service_of = {pid: s for s, pids in self._services.items() for pid in pids}
        per = max(completed, 1)
        # Backends alive at both ends; a backend that started meanwhile counts from zero, one that ended is lost.
        grouped: dict[str, dict[str, float]] = defaultdict(lambda: {"backends": 0, "cpu_s": 0.0})
        for pid, row in after["backends"].items():
            if pid not in after["cpu"]:
                continue
            used = after["cpu"][pid] - before["cpu"].get(pid, 0.0)
            owner = after["owners"].get(row["client_port"]) or before["owners"].get(row["client_port"])
            service = service_of.get(owner, "other") if owner else "other"
            database = row["datname"].split("_")[2]
            label = f"{database} <- {service}"
            grouped[label]["backends"] += 1
            grouped[label]["cpu_s"] += used
            key = f"{label} | {row['query']}"
            grouped[key]["backends"] += 1
            grouped[key]["cpu_s"] += used
        database_deltas = {}
        for service, name in self._names.items():
            a, b = before["database"][name], after["database"][name]
            database_deltas[service] = {k: b[k] - a[k] for k in DATABASE_STATS}
            database_deltas[service]["per_request"] = {k: round((b[k] - a[k]) / per, 2)
                                                       for k in ("xact_commit", "tup_returned", "tup_fetched")}
        tables = {}
        for name, b in after["tables"].items():
            a = before["tables"].get(name, dict.fromkeys(TABLE_STATS, 0))
            delta = {k: b[k] - a[k] for k in TABLE_STATS}
            if any(delta.values()):
                tables[name] = delta
        return {"elapsed_s": round(elapsed, 2), "completed": completed, "load_average": os.getloadavg(),
                "backend_cpu_s": {k: {"backends": v["backends"], "cpu_s": round(v["cpu_s"], 3),
                                      "cpu_ms_per_request": round(1000 * v["cpu_s"] / per, 3)}
                                  for k, v in sorted(grouped.items(), key=lambda kv: -kv[1]["cpu_s"])},
                "database": database_deltas,
                "tables": dict(sorted(tables.items(), key=lambda kv: -kv[1]["seq_tup_read"])),
                **({"profiles": profiles} if profiles else {})}


def _print_profiles(profiles: dict[str, Any]) -> None:
    for name, p in profiles.items():
        print(f"py-spy {name}: {p['samples']} samples, {p['on_cpu_samples']} on CPU; inclusive share of on-CPU")
        for row in p["inclusive"]:
            print(f"  {row['share']:6.3f}  {row['frame']}")


def _print_summary(step: dict[str, Any]) -> None:
    completed = max(step["completed"], 1)
    detail = step["detail"]
    print(f"\n{step['target_rate']}/s for {step['duration_s']} s: {step['completed']} answers, "
          f"http p50/p99 {step['http']['p50_ms']}/{step['http']['p99_ms']} ms, "
          f"read-model p99 {step['event_to_read_model']['p99_ms']} ms, load average after {detail['load_average']}")
    total = sum(v for k, v in step["cpu_seconds"].items() if not k.endswith("_ended"))
    print(f"CPU ms per request: total {1000 * total / completed:.2f} — " + ", ".join(
        f"{k} {1000 * v / completed:.2f}" for k, v in step["cpu_seconds"].items() if not k.endswith("_ended")))
    print("PostgreSQL backends (database <- client service): count, CPU s, ms/request")
    for label, v in detail["backend_cpu_s"].items():
        if v["cpu_s"] >= 0.05:
            print(f"  {label[:110]:110s} {v['backends']:3d} {v['cpu_s']:7.2f} {v['cpu_ms_per_request']:7.3f}")
    print("per request: xact_commit, tup_returned, tup_fetched")
    for service, d in detail["database"].items():
        print(f"  {service:10s} " + "  ".join(f"{v:8.2f}" for v in d["per_request"].values()))
    print("tables per request (seq_scan, seq_tup_read, idx_scan, n_tup_ins, n_tup_upd, n_tup_del)")
    for name, d in detail["tables"].items():
        print(f"  {name:45s} " + "  ".join(f"{d[k] / completed:8.2f}" for k in
                                           ("seq_scan", "seq_tup_read", "idx_scan", "n_tup_ins", "n_tup_upd",
                                            "n_tup_del")))
    _print_profiles(detail.get("profiles", {}))


async def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rates", default="50", help="comma-separated arrival rates, one step each")
    parser.add_argument("--seconds", type=float, default=30.0, help="duration of each step")
    parser.add_argument("--workers", type=int, default=1, help="leads worker processes (LEADS_WORKERS)")
    parser.add_argument("--env", action="append", default=[], help="NAME=VALUE for the services (A/B)")
    parser.add_argument("--json", default=None, help="also write the steps here")
    parser.add_argument("--analyze", action="store_true",
                        help="ANALYZE the databases after the seed (as autovacuum would a minute or two later)")
    parser.add_argument("--profile", action="store_true",
                        help="py-spy the leads worker and reporting during each step (inflates latency)")
    parser.add_argument("--keep", action="store_true", help="keep the databases (to EXPLAIN); drop them yourself")
    args = parser.parse_args()
    admin = os.environ["SALESFLOW_PG_ADMIN_DSN"]
    kafka = load_settings(KafkaSettings).connection
    run_id = f"e2elowrate{uuid.uuid4().hex[:6]}"
    prefix = f"{run_id}w{args.workers}"
    observer = StepObserver(admin, run_id, profile_seconds=args.seconds - 1 if args.profile else None)
    observer.use_workers(args.workers, run_id)
    env_extra = dict(item.split("=", 1) for item in args.env)
    print(f"load average at start: {os.getloadavg()}", flush=True)
    try:
        result = await e2e.run_ladder(admin, kafka, prefix, f"{run_id}_w{args.workers}",
                                      args.workers, profile_rate=None, smoke=False,
                                      rates=[int(r) for r in args.rates.split(",")], duration=args.seconds,
                                      ladder=False, observer=observer, env_extra=env_extra,
                                      analyze_after_seed=args.analyze)
    finally:
        if args.keep:
            print(f"kept the databases bench_e2e_*_{run_id}_w{args.workers}", flush=True)
        else:
            await drop_run_databases(admin, run_id)
        await delete_topics_starting_with(kafka, prefix)
    result["env"] = env_extra
    result["analyzed_after_seed"] = args.analyze
    print(f"load average at end: {os.getloadavg()}")
    for step in result["rates"]:
        _print_summary(step)
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2, default=str))  # noqa: ASYNC240  (once, at the end)
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
