"""The faults, injected one at a time while the load runs, and the recovery time of each: from the injection until
a canary command to the affected service, retried like any client, is acknowledged *and* visible in reporting (so
the whole path — HTTP, event store, relay, Kafka, consumer, read model — works again)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from faults.fleet import SERVICES, Fleet
from faults.load import ACKNOWLEDGED, Client, Command
from faults.stack import REPO, PrivateStack


@dataclass
class FaultResult:
    fault: str
    target: str
    injected_at: float
    detail: dict[str, Any] = field(default_factory=dict)
    ready_s: float | None = None  # every service answers /health/ready again
    recovered_s: float | None = None  # the canary is acknowledged and projected in reporting
    error: str | None = None


def plan(rounds: int, *, services: tuple[str, ...] = SERVICES) -> list[tuple[str, str]]:
    """(fault, target) in injection order: every process fault per service ``rounds`` times, the infrastructure
    faults once, interleaved so that no service is hit twice in a row."""
    faults: list[tuple[str, str]] = []
    infra = [("kafka_kill", "kafka"), ("pg_restart_immediate", "postgres"), ("pg_outage", "postgres"),
             ("reporting_rebuild", "reporting")]
    for r in range(rounds):
        for kind in ("kill_worker", "kill_parent", "kill_service"):
            for service in services:
                faults.append((kind, service))
            if r == 0 and infra:
                faults.append(infra.pop(0))
    faults.extend(infra)
    return faults


class Canary:
    """An idempotent command per service whose effect reporting shows."""

    def __init__(self, client: Client, reporting_dsn: str, run: int) -> None:
        self.client, self.reporting_dsn, self.run = client, reporting_dsn, run
        self.n = 0
        self.commands: list[Command] = []

    def command(self, service: str) -> Command:
        self.n += 1
        mark = f"canary{self.run}-{self.n}"
        phone = f"1370{self.run % 10}{self.n:06d}"
        if service == "orders":
            return Command(mark, "orders.checkout", "orders", "POST", "/v1/checkouts",
                           {"shop_order_id": mark, "customer_name": "探针", "customer_phone": phone,
                            "lines": [{"product": "CANARY", "unit_price_minor": 100}], "total_minor": 100,
                            "paid_minor": 100, "currency": "CNY"},
                           effect=("orders", "ContractSigned", {"shop_order_id": mark}))
        if service == "aftersales":
            return Command(mark, "aftersales.referral", "aftersales", "POST", "/v1/referrals",
                           {"referral_id": mark, "referrer_customer_id": "canary", "prospect_name": "探针",
                            "prospect_phone": phone},
                           effect=("aftersales", "ReferralRegistered", {"referral_id": mark}))
        return Command(mark, "leads.capture", "leads", "POST", "/v1/leads",
                       {"name": "探针", "phone": phone, "channel": "website", "source_system": "faults-canary",
                        "external_id": mark},
                       effect=("leads", "LeadCreated", {"source_system": "faults-canary", "external_id": mark}))

    async def visible(self, c: Command) -> bool:
        r = c.response or {}
        if c.kind == "leads.capture":
            sql, arg = "SELECT 1 FROM {s}.report_leads WHERE lead_id = $1", r.get("lead_id")
        elif c.kind == "orders.checkout":
            sql, arg = ("SELECT 1 FROM {s}.report_facts WHERE event_type = 'salesflow.orders.ContractSigned' "
                        "AND order_id = $1"), r.get("order_id")
        else:
            sql, arg = ("SELECT 1 FROM {s}.report_facts WHERE event_type = 'salesflow.aftersales.ReferralRegistered' "
                        "AND data::text LIKE '%' || $1 || '%'"), c.id
        try:
            conn = await asyncpg.connect(self.reporting_dsn, timeout=5)
            try:
                schema = await conn.fetchval("SELECT schema_name FROM public.reporting_active_schema WHERE id = 1")
                return bool(await conn.fetchval(sql.format(s=f'"{schema}"'), arg))
            finally:
                await conn.close()
        except (OSError, asyncpg.PostgresError, TimeoutError):
            return False

    async def probe(self, service: str, *, timeout: float = 600) -> float | None:
        """Seconds until a canary to ``service`` is acknowledged and projected; None if not within ``timeout``."""
        started = time.monotonic()
        c = self.command(service)
        self.commands.append(c)
        await self.client.execute(c)
        if c.outcome != ACKNOWLEDGED:
            return None
        while time.monotonic() - started < timeout:
            if await self.visible(c):
                return time.monotonic() - started
            await asyncio.sleep(0.25)
        return None


class Injector:
    def __init__(self, stack: PrivateStack, fleet: Fleet, canary: Canary, *, pg_outage_s: float,
                 kafka_down_s: float, gap_s: float, on_event: Callable[[str], None] = print) -> None:
        self.stack, self.fleet, self.canary = stack, fleet, canary
        self.pg_outage_s, self.kafka_down_s, self.gap_s = pg_outage_s, kafka_down_s, gap_s
        self.say = on_event
        self.results: list[FaultResult] = []

    async def run(self, faults: list[tuple[str, str]]) -> list[FaultResult]:
        for n, (fault, target) in enumerate(faults, 1):
            await asyncio.sleep(self.gap_s)
            self.say(f"fault {n}/{len(faults)}: {fault} {target}")
            result = await self.inject(fault, target)
            self.results.append(result)
            took = "—" if result.recovered_s is None else f"{result.recovered_s:.1f}"
            self.say(f"  recovered in {took} s" + (f" ({result.error})" if result.error else ""))
        return self.results

    async def inject(self, fault: str, target: str) -> FaultResult:
        result = FaultResult(fault, target, time.time())
        started = time.monotonic()
        try:
            action: dict[str, Callable[[], Awaitable[dict[str, Any]]]] = {
                "kill_worker": lambda: self._kill(self.fleet.kill_worker, target),
                "kill_parent": lambda: self._kill(self.fleet.kill_parent, target),
                "kill_service": lambda: self._kill(self.fleet.kill_service, target),
                "kafka_kill": self._kafka_kill,
                "pg_restart_immediate": self._pg_restart,
                "pg_outage": self._pg_outage,
                "reporting_rebuild": self._rebuild,
            }
            probe = asyncio.create_task(self.canary.probe("leads" if target not in ("orders", "aftersales")
                                                          else target))
            result.detail = await action[fault]()
            await self.fleet.wait_ready(timeout=600)
            result.ready_s = time.monotonic() - started
            waited = await probe
            result.recovered_s = None if waited is None else time.monotonic() - started
            if waited is None:
                result.error = "canary not acknowledged/projected within the deadline"
        except Exception as exc:  # a failed injection is a result: the run goes on
            result.error = f"{type(exc).__name__}: {exc}"
        return result

    async def _kill(self, how: Callable[[str], list[int]], target: str) -> dict[str, Any]:
        service = self.fleet.services[target]
        before = service.starts
        pids = how(target)
        # The orchestrator (Fleet.supervise) restarts the service once its main process is gone.
        deadline = time.monotonic() + 120
        while service.starts == before and time.monotonic() < deadline:  # noqa: ASYNC110  (polls a process)
            await asyncio.sleep(0.1)
        return {"pids": pids, "restarted": service.starts > before}

    async def _kafka_kill(self) -> dict[str, Any]:
        pid = self.stack.kafka_pid()
        killed = await asyncio.to_thread(self.stack.kill_kafka)
        await asyncio.sleep(self.kafka_down_s)
        started = time.monotonic()
        await asyncio.to_thread(self.stack.restart_kafka)
        return {"pid": pid, "killed": killed, "down_s": self.kafka_down_s,
                "broker_start_s": round(time.monotonic() - started, 1)}

    async def _pg_restart(self) -> dict[str, Any]:
        started = time.monotonic()
        await asyncio.to_thread(self.stack.pg_restart_immediate)
        return {"restart_s": round(time.monotonic() - started, 1)}

    async def _pg_outage(self) -> dict[str, Any]:
        await asyncio.to_thread(self.stack.pg_stop_immediate)
        await asyncio.sleep(self.pg_outage_s)
        await asyncio.to_thread(self.stack.pg_start)
        return {"outage_s": self.pg_outage_s}

    async def _rebuild(self) -> dict[str, Any]:
        """``python -m services.reporting rebuild`` while the load goes on (the ops command, as documented)."""
        started = time.monotonic()
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "services.reporting", "rebuild", cwd=REPO,
            env={**os.environ, **self.fleet.service_env("reporting")},
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        out, _ = await process.communicate()
        tail = out.decode(errors="replace").strip().splitlines()[-1:] if out else []
        if process.returncode != 0:
            raise RuntimeError(f"rebuild exited {process.returncode}: {out.decode(errors='replace')[-800:]}")
        return {"rebuild_s": round(time.monotonic() - started, 1), "output": tail[0][-200:] if tail else ""}
