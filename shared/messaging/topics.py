"""Topic naming and creation."""

from __future__ import annotations

from aiokafka import TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from shared.messaging.connection import KafkaConnection

DLQ_SUFFIX = ".dlq"


def dead_letter_topic(topic: str) -> str:
    """The dead-letter topic beside a topic: ``salesflow.leads`` → ``salesflow.leads.dlq``."""
    return topic + DLQ_SUFFIX


async def ensure_topics(kafka: KafkaConnection, topics: list[str], *, partitions: int = 3) -> None:
    """Create topics that do not exist yet, with unlimited retention: read models are rebuilt from the topics,
    so the history must stay (DESIGN §3.7). The principal needs Create on each topic that is missing."""
    admin = AIOKafkaAdminClient(**kafka.client_options())
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [
            NewTopic(name, num_partitions=partitions, replication_factor=1,
                     topic_configs={"retention.ms": "-1", "retention.bytes": "-1"})
            for name in topics if name not in existing
        ]
        if missing:
            response = await admin.create_topics(missing)
            for topic_error in response.topic_errors:
                name, code = topic_error[0], topic_error[1]
                # Another process may have created it in the meantime: that is what we wanted.
                if code not in (0, TopicAlreadyExistsError.errno):
                    raise RuntimeError(f"could not create topic {name}: error code {code} {topic_error[2:]}")
    finally:
        await admin.close()


async def topic_partitions(kafka: KafkaConnection, topics: list[str]) -> list[TopicPartition]:
    """Every partition of the given topics that exist (a topic that does not exist yet has none)."""
    admin = AIOKafkaAdminClient(**kafka.client_options())
    await admin.start()
    try:
        described = await admin.describe_topics(topics)
    finally:
        await admin.close()
    return sorted(
        TopicPartition(t["topic"], p["partition"])
        for t in described if t["error_code"] == 0
        for p in t["partitions"]
    )
