"""``python -m faults`` (``make faults``): the fault suite. See faults/README.md."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any, cast

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from faults import drills, reconcile
from faults.fleet import SERVICES, Fleet
from faults.injector import Canary, FaultResult, Injector, plan
from faults.load import ACKNOWLEDGED, TEAM, Client, ClientStats, Command, Load, LoadReport, Mix, new_run_seed
from faults.results import write_results
from faults.stack import REPO, PrivateStack, StackConfig
from shared.messaging.connection import KafkaConnection, SaslMechanism, SecurityProtocol
from tests.support.auth import TestIssuer

console = Console(stderr=True)

SMALL_FAULTS = [("kill_worker", s) for s in SERVICES] + [
    ("kill_parent", "leads"), ("kill_service", "orders"), ("kafka_kill", "kafka"),
    ("pg_restart_immediate", "postgres"), ("pg_outage", "postgres"), ("reporting_rebuild", "reporting")]


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m faults", description=__doc__)
    p.add_argument("--small", action="store_true",
                   help="CI size: 400 commands at 5/s, one of each fault kind, short outages")
    p.add_argument("--commands", type=int, default=20_000, help="at least this many commands (default 20000)")
    p.add_argument("--rate", type=float, default=25.0, help="offered commands per second (default 25)")
    p.add_argument("--max-load-seconds", type=float, default=None,
                   help="stop the load after this long (once the faults are done) even if fewer commands were sent; "
                        "the results say how many were")
    p.add_argument("--rounds", type=int, default=2, help="rounds of process kills per service (default 2)")
    p.add_argument("--pg-outage", type=float, default=20.0, help="seconds PostgreSQL stays down (default 20)")
    p.add_argument("--kafka-down", type=float, default=5.0, help="seconds the broker stays dead (default 5)")
    p.add_argument("--gap", type=float, default=15.0, help="seconds of steady load between faults (default 15)")
    p.add_argument("--workers", type=int, default=2, help="worker processes per service (default 2)")
    p.add_argument("--port-base", type=int, default=int(os.environ.get("FAULTS_PORT_BASE", "18700")),
                   help="services on base+1..4, PostgreSQL on base+32, Kafka on base+92/93 (default 18700)")
    p.add_argument("--state-dir", type=Path,
                   default=Path(os.environ.get("FAULTS_STATE_DIR", Path.home() / ".cache" / "salesflow-faults")))
    p.add_argument("--pg-cluster", default=os.environ.get("FAULTS_PG_CLUSTER", ""),
                   help="Debian cluster <version>/<name> (default <newest installed>/faults)")
    p.add_argument("--out", type=Path, default=None, help="results folder (default faults/results, small: "
                                                           "faults/results/small)")
    p.add_argument("--keep-stack", action="store_true",
                   help="leave the private stack running at the end (else it is stopped and deleted)")
    p.add_argument("--skip-drills", action="store_true", help="reconcile only (with --resume, after the drills ran)")
    p.add_argument("--resume", type=Path, default=None, metavar="STATE",
                   help="skip the load: reconcile and drill a kept stack (--keep-stack) from a run's state file")
    args = p.parse_args(argv)
    if args.small:
        args.commands, args.rate, args.pg_outage, args.kafka_down, args.gap = 400, 5.0, 4.0, 2.0, 3.0
    if args.out is None:
        args.out = REPO / "faults" / "results" / ("small" if args.small else "")
    if not args.pg_cluster:
        versions = sorted(int(v.name) for v in Path("/usr/lib/postgresql").glob("*") if v.name.isdigit())
        args.pg_cluster = f"{versions[-1] if versions else 15}/faults"
    return args


def machine() -> dict[str, Any]:
    load1, load5, load15 = os.getloadavg()
    cpu = ""
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as f:
        cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), "")
    return {"cores": os.cpu_count(), "cpu": cpu, "python": platform.python_version(),
            "platform": platform.platform(), "loadavg_1_5_15": [round(load1, 2), round(load5, 2), round(load15, 2)]}


async def run(args: argparse.Namespace) -> int:
    resumed = json.loads(args.resume.read_text()) if args.resume else None
    seed = resumed["seed"] if resumed else new_run_seed()
    base = args.port_base
    stack = PrivateStack(StackConfig(args.state_dir, base + 32, base + 92, base + 93, args.pg_cluster))
    started_at = resumed["started_at"] if resumed else time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    console.log(f"run {seed}: private stack PostgreSQL {args.pg_cluster} on {base + 32}, Kafka on {base + 92} "
                f"(state {args.state_dir})" + (f", resuming from {args.resume}" if resumed else ""))
    if not resumed:
        await asyncio.to_thread(stack.wipe)
    env = await asyncio.to_thread(stack.up)
    # The stack's default topic prefix, the one its ACLs are written for: each service signs in as its own Kafka
    # principal (stack.sh env: <NAME>_KAFKA_SASL_*) and its own database role, as in production. The private broker
    # starts empty every run, so the names cannot meet an earlier run's topics.
    prefix = env.get("SALESFLOW_TOPIC_PREFIX") or "salesflow"
    env.update({"SALESFLOW_TOPIC_PREFIX": prefix, "LEADS_DEFAULT_TEAM_ID": "faults-team",
                "FAULTS_RUN_ID": str(seed)})
    # Every route needs a bearer token: the services trust a test issuer (an RSA key and its JWKS served on
    # loopback, tests/support/auth.py — the same the test suite uses) on this suite's own port.
    issuer = TestIssuer(port=base + 99)
    env.update(issuer.env())
    headers = {"Authorization": "Bearer " + issuer.token(subject="faults-manager", roles=["manager"], team=TEAM,
                                                         expires_in=12 * 3600)}
    # Setting up the organisation (the team, its consultants) is a director's command, and a director reads every
    # report the reporting drill compares (docs/security.md).
    director = {"Authorization": "Bearer " + issuer.token(subject="faults-director", roles=["director"],
                                                          expires_in=12 * 3600)}
    # The admin endpoints (orders' read-model rebuild) are ops' (docs/security.md).
    ops = {"Authorization": "Bearer " + issuer.token(subject="faults-ops", roles=["ops"], expires_in=12 * 3600)}
    dsns = {s: env[f"{s.upper()}_DATABASE_URL"] for s in SERVICES}
    ports = {s: base + 1 + i for i, s in enumerate(SERVICES)}
    fleet = Fleet(env, ports, {s: args.workers for s in SERVICES}, args.out / "logs" if args.small
                  else Path(f"/tmp/faults-{seed}"))
    supervisor: asyncio.Task[None] | None = None
    findings = reconcile.Findings()
    drill_results: dict[str, Any] = {}
    failures: list[str] = []
    try:
        console.log("starting the four services")
        await fleet.start_all()
        supervisor = asyncio.create_task(fleet.supervise())
        if resumed:
            state = resumed
        else:
            state = await load_and_faults(args, stack, fleet, dsns, seed, started_at, headers, director)
            state_path = args.out / f"run-{seed}.state.json"
            args.out.mkdir(parents=True, exist_ok=True)
            state_path.write_text(json.dumps(state, default=str))
            console.log(f"load and faults done ({state['load']['sent']} commands); state kept in {state_path} "
                        "(python -m faults --resume it --keep-stack if reconciliation needs a second go)")
        settle_s = await reconcile.quiesce(dsns)
        commands = [Command(**c) for c in state["commands"]]
        try:
            findings = await reconcile_all(stack, fleet, dsns, commands, prefix, director, ops, console.log)
        except Exception as exc:
            failures.append(f"reconciliation: {type(exc).__name__}: {exc}")
            console.print_exception()
        console.log("disaster drills" + (" skipped (--skip-drills)" if args.skip_drills else ""))
        try:
            if args.skip_drills:
                raise DrillsSkippedError
            events = await reconcile.load_events(dsns)
            drill_results["reporting_database_dropped"] = await drills.drill_reporting_database(
                stack, fleet, dsns, headers=director, say=console.log)
            drill_results["topic_lost"] = await drills.drill_topic_lost(
                stack, fleet, dsns, events["orders"], service="orders", topic_prefix=prefix,
                consumers=["leads", "aftersales", "reporting"], kafka=kafka_admin(env), say=console.log)
        except DrillsSkippedError:
            drill_results = {"skipped": {"equal": False, "note": "--skip-drills: see the run's earlier results"}}
        except Exception as exc:
            failures.append(f"drills: {type(exc).__name__}: {exc}")
            console.print_exception()
        # Only entries with pids are workers that outlived their parent.
        orphans = [o for o in (state["orphans"] if not resumed else [*state["orphans"], *fleet.orphans]) if o["pids"]]
    finally:
        if supervisor is not None:
            supervisor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await supervisor
        fleet.stop_all()
        if not args.keep_stack:
            # Nothing left behind: the processes stopped, the private cluster dropped, the broker's data deleted
            # (the results file and the service logs stay).
            await asyncio.to_thread(stack.down)
            await asyncio.to_thread(stack.wipe)
    fault_results = [FaultResult(**f) for f in state["faults"]]
    ok = (findings.ok and not failures and len(drill_results) == 2 and all(d["equal"] for d in drill_results.values())
          and not any(r.error for r in fault_results) and not orphans)
    paths = write_results(args.out, small=args.small, seed=seed, started_at=started_at, args=vars(args),
                          machine_before=state["machine_before"], machine_after=machine(),
                          load=LoadReport(**state["load"]), client=ClientStats(**state["client"]),
                          faults=fault_results, findings=findings, drills=drill_results, settle_s=settle_s,
                          orphans=orphans, failures=failures, ok=ok)
    console.log(f"results: {', '.join(str(p) for p in paths)}")
    console.log("[green]PASS[/green]" if ok else "[red]FAIL[/red]: see the results file")
    return 0 if ok else 1


async def load_and_faults(args: argparse.Namespace, stack: PrivateStack, fleet: Fleet, dsns: dict[str, str],
                          seed: int, started_at: str, headers: dict[str, str],
                          director: dict[str, str]) -> dict[str, Any]:
    """The load with the faults injected during it; what reconciliation needs, as plain data."""
    machine_before = machine()
    urls = {s: fleet.services[s].url for s in SERVICES}
    client = Client(urls, headers=lambda: headers)
    await organisation(Client(urls, headers=lambda: director))
    canary = Canary(Client(urls, headers=lambda: headers, max_backoff=0.5, deadline=600), dsns["reporting"], seed)
    faults = SMALL_FAULTS if args.small else plan(args.rounds)
    injector = Injector(stack, fleet, canary, pg_outage_s=args.pg_outage, kafka_down_s=args.kafka_down,
                        gap_s=args.gap, on_event=console.log)
    load = Load(client, Mix(seed), rate=args.rate, commands=args.commands, max_seconds=args.max_load_seconds)
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  TextColumn("{task.fields[status]}"), console=console) as progress:
        task = progress.add_task("commands", total=args.commands, status="")

        def show(report: LoadReport) -> None:
            progress.update(task, completed=min(report.sent, args.commands),
                            status=f"in flight {report.sent - sum(report.outcomes.values())}, "
                                   f"outcomes {report.outcomes}")

        load_task = asyncio.create_task(load.run(show))
        fault_results = await injector.run(faults)
        load.stop.set()
        load_report = await load_task
    console.log(f"load done: {load_report.sent} commands in {load_report.duration_s:.0f} s")
    return {"seed": seed, "started_at": started_at, "machine_before": machine_before,
            "load": asdict(load_report), "client": asdict(client.stats),
            "faults": [asdict(f) for f in fault_results], "orphans": list(fleet.orphans),
            "commands": [asdict(c) for c in [*load.done, *canary.commands]]}


class DrillsSkippedError(Exception):
    """--skip-drills (a resume whose drills already ran)."""


def kafka_admin(env: dict[str, str]) -> KafkaConnection:
    """The stack's admin principal (``stack.sh env``: KAFKA_SECURITY_PROTOCOL, KAFKA_SASL_*), for reading topics,
    deleting one and resetting consumer groups."""
    return KafkaConnection(env["KAFKA_BOOTSTRAP_SERVERS"],
                           cast(SecurityProtocol, env.get("KAFKA_SECURITY_PROTOCOL") or "PLAINTEXT"),
                           cast(SaslMechanism, env.get("KAFKA_SASL_MECHANISM") or "SCRAM-SHA-512"),
                           env.get("KAFKA_SASL_USERNAME") or None, env.get("KAFKA_SASL_PASSWORD") or None)


async def organisation(client: Client) -> None:
    """The team the captures are assigned in, round robin (LEADS_DEFAULT_TEAM_ID). Without it every lead would be
    captured unassigned and the suite's manager (of this team) could see none of them: so it must succeed."""
    from faults.load import CONSULTANTS

    commands = [Command("team", "leads.register_team", "leads", "POST", "/v1/teams",
                        {"team_id": TEAM, "name": "故障演练组"})]
    commands += [Command(consultant, "leads.register_consultant", "leads", "POST", "/v1/consultants",
                         {"consultant_id": consultant, "name": f"顾问{n}", "team_id": TEAM})
                 for n, consultant in enumerate(CONSULTANTS)]
    for command in commands:
        await client.execute(command)
        if command.outcome != ACKNOWLEDGED:
            raise RuntimeError(f"setting up the organisation failed: {command.kind} {command.id} answered "
                               f"{command.statuses} {command.response}")


