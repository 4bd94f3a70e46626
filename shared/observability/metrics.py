"""The Prometheus metrics every service exposes on ``/metrics`` (prometheus-client).

One process serves one registry. With several worker processes (``<SERVICE>_WORKERS``) each worker writes its
samples to memory-mapped files in a directory shared by the workers (prometheus-client's multiprocess mode): a
scrape that lands on any worker reads them all, so counters and histograms add up over the workers. The mode must
be chosen before the first metric exists, so the metrics are created lazily by :func:`service_metrics` (first
called inside a worker, after :func:`enable_multiprocess` ran in the parent) rather than at import.

Gauges say how they combine over workers: ``livesum`` for per-process quantities (pool connections), and
``mostrecent`` for lags sampled from the database or the broker (every worker would measure the same value; the
freshest sample wins).
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
    values,
)

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

# HTTP latency buckets: the targets are p99 ≤ 20 ms for commands and ≤ 100 ms for reports (DESIGN §6).
_HTTP_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)
# Event → read model: the target is p99 ≤ 100 ms; a rebuild or an outage shows as minutes.
_LAG_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 15.0, 60.0, 300.0, 3600.0)


@dataclass(frozen=True)
class ServiceMetrics:
    http_request_duration: Histogram
    commands: Counter
    relay_published: Counter
    relay_events_behind: Gauge
    relay_oldest_unpublished_age: Gauge
    consumer_lag: Gauge
    consumer_events: Counter
    projection_lag: Histogram
    dead_letters_open: Gauge
    timers_due: Gauge
    timers_late: Gauge
    pool_connections: Gauge
    sample_errors: Counter


def enable_multiprocess(directory: Path) -> None:
    """Switch prometheus-client to multiprocess mode with an empty ``directory``. Call in the parent before the
    workers fork and before any metric exists (a metric created earlier would stay single-process)."""
    if service_metrics.cache_info().currsize:
        raise RuntimeError("metrics already exist in single-process mode")
    shutil.rmtree(directory, ignore_errors=True)  # samples of a previous run must not add to this one's
    directory.mkdir(parents=True)
    os.environ[MULTIPROC_ENV] = str(directory)
    values.ValueClass = values.get_value_class()  # type: ignore[no-untyped-call]


def multiprocess_enabled() -> bool:
    return bool(os.environ.get(MULTIPROC_ENV))


def mark_worker_dead(pid: int) -> None:
    """Drop a dead worker's ``live*`` gauges (its counters and histograms still count)."""
    if multiprocess_enabled():
        multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]


@cache
def service_metrics() -> ServiceMetrics:
    """The metrics of this process (created on first use)."""
    return ServiceMetrics(
        http_request_duration=Histogram(
            "salesflow_http_request_duration_seconds",
            "HTTP requests by method, route template and status (its _count is the request rate)",
            ["method", "route", "status"], buckets=_HTTP_BUCKETS),
        commands=Counter(
            "salesflow_commands", "Commands (HTTP writes) by route template and outcome",
            ["command", "outcome"]),
        relay_published=Counter("salesflow_relay_published_events", "Events the relay published to Kafka",
                                ["relay"]),
        relay_events_behind=Gauge(
            "salesflow_relay_events_behind", "Committed events not yet published (after the relay's checkpoint)",
            ["relay"], multiprocess_mode="mostrecent"),
        relay_oldest_unpublished_age=Gauge(
            "salesflow_relay_oldest_unpublished_age_seconds",
            "Age of the oldest committed event not yet published (0 when none waits)",
            ["relay"], multiprocess_mode="mostrecent"),
        consumer_lag=Gauge(
            "salesflow_consumer_lag_messages",
            "Messages in a partition after the consumer group's committed offset",
            ["group", "topic", "partition"], multiprocess_mode="mostrecent"),
        consumer_events=Counter(
            "salesflow_consumer_events", "Consumed events by outcome (applied, duplicate, ignored, dead_lettered)",
            ["consumer", "outcome"]),
        projection_lag=Histogram(
            "salesflow_projection_lag_seconds",
            "From an event's recording in its event store to its effect committed here (oldest event per batch)",
            ["consumer"], buckets=_LAG_BUCKETS),
        dead_letters_open=Gauge("salesflow_dead_letters_open", "Open dead letters", ["consumer"],
                                multiprocess_mode="mostrecent"),
        timers_due=Gauge("salesflow_timers_due", "Pending timers whose time has come", [],
                         multiprocess_mode="mostrecent"),
        timers_late=Gauge("salesflow_timers_late_seconds", "How far the most overdue pending timer is past due",
                          [], multiprocess_mode="mostrecent"),
        pool_connections=Gauge("salesflow_db_pool_connections", "Database pool connections by state",
                               ["state"], multiprocess_mode="livesum"),
        sample_errors=Counter("salesflow_metrics_sample_errors", "Scrapes whose lag sampling failed", ["probe"]),
    )


def render() -> tuple[bytes, str]:
    """The exposition (text format) of this process, or of every worker in multiprocess mode."""
    if multiprocess_enabled():
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
