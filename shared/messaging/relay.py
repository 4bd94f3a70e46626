"""The outbox relay: publishes a service's committed events to its Kafka topic, in commit order, never skipping.

Why the feed cannot skip an event
---------------------------------
Positions come from an identity sequence, which hands out numbers at INSERT time, not at COMMIT time: a
transaction can take position 10, stay open, and commit after position 11 was committed and published. A relay
reading ``WHERE position > last_published`` would then never see 10. Instead each row carries the id of the
transaction that wrote it (``txid``), and the relay reads only rows with ``txid`` below ``sf_feed_horizon()`` —
the oldest transaction *of this database* still running as of the statement's snapshot (the cluster-wide
``pg_snapshot_xmin(pg_current_snapshot())`` minus transactions that are known to run in other databases, which
cannot write here; shared/sql/rules/sf_feed_horizon.sql). Every transaction of this database with a smaller id has
finished, and every transaction that starts later gets a larger id, so the set of rows below the horizon is final:
nothing can appear there after we read it. Reading it in ``(txid, position)`` order and checkpointing
the last ``(txid, position)`` therefore publishes each committed event exactly once per checkpoint window.

Why per-stream order holds
--------------------------
Writers of a stream serialise on an advisory lock taken *before* the writing transaction gets its id
(in ``sf_append``), so a stream's later writer always has the larger txid; the store refuses the rare append
whose transaction got its id earlier (``StreamOrderConflictError``). Within a transaction, positions increase.
Kafka keeps per-partition order and the message key is the stream id, so subscribers see each stream in order.

Delivery
--------
One relay per service is active (a session advisory lock; standbys wait). When idle it is woken by NOTIFY (sent
by sf_append, only while the relay has armed the wake-up — NOTIFY serialises commits cluster-wide, so
a busy relay turns it off) and polls as a fallback. The producer is idempotent with ``acks=all``; the checkpoint moves
only after the broker acknowledged every message of the batch. A crash between the acknowledgement and the
checkpoint republishes that batch on restart: duplicates are possible, loss is not, and consumers are
idempotent on the event id. For the same reason the relay's own commits need not wait for their WAL flush (a
checkpoint lost in a server crash republishes too): its connection runs with ``synchronous_commit = off``.

Cost per wake-up
----------------
A pass costs the same few statements for one event as for a thousand, so at a low rate (one wake-up per command
commit) the statements are the relay's cost. Two modes keep them few (``_pump``):

* **sparse** — the wake-up stays armed; a NOTIFY wakes the relay, one read publishes what is there, and the relay
  waits again: one statement per wake-up. The acknowledged checkpoint is not written on its own: it rides in the
  next statement (the next wake-up's read), or is written alone after ``CHECKPOINT_DELAY`` if none comes — a
  crash in that window republishes, as any crash between ack and checkpoint does.
* **busy** — commits arrived during two passes in a row (a NOTIFY came in during each; after one such pass the
  relay just reads again, still armed): the relay disarms the wake-up (commits stop notifying), reads again after
  ``linger`` and keeps reading until a read finds nothing; then it arms the wake-up and looks once more before
  waiting (a commit between the last read and the arming sent no NOTIFY).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import asyncpg
import structlog
from aiokafka import AIOKafkaProducer
from aiokafka.partitioner import DefaultPartitioner
from aiokafka.producer.message_accumulator import BatchBuilder
from opentelemetry.trace import Span

from shared.contracts.base import IntegrationEvent
from shared.db import connect
from shared.eventstore.records import FeedPosition, RecordedEvent
from shared.eventstore.store import feed_query
from shared.messaging.connection import KafkaConnection
from shared.messaging.headers import EventHeaders, Headers
from shared.observability import tracing
from shared.observability.metrics import service_metrics

log = structlog.get_logger(__name__)

NOTIFY_CHANNEL = "sf_events"

# How long an acknowledged checkpoint may wait for the relay's next statement to carry it before it is written on
# its own (seconds): the longest a checkpoint lags the broker while the relay is idle.
CHECKPOINT_DELAY = 0.25

# The partitioner AIOKafkaProducer uses unless told otherwise (make_producer does not): the relay partitions its
# record batches itself and must put each key where ``send`` would.
_PARTITIONER = DefaultPartitioner()


@dataclass(frozen=True, slots=True)
class OutboundMessage:
    """What the relay sends for one stored event."""

    key: bytes
    value: bytes
    headers: Headers


Translator = Callable[[RecordedEvent], OutboundMessage | None]
"""Maps a stored domain event to its public message, or ``None`` for events that stay private."""


def outbound_message(
    event: RecordedEvent, payload: IntegrationEvent, *, source: str, subject: str
) -> OutboundMessage:
    """Build the public message for a stored event: key and ``ce_subject`` = ``subject`` (the aggregate id, so
    Kafka keeps each aggregate's events in order), value = the contract's JSON, metadata in CloudEvents headers
    (the stored event's id is the message id, so redeliveries are recognisable)."""
    meta = event.metadata
    headers = EventHeaders(
        event_id=event.event_id,
        event_type=payload.event_type,
        schema_version=payload.schema_version,
        source=source,
        subject=subject,
        time=event.occurred_at,
        correlation_id=meta.get("correlation_id"),
        causation_id=meta.get("causation_id"),
        recorded_time=event.recorded_at,
        traceparent=meta.get("traceparent"),
    )
    return OutboundMessage(
        key=subject.encode(),
        # Straight to JSON bytes with the model's own serializer: the same text as orjson over
        # model_dump(mode="json"), without building the intermediate dict (half the cost, one call per event).
        value=payload.__pydantic_serializer__.to_json(payload),
        headers=headers.encode(),
    )


def make_producer(kafka: KafkaConnection, *, client_id: str) -> AIOKafkaProducer:
    """An idempotent producer with ``acks=all``: a retried send is not duplicated in the log and a send is
    acknowledged only once every in-sync replica has it. (Idempotence needs no cluster right beyond Write on the
    topic since Kafka 2.8.)"""
    return AIOKafkaProducer(
        **kafka.client_options(),
        client_id=client_id,
        enable_idempotence=True,
        acks="all",
        linger_ms=1,
        max_batch_size=256 * 1024,
    )


class RelayBusyError(RuntimeError):
    """Another relay of the same name holds the lock."""


AfterPublish = Callable[[list[RecordedEvent]], Awaitable[None]]


class OutboxRelay:
    """Publishes the committed events of one service database to one topic. Run with :meth:`run`."""

    def __init__(
        self,
        *,
        dsn: str,
        producer: AIOKafkaProducer,
        topic: str,
        translate: Translator,
        name: str,
        batch_size: int = 1000,
        poll_interval: float = 1.0,
        linger: float = 0.005,
        after_publish: AfterPublish | None = None,
    ) -> None:
        self._dsn = dsn
        self._producer = producer
        self._topic = topic
        self._translate = translate
        self._name = name
        self._batch_size = batch_size
        self._poll_interval = poll_interval
        self._linger = linger
        # Fault injection for tests (crash between the broker's ack and the checkpoint) and metrics.
        self._after_publish = after_publish
        self._wakeup = asyncio.Event()
        self.is_leader = False
        self.published = 0
        self.last_error: str | None = None  # for readiness: a relay that keeps failing is not healthy

    @property
    def name(self) -> str:
        """The relay's name: its checkpoint row and advisory lock (the service's name)."""
        return self._name

    async def run(self) -> None:
        """Become the active relay (waiting while another holds the lock) and publish until cancelled.
        Connection failures are retried with backoff; the checkpoint makes a restart safe."""
        backoff = 0.5
        while True:
            try:
                await self._run_once()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the relay must outlive any outage: database, broker, or a bug in one event
                self.last_error = repr(exc)
                log.warning("relay.restarting", relay=self._name, error=repr(exc), backoff_s=backoff)
                self.is_leader = False
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 10.0)

    async def _connect(self) -> asyncpg.Connection:
        """The relay's own connection. Its commits (checkpoint, wake-up flag) do not wait for their WAL flush
        (``synchronous_commit = off``): each relay pass commits up to three such writes, and the flush was most of
        their PostgreSQL CPU (~130 of ~190 µs each, round trip 1.1-1.4 ms -> 0.1 ms; e2e-lowrate note). Nothing
        else depends on their durability. A checkpoint lost in a server crash moves back, so the relay publishes
        those events again — duplicates, which consumers drop by event id, never a loss (the same as a crash between
        the broker's ack and the checkpoint). A lost wake-up flag is set again when the relay reconnects. The flag
        and the checkpoint are visible to other sessions as soon as they commit, flushed or not."""
        conn = await connect(self._dsn)
        await conn.execute("SET synchronous_commit = off")  # session setting: this connection is not pooled
        return conn

    async def _run_once(self) -> None:
        conn = await self._connect()
        feed = _FeedReader(conn, self._name)
        try:
            await self._acquire_leadership(conn)
            await conn.add_listener(NOTIFY_CHANNEL, self._on_notify)
            await self._pump(feed)
        finally:
            self.is_leader = False
            # Best effort: write the acknowledged checkpoint that was waiting for the next statement (if the
            # connection is still usable and idle), so a restart republishes less. Not needed for correctness.
            with contextlib.suppress(Exception):
                await asyncio.shield(asyncio.wait_for(feed.flush(), 2))
            with contextlib.suppress(Exception):
                await asyncio.shield(conn.close(timeout=2))

    async def publish_once(self) -> int:
        """Take the relay lock, publish what is visible now, release. For tools and tests (services use
        :meth:`run`). Raises :class:`RelayBusyError` if another relay is active."""
        conn = await self._connect()
        try:
            if not await self._try_lock(conn):
                raise RelayBusyError(f"relay {self._name!r} is active elsewhere")
            await self._ensure_checkpoint(conn)
            feed = _FeedReader(conn, self._name)
            published = await self.publish_available(feed)
            await feed.flush()
            return published
        finally:
            await conn.close()

    async def _try_lock(self, conn: asyncpg.Connection) -> bool:
        # A session-level lock: held while this connection lives, released by PostgreSQL if the process dies.
        locked: bool = await conn.fetchval(
            "SELECT pg_try_advisory_lock(hashtextextended($1, 7244))", f"relay:{self._name}"
        )
        return locked

    async def _ensure_checkpoint(self, conn: asyncpg.Connection) -> None:
        await conn.execute(
            "INSERT INTO relay_checkpoints (relay) VALUES ($1) ON CONFLICT (relay) DO NOTHING", self._name
        )

    async def _acquire_leadership(self, conn: asyncpg.Connection) -> None:
        while not await self._try_lock(conn):  # noqa: ASYNC110  (a lock held elsewhere sends no signal)
            await asyncio.sleep(self._poll_interval)
        self.is_leader = True
        await self._ensure_checkpoint(conn)
        log.info("relay.leader", relay=self._name, topic=self._topic)

    def _on_notify(self, *_: object) -> None:
        self._wakeup.set()

    async def _pump(self, feed: _FeedReader) -> None:
        # The first look again after a held-back read: the linger, not less (starting at 1 ms made the leads relay
        # read ~5 times per event at 50 commands/s while the horizon was the cluster's xmin, bench 2026-12-02).
        first_recheck = max(self._linger, 0.001)
        recheck_delay = first_recheck
        busy = True  # the first read disarms: a backlog may be waiting
        streak = 0  # passes in a row, while armed, during which more commits notified
        while True:
            self._wakeup.clear()
            feed.disarm = busy
            published = await self.publish_available(feed)
            if published:
                recheck_delay = first_recheck
                if self._linger > 0:
                    await asyncio.sleep(self._linger)  # gather the next commits; costs at most `linger` of latency
                if busy:
                    continue  # disarmed: read until a read finds nothing
                if self._wakeup.is_set():
                    # More commits notified during the pass or the linger: read again. Still armed, so a pair of
                    # commits costs two reads and no arm/look; a second such pass in a row means events are flowing,
                    # and the next read disarms (notifying commits serialise cluster-wide, and a wake-up per commit
                    # would cost a statement per commit).
                    streak += 1
                    busy = streak >= 2
                    continue
            elif feed.held_back:
                # Committed events wait behind an older transaction of this database that is still running (its
                # commit may send no NOTIFY: it need not have written events): look again soon rather than at the
                # poll.
                await asyncio.sleep(recheck_delay)
                recheck_delay = min(recheck_delay * 2, 0.05)
                continue
            busy, streak = False, 0
            if not feed.armed:
                # Going idle after a busy spell: arm the wake-up (commits send NOTIFY only while it is armed, see
                # 0005_armed_notify.sql), then look once more (the loop's next read, which leaves it armed), so an
                # event committed before the arming is not left waiting for the poll.
                await feed.arm_wakeup()
                continue
            # Armed and nothing new: every commit from now on notifies. An acknowledged checkpoint still unwritten
            # goes with the next wake-up's read, or on its own after CHECKPOINT_DELAY if none comes.
            if feed.unsaved:
                try:
                    await asyncio.wait_for(self._wakeup.wait(), min(self._poll_interval, CHECKPOINT_DELAY))
                    continue
                except TimeoutError:
                    await feed.flush()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), self._poll_interval)

    async def publish_available(self, feed: _FeedReader) -> int:
        """Publish everything the feed shows now, batch by batch: send, wait for the broker's acks, then move
        the checkpoint (in memory: the feed's next statement writes it). Returns how many events were published.

        Pipelined by one batch: the next batch is read, translated and handed to the producer while the broker
        acknowledges the previous one, so the database round trip and the Python work overlap the broker's
        (before, each batch waited for the previous one's acks: 0.25× a raw produce); and the read of batch N+1 is
        sent before batch N's Python work, so PostgreSQL answers while we build messages. What stays: batches are
        sent in feed order (the producer keeps per-partition order), and the checkpoint moves batch by batch, in
        order, each time only after every message up to it was acknowledged. A failure of batch N raises before
        its checkpoint; batch N+1 may already be in the log, and a restart sends both again from the checkpoint
        before N — duplicates, which consumers drop by event id, never a loss."""
        total = 0
        in_flight: _SentBatch | None = None
        events = await feed.read(self._batch_size)
        while True:
            more = len(events) == self._batch_size
            # The next read goes out before this batch's Python work (translate, record batches), so PostgreSQL
            # runs the query while we build messages (~1.8 s of 9.7 s at 100k, relay-replay note). The feed's
            # cursor already points past this batch; the connection is free again before _confirm's checkpoint.
            prefetch = asyncio.ensure_future(feed.read(self._batch_size)) if more else None
            try:
                if prefetch is not None:
                    await asyncio.sleep(0)  # let the read send its query before the CPU work starts
                sent = await self._send(events) if events else None
                next_events = await prefetch if prefetch is not None else []
            except BaseException:
                if prefetch is not None and not prefetch.done():
                    prefetch.cancel()
                    with contextlib.suppress(BaseException):
                        await prefetch
                raise
            if in_flight is not None:
                total += await self._confirm(feed, in_flight)
            in_flight = sent
            if not more:
                break
            events = next_events
        if in_flight is not None:
            total += await self._confirm(feed, in_flight)
        return total

    async def _confirm(self, feed: _FeedReader, batch: _SentBatch) -> int:
        """Wait for the broker's acks of one sent batch, then move the checkpoint past it."""
        await batch.acknowledged()
        if self._after_publish is not None:
            await self._after_publish(batch.events)
        feed.acknowledged(batch.events[-1].feed_position, len(batch.events))
        service_metrics().relay_published.labels(self._name).inc(len(batch.events))
        self.published += len(batch.events)
        self.last_error = None
        return len(batch.events)

    async def _send(self, events: list[RecordedEvent]) -> _SentBatch:
        """Hand one batch to the producer; returns without waiting for the broker.

        Messages go into one record batch per partition (``create_batch``/``send_batch``) rather than through
        ``send`` one by one: ``send`` costs a metadata check, a size estimate, a future and an accumulator append
        per message, a third of the relay's CPU (profile in the relay-speed note). What ``send`` would do is kept:
        the partition is the producer's default partitioner's (murmur2 of the key over the topic's partitions, as
        ``make_producer`` configures it), so a stream stays on its partition; a full record batch is sent before
        the next one of its partition is started, so per-partition order is feed order; the idempotent producer
        gives each record batch its sequence numbers when it is drained, as it does for ``send``'s batches."""
        producer = self._producer
        topic = self._topic
        partitions = sorted(await producer.partitions_for(topic))  # waits for the topic's metadata, like send
        open_batches: dict[int, BatchBuilder] = {}
        partition_of: dict[bytes, int] = {}
        acks: list[asyncio.Future[Any]] = []
        spans = []
        traced = tracing.enabled()
        for event in events:
            message = self._translate(event)
            if message is None:
                continue
            headers = message.headers
            if traced and (parent := tracing.context_from_traceparent(event.metadata.get("traceparent"))):
                # A publish span in the command's trace; its context, not the command's, travels in the header,
                # so the consumers' spans hang below the relay's.
                span = tracing.tracer().start_span(f"{topic} publish", context=parent,
                                                   kind=tracing.SpanKind.PRODUCER,
                                                   attributes={"messaging.system": "kafka",
                                                               "messaging.destination.name": topic,
                                                               "messaging.message.id": str(event.event_id)})
                spans.append(span)
                traceparent = (tracing.traceparent_of(span) or "").encode()
                headers = [(k, traceparent if k == tracing.TRACEPARENT else v) for k, v in headers]
            partition = partition_of.get(message.key)
            if partition is None:  # murmur2 in pure Python: once per stream and batch, not per event
                partition = partition_of[message.key] = _PARTITIONER(message.key, partitions, partitions)
            batch = open_batches.get(partition)
            if batch is None:
                batch = open_batches[partition] = producer.create_batch()
            if batch.append(key=message.key, value=message.value, timestamp=None, headers=headers) is None:
                # Full: send it, then start the partition's next one (an empty batch takes any one message).
                acks.append(await producer.send_batch(batch, topic, partition=partition))
                batch = open_batches[partition] = producer.create_batch()
                batch.append(key=message.key, value=message.value, timestamp=None, headers=headers)
        for partition, batch in open_batches.items():
            acks.append(await producer.send_batch(batch, topic, partition=partition))
        return _SentBatch(events, acks, spans)


