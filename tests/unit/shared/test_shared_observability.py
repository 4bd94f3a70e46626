"""The observability middleware on a small app (no I/O): metrics by route template, command outcomes, the
correlation id, the access-log line with personal data masked, the server span only while tracing is on; and
prometheus-client's multiprocess mode adding up samples of forked workers."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import structlog
from fastapi import FastAPI, Header
from fastapi.responses import JSONResponse
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from prometheus_client import REGISTRY

from shared.logs import configure_logging
from shared.observability import middleware, tracing
from shared.observability.endpoint import install_observability
from shared.observability.middleware import command_outcome
from shared.runtime.http import install_error_handlers


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


@pytest.fixture
def json_logs(capsys: pytest.CaptureFixture[str]) -> Iterator[pytest.CaptureFixture[str]]:
    """Yields capsys; the test calls start_json_logging() in its body, where sys.stderr is capsys's stream."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        yield capsys
    finally:
        structlog.reset_defaults()
        structlog.contextvars.clear_contextvars()
        root.handlers[:] = handlers
        root.setLevel(level)


def start_json_logging(monkeypatch: pytest.MonkeyPatch) -> None:
    configure_logging("obs-test", json=True)
    # A fresh logger: the module's may have been bound (and cached) under an earlier configuration.
    monkeypatch.setattr(middleware, "log", structlog.get_logger("salesflow.access"))


def app() -> FastAPI:
    application = FastAPI()
    sampled: list[bool] = []

    async def sample_lags() -> None:
        sampled.append(True)

    install_error_handlers(application)  # the input guard echoes the correlation id
    install_observability(application, sample_lags)

    @application.post("/v1/things/{thing_id}", status_code=201)
    async def create(thing_id: str, x_correlation_id: str | None = Header(None)) -> dict[str, Any]:
        if thing_id == "taken":
            return JSONResponse(status_code=409, content={"error": "taken"})  # type: ignore[return-value]
        if thing_id == "boom":
            raise RuntimeError("bug")
        return {"thing_id": thing_id, "correlation_id": x_correlation_id}

    application.state.sampled = sampled
    return application