async def reconcile_all(stack: PrivateStack, fleet: Fleet, dsns: dict[str, str], commands: list[Any], prefix: str,
                        reader: dict[str, str], ops: dict[str, str], say: Any) -> reconcile.Findings:
    """``reader``: a token that sees every lead (a director's); ``ops``: one for the admin endpoints."""
    say("reconciling: event stores")
    events = await reconcile.load_events(dsns)
    index = reconcile.EffectIndex(events)
    findings = reconcile.Findings()
    reconcile.check_commands(commands, index, findings)
    reconcile.check_reactions(index, findings)
    say("reconciling: topics")
    for service in reconcile.SOURCE_SERVICES:
        messages = await reconcile.read_topic(kafka_admin(stack.env), f"{prefix}.{service}")
        findings.topics[service] = reconcile.check_topic(service, messages, events[service])
    say("reconciling: read models")
    live = await reconcile.reporting_tables(dsns["reporting"])
    recomputed = await reconcile.recompute_reporting(stack.env["SALESFLOW_PG_ADMIN_DSN"], "faults_recompute",
                                                     events, prefix)
    for table in live:
        findings.read_models[f"reporting.{table}"] = reconcile.diff(live[table], recomputed[table])
    findings.read_models["leads.leads_view"] = await reconcile.compare_leads_view(
        dsns["leads"], fleet.services["leads"].url, reader)
    findings.read_models["orders.order_summaries"] = await rebuilt_equal(
        dsns["orders"], ["order_summaries"], lambda: _post(fleet.services["orders"].url,
                                                           "/admin/order-summaries/rebuild", ops))
    findings.read_models["aftersales.read_tables"] = await rebuilt_equal(
        dsns["aftersales"], drills.READ_MODEL_TABLES["aftersales"] + ["customer_timeline"],
        lambda: _run_module("services.aftersales.rebuild", fleet.service_env("aftersales")))
    return findings


async def rebuilt_equal(dsn: str, tables: list[str], rebuild: Any) -> dict[str, Any]:
    """A read table against the service's own recomputation of it from the event store (its rebuild)."""
    before = await reconcile.snapshot_tables(dsn, tables)
    await rebuild()
    after = await reconcile.snapshot_tables(dsn, tables)
    per_table = {t: reconcile.diff(before[t], after[t]) for t in tables}
    return {"tables": per_table, "rows": sum(d["rows"] for d in per_table.values()),
            "equal": all(d["equal"] for d in per_table.values())}


async def _post(url: str, path: str, headers: dict[str, str]) -> None:
    import httpx

    async with httpx.AsyncClient(base_url=url, timeout=300, headers=headers) as client:
        (await client.post(path)).raise_for_status()


async def _run_module(module: str, env: dict[str, str]) -> None:
    process = await asyncio.create_subprocess_exec(sys.executable, "-m", module, cwd=REPO, env=env)
    if await process.wait() != 0:
        raise RuntimeError(f"{module} exited {process.returncode}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    return asyncio.run(run(args))


if __name__ == "__main__":
    sys.exit(main())