@dataclass(slots=True)
class _SentBatch:
    """A batch handed to the producer: its events (for the checkpoint), the broker's acks, the publish spans."""

    events: list[RecordedEvent]
    acks: list[asyncio.Future[Any]]
    spans: list[Span]

    async def acknowledged(self) -> None:
        if self.acks:
            await asyncio.gather(*self.acks)
        for span in self.spans:
            span.end()



def _checkpoint(first: int) -> str:
    """The checkpoint write that rides in the relay's next statement (``_FeedReader.acknowledged``), its parameters
    numbered from ``first``: relay, txid, position, events acknowledged since the last write (a no-op when 0)."""
    relay, txid, position, count = (f"${n}" for n in range(first, first + 4))
    return f"""UPDATE relay_checkpoints SET last_txid = {txid}::bigint::text::xid8, last_position = {position}::bigint,
    published = published + {count}::bigint, updated_at = now()
WHERE relay = {relay}::text AND {count}::bigint > 0"""


# One statement per relay pass: the feed; whether committed events after the cursor are held back behind an older
# running transaction (they are not in the feed yet: look again soon); the acknowledged checkpoint, if one is
# waiting; and, in busy mode ($9), disarming the NOTIFY wake-up once the read finds events. The horizon is computed
# once, for both the feed and held_back, on the statement's one snapshot (a CTE referenced twice is materialised).
# One row with held_back and NULL event columns when the feed is empty; feed's rows keep its ORDER BY (the join's
# other side is one row). held_back is ORDER BY ... LIMIT 1, not EXISTS: EXISTS's generic plan scanned all of events
# on every read (idle leads with the e2e seed: ~6000 tuples/s read by sequential scan, bench/idle_cost.py --seed).
_READ = f"""
WITH horizon AS (SELECT sf_feed_horizon() AS xid),
feed AS ({feed_query("(SELECT xid FROM horizon)")}),
checkpoint AS ({_checkpoint(5)}),
disarmed AS (UPDATE relay_wakeup SET armed = false
             WHERE channel = $4 AND $9::boolean AND armed AND EXISTS (SELECT FROM feed))
SELECT held.held_back, feed.*
FROM (SELECT (SELECT true FROM events WHERE (txid, position) > ($1::bigint::text::xid8, $2::bigint)
                       AND txid >= (SELECT xid FROM horizon) ORDER BY txid, position LIMIT 1) IS NOT NULL
             AS held_back) AS held
LEFT JOIN feed ON true
"""

