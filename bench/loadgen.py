"""An open-loop HTTP load generator: requests are *scheduled* at a fixed arrival rate and latency is measured
from the scheduled time, so a slow server cannot slow the generator down and hide its own latency (the
"coordinated omission" of closed-loop tools). Raw HTTP/1.1 over keep-alive connections on asyncio streams: the
generator shares 2 cores with everything it measures, so it has to be cheap.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import NamedTuple


class Request(NamedTuple):
    """One request of a workload: which service (port), the method, the path and the JSON body (None: no body)."""
    port: int
    method: str
    path: str
    body: bytes | None = None
    label: str = ""
    """What kind of request this is (a workload's mix): latencies are also kept per label."""


@dataclass
class LoadResult:
    scheduled: int = 0
    completed: int = 0
    errors: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    latencies_s: list[float] = field(default_factory=list)
    accepted_latencies_s: list[float] = field(default_factory=list)
    """Latencies of the 2xx answers only (under overload, the 503s are fast and would flatter the p99)."""
    latencies_by_label_s: dict[str, list[float]] = field(default_factory=dict)
    duration_s: float = 0.0
    max_connections: int = 0


class _Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    async def request(self, raw: bytes) -> int:
        self.writer.write(raw)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = 0
        for line in head.split(b"\r\n"):
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        if length:
            await self.reader.readexactly(length)
        return status


async def open_loop(
    host: str, *, rate: float, duration: float, build: Callable[[int], Request],
    max_connections: int = 512, headers: Mapping[str, str] | None = None,
) -> LoadResult:
    """Send ``rate`` requests per second for ``duration`` seconds; ``build(i)`` gives the i-th request (a mix may
    go to several services: keep-alive connections are pooled per port); ``headers`` go with every request (the
    bearer token: the services refuse anonymous calls). ``max_connections`` bounds all ports together."""
    result = LoadResult()
    extra = "".join(f"{name}: {value}\r\n" for name, value in (headers or {}).items())
    idle: dict[int, list[_Connection]] = {}
    opened = 0
    total = int(rate * duration)
    inflight: set[asyncio.Task[None]] = set()

    async def connect(port: int) -> _Connection:
        nonlocal opened
        if opened >= max_connections:
            raise ConnectionError("connection limit reached")
        opened += 1
        result.max_connections = max(result.max_connections, opened)
        return _Connection(*await asyncio.open_connection(host, port))

    def discard(conn: _Connection) -> None:
        nonlocal opened
        conn.writer.close()
        opened -= 1

    async def one(i: int, scheduled: float) -> None:
        request = build(i)
        body = request.body or b""
        content = "Content-Type: application/json\r\n" if request.body is not None else ""
        raw = (f"{request.method} {request.path} HTTP/1.1\r\nHost: {host}\r\n{content}{extra}"
               f"Content-Length: {len(body)}\r\n\r\n").encode() + body
        pool = idle.setdefault(request.port, [])
        conn = pool.pop() if pool else None
        try:
            status = 0
            if conn is not None:
                try:
                    status = await conn.request(raw)
                except (OSError, asyncio.IncompleteReadError):
                    # The server closed this keep-alive connection while it sat idle (uvicorn does after 5 s): a real
                    # client reconnects and sends again, and so does the generator. Latency still counts from the
                    # scheduled time.
                    discard(conn)
                    conn = None
            if conn is None:
                conn = await connect(request.port)
                status = await conn.request(raw)
            latency = time.perf_counter() - scheduled
            result.latencies_s.append(latency)
            result.latencies_by_label_s.setdefault(request.label, []).append(latency)
            if 200 <= status < 300:
                result.accepted_latencies_s.append(latency)
            result.statuses[status] = result.statuses.get(status, 0) + 1
            result.completed += 1
            pool.append(conn)
        except (OSError, asyncio.IncompleteReadError, ValueError, ConnectionError):
            result.errors += 1
            if conn is not None:
                discard(conn)

    start = time.perf_counter()
    for i in range(total):
        scheduled = start + i / rate
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        task = asyncio.create_task(one(i, scheduled))
        inflight.add(task)
        task.add_done_callback(inflight.discard)
        result.scheduled += 1
    if inflight:
        await asyncio.wait(inflight, timeout=30)
    result.duration_s = time.perf_counter() - start
    for conn in (c for pool in idle.values() for c in pool):
        conn.writer.close()
    return result
