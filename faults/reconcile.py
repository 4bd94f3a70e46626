"""After the load: every acknowledged command's effect present exactly once in the event stores, every reaction to
another service's event present exactly once, the topics holding every stored public event (duplicates counted,
per-key order checked), and every read model equal to a recomputation from the event stores."""

from __future__ import annotations

import asyncio
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import asyncpg
import httpx
import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition

from faults.load import ACKNOWLEDGED, REJECTED, UNKNOWN, Command, _contains
from shared.eventstore.records import RecordedEvent
from shared.eventstore.store import recorded_from_row
from shared.messaging.connection import KafkaConnection
from shared.messaging.relay import OutboundMessage

SOURCE_SERVICES = ("leads", "orders", "aftersales")


def translators() -> dict[str, Callable[[RecordedEvent], OutboundMessage | None]]:
    """Each producing service's own stored → public translation: exactly what its relay publishes."""
    from services.aftersales.adapters.publishing import to_public_message as aftersales
    from services.leads.adapters.publishing import to_public_message as leads
    from services.orders.adapters.publishing import to_public_message as orders

    return {"leads": leads, "orders": orders, "aftersales": aftersales}


@dataclass
class StoredEvent:
    service: str
    event_id: str
    stream_id: str
    version: int
    event_type: str
    data: dict[str, Any]
    position: int
    public: OutboundMessage | None


async def load_events(dsns: dict[str, str]) -> dict[str, list[StoredEvent]]:
    translate = translators()
    out: dict[str, list[StoredEvent]] = {}
    for service in SOURCE_SERVICES:
        conn = await asyncpg.connect(dsns[service])
        try:
            await conn.set_type_codec("jsonb", encoder=lambda v: orjson.dumps(v).decode(), decoder=orjson.loads,
                                      schema="pg_catalog")
            rows = await conn.fetch("SELECT * FROM events ORDER BY position")
        finally:
            await conn.close()
        events = []
        for row in rows:
            recorded = recorded_from_row(row)
            events.append(StoredEvent(service, str(row["event_id"]), row["stream_id"], row["version"],
                                      row["event_type"], row["data"], row["position"], translate[service](recorded)))
        out[service] = events
    return out


class EffectIndex:
    """Stored events by (service, type) for counting the effects commands and reactions promise."""

    def __init__(self, events: dict[str, list[StoredEvent]]) -> None:
        self._by_type: dict[tuple[str, str], list[StoredEvent]] = defaultdict(list)
        for service_events in events.values():
            for e in service_events:
                self._by_type[(e.service, e.event_type)].append(e)
        # The first scalar of a subset is usually an id: bucket by it so a count does not scan every event.
        self._buckets: dict[tuple[str, str, str], dict[Any, list[StoredEvent]]] = {}

    def count(self, service: str, event_type: str, subset: dict[str, Any]) -> int:
        key_field = next((k for k, v in subset.items() if isinstance(v, str | int)), None)
        candidates = self._by_type.get((service, event_type), [])
        if key_field is not None:
            bucket_key = (service, event_type, key_field)
            if bucket_key not in self._buckets:
                bucket: dict[Any, list[StoredEvent]] = defaultdict(list)
                for e in candidates:
                    bucket[e.data.get(key_field)].append(e)
                self._buckets[bucket_key] = bucket
            candidates = self._buckets[bucket_key].get(subset[key_field], [])
        return sum(1 for e in candidates if _contains(e.data, subset))

    def of_type(self, service: str, event_type: str) -> list[StoredEvent]:
        return self._by_type.get((service, event_type), [])


@dataclass
class Findings:
    """What reconciliation found; every list is expected empty."""

    commands: dict[str, int] = field(default_factory=dict)
    lost: list[dict[str, Any]] = field(default_factory=list)
    duplicated: list[dict[str, Any]] = field(default_factory=list)
    applied_though_rejected: list[dict[str, Any]] = field(default_factory=list)
    unknown_applied: int = 0
    unknown_not_applied: int = 0
    reactions: dict[str, int] = field(default_factory=dict)
    reactions_missing: list[dict[str, Any]] = field(default_factory=list)
    reactions_duplicated: list[dict[str, Any]] = field(default_factory=list)
    topics: dict[str, Any] = field(default_factory=dict)
    read_models: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        topic_ok = all(t.get("missing", 0) == 0 and t.get("order_violations", 0) == 0 and t.get("unknown", 0) == 0
                       for t in self.topics.values())
        models_ok = all(m.get("equal") for m in self.read_models.values())
        return not (self.lost or self.duplicated or self.applied_though_rejected or self.reactions_missing
                    or self.reactions_duplicated) and topic_ok and models_ok


