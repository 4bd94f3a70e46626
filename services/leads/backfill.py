"""``python -m services.leads backfill-timeline``: replay the orders and aftersales topics from their beginning
into the customer page's read model (``leads_customer_events``, ``leads_customer_orders``,
``leads_customer_points``; app/customer_history.py).

Why it exists: the live consumer fills the read model only with what it consumes, so orders' and aftersales'
history from before the projection existed — or from before its tables were lost and recreated — never reaches a
customer's timeline; the live group's committed offsets are long past it.

How it stays safe while the service runs, and when run twice:

* it reads the topics by **manual partition assignment, no consumer group** (``shared.messaging.replay``): the live
  group ``leads`` and its committed offsets are untouched;
* it applies records through an :class:`IdempotentConsumer` with **only the projection's handlers**
  (:class:`CustomerHistoryProjection`, the same ones main wires after the process manager): no reaction, intake or
  command runs a second time; every other event type is ignored;
* the consumer has **its own name** per run (``leads-timeline-backfill-<ns>``), so the live consumer's processed
  ids (which say "applied", not "still in the table") do not hide the lost rows; the run's own processed ids are
  deleted when it ends, so the next run looks at every record again;
* the writes are the live ones and idempotent: a timeline line is keyed by the event id (``ON CONFLICT DO
  NOTHING``), so a line the live consumer or an earlier run wrote is not written twice; an order's state and the
  points balance take an event's values only when it is not older than what the row holds, so replaying an old
  event while the live consumer applies a newer one cannot move the order back.

A merged duplicate needs nothing here: the page finds rows through the customer's leads and merges when it is read.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated

import asyncpg
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, TaskProgressColumn, TextColumn, TimeElapsedColumn
from rich.progress import Progress as RichProgress

from services.leads.adapters.customer_history import PostgresCustomerHistory
from services.leads.app.customer_history import CustomerHistoryProjection
from services.leads.main import CONSUMED_SERVICES, MIGRATIONS, SERVICE, LeadsSettings
from shared.messaging.connection import KafkaConnection
from shared.messaging.consumer import IdempotentConsumer
from shared.messaging.dead_letters import DeadLetters
from shared.messaging.relay import make_producer
from shared.messaging.replay import Progress, replay_topics
from shared.runtime.bootstrap import prepare_database
from shared.settings import KafkaSettings, load_settings

app = typer.Typer(help="Operator commands of the leads service.", no_args_is_help=True,
                  pretty_exceptions_enable=False)
err = Console(stderr=True)


@app.callback()
def _commands() -> None:
    """Keeps ``backfill-timeline`` a named command (typer would make a lone command the program itself)."""


@dataclass(frozen=True, slots=True)
class BackfillResult:
    consumer: str  # the run's consumer name (its dead letters, if any, are kept under it)
    records: int  # records read from the topics
    applied: int  # records the projection handled (new lines, or lines already there: written once either way)
    ignored: int  # event types the timeline does not show
    dead_lettered: int
    lines_before: int
    lines_after: int
    seconds: float


@contextlib.contextmanager
def progress_bar(label: str) -> Iterator[Progress]:
    """A rich progress bar on stderr; yields the ``(done, total)`` callback a replay reports to."""
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TaskProgressColumn(),
               TimeElapsedColumn())
    with RichProgress(*columns, console=err, transient=False) as bar:
        task = bar.add_task(label, total=None)
        yield lambda done, total: bar.update(task, completed=done, total=total)


async def _lines(pool: asyncpg.Pool) -> int:
    count: int = await pool.fetchval("SELECT count(*) FROM leads_customer_events")
    return count


async def backfill_timeline(dsn: str, kafka: KafkaConnection, topics: list[str], *,
                            show_progress: bool = True) -> BackfillResult:
    """Replay ``topics`` (orders' and aftersales' public topics) from the beginning into the read model."""
    # The service's migrations first: after the database was lost this may be the first thing to run on it.
    pool = await prepare_database(dsn, service=SERVICE, migrations=MIGRATIONS, min_size=1, max_size=3)
    name = f"{SERVICE}-timeline-backfill-{time.time_ns()}"
    producer = make_producer(kafka, client_id=f"{SERVICE}-timeline-backfill-dlq")
    await producer.start()
    try:
        before = await _lines(pool)
        consumer = IdempotentConsumer(
            name=name, pool=pool, dead_letters=DeadLetters(consumer=name, producer=producer),
            handlers=CustomerHistoryProjection(PostgresCustomerHistory(pool)).handlers())
        started = time.monotonic()
        with progress_bar("backfilling the customer timeline") if show_progress else contextlib.nullcontext() \
                as bar:
            result = await replay_topics(kafka, topics, consumer, progress=bar)
        seconds = time.monotonic() - started
        # The run's processed ids served this run only: the next run must look at every record again.
        await pool.execute("DELETE FROM processed_messages WHERE consumer = $1", name)
        return BackfillResult(name, result.records, result.applied, result.ignored, result.dead_lettered, before,
                              await _lines(pool), seconds)
    finally:
        await producer.stop()
        await pool.close()


@app.command("backfill-timeline")
def backfill_timeline_command(
        quiet: Annotated[bool, typer.Option("--quiet", "-q", help="no progress bar")] = False) -> None:
    """Replay the orders and aftersales topics from the beginning into the customer page's timeline (safe while
    the service runs, and to run again)."""
    settings = load_settings(LeadsSettings)
    kafka = load_settings(KafkaSettings).for_service(settings)  # leads' own principal: it may read both topics
    topics = [kafka.topic(s) for s in CONSUMED_SERVICES]
    result = asyncio.run(backfill_timeline(settings.database_url, kafka.connection, topics,
                                           show_progress=not quiet))
    typer.echo(f"read {result.records} records from {', '.join(topics)} in {result.seconds:.1f}s: "
               f"{result.applied} timeline events applied, {result.ignored} of other types ignored, "
               f"{result.dead_lettered} dead-lettered; timeline lines {result.lines_before} → {result.lines_after}")
    if result.dead_lettered:
        err.print(f"[yellow]{result.dead_lettered} dead letters under consumer {result.consumer}[/yellow]")
        raise typer.Exit(1)
