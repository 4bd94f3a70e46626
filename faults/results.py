"""The results file of a run: ``<stamp>.json`` (everything) and ``latest.md`` (the tables a reader wants)."""

from __future__ import annotations

import json
import subprocess
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from bench.common import summary_ms
from faults.injector import FaultResult
from faults.load import ClientStats, LoadReport
from faults.reconcile import Findings
from faults.stack import REPO

SHARED_NOTE = ("The machine (2 cores) was shared with other engineers' work during the run (their test suites, "
               "benchmarks and the shared PostgreSQL/Kafka): load average before/after is recorded; recovery times "
               "include that contention.")


def _commit() -> str:
    out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True)
    return out.stdout.strip()


def write_results(out: Path, *, small: bool, seed: int, started_at: str, args: dict[str, Any],
                  machine_before: dict[str, Any], machine_after: dict[str, Any], load: LoadReport,
                  client: ClientStats, faults: list[FaultResult], findings: Findings, drills: dict[str, Any],
                  settle_s: float, orphans: list[dict[str, Any]], failures: list[str], ok: bool) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    achieved = load.sent / load.duration_s if load.duration_s else 0.0
    data = {
        "ok": ok, "run": seed, "started_at": started_at, "finished_at": time.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "commit": _commit(), "size": "small" if small else "full",
        "settings": {k: str(v) for k, v in args.items()},
        "machine": {"before": machine_before, "after": machine_after, "note": SHARED_NOTE},
        "load": {"offered": load.offered, "sent": load.sent, "shed": load.shed,
                 "offered_rate": float(args["rate"]), "achieved_rate": round(achieved, 2),
                 "duration_s": round(load.duration_s, 1), "max_in_flight": load.max_in_flight,
                 "acknowledged_latency": summary_ms(load.latencies_s), "outcomes": load.outcomes,
                 "by_kind": load.by_kind, "held": load.shed == 0,
                 "target_commands": int(args["commands"]), "stopped_by_time": load.stopped_by_time},
        "client": asdict(client),
        "faults": [asdict(f) for f in faults],
        "reconciliation": asdict(findings) | {"ok": findings.ok},
        "drills": drills,
        "settle_s": round(settle_s, 1),
        "orphaned_workers": orphans,
        "failures": failures,
    }
    json_path = out / f"{stamp}.json"
    json_path.write_text(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")
    md_path = out / "latest.md"
    md_path.write_text(markdown(data, json_path.name))
    return [json_path, md_path]


def markdown(d: dict[str, Any], json_name: str) -> str:
    load, rec = d["load"], d["reconciliation"]
    ack = load["acknowledged_latency"]
    lines = [
        f"# Fault suite results — {d['size']} run {d['run']} ({'PASS' if d['ok'] else 'FAIL'})", "",
        f"Started {d['started_at']}, finished {d['finished_at']}, commit `{d['commit']}`. Full data: `{json_name}`.",
        "", f"> {d['machine']['note']} Load average (1/5/15 min) before: {d['machine']['before']['loadavg_1_5_15']},"
        f" after: {d['machine']['after']['loadavg_1_5_15']}; {d['machine']['before']['cores']} cores "
        f"({d['machine']['before']['cpu']}).", "",
        "## Load", "",
        "| offered | sent | shed | offered rate | achieved | max in flight | ack p50 / p99 / max (ms) |",
        "| --- | --- | --- | --- | --- | --- | --- |",
        f"| {load['offered']} | {load['sent']} | {load['shed']} | {load['offered_rate']}/s | {load['achieved_rate']}/s "
        f"| {load['max_in_flight']} | {ack['p50_ms']} / {ack['p99_ms']} / {ack['max_ms']} |", "",
        f"Target {load.get('target_commands', '?')} commands; sent {load['sent']}"
        + (" — **the load was stopped by --max-load-seconds before the target**" if load.get("stopped_by_time")
           else "") + ".", "",
        f"Outcomes: {load['outcomes']}. Client: {d['client']['attempts']} attempts, {d['client']['retries']} retries, "
        f"{d['client']['transport_errors']} transport errors, {d['client']['version_conflicts']} version conflicts "
        f"({d['client']['resolved_by_history']} resolved from the aggregate's history), statuses "
        f"{d['client']['statuses']}.", "",
        f"Command mix: {load['by_kind']}.", "",
        "## Faults and recovery", "",
        "Recovery = from the injection until a canary command to the affected service (retried like any client) is "
        "acknowledged and visible in reporting's read model. Ready = every service answers `/health/ready`.", "",
        "| # | fault | target | ready (s) | recovered (s) | detail | error |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for n, f in enumerate(d["faults"], 1):
        detail = {k: v for k, v in f["detail"].items() if k != "output"}
        lines.append(f"| {n} | {f['fault']} | {f['target']} | {_r(f['ready_s'])} | {_r(f['recovered_s'])} | "
                     f"{detail} | {f['error'] or ''} |")
    lines += ["", "## Reconciliation", "",
              f"- commands by outcome: {rec['commands']}",
              f"- **lost** (acknowledged, no effect): {len(rec['lost'])}",
              f"- **duplicated effects** (effect stored more than once): {len(rec['duplicated'])}",
              f"- applied although rejected: {len(rec['applied_though_rejected'])}",
              f"- unknown outcome (still ambiguous when the client gave up): applied {rec['unknown_applied']}, "
              f"not applied {rec['unknown_not_applied']}",
              f"- reactions checked: {rec['reactions']}; missing {len(rec['reactions_missing'])}, "
              f"duplicated {len(rec['reactions_duplicated'])}", "",
              "| topic | stored public events | messages | duplicates | missing | unknown | keys | order violations |",
              "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for name, t in rec["topics"].items():
        lines.append(f"| {name} | {t['stored_public_events']} | {t['messages']} | {t['duplicates']} | {t['missing']} "
                     f"| {t['unknown']} | {t['keys']} | {t['order_violations']} |")
    lines += ["", "| read model | equal to recomputation | detail |", "| --- | --- | --- |"]
    for name, m in rec["read_models"].items():
        detail = {k: v for k, v in m.items() if k not in ("equal", "tables", "sample")}
        if "tables" in m:
            detail = {t: v["rows"] for t, v in m["tables"].items()}
        lines.append(f"| {name} | {'yes' if m['equal'] else '**no**'} | {detail} |")
    lines += ["", "## Disaster drills", ""]
    r = d["drills"].get("reporting_database_dropped", {})
    if r:
        lines.append(f"- reporting's database dropped → rebuilt from the topics: reports identical: "
                     f"{'yes' if r['equal'] else '**no** ' + str(r['reports_different'])} "
                     f"({r['reports_compared']} reports, statuses {set(r['report_statuses'].values())}; tables "
                     f"{ {t: v['rows'] for t, v in r['tables'].items()} }); recovery {r['recovery_s']} s")
    t = d["drills"].get("topic_lost", {})
    if t:
        lines.append(f"- topic `{t['topic']}` lost → republished from the event store (relay from position 0): read "
                     f"models identical: {'yes' if t['equal'] else '**no**'}; topic after: "
                     f"{t['topic_after']['messages']} messages, {t['topic_after']['missing']} missing, "
                     f"{t['topic_after']['order_violations']} order violations; recovery {t['recovery_s']} s")
    if d["failures"]:
        lines += ["", "## Failures of the suite itself", "", *(f"- {f}" for f in d["failures"])]
    lines += ["", f"Orphaned workers after a parent kill: {len(d['orphaned_workers'])}.",
              f"Settling after the load: {d['settle_s']} s.", ""]
    return "\n".join(lines)


def _r(v: float | None) -> str:
    return "—" if v is None else f"{v:.1f}"
