"""One trace spans leads → Kafka → reporting: the capture's HTTP span, the relay's publish span (whose context
travels in the Kafka ``traceparent`` header) and reporting's process span share a trace id, parent to child, and
reporting's batch span links to the message. Real PostgreSQL and Kafka; both services' apps run in this process
so the SDK's in-memory exporter sees every span."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AsyncExitStack

import httpx
import pytest
from fastapi import FastAPI
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from services.leads.main import LeadsSettings
from services.leads.main import create_app as create_leads
from services.reporting.main import create_app as create_reporting
from services.reporting.wiring import ReportingSettings
from shared.observability import tracing
from shared.settings import KafkaSettings
from tests.conftest import CreateDatabase
from tests.support.auth import auth_env, auth_headers
from tests.support.infra import Infra
from tests.support.kafka import header, read_topic
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration


@pytest.fixture
def exporter() -> Iterator[InMemorySpanExporter]:
    spans = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    with tracing.using(provider):
        yield spans
    provider.shutdown()


async def serving(stack: AsyncExitStack, app: FastAPI) -> httpx.AsyncClient:
    await stack.enter_async_context(app.router.lifespan_context(app))
    return await stack.enter_async_context(
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test", timeout=20,
                          headers=auth_headers("director")))


def named(spans: tuple[ReadableSpan, ...], suffix: str, kind: SpanKind) -> list[ReadableSpan]:
    return [s for s in spans if s.name.endswith(suffix) and s.kind == kind]


async def test_one_trace_spans_leads_kafka_and_reporting(
    infra: Infra, create_database: CreateDatabase, unique: str, exporter: InMemorySpanExporter,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in auth_env().items():  # the apps trust this process's test issuer
        monkeypatch.setenv(name, value)
    kafka = KafkaSettings(kafka_bootstrap_servers=infra.kafka.bootstrap_servers,
                          kafka_security_protocol=infra.kafka.security_protocol,
                          kafka_sasl_mechanism=infra.kafka.sasl_mechanism, kafka_sasl_username=infra.kafka.username,
                          kafka_sasl_password=infra.kafka.password, salesflow_topic_prefix=unique)
    leads_app = create_leads(LeadsSettings(database_url=await create_database("leads"),
                                           relay_poll_interval=0.2), kafka)
    reporting_app = create_reporting(ReportingSettings(database_url=await create_database("reporting")), kafka)
    async with AsyncExitStack() as stack:
        leads = await serving(stack, leads_app)
        await serving(stack, reporting_app)
        response = await leads.post("/v1/leads", json={"name": "赵六", "phone": "13900002222", "channel": "website"})
        assert response.status_code == 201, response.text

        [command] = named(exporter.get_finished_spans(), "POST /v1/leads", SpanKind.SERVER)
        trace_id = command.context.trace_id
        spans = await eventually(
            lambda: _finished(exporter), until=lambda spans: any(
                s.context.trace_id == trace_id for s in named(spans, ".leads process", SpanKind.CONSUMER)
                if s.attributes and s.attributes.get("messaging.consumer.group.name") == "reporting"),
            timeout=60, what="reporting's process span in the capture's trace")

    in_trace = [s for s in spans if s.context.trace_id == trace_id]
    publishes = named(tuple(in_trace), ".leads publish", SpanKind.PRODUCER)
    assert publishes, [s.name for s in in_trace]
    assert all(p.parent is not None and p.parent.span_id == command.context.span_id for p in publishes)
    publish_ids = {p.context.span_id for p in publishes}
    processed = [s for s in named(tuple(in_trace), ".leads process", SpanKind.CONSUMER)
                 if s.attributes and s.attributes.get("messaging.consumer.group.name") == "reporting"]
    assert processed
    assert all(s.parent is not None and s.parent.span_id in publish_ids for s in processed)
    # Reporting's batch span is in a trace of its own, linked to the messages it applied.
    batches = [s for s in named(spans, "reporting receive", SpanKind.CONSUMER)
               if any(link.context.span_id in publish_ids for link in s.links)]
    assert batches

    # What travelled through Kafka: the relay's span context in the traceparent header.
    records = await read_topic(infra.kafka, kafka.topic("leads"), expect=len(publishes))
    carried = {header(r, "traceparent") for r in records}
    assert {tracing.traceparent_of_context(p.context) for p in publishes} <= carried


async def _finished(exporter: InMemorySpanExporter) -> tuple[ReadableSpan, ...]:
    return exporter.get_finished_spans()