async def call(application: FastAPI, method: str, path: str, **kwargs: Any) -> httpx.Response:
    transport = httpx.ASGITransport(app=application, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        return await client.request(method, path, **kwargs)


async def test_requests_are_counted_by_route_template_and_status_and_writes_by_outcome() -> None:
    application = app()
    route = "/v1/things/{thing_id}"
    before = {s: sample("salesflow_http_request_duration_seconds_count", method="POST", route=route, status=s)
              for s in ("201", "409", "500")}
    accepted = sample("salesflow_commands_total", command=f"POST {route}", outcome="accepted")
    conflicts = sample("salesflow_commands_total", command=f"POST {route}", outcome="conflict")
    for thing in ("a", "b", "taken", "boom"):
        await call(application, "POST", f"/v1/things/{thing}")
    assert (await call(application, "GET", "/nowhere/12345")).status_code == 404
    after = {s: sample("salesflow_http_request_duration_seconds_count", method="POST", route=route, status=s)
             for s in ("201", "409", "500")}
    assert {s: after[s] - before[s] for s in after} == {"201": 2, "409": 1, "500": 1}
    assert sample("salesflow_commands_total", command=f"POST {route}", outcome="accepted") - accepted == 2
    assert sample("salesflow_commands_total", command=f"POST {route}", outcome="conflict") - conflicts == 1
    assert sample("salesflow_http_request_duration_seconds_count", method="GET", route="unmatched",
                  status="404") >= 1


async def test_the_correlation_id_is_kept_or_made_and_reaches_the_handler_and_the_response() -> None:
    application = app()
    given = await call(application, "POST", "/v1/things/a", headers={"x-correlation-id": "corr-1"})
    assert given.headers["x-correlation-id"] == "corr-1"
    assert given.json()["correlation_id"] == "corr-1"
    made = await call(application, "POST", "/v1/things/a")
    assert made.json()["correlation_id"] == made.headers["x-correlation-id"]
    assert len(made.headers["x-correlation-id"]) == 36
    unacceptable = await call(application, "POST", "/v1/things/a", headers={"x-correlation-id": "x" * 500})
    assert unacceptable.json()["correlation_id"] == unacceptable.headers["x-correlation-id"] != "x" * 500
    assert made.headers.get_list("x-correlation-id") == [made.headers["x-correlation-id"]]  # echoed once


async def test_one_access_log_line_per_request_with_personal_data_masked(
    json_logs: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    start_json_logging(monkeypatch)
    application = app()
    await call(application, "POST", "/v1/things/13812345678", headers={"x-correlation-id": "corr-2"})
    await call(application, "GET", "/health/live")  # probes log at debug: not at the default level
    lines = [json.loads(line) for line in json_logs.readouterr().err.splitlines() if line.strip()]
    access = [line for line in lines if line["event"] == "http.request"]
    assert len(access) == 1
    [line] = access
    assert line["route"] == "/v1/things/{thing_id}"
    assert line["status"] == 201
    assert line["correlation_id"] == "corr-2"
    assert line["method"] == "POST"
    assert line["duration_ms"] >= 0
    assert "13812345678" not in json.dumps(line)
    assert line["path"] == "/v1/things/***5678"


async def test_metrics_answers_the_text_format_after_sampling_the_lags() -> None:
    application = app()
    await call(application, "POST", "/v1/things/a")
    response = await call(application, "GET", "/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert 'salesflow_http_request_duration_seconds_count{method="POST",route="/v1/things/{thing_id}"' in response.text
    assert application.state.sampled == [True]


@pytest.mark.parametrize(("status", "outcome"), [
    (200, "accepted"), (201, "accepted"), (400, "invalid"), (401, "denied"), (404, "not_found"),
    (409, "conflict"), (413, "invalid"), (422, "invalid"), (429, "rejected"), (500, "failed"), (503, "unavailable"),
])
def test_a_status_names_a_command_outcome(status: int, outcome: str) -> None:
    assert command_outcome(status) == outcome


def test_forked_workers_samples_add_up_in_one_scrape(tmp_path: Any) -> None:
    # In a fresh interpreter: multiprocess mode must be chosen before any metric exists.
    script = textwrap.dedent(f"""
        import os, sys
        from pathlib import Path
        from shared.observability.metrics import enable_multiprocess, render, service_metrics, mark_worker_dead
        enable_multiprocess(Path({str(tmp_path / "metrics")!r}))
        children = []
        for n in (2, 3):
            pid = os.fork()
            if pid == 0:
                m = service_metrics()
                m.commands.labels("POST /x", "accepted").inc(n)
                m.pool_connections.labels("max").set(10)
                os._exit(0)
            children.append(pid)
        for pid in children:
            os.waitpid(pid, 0)
        body = render()[0].decode()
        print(body)
        mark_worker_dead(children[0])
        print("AFTER-DEATH")
        print(render()[0].decode())
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True)
    before, after = result.stdout.split("AFTER-DEATH")
    assert 'salesflow_commands_total{command="POST /x",outcome="accepted"} 5.0' in before
    assert 'salesflow_db_pool_connections{state="max"} 20.0' in before  # livesum over both workers
    assert 'salesflow_db_pool_connections{state="max"} 10.0' in after  # a dead worker's live gauge is dropped
    assert 'salesflow_commands_total{command="POST /x",outcome="accepted"} 5.0' in after  # its counts stay


async def test_a_request_makes_a_server_span_only_while_tracing_is_on(monkeypatch: pytest.MonkeyPatch) -> None:
    spans = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    with tracing.using(provider):
        assert (await call(app(), "POST", "/v1/things/t-1")).status_code == 201
    [span] = spans.get_finished_spans()
    assert (span.name, span.kind) == ("POST /v1/things/{thing_id}", SpanKind.SERVER)
    assert span.attributes is not None
    assert span.attributes["http.response.status_code"] == 201

    # Off (no provider installed): the middleware does not even ask for a tracer.
    asked: list[bool] = []
    monkeypatch.setattr(tracing, "tracer", lambda: asked.append(True) or provider.get_tracer("salesflow"))
    assert (await call(app(), "POST", "/v1/things/t-2")).status_code == 201
    assert asked == []
    assert len(spans.get_finished_spans()) == 1
    provider.shutdown()
