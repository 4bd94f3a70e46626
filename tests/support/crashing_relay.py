"""A relay process that dies (``os._exit``) right after the broker acknowledged its first batch and before it
moved the checkpoint: the crash window the relay must survive. Used by tests/integration/test_relay.py.
Kafka comes from the environment contract (KAFKA_BOOTSTRAP_SERVERS, KAFKA_SASL_* ...)."""

from __future__ import annotations

import argparse
import asyncio
import os

from shared.eventstore import RecordedEvent
from tests.support.infra import KAFKA_ENV, kafka_from
from tests.support.relaying import started_relay

CRASH_EXIT_CODE = 86


async def crash(events: list[RecordedEvent]) -> None:
    print(f"published {len(events)} events, crashing before the checkpoint", flush=True)
    os._exit(CRASH_EXIT_CODE)


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dsn", required=True)
    parser.add_argument("--topic", required=True)
    args = parser.parse_args()
    kafka = kafka_from({k: os.environ[k] for k in KAFKA_ENV if k in os.environ})
    relay = await started_relay(args.dsn, kafka, args.topic, after_publish=crash)
    await relay.run()


if __name__ == "__main__":
    asyncio.run(main())
