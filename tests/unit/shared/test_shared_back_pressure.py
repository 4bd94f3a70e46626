"""Back-pressure (shared/runtime/admission.py), in process and without timing: N commands are held inside a
handler on an event; the N+1th is answered 503 with Retry-After in the one error format at once, reads and health
probes still pass, readiness says the worker is full; released, the held ones succeed and the next is admitted."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from shared.runtime.admission import OVERLOAD_RETRY_AFTER_SECONDS, AdmissionLimit
from shared.runtime.http import health_router, install_error_handlers

LIMIT = 3
DEADLINE_S = 10.0


class Held:
    """Commands wait inside the handler until released; ``all_inside`` is set when ``LIMIT`` of them are."""

    def __init__(self) -> None:
        self.inside = 0
        self.all_inside = asyncio.Event()
        self.release = asyncio.Event()


def build_app(held: Held) -> FastAPI:
    app = FastAPI()
    install_error_handlers(app, max_in_flight=LIMIT)

    async def ready() -> dict[str, Any]:
        return {"database": True}

    app.include_router(health_router(ready))

    @app.post("/things")
    async def create() -> dict[str, Any]:
        held.inside += 1
        if held.inside == LIMIT:
            held.all_inside.set()
        await held.release.wait()
        return {"created": True}

    @app.get("/things")
    async def listing() -> dict[str, Any]:
        return {"things": []}

    return app


@pytest.fixture
def held() -> Held:
    return Held()


@pytest.fixture
async def client(held: Held) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=build_app(held))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
        yield c


async def test_the_command_past_the_limit_is_refused_at_once_and_the_held_ones_then_succeed(
    client: httpx.AsyncClient, held: Held
) -> None:
    holding = [asyncio.create_task(client.post("/things", json={})) for _ in range(LIMIT)]
    await asyncio.wait_for(held.all_inside.wait(), DEADLINE_S)

    # Answered at once: were it admitted, it would wait inside the handler like the others (a timeout here).
    refused = await asyncio.wait_for(client.post("/things", json={}, headers={"X-Correlation-Id": "over-1"}),
                                     DEADLINE_S)
    assert refused.status_code == 503
    assert refused.headers["retry-after"] == str(OVERLOAD_RETRY_AFTER_SECONDS)
    error = refused.json()["error"]
    assert error["code"] == "overloaded"
    assert error["correlation_id"] == "over-1" == refused.headers["x-correlation-id"]
    assert held.inside == LIMIT  # the refused one never reached the handler

    assert (await client.get("/things")).status_code == 200  # reads are not commands
    readiness = await client.get("/health/ready")
    assert readiness.status_code == 503
    assert readiness.json()["checks"]["commands"] == {"ok": False, "in_flight": LIMIT, "max_in_flight": LIMIT,
                                                      "refused": 1}

    held.release.set()
    answers = await asyncio.wait_for(asyncio.gather(*holding), DEADLINE_S)
    assert [a.status_code for a in answers] == [200] * LIMIT

    admitted = await client.post("/things", json={})
    assert admitted.status_code == 200
    assert (await client.get("/health/ready")).json()["checks"]["commands"]["ok"] is True


async def test_a_failing_command_frees_its_slot(held: Held) -> None:
    app = FastAPI()
    install_error_handlers(app, max_in_flight=1)

    @app.post("/fail")
    async def fail() -> dict[str, Any]:
        raise RuntimeError("a bug")

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
        assert [(await c.post("/fail")).status_code for _ in range(3)] == [500, 500, 500]
    assert app.state.admission.in_flight == 0


def test_a_limit_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        AdmissionLimit(0)
