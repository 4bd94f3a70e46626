"""The production image (deploy/Dockerfile), built by ``make image`` and run here by ``make image-test``: its
metadata, that it holds the runtime lock and nothing else, the migration command the Kubernetes Job runs, and the
five services as containers against the real Kafka and PostgreSQL, a capture reaching reporting.

Not part of ``make test`` (building the image takes minutes): pyproject.toml keeps this folder out of the default
collection; ``make image-test`` names it."""

from __future__ import annotations

import json
import os
import re
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest

from tests.support.auth import auth_headers
from tests.support.containers import (
    ServiceContainer,
    podman,
    run_once,
    start_service_container,
    stop_container,
)
from tests.support.infra import REPO, RUN_ID, Infra
from tests.support.processes import free_port
from tests.support.waiting import eventually

SERVICES = ("leads", "orders", "aftersales", "reporting", "webhooks")
# Tools of the dev lock that must never reach the image (and pip itself: the image installs nothing at run time).
DEV_TOOLS = ("pytest", "mypy", "ruff", "py-spy", "hypothesis", "lint-imports", "testcontainers", "pip", "pip3", "uv")


@pytest.fixture(scope="module")
def image() -> str:
    name = os.environ.get("SALESFLOW_IMAGE")
    assert name, "SALESFLOW_IMAGE is not set: run `make image-test` (it builds the image and sets it)"
    assert podman("image", "exists", name, check=False).returncode == 0, f"image {name} is not built: make image"
    return name


def normalised(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def runtime_lock() -> dict[str, str]:
    pins = re.findall(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s\\]+)", (REPO / "requirements.lock").read_text(), re.M)
    return {normalised(name): version for name, version in pins}


def test_the_image_runs_as_a_numeric_non_root_user_and_has_a_healthcheck(image: str) -> None:
    inspected = json.loads(podman("image", "inspect", image).stdout)[0]
    assert inspected["Config"]["User"] == "10001:10001"
    # podman lists the HEALTHCHECK beside Config (docker inside it); present only in the docker image format.
    assert inspected["Healthcheck"]["Test"] == ["CMD", "python3", "/usr/local/bin/salesflow-healthcheck"]


def test_the_image_holds_exactly_the_runtime_lock_and_no_dev_tools(image: str) -> None:
    listed = run_once(image, ["python", "-c", "import importlib.metadata as m, json; "
                                             "print(json.dumps({d.metadata['Name']: d.version "
                                             "for d in m.distributions()}))"])
    assert listed.returncode == 0, listed.stderr
    installed = {normalised(name): version for name, version in json.loads(listed.stdout).items()}
    assert installed == runtime_lock()

    found = run_once(image, ["sh", "-c", " ; ".join(f"command -v {tool}" for tool in DEV_TOOLS) + " ; true"])
    assert found.stdout.strip() == "", f"dev tools inside the image: {found.stdout}"


async def create_database(infra: Infra, hint: str) -> str:
    name = f"t{RUN_ID}_img_{hint}_{uuid.uuid4().hex[:6]}"
    admin = await asyncpg.connect(infra.pg_admin_dsn)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    return name


async def drop_databases(infra: Infra, names: list[str]) -> None:
    admin = await asyncpg.connect(infra.pg_admin_dsn)
    try:
        for name in names:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


def service_port(index: int) -> int:
    # SALESFLOW_IMAGE_TEST_PORT_BASE pins the ports (a developer's own range on a shared machine); else free ones.
    base = os.environ.get("SALESFLOW_IMAGE_TEST_PORT_BASE")
    return int(base) + index if base else free_port()


@pytest.fixture(scope="module")
async def databases(infra: Infra) -> AsyncIterator[dict[str, str]]:
    names = {service: await create_database(infra, service) for service in SERVICES}
    yield {service: infra.dsn_for(name) for service, name in names.items()}
    await drop_databases(infra, list(names.values()))


async def test_the_migration_command_applies_a_services_migrations_once(image: str, infra: Infra) -> None:
    name = await create_database(infra, "migrate")
    try:
        env = {"LEADS_DATABASE_URL": infra.dsn_for(name)}
        command = ["python", "-m", "shared.runtime.migrate", "leads", "services/leads/migrations"]
        first = run_once(image, command, env)
        assert first.returncode == 0, first.stderr
        assert first.stdout.startswith("migrate: leads: applied kernel/0001_"), first.stdout
        assert "leads/0001_" in first.stdout
        again = run_once(image, command, env)
        assert (again.returncode, again.stdout.strip()) == (0, "migrate: leads: up to date"), again.stderr
    finally:
        await drop_databases(infra, [name])


@pytest.fixture(scope="module")
async def containers(
    image: str, infra: Infra, databases: dict[str, str]
) -> AsyncIterator[dict[str, ServiceContainer]]:
    env = {**infra.kafka_env(), "SALESFLOW_TOPIC_PREFIX": f"t{RUN_ID}image",
           **{f"{service.upper()}_DATABASE_URL": dsn for service, dsn in databases.items()},
           **{f"{service.upper()}_RELAY_POLL_INTERVAL": "0.5" for service in SERVICES}}
    started: dict[str, ServiceContainer] = {}
    try:
        for index, service in enumerate(SERVICES, start=1):
            started[service] = await start_service_container(image, service, service_port(index), env)
        yield started
    finally:
        for container in started.values():
            stop_container(container)


def test_each_services_container_reports_healthy_through_the_image_healthcheck(
    containers: dict[str, ServiceContainer],
) -> None:
    for container in containers.values():
        result = podman("healthcheck", "run", container.name, check=False)
        assert result.returncode == 0, f"{container.service}: {result.stdout}{result.stderr}\n{container.logs()}"


async def test_a_lead_captured_in_the_leads_container_reaches_the_reporting_container(
    containers: dict[str, ServiceContainer],
) -> None:
    leads, reporting = containers["leads"], containers["reporting"]
    async with httpx.AsyncClient(headers=auth_headers("director"), timeout=10) as client:
        created = await client.post(f"{leads.url}/v1/leads", json={
            "name": "周先生", "phone": "+86 139-0000-4242", "channel": "online_shop", "interest": "Model 3"})
        assert created.status_code == 201, created.text

        async def funnel() -> dict[str, Any]:
            response = await client.get(f"{reporting.url}/v1/funnel")
            response.raise_for_status()
            result: dict[str, Any] = response.json()
            return result

        report = await eventually(funnel, until=lambda f: f["total_leads"] == 1, timeout=60,
                                  what="the lead in reporting's funnel")
    assert report["by_channel"] == {"online_shop": 1}
