"""The HTTP hardening on a real service process (leads), each case a finding of issue 16:

- a 300 MB body streamed in chunks is refused with 413 at the first chunk past the limit: the connection is
  closed, the worker's memory does not grow and it keeps answering;
- NUL and bytes that are not UTF-8 in a JSON string, a query or a path parameter answer 422 in the one error
  format naming the field (they were a bare-text 500);
- the database made unreachable (the service's own connections cut by a proxy; the shared server is untouched)
  answers 503 with Retry-After and fails readiness, and the service recovers once it is back.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest

from tests.support.aftersales import create_module_database, drop_database
from tests.support.auth import auth_headers
from tests.support.infra import RUN_ID, Infra
from tests.support.processes import ServiceProcess, start_service, stop_service
from tests.support.tcp_proxy import TcpProxy
from tests.support.waiting import eventually

pytestmark = pytest.mark.e2e

MB = 1024 * 1024


class Leads:
    def __init__(self, service: ServiceProcess, proxy: TcpProxy) -> None:
        self.service, self.proxy = service, proxy
        self.client = httpx.AsyncClient(base_url=service.url, timeout=20, headers=auth_headers("manager"))


@pytest.fixture(scope="module")
async def leads(infra: Infra) -> AsyncIterator[Leads]:
    db_name, dsn = await create_module_database(infra, "hardening")
    url = urlsplit(dsn)
    proxy = TcpProxy(url.hostname or "127.0.0.1", url.port or 5432)
    await proxy.start()
    proxied = urlunsplit(url._replace(netloc=url.netloc.replace(f":{url.port}", f":{proxy.port}")))
    service = await start_service("leads", {
        **infra.kafka_env(), "SALESFLOW_TOPIC_PREFIX": f"t{RUN_ID}hard",
        "LEADS_DATABASE_URL": proxied, "LEADS_MAX_BODY_BYTES": str(MB),
    })
    leads = Leads(service, proxy)
    try:
        yield leads
    finally:
        await leads.client.aclose()
        await stop_service(service)
        await proxy.cut()
        await drop_database(infra, db_name)


def resident_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


async def stream_chunked_body(port: int, total: int, chunk: int) -> tuple[bytes, bool, int]:
    """POST a chunked body of ``total`` bytes, stopping when the server answers or closes; (response, whether the
    connection was reset, bytes sent)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    token = auth_headers("manager")["Authorization"]
    writer.write(f"POST /v1/leads HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: {token}\r\n"
                 "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n".encode())
    piece = f"{chunk:x}\r\n".encode() + b"x" * chunk + b"\r\n"
    sent = 0
    reset = False

    async def read_answer() -> bytes:
        # Until EOF or the reset that follows it: the server closes with our unsent chunks still on the way.
        nonlocal reset
        received = b""
        try:
            while data := await reader.read(65536):
                received += data
        except (ConnectionError, OSError):
            reset = True
        return received

    response_task = asyncio.create_task(read_answer())
    try:
        while sent < total and not response_task.done():
            writer.write(piece)
            await writer.drain()
            sent += chunk
    except (ConnectionError, OSError):
        reset = True  # the server closed the connection: what it should do
    response = await asyncio.wait_for(response_task, 30)
    with contextlib.suppress(Exception):
        writer.close()
    return response, reset, sent


async def test_a_300_mb_streamed_body_is_refused_at_the_limit_without_the_worker_growing(leads: Leads) -> None:
    pid = leads.service.process.pid
    before = resident_kib(pid)
    response, reset, sent = await stream_chunked_body(leads.service.port, 300 * MB, 256 * 1024)
    assert sent < 300 * MB, "the whole body was sent: the server kept reading"
    # The server answers 413 and closes with our next chunks unread, so its kernel resets the connection; a reset
    # that reaches this client before it has read the answer discards the answer (seen under load: an empty
    # reply, 2 runs in ~10). Then the refusal is the reset itself, before the body was sent; the 413's form is
    # also checked by test_a_declared_oversized_body_is_refused_before_it_is_sent and the unit tests.
    if response or not reset:
        head = response.split(b"\r\n\r\n", 1)[0].lower()
        assert head.startswith(b"http/1.1 413"), response[:500]
        assert b"connection: close" in head
        assert b"content-type: application/json" in head  # the error body itself: test_shared_http_hardening
    grown_mib = (resident_kib(pid) - before) / 1024
    assert grown_mib < 16, f"the worker grew by {grown_mib:.0f} MiB"
    assert (await leads.client.get("/health/live")).status_code == 200


async def test_a_declared_oversized_body_is_refused_before_it_is_sent(leads: Leads) -> None:
    # Only the headers go out: the answer must come without the server waiting for the 2 MiB it was promised.
    reader, writer = await asyncio.open_connection("127.0.0.1", leads.service.port)
    token = auth_headers("manager")["Authorization"]
    writer.write(f"POST /v1/leads HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: {token}\r\n"
                 f"Content-Type: application/json\r\nContent-Length: {2 * MB}\r\n"
                 "X-Correlation-Id: big-1\r\n\r\n".encode())
    await writer.drain()
    answer = await asyncio.wait_for(reader.read(), 30)  # the server closes after answering
    writer.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.lower().startswith(b"http/1.1 413"), answer[:300]
    assert b'"correlation_id":"big-1"' in body


@pytest.mark.parametrize(("method", "url", "body", "field"), [
    ("POST", "/v1/leads", b'{"name": "a\\u0000b", "phone": "13812345678", "channel": "showroom"}', "name"),
    ("POST", "/v1/leads", b'{"name": "\xc3\x28", "phone": "13812345678", "channel": "showroom"}', "body"),
    ("GET", "/v1/leads?owner_id=c1%00", None, "owner_id"),
    ("GET", "/v1/customers/leads?phone=%ff%fe", None, "phone"),
    ("GET", "/v1/leads/L-%00-1", None, "path"),
])
async def test_nul_and_non_utf8_input_is_a_422_naming_the_field(
    leads: Leads, method: str, url: str, body: bytes | None, field: str,
) -> None:
    response = await leads.client.request(method, url, content=body,
                                          headers={"content-type": "application/json", "x-correlation-id": "c-42"})
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert (error["code"], error["fields"][0]["field"], error["correlation_id"]) == ("validation_error", field, "c-42")


async def test_an_unreachable_database_answers_503_with_retry_after_and_fails_readiness(leads: Leads) -> None:
    assert (await leads.client.get("/health/ready")).status_code == 200
    await leads.proxy.cut()
    try:
        response = await eventually(lambda: leads.client.get("/v1/leads/L-unknown"),
                                    until=lambda r: r.status_code != 404, timeout=30, what="the outage to show")
        assert response.status_code == 503, response.text
        assert int(response.headers["retry-after"]) > 0
        assert response.json()["error"]["code"] == "database_unavailable"
        capture = await leads.client.post("/v1/leads", json={"name": "张三", "phone": "13812345670",
                                                             "channel": "showroom"})
        assert capture.status_code == 503, capture.text
        ready = await leads.client.get("/health/ready")
        assert ready.status_code == 503
        assert ready.json()["checks"]["database"] is False
    finally:
        await leads.proxy.restore()
    await eventually(lambda: leads.client.get("/health/ready"), until=lambda r: r.status_code == 200, timeout=60,
                     what="readiness after the database is back")
    response = await eventually(lambda: leads.client.get("/v1/leads/L-unknown"),
                                until=lambda r: r.status_code != 503, timeout=30, what="queries after recovery")
    assert response.status_code == 404