def check_commands(commands: Iterable[Command], index: EffectIndex, findings: Findings) -> None:
    tally: Counter[str] = Counter()
    for c in commands:
        tally[c.outcome] += 1
        if c.effect is None:
            continue
        n = index.count(*c.effect)
        row = {"command": c.id, "kind": c.kind, "outcome": c.outcome, "found": n, "attempts": c.attempts,
               "statuses": c.statuses[-5:], "errors": c.errors[-3:]}
        if n > 1:
            findings.duplicated.append(row)
        elif c.outcome == ACKNOWLEDGED and n == 0:
            findings.lost.append(row)
        elif c.outcome == REJECTED and n > 0:
            findings.applied_though_rejected.append(row)
        elif c.outcome == UNKNOWN:
            if n:
                findings.unknown_applied += 1
            else:
                findings.unknown_not_applied += 1
    findings.commands = dict(tally)


def check_reactions(index: EffectIndex, findings: Findings) -> None:
    """Process managers: each upstream event that asks for a reaction has exactly one."""
    expectations: list[tuple[str, str, str, dict[str, Any]]] = []
    for e in index.of_type("orders", "ContractSigned"):
        if e.data.get("lead_id"):
            expectations.append(("ContractSigned→lead stage", "leads", "StageAdvanced",
                                 {"lead_id": e.data["lead_id"], "to_stage": "contract_signed"}))
        else:
            expectations.append(("shop checkout→lead", "leads", "LeadCreated", {"order_id": e.data["order_id"]}))
    for e in index.of_type("orders", "Delivered"):
        expectations.append(("Delivered→care plan", "aftersales", "CarePlanScheduled",
                             {"order_id": e.data["order_id"]}))
        lead = e.data.get("lead_id")
        if lead:
            expectations.append(("Delivered→lead stage", "leads", "StageAdvanced",
                                 {"lead_id": lead, "to_stage": "delivered"}))
    for e in index.of_type("aftersales", "ReferralRegistered"):
        expectations.append(("referral→lead", "leads", "LeadCreated", {"referral_id": e.data["referral_id"]}))
    counts: Counter[str] = Counter()
    for name, service, event_type, subset in expectations:
        counts[name] += 1
        n = index.count(service, event_type, subset)
        if n == 0:
            findings.reactions_missing.append({"reaction": name, "expected": subset})
        elif n > 1:
            findings.reactions_duplicated.append({"reaction": name, "expected": subset, "found": n})
    findings.reactions = dict(counts)


# ------------------------------------------------------------------------------------------------------ topics

async def read_topic(kafka: KafkaConnection, topic: str) -> list[tuple[int, int, str, str]]:
    """Every message of a topic as (partition, offset, key, event id), read from the beginning to the end offsets
    taken when reading starts."""
    consumer = AIOKafkaConsumer(enable_auto_commit=False, auto_offset_reset="earliest", **kafka.client_options())
    await consumer.start()
    try:
        partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or
                                                                await _partitions(consumer, topic))]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        out: list[tuple[int, int, str, str]] = []
        remaining = {tp for tp in partitions if ends[tp] > 0}
        while remaining:
            batch = await consumer.getmany(*remaining, timeout_ms=1000, max_records=5000)
            for tp, records in batch.items():
                for r in records:
                    headers = dict(r.headers)
                    out.append((tp.partition, r.offset, (r.key or b"").decode(), headers.get("ce_id", b"").decode()))
                    if r.offset + 1 >= ends[tp]:
                        remaining.discard(tp)
        return out
    finally:
        await consumer.stop()


async def _partitions(consumer: AIOKafkaConsumer, topic: str) -> set[int]:
    await consumer._client.force_metadata_update()  # the topic may be new to this client
    return consumer.partitions_for_topic(topic) or set()


