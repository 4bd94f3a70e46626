"""CPU per request of the HTTP stack alone, in process: a service app built by ``service_app`` (every middleware,
the error handlers, the bearer-token check) with two stand-in routes shaped like leads' cheapest ones, called
through ASGI directly — no server, no socket, no database. What is left is the framework's and salesflow's own
per-request work, without the noise of the network and of neighbours on a shared machine, so changes of a few
microseconds show (bench/http_cost.py measures the same through uvicorn and PostgreSQL).

Routes: ``live`` (``GET /health/live``), ``read`` (``GET /v1/leads?owner_id&grade=H`` with leads' list filters
and a 20-row answer of fixed rows) and ``command`` (``POST /v1/leads/{id}/grade`` with a JSON body, answered with
a pydantic view). Prints µs of process CPU per request (median of ``--rounds``).

    .venv/bin/python -m bench.asgi_cost [--requests 5000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
from collections.abc import AsyncIterator, MutableMapping
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, FastAPI
from pydantic import BaseModel

from bench.e2e import BENCH_HEADERS
from services.leads.work_queue_api import LeadFiltersParam
from shared.auth.http import AUTHENTICATED, Caller
from shared.runtime.service_app import service_app
from shared.settings import ServiceSettings
from tests.support.auth import auth_env


class GradeBody(BaseModel):
    grade: str
    reason: str | None = None


class View(BaseModel):
    lead_id: str
    grade: str
    version: int
    follow_up_due_at: datetime | None


ROW = {"lead_id": "L-0001", "customer_id": "C-0001", "name": "王*", "phone": "***5678", "channel": "website",
       "stage": "new", "grade": "H", "status": "open", "owner_id": "bench-c1", "team_id": "bench-team",
       "captured_at": datetime(2026, 12, 4, 9, 0, tzinfo=UTC), "follow_up_due_at": None, "touchpoints": 1}


def build_app() -> FastAPI:
    class Parts:
        async def sample_metrics(self) -> None:
            return None

        async def readiness(self) -> dict[str, Any]:
            return {"database": True}

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield

    settings = ServiceSettings(service_name="leads", database_url="postgresql://unused/unused")
    app = service_app("leads", settings=settings, parts=Parts(), lifespan=lifespan)  # type: ignore[arg-type]
    router = APIRouter(prefix="/v1", dependencies=AUTHENTICATED)

    @router.get("/leads")
    async def lead_list(caller: Caller, filters: LeadFiltersParam, owner_id: str | None = None) -> dict[str, Any]:
        return {"leads": [ROW] * 20, "next_cursor": None}

    @router.post("/leads/{lead_id}/grade", response_model=View)
    async def grade(lead_id: str, body: GradeBody, caller: Caller) -> View:
        return View(lead_id=lead_id, grade=body.grade, version=2, follow_up_due_at=None)

    app.include_router(router)
    return app


async def call(app: FastAPI, method: str, path: str, query: bytes, body: bytes, headers: list[tuple[bytes, bytes]]
               ) -> int:
    status = 0
    answer = b""
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: MutableMapping[str, Any]) -> None:
        nonlocal status, answer
        if message["type"] == "http.response.start":
            status = message["status"]
        else:
            answer += message.get("body", b"")

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method, "scheme": "http",
             "path": path, "raw_path": path.encode(), "query_string": query, "root_path": "",
             "headers": list(headers), "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8000)}
    await app(scope, receive, send)
    if status >= 300:
        raise RuntimeError(f"{method} {path}: {status} {answer[:300]!r}")
    return status


async def run(requests: int, rounds: int, only: set[str] | None = None) -> dict[str, Any]:
    app = build_app()
    auth = [(b"authorization", BENCH_HEADERS["Authorization"].encode()), (b"host", b"127.0.0.1")]
    body = json.dumps({"grade": "A", "reason": "budget confirmed"}).encode()
    kinds = {
        "live": ("GET", "/health/live", b"", b"", [(b"host", b"127.0.0.1")]),
        "read": ("GET", "/v1/leads", b"owner_id=bench-c1&grade=H", b"", auth),
        "command": ("POST", "/v1/leads/L-0001/grade", b"", body,
                    [*auth, (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]),
    }
    results: dict[str, Any] = {}
    async with app.router.lifespan_context(app):
        for kind, (method, path, query, payload, headers) in kinds.items():
            if only and kind not in only:
                continue
            for _ in range(200):  # warm-up: the token's first check (JWKS fetch), caches
                await call(app, method, path, query, payload, headers)
            per_round = []
            for _ in range(rounds):
                cpu = time.process_time()
                for _ in range(requests):
                    await call(app, method, path, query, payload, headers)
                per_round.append((time.process_time() - cpu) / requests * 1e6)
            results[kind] = round(statistics.median(per_round), 1)
    return {"cpu_us_per_request": results, "requests": requests, "rounds": rounds, "loadavg": os.getloadavg()}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--kinds", default="live,read,command")
    args = parser.parse_args()
    os.environ.update(auth_env())  # this process's test issuer serves the JWKS the bench token is checked against
    os.environ.setdefault("LEADS_LOG_LEVEL", "WARNING")
    from shared.logs import configure_logging

    configure_logging("leads", os.environ["LEADS_LOG_LEVEL"], json=True)
    print(json.dumps(asyncio.run(run(args.requests, args.rounds, set(args.kinds.split(","))))), file=sys.stdout)


if __name__ == "__main__":
    main()