# Arming the wake-up, with the waiting checkpoint. Committed on its own before the next read looks: a commit after
# that look sees the flag and notifies.
_ARM = f"""
WITH checkpoint AS ({_checkpoint(2)})
UPDATE relay_wakeup SET armed = true WHERE channel = $1 AND NOT armed
"""

_SAVE = _checkpoint(1)


class _FeedReader:
    """The relay's queries on its own (leader) connection; remembers the checkpoint it last saved and the one the
    broker acknowledged since, which the next statement writes."""

    def __init__(self, conn: asyncpg.Connection, relay: str) -> None:
        self._conn = conn
        self._relay = relay
        self.checkpoint: FeedPosition | None = None  # the last one acknowledged by the broker
        self._cursor: FeedPosition | None = None  # the last one read: ahead of the checkpoint while a batch is out
        self.unsaved = 0  # events acknowledged since the checkpoint was last written (0: nothing to write)
        self.held_back = False  # as of the last read
        self.disarm = True  # whether a read that finds events disarms the wake-up (busy mode)
        self.armed = False  # as this relay last left the wake-up flag (only the leader writes it)

    def acknowledged(self, position: FeedPosition, count: int) -> None:
        """The broker acknowledged everything up to ``position``: the next statement moves the checkpoint there."""
        self.checkpoint = position
        self.unsaved += count

    def _checkpoint_args(self) -> tuple[str, int, int, int]:
        position = self.checkpoint or FeedPosition()
        return self._relay, position.txid, position.position, self.unsaved

    def _saved(self, args: tuple[str, int, int, int]) -> None:
        # What was acknowledged while the statement ran (none today: reads and acks take turns) stays for the next.
        self.unsaved -= args[3]

    async def read(self, limit: int) -> list[RecordedEvent]:
        """The next events of the feed, in the statement that also writes the waiting checkpoint, says whether
        committed events wait behind an older running transaction (``held_back``) and, in busy mode, disarms the
        wake-up."""
        if self.checkpoint is None:
            row = await self._conn.fetchrow(
                "SELECT (last_txid::text)::bigint AS txid, last_position FROM relay_checkpoints WHERE relay = $1",
                self._relay,
            )
            self.checkpoint = FeedPosition(row["txid"], row["last_position"]) if row else FeedPosition()
        after = self._cursor or self.checkpoint
        disarm = self.disarm
        saving = self._checkpoint_args()
        rows = await self._conn.fetch(_READ, after.txid, after.position, limit, NOTIFY_CHANNEL, *saving, disarm)
        self._saved(saving)
        self.held_back = bool(rows[0]["held_back"])
        if rows[0]["position"] is None:  # the LEFT JOIN's one row: the feed is empty
            return []
        if disarm:
            self.armed = False
        # The feed's columns follow held_back in RecordedEvent's field order: a slice, not a lookup by name per
        # field (5 times cheaper; the relay builds one per event).
        events = [RecordedEvent(*row[1:]) for row in rows]
        self._cursor = events[-1].feed_position
        return events

    async def arm_wakeup(self) -> None:
        saving = self._checkpoint_args()
        await self._conn.execute(_ARM, NOTIFY_CHANNEL, *saving)
        self._saved(saving)
        self.armed = True

    async def flush(self) -> None:
        """Write the waiting checkpoint now (publish_once, shutdown)."""
        if self.unsaved:
            saving = self._checkpoint_args()
            await self._conn.execute(_SAVE, *saving)
            self._saved(saving)