def check_topic(service: str, messages: list[tuple[int, int, str, str]], events: list[StoredEvent]) -> dict[str, Any]:
    public = {e.event_id: e for e in events if e.public is not None}
    seen = Counter(event_id for _, _, _, event_id in messages)
    missing = [eid for eid in public if eid not in seen]
    unknown = [eid for eid in seen if eid not in public]
    # Per key, in offset order, the first occurrence of each event must follow its stream's version order.
    by_key: dict[tuple[int, str], list[tuple[int, str]]] = defaultdict(list)
    for partition, offset, key, event_id in messages:
        by_key[(partition, key)].append((offset, event_id))
    violations = 0
    keys_in_two_partitions = len({k for _, k in by_key}) != len(by_key)
    for entries in by_key.values():
        first: set[str] = set()
        last_version: dict[str, int] = {}
        for _, event_id in sorted(entries):
            if event_id in first or event_id not in public:
                continue
            first.add(event_id)
            e = public[event_id]
            if last_version.get(e.stream_id, 0) >= e.version:
                violations += 1
            last_version[e.stream_id] = e.version
    return {"stored_public_events": len(public), "messages": len(messages), "distinct": len(seen),
            "duplicates": len(messages) - len(seen), "missing": len(missing), "missing_sample": missing[:5],
            "unknown": len(unknown), "keys": len(by_key), "order_violations": violations,
            "key_in_two_partitions": keys_in_two_partitions}


# ------------------------------------------------------------------------------------------------- read models

@dataclass
class _Record:
    """The shape the idempotent consumer reads from a Kafka record."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]]


def _comparable(rows: Iterable[asyncpg.Record], drop: set[str]) -> dict[str, tuple[Any, ...]]:
    out = {}
    for row in rows:
        values = {k: v for k, v in dict(row).items() if k not in drop}
        key = str(next(iter(values.values())))
        out[key] = tuple(sorted((k, _norm(v)) for k, v in values.items()))
    return out


def _norm(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict | list):
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS, default=str).decode()
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)  # Decimal (numeric columns), UUID, intervals: compared by their text


def diff(live: dict[str, Any], recomputed: dict[str, Any]) -> dict[str, Any]:
    only_live = [k for k in live if k not in recomputed]
    only_recomputed = [k for k in recomputed if k not in live]
    different = [k for k in live if k in recomputed and live[k] != recomputed[k]]
    return {"rows": len(live), "recomputed_rows": len(recomputed), "only_live": len(only_live),
            "only_recomputed": len(only_recomputed), "different": len(different),
            "sample": (only_live + only_recomputed + different)[:5],
            "equal": not (only_live or only_recomputed or different)}


async def reporting_tables(dsn: str) -> dict[str, dict[str, Any]]:
    """report_leads and report_facts of reporting's active generation, without the projection's own times."""
    conn = await asyncpg.connect(dsn)
    try:
        await conn.set_type_codec("jsonb", encoder=lambda v: orjson.dumps(v).decode(), decoder=orjson.loads,
                                  schema="pg_catalog")
        schema = await conn.fetchval("SELECT schema_name FROM public.reporting_active_schema WHERE id = 1")
        leads = await conn.fetch(f'SELECT * FROM "{schema}".report_leads')
        facts = await conn.fetch(f'SELECT * FROM "{schema}".report_facts')
    finally:
        await conn.close()
    drop = {"projected_at", "source_recorded_at"}
    return {"report_leads": _comparable(leads, drop), "report_facts": _comparable(facts, drop)}


async def recompute_reporting(admin_dsn: str, database: str, events: dict[str, list[StoredEvent]],
                              topic_prefix: str) -> dict[str, dict[str, Any]]:
    """Reporting's read model recomputed from the event stores: each store's public messages (the producers' own
    translation) fed through reporting's projection and idempotent consumer into a fresh database — no Kafka."""
    from services.reporting.wiring import MIGRATIONS, build_consumer
    from shared.runtime.bootstrap import prepare_database

    admin = await asyncpg.connect(admin_dsn)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{database}"')
    finally:
        await admin.close()
    dsn = admin_dsn.rsplit("/", 1)[0] + "/" + database
    pool = await prepare_database(dsn, service="reporting", migrations=MIGRATIONS, min_size=1, max_size=4)
    try:
        consumer = build_consumer("faults-recompute", pool, dead_letters=_NoDeadLetters())  # type: ignore[arg-type]
        for service, service_events in events.items():
            records = [_Record(f"{topic_prefix}.{service}", 0, i, e.public.key, e.public.value, e.public.headers)
                       for i, e in enumerate(x for x in service_events if x.public is not None)
                       if e.public is not None]
            for start in range(0, len(records), 500):
                await consumer.process_batch(records[start:start + 500])
    finally:
        await pool.close()
    return await reporting_tables(dsn)


