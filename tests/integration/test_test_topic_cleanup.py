"""The suite deletes the topics it made (tests/conftest.py, session teardown): the shared development broker keeps
a file handle per partition segment and stopped with "Too many open files" after ~20k test partitions piled up."""

from __future__ import annotations

import pytest
from aiokafka.admin import AIOKafkaAdminClient

from shared.messaging.topics import ensure_topics
from tests.support.infra import Infra
from tests.support.kafka import delete_topics_starting_with
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration


async def _topics(infra: Infra) -> set[str]:
    admin = AIOKafkaAdminClient(**infra.kafka.client_options())
    await admin.start()
    try:
        return set(await admin.list_topics())
    finally:
        await admin.close()


async def test_only_the_topics_with_the_prefix_are_deleted(infra: Infra, unique: str) -> None:
    doomed = [f"{unique}a.leads", f"{unique}a.leads.dlq", f"{unique}a.orders"]
    # Starts like the doomed ones except for the last character of the prefix: a prefix, not a pattern.
    kept = f"{unique}b.leads"
    await ensure_topics(infra.kafka, [*doomed, kept], partitions=1)
    assert set(doomed) | {kept} <= await _topics(infra)

    assert await delete_topics_starting_with(infra.kafka, f"{unique}a") == len(doomed)

    # The controller commits the deletion before answering; the broker's metadata follows a moment later.
    left = await eventually(lambda: _topics(infra), until=lambda names: not set(doomed) & names,
                            what="the doomed topics to leave the metadata")
    assert kept in left
    assert await delete_topics_starting_with(infra.kafka, f"{unique}b") == 1


async def test_an_empty_prefix_is_refused(infra: Infra) -> None:
    with pytest.raises(ValueError, match="empty prefix"):
        await delete_topics_starting_with(infra.kafka, "")
