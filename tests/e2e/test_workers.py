"""Several worker processes per service (``<SERVICE>_WORKERS``): they share the HTTP port and the database, one of
them relays (the others stand by on the relay's advisory lock), and the parent passes signals on and takes the
service down as a whole when a worker dies."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest
from aiokafka import AIOKafkaConsumer

from shared.messaging.connection import KafkaConnection
from shared.messaging.topics import topic_partitions
from tests.conftest import CreateDatabase
from tests.support.auth import auth_headers
from tests.support.infra import Infra
from tests.support.kafka import header, read_topic
from tests.support.processes import ServiceProcess, start_service, stop_service
from tests.support.waiting import eventually

pytestmark = pytest.mark.e2e

WORKERS = 2


def children_of(pid: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    return sorted(int(p) for p in out.split())


def connections_to_port(pid: int, port: int) -> int:
    """Established TCP connections of process ``pid`` to ``port`` (from /proc: its socket inodes in /proc/net/tcp)."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        with contextlib.suppress(OSError):
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as f:
            for line in list(f)[1:]:
                fields = line.split()
                remote_port, state, inode = int(fields[2].rsplit(":", 1)[1], 16), fields[3], fields[9]
                count += remote_port == port and state == "01" and inode in inodes
    return count


def alive(pid: int) -> bool:
    """Running, not a zombie waiting for whoever inherited it to reap it."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def running(pid: int) -> bool:
    """Alive and not a zombie (an orphan is reaped by whatever init the machine has, maybe late)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


@pytest.fixture
async def leads_dsn(create_database: CreateDatabase) -> str:
    return await create_database("leads")


def leads_env(infra: Infra, leads_dsn: str, unique: str) -> dict[str, str]:
    return {
        **infra.kafka_env(), "SALESFLOW_TOPIC_PREFIX": unique,
        "LEADS_DATABASE_URL": leads_dsn, "LEADS_WORKERS": str(WORKERS), "LEADS_RELAY_POLL_INTERVAL": "0.2",
    }


def port_accepts(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture
async def leads(infra: Infra, leads_dsn: str, unique: str) -> AsyncIterator[ServiceProcess]:
    service = await start_service("leads", leads_env(infra, leads_dsn, unique))
    try:
        # Readiness answered from one worker; wait until every worker has come up (each opens its pool).
        await eventually(lambda: asyncio.to_thread(children_of, service.process.pid),
                         until=lambda pids: len(pids) == WORKERS, what=f"{WORKERS} worker processes")
        yield service
    finally:
        await stop_service(service)


async def end_offset_total(kafka: KafkaConnection, topic: str) -> int:
    consumer = AIOKafkaConsumer(**kafka.client_options())
    await consumer.start()
    try:
        return sum((await consumer.end_offsets(await topic_partitions(kafka, [topic]))).values())
    finally:
        await consumer.stop()


async def test_workers_share_the_port_and_every_event_is_published_once(
    leads: ServiceProcess, leads_dsn: str, infra: Infra, unique: str
) -> None:
    captures = 60
    async with httpx.AsyncClient(headers=auth_headers("director"), timeout=20) as client:
        # Many connections at once, so the kernel spreads them over both workers' accept loops.
        responses = await asyncio.gather(*(
            client.post(f"{leads.url}/v1/leads", json={"name": f"客户{i}", "phone": f"1380000{i:04d}",
                                                      "channel": "website"})
            for i in range(captures)))
    assert [r.status_code for r in responses] == [201] * captures, [r.text for r in responses if r.status_code != 201]

    # Every worker is a whole service instance with its own connections to PostgreSQL.
    pg_port = int(leads_dsn.rsplit(":", 1)[1].split("/")[0])
    assert all(connections_to_port(pid, pg_port) > 0 for pid in children_of(leads.process.pid))
    conn = await asyncpg.connect(leads_dsn)
    try:
        stored = {str(r["event_id"]) for r in await conn.fetch("SELECT event_id FROM events")}
    finally:
        await conn.close()
    assert len(stored) >= captures

    topic = f"{unique}.leads"
    records = await read_topic(infra.kafka, topic, expect=len(stored))
    published = [header(r, "ce_id") or "" for r in records]
    assert sorted(published) == sorted(stored)  # each stored event once: one relay published, not two
    assert await end_offset_total(infra.kafka, topic) == len(stored)


async def test_sigterm_stops_every_worker(leads: ServiceProcess) -> None:
    workers = children_of(leads.process.pid)
    assert len(workers) == WORKERS
    leads.process.send_signal(signal.SIGTERM)
    assert await asyncio.wait_for(leads.process.wait(), 30) == 0
    assert [pid for pid in workers if alive(pid)] == []


async def test_a_dead_worker_takes_the_whole_service_down(leads: ServiceProcess) -> None:
    first, second = children_of(leads.process.pid)
    os.kill(first, signal.SIGKILL)
    code = await asyncio.wait_for(leads.process.wait(), 30)
    assert code != 0  # the orchestrator sees a failed service and restarts it whole
    assert not alive(second)


async def test_workers_do_not_outlive_a_killed_parent(leads: ServiceProcess) -> None:
    # Found by the fault suite: kill -9 of the parent left both workers serving on the port, so the restarted
    # service could not bind it.
    workers = children_of(leads.process.pid)
    assert len(workers) == WORKERS
    os.kill(leads.process.pid, signal.SIGKILL)
    await leads.process.wait()
    await eventually(lambda: asyncio.to_thread(lambda: [pid for pid in workers if running(pid)]),
                     until=lambda left: left == [], what="the workers to exit after their parent died")


async def test_workers_die_with_a_killed_parent_and_the_port_can_be_reused(
    leads: ServiceProcess, infra: Infra, leads_dsn: str, unique: str
) -> None:
    workers = children_of(leads.process.pid)
    assert len(workers) == WORKERS
    os.kill(leads.process.pid, signal.SIGKILL)  # the parent cannot pass anything on
    await leads.process.wait()
    await eventually(lambda: asyncio.to_thread(lambda: [pid for pid in workers if alive(pid)]),
                     until=lambda left: left == [], timeout=30, what="the orphaned workers to exit")
    assert not port_accepts(leads.port)
    restarted = await start_service("leads", leads_env(infra, leads_dsn, unique), port=leads.port)
    try:
        async with httpx.AsyncClient(headers=auth_headers("director"), timeout=10) as client:
            response = await client.post(f"{restarted.url}/v1/leads", json={
                "name": "王五", "phone": "13800001111", "channel": "website"})
        assert response.status_code == 201, response.text
    finally:
        await stop_service(restarted)
