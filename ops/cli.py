"""``salesflow``: the ops command line (typer + rich).

Read-only commands (``status``, ``dead-letters list/show``, ``migrate status``) read the services' databases and
the broker directly, so they answer while a service is down — when they are needed most. Commands that change a
service's state go through the code that owns it: ``dead-letters retry/skip`` call the service's admin API (its
consumer has the handlers) with the ops token ``SALESFLOW_OPS_TOKEN`` as a bearer token; ``rebuild`` and
``verify`` run reporting's rebuild and verification here, against its database and the topics.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Coroutine
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, TypeVar

import httpx
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from ops import queries
from ops.topology import SERVICES, Service, kafka_connection, ops_token, topic
from shared.messaging.connection import KafkaConnection

app = typer.Typer(help="Operate salesflow: status, dead letters, rebuild, verify, migrations.", no_args_is_help=True,
                  pretty_exceptions_enable=False)
dead_letters_app = typer.Typer(help="List, show, retry and skip dead letters.", no_args_is_help=True)
migrate_app = typer.Typer(help="Database migrations.", no_args_is_help=True)
app.add_typer(dead_letters_app, name="dead-letters")
app.add_typer(migrate_app, name="migrate")

out = Console()
err = Console(stderr=True)
T = TypeVar("T")

ServiceOption = Annotated[str, typer.Option("--service", "-s", help="leads, orders, aftersales or reporting")]
JsonOption = Annotated[bool, typer.Option("--json", help="machine-readable output")]


def _run(coroutine: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coroutine)


def _service(name: str) -> Service:
    if name not in SERVICES:
        err.print(f"[red]unknown service {name!r}[/red]: one of {', '.join(SERVICES)}")
        raise typer.Exit(2)
    return SERVICES[name]


def _print_json(value: Any) -> None:
    out.print_json(json.dumps(value, default=lambda v: v.isoformat() if isinstance(v, datetime) else str(v)))


def _fail(message: str, code: int = 1) -> typer.Exit:
    err.print(f"[red]error:[/red] {message}")
    return typer.Exit(code)


@app.command()
def status(as_json: JsonOption = False) -> None:
    """Per service: relay lag, consumer lag, open dead letters, timers."""
    async def gather() -> list[dict[str, Any]]:
        return list(await asyncio.gather(*(queries.service_status(s) for s in SERVICES.values())))

    statuses = _run(gather())
    if as_json:
        _print_json(statuses)
        return
    table = Table(title="salesflow status")
    for column in ("service", "relay behind", "oldest unpublished", "consumer lag", "dead letters open",
                   "timers due", "most late"):
        table.add_column(column, justify="left" if column == "service" else "right")
    for s in statuses:
        if "error" in s:
            table.add_row(s["service"], f"[yellow]{s['error']}[/yellow]", "", "", "", "", "")
            continue
        relay, consumer, timers = s.get("relay"), s.get("consumer"), s["timers"]
        lag = "-" if consumer is None else (consumer.get("error") or str(consumer["lag"]))
        table.add_row(
            s["service"], "-" if relay is None else str(relay["events_behind"]),
            "-" if relay is None else f"{relay['oldest_unpublished_age_s']:.1f}s", lag,
            str(sum(s["dead_letters_open"].values())), str(timers["due"]), f"{timers['late_s']:.1f}s")
    out.print(table)
    for s in statuses:
        for reason in (s.get("read_model") or {}).get("reasons", []):
            out.print(f"[yellow]{s['service']}: rebuild needed[/yellow]: {reason}")
    partitions = Table(title="consumer lag by partition")
    for column in ("group", "topic", "partition", "committed", "end", "lag"):
        partitions.add_column(column)
    for s in statuses:
        for p in (s.get("consumer") or {}).get("partitions", []):
            partitions.add_row(s["consumer"]["group"], p["topic"], str(p["partition"]),
                               "-" if p["committed"] is None else str(p["committed"]), str(p["end"]), str(p["lag"]))
    if partitions.row_count:
        out.print(partitions)


@dead_letters_app.command("list")
def list_dead_letters(
    service: ServiceOption,
    state: Annotated[str, typer.Option("--status", help="open, retried, skipped or all")] = "open",
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 100,
    as_json: JsonOption = False,
) -> None:
    """Dead letters of a service (every consumer of its database)."""
    if state not in ("open", "retried", "skipped", "all"):
        raise _fail(f"--status: {state!r} is not one of open, retried, skipped, all", 2)
    letters = _run(queries.dead_letters(_service(service), status=None if state == "all" else state, limit=limit))
    if as_json:
        _print_json(letters)
        return
    table = Table(title=f"{service}: {state} dead letters")
    for column in ("id", "consumer", "kind", "status", "origin", "key", "event type", "reason", "created"):
        table.add_column(column)
    for d in letters:
        table.add_row(str(d["id"]), d["consumer"], d["kind"], d["status"], f"{d['topic']}[{d['partition']}]@"
                      f"{d['offset']}", d["message_key"] or "", d["event_type"] or "", d["reason"][:80],
                      d["created_at"].isoformat(timespec="seconds"))
    out.print(table)


@dead_letters_app.command("show")
def show_dead_letter(service: ServiceOption, dead_letter_id: int, as_json: JsonOption = False) -> None:
    """One dead letter in full: reason, origin, headers and the original value."""
    letter = _run(queries.dead_letter(_service(service), dead_letter_id))
    if letter is None:
        raise _fail(f"no dead letter {dead_letter_id} in {service}")
    if as_json:
        _print_json(letter)
        return
    table = Table(show_header=False, title=f"{service}: dead letter {dead_letter_id}")
    for key, value in letter.items():
        table.add_row(key, json.dumps(value, ensure_ascii=False) if isinstance(value, dict) else str(value))
    out.print(table)


def _admin_call(service: Service, path: str) -> dict[str, Any]:
    token = ops_token()
    headers = {"authorization": f"Bearer {token}"} if token else {}
    try:
        response = httpx.post(f"{service.url}{path}", headers=headers, timeout=30)
    except httpx.TransportError as exc:
        raise _fail(f"{service.name} at {service.url} does not answer ({exc}); is it running?") from None
    return _answer(response, service, token_hint="set SALESFLOW_OPS_TOKEN")


@dead_letters_app.command("retry")
def retry_dead_letter(service: ServiceOption, dead_letter_id: int) -> None:
    """Apply a dead letter again, with what is parked behind it (through the service's admin API)."""
    result = _admin_call(_service(service), f"/admin/dead-letters/{dead_letter_id}/retry")
    out.print(f"retried dead letter {dead_letter_id}: {result}")


@dead_letters_app.command("skip")
def skip_dead_letter(service: ServiceOption, dead_letter_id: int) -> None:
    """Give up on a dead letter and release what is parked behind it (through the service's admin API)."""
    result = _admin_call(_service(service), f"/admin/dead-letters/{dead_letter_id}/skip")
    out.print(f"skipped dead letter {dead_letter_id}: {result}")


def _reporting_sources() -> tuple[str, KafkaConnection, list[str]]:
    reporting = SERVICES["reporting"]
    kafka = kafka_connection()
    if reporting.database_url is None or kafka is None:
        raise _fail("REPORTING_DATABASE_URL and KAFKA_BOOTSTRAP_SERVERS must be set")
    return reporting.database_url, kafka, [topic(s) for s in reporting.consumes]


@app.command()
def rebuild(keep_old: Annotated[bool, typer.Option(help="drop no older generation")] = False) -> None:
    """Rebuild reporting's read model from the topics into a fresh schema, then switch to it."""
    from services.reporting.rebuild import rebuild as rebuild_reporting

    dsn, kafka, topics = _reporting_sources()
    result = _run(rebuild_reporting(dsn, kafka, topics, keep_old=keep_old))
    out.print(f"rebuilt {result.records} records ({result.applied} applied) into {result.schema} in "
              f"{result.seconds:.1f}s ({result.records / max(result.seconds, 1e-9):,.0f} events/s); "
              f"switched from {result.replaced}; caught up {result.caught_up} more")


@app.command()
def verify(samples: Annotated[int, typer.Option(min=0, help="differing rows shown per table")] = 5) -> None:
    """Recompute reporting's read model from the topics and compare it with the live one; exit 1 on differences."""
    from services.reporting.verify import verify as verify_reporting

    dsn, kafka, topics = _reporting_sources()
    group = SERVICES["reporting"].consumer_group or "reporting"
    try:
        result = _run(verify_reporting(dsn, kafka, topics, group=group, samples=samples))
    except TimeoutError as exc:
        raise _fail(str(exc)) from None
    if result.ok:
        out.print(f"[green]reporting's read model ({result.live_schema}) matches a recomputation[/green] from "
                  f"{result.records_replayed} records: {result.rows_compared} rows in {len(result.tables)} tables "
                  f"({', '.join(result.tables)}), {result.seconds:.1f}s")
        return
    if result.dead_lettered:
        out.print(f"[yellow]the recomputation dead-lettered {result.dead_lettered} record(s)[/yellow]: keys whose dead "
                  "letters ops skipped or retried in the live consumer differ for that reason alone")
    for d in result.differences:
        out.print(f"[red]{d.table}[/red]: {d.only_live} row(s) only in the live read model, "
                  f"{d.only_recomputed} only in the recomputation")
        for sample in d.samples:
            out.print(f"  {sample}", markup=False)
    raise typer.Exit(1)


@migrate_app.command("status")
def migrate_status(as_json: JsonOption = False) -> None:
    """Each service's migrations: applied, pending, or changed since applied."""
    async def gather() -> dict[str, Any]:
        result: dict[str, Any] = {}
        for name, service in SERVICES.items():
            try:
                result[name] = await queries.migration_status(service)
            except (LookupError, OSError) as exc:
                result[name] = {"error": str(exc)}
        return result

    statuses = _run(gather())
    if as_json:
        _print_json(statuses)
        return
    table = Table(title="migrations")
    for column in ("service", "migration", "state", "applied at"):
        table.add_column(column)
    colours = {"applied": "green", "pending": "yellow", "changed": "red", "unknown": "red"}
    for name, rows in statuses.items():
        if isinstance(rows, dict):
            table.add_row(name, f"[yellow]{rows['error']}[/yellow]", "", "")
            continue
        for row in rows:
            applied = row["applied_at"].isoformat(timespec="seconds") if row["applied_at"] else ""
            table.add_row(name, row["migration"], f"[{colours[row['state']]}]{row['state']}[/]", applied)
    out.print(table)
    if any(isinstance(r, list) and any(m["state"] in ("changed", "unknown") for m in r) for r in statuses.values()):
        raise typer.Exit(1)


IMPORT_TYPES = {".csv": "text/csv", ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}


@app.command("import-leads")
def import_leads(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="the customer list, .csv or .xlsx")],
    dry_run: Annotated[bool, typer.Option("--dry-run/--apply", help="report only (default), or import")] = True,
    team_id: Annotated[str | None, typer.Option("--team", help="assign in this team (default: the service's)")] = None,
    channel: Annotated[str | None, typer.Option(help="channel of rows without one")] = None,
    token: Annotated[str | None, typer.Option(envvar="SALESFLOW_TOKEN", help="a manager's or director's token")
                     ] = None,
    timeout: Annotated[float, typer.Option(help="seconds to follow the job before giving up")] = 3600,
    as_json: JsonOption = False,
) -> None:
    """Upload a customer list to the leads service's bulk import and follow the job to the end with a progress bar;
    then the counts per outcome and the rows that need attention (invalid, refused)."""
    media = IMPORT_TYPES.get(file.suffix.lower())
    if media is None:
        raise _fail(f"{file.name}: a .csv or .xlsx file is expected", 2)
    leads = SERVICES["leads"]
    headers = {"content-type": media, **({"authorization": f"Bearer {token}"} if token else {})}
    params = {"dry_run": str(dry_run).lower(), "file_name": file.name,
              **({"team_id": team_id} if team_id else {}), **({"channel": channel} if channel else {})}
    with httpx.Client(base_url=leads.url, headers=headers, timeout=60) as client:
        job = _answer(client.post("/v1/imports", params=params, content=file.read_bytes()), leads)
        deadline = time.monotonic() + timeout
        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                      console=err, disable=as_json) as progress:
            task = progress.add_task("dry run" if dry_run else "importing", total=job["total_rows"])
            while job["status"] != "done":
                if time.monotonic() > deadline:
                    raise _fail(f"job {job['job_id']} is still {job['status']} after {timeout:.0f} s")
                time.sleep(0.5)  # polling the service's job status, the one way to learn its progress
                job = _answer(client.get(f"/v1/imports/{job['job_id']}", params={"limit": 1}), leads)
                progress.update(task, completed=job["processed_rows"])
        attention = [row for outcome in ("invalid_phone", "invalid", "refused")
                     for row in _all_rows(client, job["job_id"], outcome, leads)]
    if as_json:
        _print_json({**job, "rows": attention})
        return
    table = Table(title=f"{file.name}: {'dry run' if dry_run else 'import'} {job['job_id']}")
    table.add_column("outcome")
    table.add_column("rows", justify="right")
    for outcome, count in job["counts"].items():
        table.add_row(outcome, str(count))
    out.print(table)
    if attention:
        rows = Table(title="rows needing attention")
        for column in ("row", "outcome", "field", "reason"):
            rows.add_column(column)
        for row in sorted(attention, key=lambda r: r["row_number"]):
            rows.add_row(str(row["row_number"]), row["outcome"], row["field"] or "", row["reason"] or "")
        out.print(rows)


def _all_rows(client: httpx.Client, job_id: str, outcome: str, service: Service) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    after: int | None = 0
    while after is not None:
        page = _answer(client.get(f"/v1/imports/{job_id}", params={"outcome": outcome, "after_row": after,
                                                                     "limit": 1000}), service)
        rows.extend(page["rows"])
        after = page["next_after_row"]
    return rows


def _answer(response: httpx.Response, service: Service, *,
            token_hint: str = "set SALESFLOW_TOKEN to a manager's or director's token") -> dict[str, Any]:
    """The answer's JSON body, or the command fails with the service's error message (and, for 401/403, which
    token to set)."""
    try:
        body: dict[str, Any] = response.json()
    except ValueError:
        body = {"error": {"message": response.text}}
    if response.status_code >= 400:
        error = body.get("error") or {}
        hint = f" ({token_hint})" if response.status_code in (401, 403) else ""
        raise _fail(f"{service.name} answered {response.status_code}: {error.get('message') or body}{hint}")
    return body
