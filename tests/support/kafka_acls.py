"""Kafka principals and ACLs in tests: the stack's own principals (``stack.sh env``), a publish as one of them,
and ACLs written for a test's unique topic prefix (which the stack's ACLs, written for ``salesflow``, never name).
aiokafka's admin client speaks CreateAcls/DeleteAcls but has no public method for them."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.protocol.admin import CreateAclsRequest, DeleteAclsRequest

from shared.messaging.connection import KafkaConnection
from tests.support.infra import Infra

# Kafka protocol codes (org.apache.kafka.common.acl / resource): aiokafka has the requests but no enums for them.
TOPIC, LITERAL, ALLOW = 2, 3, 3
WRITE, DESCRIBE = 4, 8


def own_principal(infra: Infra, name: str) -> KafkaConnection:
    """A principal of the stack as ``stack.sh env`` gives it: ``<NAME>_KAFKA_SASL_USERNAME``/``_PASSWORD``, the
    name upper-cased with ``-`` as ``_`` (``call-center`` → ``CALL_CENTER_``)."""
    if infra.kafka.security_protocol == "PLAINTEXT":
        pytest.fail(f"the broker at {infra.kafka.bootstrap_servers} takes PLAINTEXT: no principals, no ACLs "
                    "(the native stack and compose run SASL/SCRAM; see deploy/README.md)")
    prefix = name.upper().replace("-", "_")
    try:
        return infra.kafka.as_principal(os.environ[f"{prefix}_KAFKA_SASL_USERNAME"],
                                        os.environ[f"{prefix}_KAFKA_SASL_PASSWORD"])
    except KeyError as missing:
        pytest.fail(f"{missing} is not set: run under `make test` (eval \"$(deploy/native/stack.sh env)\")")


async def publish_one(kafka: KafkaConnection, topic: str, value: bytes = b"probe", *, key: bytes = b"probe",
                      headers: Sequence[tuple[str, bytes]] = ()) -> None:
    producer = AIOKafkaProducer(**kafka.client_options(), enable_idempotence=True, acks="all",
                                request_timeout_ms=20_000)
    try:
        await producer.start()
        await producer.send_and_wait(topic, value, key=key, headers=list(headers))
    finally:
        await producer.stop()


def acl(request: type[CreateAclsRequest] | type[DeleteAclsRequest], topic: str, principal: str,
        operation: int) -> CreateAclsRequest | DeleteAclsRequest:
    return request(resource_type=TOPIC, resource_name=topic, resource_pattern_type_filter=LITERAL,
                   principal=f"User:{principal}", host="*", operation=operation, permission_type=ALLOW)


@asynccontextmanager
async def topic_acls(infra: Infra, grants: Sequence[tuple[str, str]],
                     operations: Sequence[int] = (WRITE, DESCRIBE)) -> AsyncIterator[None]:
    """Allow each (principal, topic) of ``grants`` the ``operations`` while the context lasts (as the admin)."""
    admin = AIOKafkaAdminClient(**infra.kafka.client_options())
    await admin.start()
    try:
        for principal, topic in grants:
            for operation in operations:
                response = await admin._send_request(acl(CreateAclsRequest, topic, principal, operation))
                assert [error for error, _ in response.creation_responses] == [0]
        yield
        for principal, topic in grants:
            for operation in operations:
                await admin._send_request(acl(DeleteAclsRequest, topic, principal, operation))
    finally:
        await admin.close()