class _NoDeadLetters:
    """Recomputation must not meet a poison message; if it does, that is a finding, not something to park."""

    async def open_keys(self, conn: Any, keys: list[str]) -> list[str]:
        return []

    async def record(self, conn: Any, record: Any, **details: Any) -> None:
        raise RuntimeError(f"a stored event could not be projected: {record.key!r} {details}")


LEADS_VIEW_FIELDS = ("status", "stage", "grade", "owner_id", "team_id", "pooled", "released_by", "released_at",
                     "follow_up_due_at", "overdue", "loss_pending", "order_id", "captured_at", "last_activity_at",
                     "version", "customer_id", "channel")


async def compare_leads_view(dsn: str, url: str, headers: dict[str, str]) -> dict[str, Any]:
    """leads_view (written with every append) against each lead as folded from its stream (GET /v1/leads/{id})."""
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch("SELECT * FROM leads_view")
    finally:
        await conn.close()
    live = {r["lead_id"]: tuple((f, _norm(r[f])) for f in LEADS_VIEW_FIELDS) for r in rows}
    folded: dict[str, Any] = {}
    semaphore = asyncio.Semaphore(4)
    async with httpx.AsyncClient(base_url=url, timeout=30, headers=headers) as client:
        async def one(lead_id: str) -> None:
            async with semaphore:
                for attempt in range(5):  # the machine is shared: a read may time out; it is only a read
                    try:
                        view = (await client.get(f"/v1/leads/{lead_id}")).raise_for_status().json()
                        break
                    except httpx.TransportError:
                        if attempt == 4:
                            raise
                        await asyncio.sleep(1 + attempt)
            folded[lead_id] = tuple((f, _parse(f, view.get(f))) for f in LEADS_VIEW_FIELDS)
        await asyncio.gather(*(one(lead_id) for lead_id in live))
    return diff(live, folded)


def _parse(name: str, value: Any) -> Any:
    if isinstance(value, str) and name.endswith("_at"):
        return datetime.fromisoformat(value.replace("Z", "+00:00")).isoformat()
    return value


async def snapshot_tables(dsn: str, tables: list[str]) -> dict[str, dict[str, Any]]:
    conn = await asyncpg.connect(dsn)
    try:
        out = {}
        for table in tables:
            rows = await conn.fetch(f"SELECT * FROM {table}")
            out[table] = {orjson.dumps(_norm_row(r), option=orjson.OPT_SORT_KEYS).decode(): 1 for r in rows}
        return out
    finally:
        await conn.close()


def _norm_row(row: asyncpg.Record) -> dict[str, Any]:
    return {k: _norm(v) for k, v in dict(row).items()}


async def quiesce(dsns: dict[str, str], *, stable_polls: int = 4, timeout: float = 600) -> float:
    """Wait until every relay has published everything stored and nothing changes in any database for a few
    polls (consumers caught up); returns the seconds waited."""
    started = time.monotonic()
    previous = None
    stable = 0
    while True:
        fingerprint = []
        backlog = 0
        try:
            for service, dsn in dsns.items():
                conn = await asyncpg.connect(dsn, timeout=5)
                try:
                    fingerprint.append(await conn.fetchval("SELECT count(*) FROM events"))
                    fingerprint.append(await conn.fetchval("SELECT count(*) FROM processed_messages"))
                    if service != "reporting":
                        backlog += await conn.fetchval(
                            "SELECT count(*) FROM events e, relay_checkpoints c WHERE c.relay = $1 AND "
                            "(e.txid, e.position) > (c.last_txid, c.last_position)", service)
                finally:
                    await conn.close()
        except (OSError, asyncpg.PostgresError, TimeoutError):
            fingerprint = []
        if fingerprint and fingerprint == previous and backlog == 0:
            stable += 1
            if stable >= stable_polls:
                return time.monotonic() - started
        else:
            stable = 0
        previous = fingerprint
        if time.monotonic() - started > timeout:
            raise RuntimeError(f"the system did not settle within {timeout}s (relay backlog {backlog})")
        await asyncio.sleep(2)
