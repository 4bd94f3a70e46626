"""Every route of every service, walked from its own OpenAPI document: without a valid token the answer is 401 with
a ``WWW-Authenticate: Bearer`` challenge (RFC 6750), whatever the route — so a new route added without
authentication fails here. Only the health probes and the API docs are public. Every operation also declares its
security requirement in the document (what ``@redocly/cli lint``'s ``security-defined`` rule checks)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.support.all_services import SERVICES, all_services
from tests.support.auth import test_issuer
from tests.support.infra import Infra
from tests.support.processes import ServiceProcess

pytestmark = pytest.mark.e2e

PUBLIC = re.compile(r"^/health/(live|ready)$")
# Served outside the API document (FastAPI's own pages, the browser sign-in) and checked by name below.
NOT_IN_THE_DOCUMENT = {"reporting": ["/dashboard"]}


@pytest.fixture(scope="module")
async def services(infra: Infra) -> AsyncIterator[dict[str, ServiceProcess]]:
    async with all_services(infra, "routes") as started:
        yield started


async def operations(client: httpx.AsyncClient, service: ServiceProcess) -> list[tuple[str, str, dict[str, Any]]]:
    document = (await client.get(f"{service.url}/openapi.json")).json()
    return [(method.upper(), path, op) for path, item in document["paths"].items()
            for method, op in item.items() if method in ("get", "put", "post", "patch", "delete")]


def concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "1", path)


@pytest.mark.parametrize("name", SERVICES)
async def test_every_operation_refuses_a_call_without_a_valid_token(services: dict[str, ServiceProcess],
                                                                   name: str) -> None:
    service = services[name]
    expired = test_issuer().token(subject="m1", roles=["manager"], team="t1", issued_at=0, expires_in=60)
    wrong_audience = test_issuer().token(subject="m1", roles=["manager"], audience="someone-else")
    async with httpx.AsyncClient(base_url=service.url, timeout=10) as client:
        ops = await operations(client, service)
        protected = [(m, p) for m, p, _ in ops if not PUBLIC.match(p)]
        assert len(protected) >= 5, f"{name} documents only {ops}"
        refused: list[str] = []
        for method, path in protected + [("GET", p) for p in NOT_IN_THE_DOCUMENT.get(name, [])]:
            for headers in ({}, {"Authorization": f"Bearer {expired}"},
                            {"Authorization": f"Bearer {wrong_audience}"}, {"Authorization": "Bearer garbage"}):
                response = await client.request(method, concrete(path), json={}, headers=headers)
                if response.status_code != 401 or not response.headers.get("www-authenticate", "").startswith(
                        "Bearer"):
                    refused.append(f"{method} {path} with {sorted(headers) or 'no token'}: {response.status_code}")
        assert refused == []
        # /metrics too: Prometheus scrapes without a user's token (shared/observability/endpoint.py).
        for public in ("/health/live", "/openapi.json", "/docs", "/metrics"):
            assert (await client.get(public)).status_code == 200


@pytest.mark.parametrize("name", SERVICES)
async def test_every_operation_declares_its_security_requirement(services: dict[str, ServiceProcess],
                                                                 name: str) -> None:
    async with httpx.AsyncClient(timeout=10) as client:
        document = (await client.get(f"{services[name].url}/openapi.json")).json()
        undeclared = [f"{m} {p}" for m, p, op in await operations(client, services[name])
                      if not PUBLIC.match(p) and not op.get("security")]
    assert "bearer" in document["components"]["securitySchemes"]
    assert undeclared == []
