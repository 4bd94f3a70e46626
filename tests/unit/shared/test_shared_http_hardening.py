"""The kernel's HTTP hardening on a small app, in process: oversized bodies (413 before the body is read), text
PostgreSQL cannot store (422 naming the field), an unreachable database (503 + Retry-After), 405 with every
allowed method, and one error format with the request's correlation id everywhere — a 500 included."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from pydantic import BaseModel

from shared.runtime.http import install_error_handlers
from shared.runtime.input_guard import InputGuard

LIMIT = 4096


class Body(BaseModel):
    name: str
    tags: list[str] = []


def build_app() -> FastAPI:
    app = FastAPI()
    install_error_handlers(app, max_body_bytes=LIMIT)

    @app.post("/things")
    async def create(body: Body) -> dict[str, Any]:
        return {"name": body.name}

    @app.get("/things")
    async def listing(q: str = "") -> dict[str, Any]:
        return {"q": q}

    @app.get("/things/{thing_id}")
    async def read(thing_id: str) -> dict[str, Any]:
        return {"id": thing_id}

    @app.get("/down")
    async def down() -> dict[str, Any]:
        raise ConnectionRefusedError(111, "Connect call failed ('127.0.0.1', 5432)")

    @app.get("/shutting-down")
    async def shutting_down() -> dict[str, Any]:
        raise asyncpg.AdminShutdownError("terminating connection due to administrator command")

    @app.get("/closed-under-a-transaction")
    async def closed_under_a_transaction() -> dict[str, Any]:
        # What the fault suite met during a PostgreSQL restart (a 500 before): the transaction's end on a
        # connection the server had closed.
        raise asyncpg.InterfaceError("cannot call Transaction.__aexit__(): the underlying connection is closed")

    @app.get("/misused-driver")
    async def misused_driver() -> dict[str, Any]:
        raise asyncpg.InterfaceError("cannot perform operation: another operation is in progress")

    @app.get("/bug")
    async def bug() -> dict[str, Any]:
        raise RuntimeError("a bug")

    return app


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=build_app(), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
        yield c


def error_of(response: httpx.Response) -> dict[str, Any]:
    assert response.headers["content-type"].startswith("application/json"), response.text
    error: dict[str, Any] = response.json()["error"]
    assert error["correlation_id"] == response.headers["x-correlation-id"]
    return error


async def test_a_body_over_the_limit_is_refused_with_413_naming_the_limit(client: httpx.AsyncClient) -> None:
    response = await client.post("/things", content=b'{"name": "' + b"x" * LIMIT + b'"}',
                                 headers={"content-type": "application/json"})
    assert response.status_code == 413
    assert error_of(response)["code"] == "payload_too_large"
    assert str(LIMIT) in error_of(response)["message"]
    assert response.headers["connection"] == "close"


async def test_a_declared_oversized_body_is_refused_without_reading_a_byte() -> None:
    received: list[dict[str, Any]] = []
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        message = {"type": "http.request", "body": b"x" * 1000, "more_body": True}
        received.append(message)
        return message

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    async def never_called(*_: Any) -> None:
        raise AssertionError("the app must not run")

    scope = {"type": "http", "method": "POST", "path": "/things", "raw_path": b"/things", "query_string": b"",
             "headers": [(b"content-length", str(300 * 1024 * 1024).encode()),
                         (b"content-type", b"application/json")]}
    await InputGuard(never_called, max_body_bytes=LIMIT)(scope, receive, send)
    assert received == []
    assert sent[0]["status"] == 413


async def test_a_chunked_body_stops_being_read_at_the_first_chunk_past_the_limit() -> None:
    chunks_read = 0
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        nonlocal chunks_read
        chunks_read += 1
        return {"type": "http.request", "body": b"x" * 1000, "more_body": True}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    async def never_called(*_: Any) -> None:
        raise AssertionError("the app must not run")

    scope = {"type": "http", "method": "POST", "path": "/things", "raw_path": b"/things", "query_string": b"",
             "headers": [(b"transfer-encoding", b"chunked"), (b"content-type", b"application/json")]}
    await InputGuard(never_called, max_body_bytes=LIMIT)(scope, receive, send)
    assert chunks_read == LIMIT // 1000 + 1
    assert sent[0]["status"] == 413


@pytest.mark.parametrize(("body", "field"), [
    (b'{"name": "a\\u0000b"}', "name"),
    (b'{"name": "ok", "tags": ["fine", "bad\\u0000"]}', "tags.1"),
    (b'{"name": "\\ud800"}', "name"),
    (b'{"name": "\xff\xfe"}', "body"),
])
async def test_json_text_postgresql_cannot_store_is_a_422_naming_the_field(
    client: httpx.AsyncClient, body: bytes, field: str,
) -> None:
    response = await client.post("/things", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 422, response.text
    error = error_of(response)
    assert error["code"] == "validation_error"
    assert error["fields"][0]["field"] == field


@pytest.mark.parametrize(("url", "field"), [
    ("/things?q=a%00b", "q"),
    ("/things?q=%ff%fe", "q"),
    ("/things/a%00b", "path"),
    ("/things/%c3%28", "path"),
])
async def test_nul_and_non_utf8_in_the_path_or_query_are_a_422(
    client: httpx.AsyncClient, url: str, field: str,
) -> None:
    response = await client.get(url)
    assert response.status_code == 422, response.text
    assert error_of(response)["fields"][0]["field"] == field


async def test_ordinary_unicode_passes_untouched(client: httpx.AsyncClient) -> None:
    assert (await client.post("/things", json={"name": "王小明 🚗"})).json() == {"name": "王小明 🚗"}
    assert (await client.get("/things", params={"q": "上海"})).json() == {"q": "上海"}
    assert (await client.get("/things/L-%E4%B8%8A")).json() == {"id": "L-上"}


@pytest.mark.parametrize("path", ["/down", "/shutting-down", "/closed-under-a-transaction"])
async def test_an_unreachable_database_is_a_503_with_retry_after(client: httpx.AsyncClient, path: str) -> None:
    response = await client.get(path)
    assert response.status_code == 503
    assert int(response.headers["retry-after"]) > 0
    assert error_of(response)["code"] == "database_unavailable"


async def test_an_unexpected_error_is_a_500_in_the_one_format_with_the_callers_correlation_id(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/bug", headers={"x-correlation-id": "corr-123"})
    assert response.status_code == 500
    assert error_of(response) == {"code": "internal_error", "message": "request: unexpected error",
                                  "correlation_id": "corr-123"}


async def test_any_other_driver_interface_error_is_a_500_in_the_one_format(client: httpx.AsyncClient) -> None:
    response = await client.get("/misused-driver")
    assert response.status_code == 500
    assert error_of(response)["code"] == "internal_error"


async def test_405_names_every_method_the_path_serves(client: httpx.AsyncClient) -> None:
    response = await client.request("TRACE", "/things")
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, POST"
    assert error_of(response)["code"] == "method_not_allowed"


async def test_a_validation_error_carries_the_correlation_id(client: httpx.AsyncClient) -> None:
    response = await client.post("/things", json={"tags": []}, headers={"x-correlation-id": "c-9"})
    assert response.status_code == 422
    assert error_of(response)["correlation_id"] == "c-9"
    assert error_of(response)["fields"] == [{"field": "name", "reason": "Field required"}]


def test_the_openapi_documents_the_errors_in_the_one_format() -> None:
    schema = build_app().openapi()
    create = schema["paths"]["/things"]["post"]["responses"]
    assert set(create) >= {"200", "409", "413", "422", "503"}
    assert create["422"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}
    assert create["503"]["headers"]["Retry-After"]["required"] is True
    assert "404" in schema["paths"]["/things/{thing_id}"]["get"]["responses"]
    assert "HTTPValidationError" not in schema["components"]["schemas"]
