"""Relay publish rate and projection rebuild rate, each beside its bare-aiokafka peer in the same run.

* relay: N stored events published by ``OutboxRelay.publish_once`` vs N messages of the same size and headers
  sent by a bare idempotent aiokafka producer (acks=all, same batching), both awaited in batches of 1000: once
  with ``send`` per message, once filling record batches per partition (``create_batch``/``send_batch``, as the
  relay does); CPU seconds of the bench process, the database's backends and the broker beside each;
* rebuild: reporting's rebuild command (bulk replay, indexes, summaries built, switch, catch-up) on ~N events of
  realistic lead histories vs a bare ``getmany`` loop that only reads the same topics. (Until 2026-12-04 this row
  drove the *live* projection with ``replay_topics`` over N LeadCreated messages, which is not what a rebuild
  runs; the live projection's rate is measured by bench/reporting_live.py and the scale benchmark.)
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from datetime import UTC, datetime
from typing import Any

import asyncpg
from aiokafka import AIOKafkaConsumer
from aiokafka.partitioner import DefaultPartitioner

from bench.append import PAYLOAD
from bench.common import CpuMeter, Stopwatch, cpu_seconds, pids_of
from bench.databases import migrate_kernel
from shared.contracts.leads import LeadCreatedV1
from shared.db import create_pool
from shared.eventstore import AppendRequest, NewEvent, RecordedEvent
from shared.eventstore.store import PostgresEventStore
from shared.messaging.connection import KafkaConnection
from shared.messaging.relay import OutboxRelay, make_producer, outbound_message
from shared.messaging.topics import ensure_topics, topic_partitions

BATCH = 1000


def lead_payload(n: int) -> LeadCreatedV1:
    return LeadCreatedV1(lead_id=f"lead-{n}", customer_id=f"cust-{n}", name="张三", phone="+8613812345678",
                         channel="online_shop", interest="Model Y Long Range", captured_at=datetime.now(UTC))


async def prefill_store(dsn: str, total: int) -> None:
    pool = await create_pool(dsn, min_size=4, max_size=4)
    store = PostgresEventStore(pool)
    per_tx = 100

    async def writer(start: int, count: int) -> None:
        for offset in range(start, start + count, per_tx):
            await store.append([AppendRequest(f"lead-{offset}", "lead", 0, tuple(
                NewEvent(event_id=uuid.uuid4(), event_type="LeadCreated", data={**PAYLOAD, "lead_id": f"{offset}"},
                         occurred_at=datetime.now(UTC), metadata={"correlation_id": "bench"})
                for _ in range(per_tx)))])

    share = total // 4
    await asyncio.gather(*(writer(i * share, share) for i in range(4)))
    await pool.close()


class DatabaseBackendsCpu:
    """CPU seconds of the PostgreSQL backends serving one database (found by their process title), sampled while
    they run: a backend's CPU is gone from /proc once its connection closes, as the relay's does at the end of
    ``publish_once``, so the last sample counts (it misses at most one interval)."""

    def __init__(self, database: str, interval: float = 0.05) -> None:
        self._pattern = f"postgres: .* {database} "
        self._interval = interval
        self._first: dict[int, float] = {}
        self._last: dict[int, float] = {}
        self._task: asyncio.Task[None] | None = None

    def _sample(self) -> None:
        for pid in pids_of(self._pattern):
            with contextlib.suppress(FileNotFoundError, ProcessLookupError):
                seconds = cpu_seconds(pid)
                self._first.setdefault(pid, seconds)
                self._last[pid] = seconds

    async def _run(self) -> None:
        while True:
            await asyncio.to_thread(self._sample)
            await asyncio.sleep(self._interval)

    def start(self) -> None:
        self._sample()
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> float:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._sample()
        return round(sum(self._last[pid] - self._first[pid] for pid in self._last), 3)


class _RelayMeter:
    """CPU seconds of the bench process (relay or producer: Python), of the benchmark database's backends
    (PostgreSQL) and of the Kafka broker (shared with whatever else runs: the machine's other load counts there)."""

    def __init__(self, dsn: str) -> None:
        self._process = CpuMeter({"bench_process": [os.getpid()], "kafka": pids_of("kafka.Kafka")})
        self._postgres = DatabaseBackendsCpu(dsn.rsplit("/", 1)[1])

    def start(self) -> None:
        self._process.start()
        self._postgres.start()

    async def stop(self) -> dict[str, float]:
        postgres = await self._postgres.stop()
        return {**self._process.stop(), "postgres_backends": postgres}


async def bench_relay(dsn: str, kafka: KafkaConnection, prefix: str, total: int) -> dict[str, Any]:
    await migrate_kernel(dsn)
    await prefill_store(dsn, total)
    relay_topic, raw_topic, raw_batch_topic = f"{prefix}.relay", f"{prefix}.raw", f"{prefix}.rawbatch"
    await ensure_topics(kafka, [relay_topic, raw_topic, raw_batch_topic])

    def translate(event: Any) -> Any:
        return outbound_message(event, lead_payload(event.position), source="salesflow/bench",
                                subject=event.stream_id)

    producer = make_producer(kafka, client_id="bench-relay")
    await producer.start()
    relay = OutboxRelay(dsn=dsn, producer=producer, topic=relay_topic, translate=translate, name="bench",
                        batch_size=BATCH)
    meter = _RelayMeter(dsn)
    meter.start()
    watch = Stopwatch()
    published = await relay.publish_once()
    relay_s = watch.elapsed
    relay_cpu = await meter.stop()

    now = datetime.now(UTC)
    sample = translate(RecordedEvent(
        position=1, txid=1, event_id=uuid.uuid4(), stream_id="lead-1", stream_type="lead", version=1,
        event_type="LeadCreated", schema_version=1, data=PAYLOAD, metadata={"correlation_id": "bench"},
        occurred_at=now, recorded_at=now,
    ))
    meter = _RelayMeter(dsn)
    meter.start()
    watch = Stopwatch()
    for start in range(0, total, BATCH):
        acks = [await producer.send(raw_topic, value=sample.value, key=f"lead-{start + i}".encode(),
                                    headers=sample.headers) for i in range(min(BATCH, total - start))]
        await asyncio.gather(*acks)
    raw_s = watch.elapsed
    raw_cpu = await meter.stop()

    # The relay fills record batches itself (create_batch/send_batch): the same way of producing, bare, is its
    # second peer.
    partitions = sorted(await producer.partitions_for(raw_batch_topic))
    partitioner = DefaultPartitioner()
    meter = _RelayMeter(dsn)
    meter.start()
    watch = Stopwatch()
    for start in range(0, total, BATCH):
        batches: dict[int, Any] = {}
        acks = []
        for i in range(min(BATCH, total - start)):
            key = f"lead-{start + i}".encode()
            partition = partitioner(key, partitions, partitions)
            batch = batches.get(partition)
            if batch is None:
                batch = batches[partition] = producer.create_batch()
            if batch.append(key=key, value=sample.value, timestamp=None, headers=sample.headers) is None:
                acks.append(await producer.send_batch(batch, raw_batch_topic, partition=partition))
                batch = batches[partition] = producer.create_batch()
                batch.append(key=key, value=sample.value, timestamp=None, headers=sample.headers)
        for partition, batch in batches.items():
            acks.append(await producer.send_batch(batch, raw_batch_topic, partition=partition))
        await asyncio.gather(*acks)
    raw_batch_s = watch.elapsed
    raw_batch_cpu = await meter.stop()
    await producer.stop()
    return {
        "events": total, "message_bytes": len(sample.value) + sum(len(k) + len(v) for k, v in sample.headers),
        "relay": {"published": published, "seconds": round(relay_s, 3), "events_per_s": round(published / relay_s),
                  "cpu_s": relay_cpu},
        "raw_aiokafka_produce": {"seconds": round(raw_s, 3), "events_per_s": round(total / raw_s), "cpu_s": raw_cpu},
        "raw_aiokafka_send_batch": {"seconds": round(raw_batch_s, 3), "events_per_s": round(total / raw_batch_s),
                                    "cpu_s": raw_batch_cpu},
        "relay_vs_raw": round((published / relay_s) / (total / raw_s), 2),
        "relay_vs_raw_send_batch": round((published / relay_s) / (total / raw_batch_s), 2),
        "settings": {"acks": "all", "enable_idempotence": True, "linger_ms": 1, "max_batch_size": 256 * 1024,
                     "relay_batch": BATCH},
    }


async def bare_getmany(kafka: KafkaConnection, topics: list[str], *, max_records: int = 2000) -> int:
    """Read ``topics`` from the beginning to their current end with nothing but aiokafka's ``getmany``: the peer
    a rebuild is measured against. Returns the number of records read."""
    reader = AIOKafkaConsumer(**kafka.client_options(), group_id=None, enable_auto_commit=False,
                              max_partition_fetch_bytes=8 * 1024 * 1024, fetch_max_bytes=64 * 1024 * 1024)
    partitions = await topic_partitions(kafka, topics)
    await reader.start()
    try:
        reader.assign(partitions)
        await reader.seek_to_beginning(*partitions)
        end = await reader.end_offsets(partitions)
        count = 0
        remaining = {tp for tp in partitions if end[tp] > 0}  # an empty partition has nothing to wait for
        while remaining:
            fetched = await reader.getmany(*remaining, timeout_ms=1000, max_records=max_records)
            count += sum(len(part) for part in fetched.values())
            for tp in list(remaining):
                if await reader.position(tp) >= end[tp]:
                    remaining.discard(tp)
        return count
    finally:
        await reader.stop()


async def bench_rebuild(dsn: str, kafka: KafkaConnection, prefix: str, total: int) -> dict[str, Any]:
    """The service's rebuild command (``services.reporting.rebuild.rebuild``: bulk replay of the facts, indexes,
    every group folded once by ``build_summaries``, switch, catch-up) into a fresh generation, on ~``total``
    events of realistic lead histories (the scale benchmark's generator: ~8 events per lead across the leads and
    orders topics), beside a bare ``getmany`` of the same topics. CPU of the bench process and of the database's
    PostgreSQL backends per 1k events, and the wall seconds of each step of the rebuild."""
    from bench.reporting_scale import delete_topics, fill
    from services.reporting.rebuild import rebuild

    base = f"{prefix}rb"
    topics = [f"{base}.{s}" for s in ("leads", "orders", "aftersales")]
    try:
        events = await fill(kafka, base, max(total // 8, 1), seed=12)
        load_before = os.getloadavg()
        bare_cpu = CpuMeter({"bench_process": [os.getpid()]})
        bare_cpu.start()
        watch = Stopwatch()
        # The replay's batch size: the peer reads the same way, minus everything the rebuild does with the records.
        read = await bare_getmany(kafka, topics, max_records=5000)
        bare_s = watch.elapsed
        bare_cpu_s = bare_cpu.stop()["bench_process"]

        cpu = CpuMeter({"bench_process": [os.getpid()]})
        postgres = DatabaseBackendsCpu(dsn.rsplit("/", 1)[1])  # the rebuild opens and closes several connections
        cpu.start()
        postgres.start()
        watch = Stopwatch()
        result = await rebuild(dsn, kafka, topics, show_progress=False)
        rebuild_s = watch.elapsed
        cpu_used = cpu.stop()
        cpu_used["postgres"] = await postgres.stop()
        conn = await asyncpg.connect(dsn)
        try:
            rows = await conn.fetchval(f"SELECT count(*) FROM {result.schema}.report_facts")
        finally:
            await conn.close()
    finally:
        await delete_topics(kafka, topics)
    records = result.records
    return {
        "events": events, "topics": topics,
        # CPU seconds per 1000 events: less sensitive to neighbours on a shared machine than rates.
        "bare_getmany": {"read": read, "seconds": round(bare_s, 3), "events_per_s": round(read / bare_s),
                         "cpu_ms_per_1k": round(bare_cpu_s / max(read, 1) * 1e6, 1)},
        "rebuild": {"applied": result.applied, "rows": rows, "seconds": round(rebuild_s, 3),
                    "phases_s": result.phases,
                    "events_per_s": round(records / rebuild_s), "cpu_s": cpu_used,
                    "cpu_ms_per_1k": round(cpu_used["bench_process"] / max(records, 1) * 1e6, 1),
                    "postgres_cpu_ms_per_1k": round(cpu_used["postgres"] / max(records, 1) * 1e6, 1)},
        "rebuild_vs_bare": round((records / rebuild_s) / (read / bare_s), 2),
        "load_average": {"before": load_before, "after": os.getloadavg()},
    }
