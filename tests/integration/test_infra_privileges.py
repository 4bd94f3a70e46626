"""Least privilege on the infrastructure (DESIGN §8, issue 11 item 7): the broker refuses a foreign principal's
publish, and the services connect to PostgreSQL as roles that are no superuser and reach only their own database.

Credentials come from the environment contract (``stack.sh env``): the services' own Kafka principals
(``<NAME>_KAFKA_SASL_*``) and database URLs (``<NAME>_DATABASE_URL``). Kafka ACLs for this run's unique topic prefix
are written here by the admin principal and removed afterwards; the stack's own ACLs name the default prefix
``salesflow`` (deploy/README.md) and are checked with a publish that they refuse, so nothing is written there.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest
from aiokafka.errors import KafkaConnectionError, TopicAuthorizationFailedError

from shared.messaging.topics import ensure_topics
from tests.support.infra import Infra
from tests.support.kafka_acls import own_principal, publish_one, topic_acls

pytestmark = pytest.mark.integration

SERVICES = ("leads", "orders", "aftersales", "reporting")


def service_dsn(service: str) -> str:
    try:
        return os.environ[f"{service.upper()}_DATABASE_URL"]
    except KeyError as missing:
        pytest.fail(f"{missing} is not set: run under `make test` (eval \"$(deploy/native/stack.sh env)\")")


@pytest.fixture
async def leads_topic(infra: Infra, unique: str) -> AsyncIterator[str]:
    """``<unique>.leads`` with the ACLs the stack gives ``salesflow.leads``: Write and Describe for User:leads."""
    topic = f"{unique}.leads"
    leads = own_principal(infra, "leads").username
    assert leads is not None
    await ensure_topics(infra.kafka, [topic], partitions=1)
    async with topic_acls(infra, [(leads, topic)]):
        yield topic


async def test_the_broker_refuses_a_foreign_principals_publish_to_the_leads_topic(
    infra: Infra, leads_topic: str
) -> None:
    for foreign in ("orders", "aftersales", "reporting"):
        with pytest.raises(TopicAuthorizationFailedError):
            await publish_one(own_principal(infra, foreign), leads_topic)
    await publish_one(own_principal(infra, "leads"), leads_topic)


async def test_the_stacks_acls_refuse_a_foreign_publish_to_salesflow_leads(infra: Infra) -> None:
    # Refused, so nothing lands in the real topic; that leads may write it is the fixture's ACL, proven above.
    with pytest.raises(TopicAuthorizationFailedError):
        await publish_one(own_principal(infra, "reporting"), "salesflow.leads")


async def test_a_wrong_password_does_not_get_in(
    infra: Infra, leads_topic: str, caplog: pytest.LogCaptureFixture
) -> None:
    impostor = own_principal(infra, "leads").as_principal("leads", "not-the-password")
    with pytest.raises(KafkaConnectionError):
        await publish_one(impostor, leads_topic)
    assert "SaslAuthenticationFailed" in caplog.text


@pytest.mark.parametrize("service", SERVICES)
async def test_a_service_connects_as_its_own_role_without_superuser(service: str) -> None:
    conn = await asyncpg.connect(service_dsn(service))
    try:
        role = await conn.fetchrow(
            "SELECT current_user AS name, rolsuper, rolcreatedb, rolcreaterole, rolbypassrls, "
            "current_setting('is_superuser') AS is_superuser FROM pg_roles WHERE rolname = current_user")
        assert role["name"] == f"salesflow_{service}"
        assert (role["rolsuper"], role["rolcreatedb"], role["rolcreaterole"], role["rolbypassrls"]) == (
            False, False, False, False)
        assert role["is_superuser"] == "off"
        owner = await conn.fetchval(
            "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = current_database()")
        assert owner == f"salesflow_{service}"
        # What the relay and the timers rely on works without superuser.
        assert await conn.fetchval("SELECT pg_snapshot_xmin(pg_current_snapshot()) IS NOT NULL")
        assert await conn.fetchval("SELECT pg_try_advisory_lock(424242)")
        await conn.add_listener("sf_events", lambda *_: None)
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute("CREATE DATABASE salesflow_not_allowed")
    finally:
        await conn.close()


@pytest.mark.parametrize("service", SERVICES)
async def test_a_services_role_cannot_open_another_services_database(service: str) -> None:
    other = SERVICES[(SERVICES.index(service) + 1) % len(SERVICES)]
    url = urlsplit(service_dsn(service))
    foreign = urlunsplit(url._replace(path=f"/salesflow_{other}"))
    with pytest.raises(asyncpg.InsufficientPrivilegeError, match=f"salesflow_{other}"):
        await asyncpg.connect(foreign)


async def test_tests_and_their_services_run_without_superuser_too(infra: Infra) -> None:
    conn = await asyncpg.connect(infra.pg_admin_dsn)
    try:
        if infra.origin == "testcontainers":
            pytest.fail("the postgres image's POSTGRES_USER is a superuser; the native stack's admin is not")
        assert await conn.fetchval("SELECT current_setting('is_superuser')") == "off"
        assert await conn.fetchval("SELECT rolcreatedb FROM pg_roles WHERE rolname = current_user")
    finally:
        await conn.close()


@pytest.mark.parametrize("service", SERVICES)
async def test_a_service_role_sees_which_database_another_role_s_transaction_runs_in(
    service: str, kernel_db: str
) -> None:
    # The relay's horizon (shared/sql/rules/sf_feed_horizon.sql) leaves out transactions of other databases; it
    # must see them as such without pg_read_all_stats, or it would hold events back behind them again.
    other = await asyncpg.connect(kernel_db)
    conn = await asyncpg.connect(service_dsn(service))
    try:
        async with other.transaction():
            xid = await other.fetchval("SELECT (pg_current_xact_id()::text::bigint % 4294967296)")
            seen = await conn.fetchval(
                "SELECT d.datname FROM pg_stat_get_activity(NULL) AS a JOIN pg_database AS d ON d.oid = a.datid "
                "WHERE a.backend_xid::text::bigint = $1", xid)
        assert seen == kernel_db.rsplit("/", 1)[1]
    finally:
        await conn.close()
        await other.close()
