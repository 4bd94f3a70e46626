"""An idempotent consumer (shared.messaging.subscriber, FastStream + aiokafka) fed at a fixed, low rate (issue 14
item 3): what one batch costs, and what the subscriber's ``commit_interval`` (offset commits) changes. A producer in
this process sends one event every 1/``rate`` s to a 3-partition topic for ``--seconds``; the consumer applies each
batch with one INSERT (one transaction per batch). Prints, per event: batches, CPU of this process (producer +
consumer Python), CPU of the consumer's PostgreSQL backends, CPU of the Kafka broker (shared: neighbours count too)
and the latency from send to the handler (p50/p99); with ``--profile``, py-spy's on-CPU shares of the event loop's
frames. Variants run one after the other, each with its own topic, group and table. Not part of ``make bench``.

    flock /work/coord/bench.lock .venv/bin/python -m bench.consumer_cadence --rates 50,250 --seconds 20 \
        --intervals 0,0.5,0,0.5      # commit_interval of each variant (0: after every batch)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

import asyncpg
from aiokafka import AIOKafkaProducer
from faststream.kafka import KafkaBroker

from bench import profile
from bench.common import cpu_seconds, pids_of
from bench.databases import fresh_database, migrate_kernel
from shared.contracts.base import ContractRegistry, IntegrationEvent
from shared.db import Connection
from shared.messaging.consumer import BatchResult, IdempotentConsumer
from shared.messaging.dead_letters import DeadLetters
from shared.messaging.headers import EventHeaders
from shared.messaging.inbound import InboundEvent, KafkaRecord
from shared.messaging.subscriber import subscribe_idempotent
from shared.messaging.topics import ensure_topics
from shared.settings import KafkaSettings, load_settings
from tests.support.kafka import delete_topics_starting_with

contracts = ContractRegistry()


class Ticked(IntegrationEvent):
    event_type: ClassVar[str] = "salesflow.bench.Ticked"
    schema_version: ClassVar[int] = 1
    producer: ClassVar[str] = "bench"
    sent: float


contracts.add(Ticked)


class _Counting(IdempotentConsumer):
    batches = 0

    async def process_batch(self, records: Sequence[KafkaRecord], *, durable: bool = True) -> BatchResult:
        self.batches += 1
        return await super().process_batch(records, durable=durable)


async def step(dsn: str, tag: str, rate: float, seconds: float, commit_interval: float, *,
               profile_to: Path | None = None) -> dict[str, Any]:
    kafka = load_settings(KafkaSettings).connection
    topic = f"{tag}.t"
    await ensure_topics(kafka, [topic], partitions=3)
    pool = await asyncpg.create_pool(dsn, min_size=1, max_size=2)
    await pool.execute(f'CREATE TABLE "{tag}" (n int)')
    latencies: list[float] = []

    async def apply(conn: Connection, events: list[InboundEvent]) -> None:
        now = time.time()
        latencies.extend(now - e.payload.sent for e in events)  # type: ignore[attr-defined]
        await conn.execute(f'INSERT INTO "{tag}" SELECT unnest($1::int[])', list(range(len(events))))

    producer = AIOKafkaProducer(**kafka.client_options(), linger_ms=0)
    await producer.start()
    consumer = _Counting(name=tag, pool=pool, handlers={}, batch_handlers={Ticked.event_type: apply},
                         dead_letters=DeadLetters(consumer=tag, producer=producer), contracts=contracts)
    broker = KafkaBroker(kafka.bootstrap_servers, logger=None, security=kafka.faststream_security())
    subscribe_idempotent(broker, consumer, [topic], group_id=tag, commit_interval=commit_interval)
    await broker.start()
    try:
        warm = Ticked(sent=time.time())
        await producer.send_and_wait(topic, warm.__pydantic_serializer__.to_json(warm), key=b"warm",
                                     headers=_headers("warm"))
        await asyncio.sleep(3)  # the group joined, the first fetch done
        backends = [r["pid"] for r in await pool.fetch(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()")]
        own = await pool.fetchval("SELECT pg_backend_pid()")
        pids = [*backends, own]
        before = {pid: cpu_seconds(pid) for pid in pids}
        process_before = cpu_seconds(os.getpid())
        kafka_pids = pids_of("kafka.Kafka")
        kafka_before = sum(cpu_seconds(pid) for pid in kafka_pids)
        batches_before = consumer.batches
        latencies.clear()
        total = int(rate * seconds)
        sampling = (asyncio.create_task(profile.record(os.getpid(), seconds - 1, profile_to))
                    if profile_to is not None else None)
        started = time.monotonic()
        for n in range(total):
            await asyncio.sleep(max(0.0, started + n / rate - time.monotonic()))
            payload = Ticked(sent=time.time())
            await producer.send(topic, payload.__pydantic_serializer__.to_json(payload), key=f"k{n % 30}".encode(),
                                headers=_headers(f"k{n % 30}"))
        deadline = time.monotonic() + 30
        while len(latencies) < total and time.monotonic() < deadline:  # noqa: ASYNC110  (bench: wait for the tail)
            await asyncio.sleep(0.01)
        process = cpu_seconds(os.getpid()) - process_before
        broker_cpu = sum(cpu_seconds(pid) for pid in kafka_pids) - kafka_before
        backend = sum(cpu_seconds(pid) - before[pid] for pid in pids)
        profiled = _event_loop_shares(profile_to) if profile_to is not None and sampling and await sampling else None
        ordered = sorted(latencies)
        return {"rate": rate, "commit_interval": commit_interval, "events": total,
                "applied": len(latencies), "batches_per_event": round((consumer.batches - batches_before) / total, 3),
                "process_cpu_us_per_event": round(1e6 * process / total),
                "pg_backends_cpu_us_per_event": round(1e6 * backend / total),
                "kafka_cpu_us_per_event": round(1e6 * broker_cpu / total),
                "latency_ms_p50": round(1000 * statistics.median(ordered), 1) if ordered else None,
                "latency_ms_p99": round(1000 * ordered[int(0.99 * (len(ordered) - 1))], 1) if ordered else None,
                "load_average": os.getloadavg(), **({"profile": profiled} if profiled else {})}
    finally:
        await broker.stop()
        await producer.stop()
        await pool.close()


_BLOCKED = ("epoll_wait", "epoll_pwait", "write (", "read (", "sendto (", "recvfrom (", "sendmsg (", "recvmsg (",
            "poll (", "select (", "futex (", "nanosleep (", "clock_nanosleep (")


def _event_loop_shares(raw: Path, top: int = 30) -> list[tuple[str, float]]:
    """Inclusive shares of the Python frames in the event loop thread's on-CPU samples. bench.profile.summarise
    counts every thread, and this process's idle worker threads (waiting on a lock, an innermost frame py-spy gives
    no name) made up half of its "on CPU" samples."""
    inclusive: Counter[str] = Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = stack.split(";")
        if not count.isdigit() or not any("_run_once" in f for f in frames) or frames[-1].startswith(_BLOCKED):
            continue
        total += int(count)
        for name in {f"{f.split(' (')[0]} ({f.split(' (')[1].split(':')[0].rsplit('/', 1)[-1]})"
                     for f in frames if ".py:" in f}:
            inclusive[name] += int(count)
    return [(name, round(n / total, 3)) for name, n in inclusive.most_common(top)] if total else []


def _headers(key: str) -> list[tuple[str, bytes]]:
    return EventHeaders(event_id=uuid.uuid4(), event_type=Ticked.event_type, schema_version=1,
                        source="salesflow/bench", subject=key, time=datetime.now(UTC)).encode()


async def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rates", default="50,250")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--intervals", default="0,0.5", help="commit_interval of each variant, comma-separated")
    parser.add_argument("--json", default=None)
    parser.add_argument("--profile", action="store_true", help="py-spy this process during each step (inflates CPU)")
    args = parser.parse_args()
    admin = os.environ["SALESFLOW_PG_ADMIN_DSN"]
    run_id = f"consumercad{uuid.uuid4().hex[:6]}"
    name = f"bench_{run_id}"
    dsn = await fresh_database(admin, name)
    await migrate_kernel(dsn)
    results: list[dict[str, Any]] = []
    try:
        for rate in args.rates.split(","):
            for interval in args.intervals.split(","):
                tag = f"{run_id}n{len(results)}"
                result = await step(dsn, tag, float(rate), args.seconds, float(interval),
                                    profile_to=Path(f"/tmp/{tag}.pyspy") if args.profile else None)
                print(json.dumps({k: v for k, v in result.items() if k != "profile"}), flush=True)
                for frame, share in result.get("profile", []):
                    print(f"  {share:6.3f}  {frame}")
                results.append(result)
    finally:
        conn = await asyncpg.connect(admin)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()
        with contextlib.suppress(Exception):
            await delete_topics_starting_with(load_settings(KafkaSettings).connection, run_id)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))  # noqa: ASYNC240  (once, at the end)
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
