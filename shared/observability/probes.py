"""Lag and backlog probes: what ``/metrics`` samples at scrape time and what ``salesflow status`` prints.

Each reads the source of truth directly — the service's database for the relay, dead letters and timers, the
broker for consumer-group offsets — so the figures are right even when the process being asked is not the one
doing the work (a standby relay, another worker, or the ops CLI on another machine).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from shared.db import Connection
from shared.messaging.connection import KafkaConnection

Executor = Connection | asyncpg.Pool

# The checkpoint as initplans, so the row comparison is one range scan of the (txid, position) index (a join
# would be planned as a scan of the whole events table).
_RELAY_LAG = """
SELECT count(*) AS behind,
       coalesce(extract(epoch FROM clock_timestamp() - min(recorded_at)), 0)::float8 AS oldest_age
FROM events
WHERE (txid, position) > (coalesce((SELECT last_txid FROM relay_checkpoints WHERE relay = $1), '0'::xid8),
                          coalesce((SELECT last_position FROM relay_checkpoints WHERE relay = $1), 0))
"""


@dataclass(frozen=True, slots=True)
class RelayLag:
    events_behind: int
    oldest_unpublished_age_s: float


async def relay_lag(conn: Executor, relay: str) -> RelayLag:
    """Committed events after the relay's checkpoint, and how long the oldest of them has waited. Counts events
    still held back behind a running transaction too: they are committed work that has not reached Kafka."""
    row = await conn.fetchrow(_RELAY_LAG, relay)
    assert row is not None
    return RelayLag(int(row["behind"]), float(row["oldest_age"]))


async def open_dead_letters(conn: Executor) -> dict[str, int]:
    """Open dead letters per consumer."""
    rows = await conn.fetch("SELECT consumer, count(*) AS n FROM dead_letters WHERE status = 'open' GROUP BY 1")
    return {r["consumer"]: int(r["n"]) for r in rows}


@dataclass(frozen=True, slots=True)
class TimerBacklog:
    pending: int
    due: int
    late_s: float  # how far the most overdue pending timer is past its time; 0 when none is due


async def timer_backlog(conn: Executor) -> TimerBacklog:
    row = await conn.fetchrow(
        """SELECT count(*) AS pending, count(*) FILTER (WHERE due_at <= now()) AS due,
                  coalesce(extract(epoch FROM now() - min(due_at) FILTER (WHERE due_at <= now())), 0)::float8
                      AS late
           FROM timers WHERE status = 'pending'""")
    assert row is not None
    return TimerBacklog(int(row["pending"]), int(row["due"]), float(row["late"]))


@dataclass(frozen=True, slots=True)
class PartitionLag:
    topic: str
    partition: int
    committed: int | None  # None: the group has committed nothing there yet
    end: int

    @property
    def lag(self) -> int:
        return self.end - (self.committed or 0)


class ConsumerLagProbe:
    """Committed offsets of consumer groups against the partitions' ends. Keeps its two broker connections
    (an admin client for group offsets, a group-less consumer for end offsets) between calls."""

    def __init__(self, kafka: KafkaConnection) -> None:
        self._kafka = kafka
        self._admin: AIOKafkaAdminClient | None = None
        self._reader: AIOKafkaConsumer | None = None

    async def _clients(self) -> tuple[AIOKafkaAdminClient, AIOKafkaConsumer]:
        if self._admin is None or self._reader is None:
            admin = AIOKafkaAdminClient(**self._kafka.client_options())
            reader = AIOKafkaConsumer(**self._kafka.client_options(), group_id=None, enable_auto_commit=False)
            await admin.start()
            try:
                await reader.start()
            except BaseException:
                await admin.close()
                raise
            self._admin, self._reader = admin, reader
        return self._admin, self._reader

    async def lag(self, group: str, topics: Sequence[str]) -> list[PartitionLag]:
        """One entry per partition of ``topics`` (those that exist)."""
        admin, reader = await self._clients()
        described = await admin.describe_topics(list(topics))
        partitions = sorted(TopicPartition(t["topic"], p["partition"])
                            for t in described if t["error_code"] == 0 for p in t["partitions"])
        if not partitions:
            return []
        committed = await admin.list_consumer_group_offsets(group, partitions=partitions)
        ends = await reader.end_offsets(partitions)
        result = []
        for tp in partitions:
            meta = committed.get(tp)
            offset = meta.offset if meta is not None and meta.offset >= 0 else None
            result.append(PartitionLag(tp.topic, tp.partition, offset, ends[tp]))
        return result

    async def close(self) -> None:
        if self._reader is not None:
            await self._reader.stop()
        if self._admin is not None:
            await self._admin.close()
        self._admin = self._reader = None
