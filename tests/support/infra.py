"""Where the tests get real Kafka and PostgreSQL from (DESIGN §4, one environment contract):

1. ``KAFKA_BOOTSTRAP_SERVERS`` and ``SALESFLOW_PG_ADMIN_DSN`` set → use them (``make test`` sets them);
2. else, a Docker daemon answers → testcontainers;
3. else → the native stack (``deploy/native/stack.sh up``: real Kafka from Maven Central, Debian's PostgreSQL).
"""

from __future__ import annotations

import os
import shlex
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Infra:
    kafka_bootstrap: str
    pg_admin_dsn: str  # a role that may CREATE DATABASE, connected to a maintenance database
    origin: str

    def dsn_for(self, database: str) -> str:
        base, _, _ = self.pg_admin_dsn.rpartition("/")
        return f"{base}/{database}"


def _docker_answers() -> bool:
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


@contextmanager
def _containers() -> Iterator[Infra]:
    # Not exercised on the development machines (they have no Docker engine): written against testcontainers
    # 4.15's documented API. KafkaContainer's readiness check expects the Confluent image it defaults to.
    from testcontainers.community.kafka import KafkaContainer
    from testcontainers.community.postgres import PostgresContainer

    pg_container = PostgresContainer("postgres:15", username="salesflow", password="salesflow", dbname="postgres",
                                     driver=None)
    with pg_container as pg, KafkaContainer().with_kraft() as kafka:
        yield Infra(kafka.get_bootstrap_server(), pg.get_connection_url(), "testcontainers")


def _native() -> Infra:
    stack = REPO / "deploy" / "native" / "stack.sh"
    subprocess.run(["bash", str(stack), "up"], check=True)
    env_lines = subprocess.run(["bash", str(stack), "env"], check=True, capture_output=True, text=True).stdout
    values = {}
    for line in env_lines.splitlines():
        if line.startswith("export "):
            key, _, value = line[len("export "):].partition("=")
            values[key] = shlex.split(value)[0] if value else ""
    return Infra(values["KAFKA_BOOTSTRAP_SERVERS"], values["SALESFLOW_PG_ADMIN_DSN"], "native")


@contextmanager
def provide_infra() -> Iterator[Infra]:
    kafka, pg = os.environ.get("KAFKA_BOOTSTRAP_SERVERS"), os.environ.get("SALESFLOW_PG_ADMIN_DSN")
    if kafka and pg:
        yield Infra(kafka, pg, "environment")
    elif _docker_answers():
        with _containers() as infra:
            yield infra
    else:
        yield _native()


RUN_ID = uuid.uuid4().hex[:8]
