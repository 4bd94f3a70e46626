"""All the services as real processes, each with a fresh database of its own and one topic prefix, for tests
that look at the whole HTTP surface (the route walk, the access-rule table)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager

import asyncpg

from tests.support.infra import RUN_ID, Infra
from tests.support.processes import ServiceProcess, start_service, stop_service

SERVICES = ("leads", "orders", "aftersales", "reporting", "webhooks")


@asynccontextmanager
async def all_services(infra: Infra, name: str, extra_env: Mapping[str, str] | None = None
                       ) -> AsyncIterator[dict[str, ServiceProcess]]:
    env = {**infra.kafka_env(), "SALESFLOW_TOPIC_PREFIX": f"t{RUN_ID}{name}",
           **(extra_env or {})}
    databases = [f"t{RUN_ID}_{name}_{service}" for service in SERVICES]
    admin = await asyncpg.connect(infra.pg_admin_dsn)
    started: dict[str, ServiceProcess] = {}
    try:
        for service, database in zip(SERVICES, databases, strict=True):
            await admin.execute(f'CREATE DATABASE "{database}"')
            env[f"{service.upper()}_DATABASE_URL"] = infra.dsn_for(database)
        for service in SERVICES:
            started[service] = await start_service(service, env)
        yield started
    finally:
        for process in started.values():
            await stop_service(process)
        for database in databases:
            await admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        await admin.close()
