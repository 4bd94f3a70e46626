"""Back-pressure: a bounded number of commands in flight per worker; beyond it, 503 at once.

Without a bound, a worker offered more than it can do keeps accepting: every request waits for a database
connection, latency grows without limit, clients time out and retry, and throughput collapses (issue 14: offered
600/s, ~170/s succeeded with a p99 of 32 s). With one, the worker keeps doing what it can at the latency it can,
and tells the rest to come back: ``503`` with ``Retry-After`` and the one JSON error format, answered before the
body is read, so a refusal costs almost nothing. ``/health/ready`` fails while the worker is full, so a load
balancer sends new work elsewhere.

A command is a request that changes state (POST, PUT, PATCH, DELETE); reads, health probes and ``/metrics`` are
never refused here (a probe must see the overload, not be part of it). The bound is per worker process
(``<SERVICE>_MAX_IN_FLIGHT``): each worker has its own event loop and database pool.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from shared.runtime.input_guard import ASGIApp, Receive, Scope, Send

COMMAND_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
DEFAULT_MAX_IN_FLIGHT = 64
OVERLOAD_RETRY_AFTER_SECONDS = 1
"""A refused command did nothing, so retrying is safe; one second lets the in-flight ones finish."""


class AdmissionLimit:
    """Counts this worker's commands in flight; refuses the one past ``max_in_flight``. Shared by the ASGI
    middleware (:class:`AdmissionGuard`) and the readiness check."""

    def __init__(self, max_in_flight: int = DEFAULT_MAX_IN_FLIGHT) -> None:
        if max_in_flight < 1:
            raise ValueError("max_in_flight must be at least 1")
        self.max_in_flight = max_in_flight
        self.in_flight = 0
        self.refused = 0

    @property
    def full(self) -> bool:
        return self.in_flight >= self.max_in_flight

    def readiness(self) -> dict[str, Any]:
        """The ``commands`` check of ``/health/ready``: not ok while every slot is taken."""
        return {"ok": not self.full, "in_flight": self.in_flight, "max_in_flight": self.max_in_flight,
                "refused": self.refused}


class AdmissionGuard:
    """ASGI middleware: admit a command only while ``limit`` has a free slot (held until the response is sent)."""

    def __init__(self, app: ASGIApp, *, limit: AdmissionLimit,
                 error_body: Callable[[str, str], dict[str, Any]]) -> None:
        self.app = app
        self.limit = limit
        self._error_body = error_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in COMMAND_METHODS:
            await self.app(scope, receive, send)
            return
        limit = self.limit
        if limit.full:
            limit.refused += 1
            await self._refuse(send)
            return
        limit.in_flight += 1
        try:
            await self.app(scope, receive, send)
        finally:
            limit.in_flight -= 1

    async def _refuse(self, send: Send) -> None:
        body = orjson.dumps(self._error_body(
            "overloaded", f"this worker has {self.limit.max_in_flight} commands in flight; nothing was changed, "
                          f"retry after {OVERLOAD_RETRY_AFTER_SECONDS} s"))
        await send({"type": "http.response.start", "status": 503, "headers": [
            (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
            (b"retry-after", str(OVERLOAD_RETRY_AFTER_SECONDS).encode())]})
        await send({"type": "http.response.body", "body": body})
