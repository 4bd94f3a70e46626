"""``python -m services.reporting rebuild``: rebuild the read model from the topics into a fresh schema while
queries keep serving the active one, then switch atomically.

1. create schema ``reporting_g<timestamp>`` and run reporting's migrations inside it;
2. drop its secondary indexes and report_facts' primary key (recreated after the load, before the switch) and
   replay every topic from the beginning into it (a consumer named after the generation, so its processed ids
   don't collide with the live consumer's), with a progress bar (rich) on stderr;
3. flip ``public.reporting_active_schema`` (one UPDATE): from now on queries and the live consumer use it;
4. apply what was published since the offsets noted before step 2, to pick up what the live consumer applied to
   the old schema between the snapshot and the flip (already-applied events are skipped; facts are keyed by
   event id, so overlap is harmless);
5. drop older generations, keeping the one just replaced until the next rebuild (a live batch that read the
   pointer an instant before the flip may still be writing to it); ``public`` is never dropped.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, TaskProgressColumn, TextColumn, TimeElapsedColumn
from rich.progress import Progress as RichProgress

from services.reporting.adapters.catch_up import apply_since, end_offsets
from services.reporting.adapters.generations import (
    create_generation,
    create_indexes,
    drop_secondary_indexes,
    drop_stale_generations,
    generation_pool,
    switch_to,
)
from services.reporting.adapters.summaries import build_summaries
from services.reporting.wiring import MIGRATIONS, SOURCE_SERVICES, ReportingSettings, build_consumer
from shared.db import connect
from shared.messaging.connection import KafkaConnection
from shared.messaging.dead_letters import DeadLetters
from shared.messaging.relay import make_producer
from shared.messaging.replay import Progress, replay_topics
from shared.migrations import KERNEL_MIGRATIONS, migrate
from shared.settings import KafkaSettings, load_settings


@contextlib.contextmanager
def progress_bar(label: str) -> Iterator[Progress]:
    """A rich progress bar on stderr; yields the ``(done, total)`` callback a replay reports to."""
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TaskProgressColumn(),
               TextColumn("{task.fields[rate]} events/s"), TimeElapsedColumn())
    started = time.monotonic()
    with RichProgress(*columns, console=Console(stderr=True), transient=False) as bar:
        task = bar.add_task(label, total=None, rate="0")

        def update(done: int, total: int) -> None:
            rate = done / max(time.monotonic() - started, 1e-9)
            bar.update(task, completed=done, total=total, rate=f"{rate:,.0f}")

        yield update


@dataclass(frozen=True)
class RebuildResult:
    schema: str
    replaced: str
    records: int
    applied: int
    seconds: float
    caught_up: int
    # Wall seconds of each step (replay, indexes, summaries, catch-up): what the benchmark splits a rebuild by.
    phases: dict[str, float] = field(default_factory=dict)


async def ensure_base_tables(dsn: str) -> None:
    """The kernel's and reporting's tables in ``public``, as the service creates them when it starts. After the
    database was lost and recreated empty, the rebuild is the first thing to run on it (the fault suite's drill
    found it failing there: ``processed_messages`` did not exist)."""
    conn = await connect(dsn)
    try:
        await migrate(conn, [("kernel", KERNEL_MIGRATIONS), ("reporting", MIGRATIONS)])
    finally:
        await conn.close()


async def rebuild(dsn: str, kafka: KafkaConnection, topics: list[str], *, schema: str | None = None,
                  show_progress: bool = True, keep_old: bool = False) -> RebuildResult:
    schema = schema or f"reporting_g{time.time_ns()}"
    await ensure_base_tables(dsn)
    await create_generation(dsn, schema, MIGRATIONS)
    # report_facts' key too: the bulk replay COPYs the facts, which its consumer's claim has already found new.
    indexes = await drop_secondary_indexes(dsn, schema, primary_keys_of=("report_facts",))
    pool = await generation_pool(dsn, schema)
    producer = make_producer(kafka, client_id="reporting-rebuild-dlq")
    await producer.start()
    try:
        name = f"rebuild-{schema}"
        dead_letters = DeadLetters(consumer=name, producer=producer)
        started = time.monotonic()
        snapshot = await end_offsets(kafka, topics)
        # The bulk replay stores facts only; the summaries are folded once per group after it.
        phases: dict[str, float] = {}
        mark = started

        def phase(name: str) -> None:
            nonlocal mark
            now = time.monotonic()
            phases[name] = round(now - mark, 3)
            mark = now
        with progress_bar(f"rebuilding {schema}") if show_progress else contextlib.nullcontext() as bar:
            result = await replay_topics(kafka, topics, build_consumer(name, pool, dead_letters, bulk=True),
                                         progress=bar)
        phase("replay")
        await create_indexes(dsn, indexes)  # before the switch: queries need them (and the fold below)
        phase("indexes")
        await build_summaries(pool)
        phase("summaries")
        seconds = time.monotonic() - started
        # Catching up is incremental, on top of the complete summaries.
        consumer = build_consumer(name, pool, dead_letters)
        replaced = await switch_to(dsn, schema)
        caught_up = await apply_since(kafka, topics, snapshot, consumer)
        phase("catch_up")
        # The generation's processed ids served the rebuild only; the live consumer keeps its own.
        await pool.execute("DELETE FROM processed_messages WHERE consumer = $1", name)
    finally:
        await producer.stop()
        await pool.close()
    if not keep_old:
        await drop_stale_generations(dsn, keep={schema, replaced})
    return RebuildResult(schema, replaced, result.records, result.applied, seconds, caught_up, phases)


def rebuild_main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m services.reporting rebuild",
                                     description="Rebuild reporting's read model from the topics.")
    parser.add_argument("--keep-old", action="store_true", help="drop no older generation")
    args = parser.parse_args(argv)
    settings = load_settings(ReportingSettings)
    kafka = load_settings(KafkaSettings).for_service(settings)  # reporting's own principal
    topics = [kafka.topic(s) for s in SOURCE_SERVICES]
    result = asyncio.run(rebuild(settings.database_url, kafka.connection, topics,
                                 keep_old=args.keep_old))
    print(f"rebuilt {result.records} records ({result.applied} applied) into {result.schema} in "
          f"{result.seconds:.1f}s ({result.records / max(result.seconds, 1e-9):,.0f} events/s); "
          f"switched from {result.replaced}; caught up {result.caught_up} more")
