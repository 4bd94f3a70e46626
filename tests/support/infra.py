"""Where the tests get real Kafka and PostgreSQL from (DESIGN §4, one environment contract):

1. ``KAFKA_BOOTSTRAP_SERVERS`` and ``SALESFLOW_PG_ADMIN_DSN`` set → use them (``make test`` sets them);
2. else, a Docker daemon answers → testcontainers;
3. else → the native stack (``deploy/native/stack.sh up``: real Kafka from Maven Central, Debian's PostgreSQL).

Tests are the admin on both: the PostgreSQL admin role creates each test's throw-away databases (so it owns them,
and the services a test starts connect with it, not a superuser); the Kafka admin principal (a super user) reads
and writes the test's own topics, whose unique prefixes no ACL names. A service a test starts signs in as the
admin too (``kafka_env()``; tests/support/processes.py drops the services' own principals inherited from
``stack.sh env``). The ACL test (tests/integration/test_infra_privileges.py) writes principal ACLs for its prefix.
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

from shared.messaging.connection import KafkaConnection

REPO = Path(__file__).resolve().parents[2]


KAFKA_ENV = ("KAFKA_BOOTSTRAP_SERVERS", "KAFKA_SECURITY_PROTOCOL", "KAFKA_SASL_MECHANISM", "KAFKA_SASL_USERNAME",
             "KAFKA_SASL_PASSWORD")


def kafka_from(values: dict[str, str]) -> KafkaConnection:
    """The connection the environment contract describes (PLAINTEXT when it names no security protocol)."""
    protocol = values.get("KAFKA_SECURITY_PROTOCOL") or "PLAINTEXT"
    return KafkaConnection(values["KAFKA_BOOTSTRAP_SERVERS"], protocol,  # type: ignore[arg-type]
                           values.get("KAFKA_SASL_MECHANISM") or "SCRAM-SHA-512",  # type: ignore[arg-type]
                           values.get("KAFKA_SASL_USERNAME"), values.get("KAFKA_SASL_PASSWORD"))


@dataclass(frozen=True)
class Infra:
    kafka: KafkaConnection  # signed in as the admin principal
    pg_admin_dsn: str  # a role that may CREATE DATABASE, connected to a maintenance database
    origin: str

    def dsn_for(self, database: str) -> str:
        base, _, _ = self.pg_admin_dsn.rpartition("/")
        return f"{base}/{database}"

    def kafka_env(self) -> dict[str, str]:
        """The Kafka part of the environment contract, for a service process a test starts (as the admin)."""
        k = self.kafka
        env = {"KAFKA_BOOTSTRAP_SERVERS": k.bootstrap_servers, "KAFKA_SECURITY_PROTOCOL": k.security_protocol}
        if k.username is not None and k.password is not None:
            env |= {"KAFKA_SASL_MECHANISM": k.sasl_mechanism, "KAFKA_SASL_USERNAME": k.username,
                    "KAFKA_SASL_PASSWORD": k.password}
        return env


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
        # No SASL here (the image's listeners are PLAINTEXT) and the postgres image's user is a superuser.
        yield Infra(KafkaConnection(kafka.get_bootstrap_server()), pg.get_connection_url(), "testcontainers")


def _native() -> Infra:
    stack = REPO / "deploy" / "native" / "stack.sh"
    subprocess.run(["bash", str(stack), "up"], check=True)
    env_lines = subprocess.run(["bash", str(stack), "env"], check=True, capture_output=True, text=True).stdout
    values = {}
    for line in env_lines.splitlines():
        if line.startswith("export "):
            key, _, value = line[len("export "):].partition("=")
            values[key] = shlex.split(value)[0] if value else ""
    return Infra(kafka_from(values), values["SALESFLOW_PG_ADMIN_DSN"], "native")


@contextmanager
def provide_infra() -> Iterator[Infra]:
    kafka, pg = os.environ.get("KAFKA_BOOTSTRAP_SERVERS"), os.environ.get("SALESFLOW_PG_ADMIN_DSN")
    if kafka and pg:
        yield Infra(kafka_from({k: os.environ[k] for k in KAFKA_ENV if k in os.environ}), pg, "environment")
    elif _docker_answers():
        with _containers() as infra:
            yield infra
    else:
        yield _native()


RUN_ID = uuid.uuid4().hex[:8]
