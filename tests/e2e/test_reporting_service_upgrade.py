"""An operator upgrading reporting onto a populated read model without `salesflow rebuild` is told so by the
running service (readiness, `as_of` answers), and the rebuild clears it (adapters/upgrade.py)."""

from __future__ import annotations

import asyncio
import shutil
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import httpx
import pytest

from services.reporting.wiring import MIGRATIONS
from tests.support.auth import auth_headers
from tests.support.infra import REPO, RUN_ID, Infra
from tests.support.processes import inherited_env, start_service, stop_service
from tests.support.reporting import drop_database, fresh_reporting_database

pytestmark = pytest.mark.e2e

AS_OF = datetime(2026, 3, 10, 14, 30, tzinfo=UTC)


@pytest.mark.timeout(300)
async def test_the_service_reports_an_unrebuilt_upgrade_and_refuses_as_of_until_the_rebuild(
    infra: Infra, tmp_path: Path,
) -> None:
    before = tmp_path / "migrations"  # the release before the hourly summaries (0009)
    before.mkdir()
    for path in MIGRATIONS.glob("000[1-8]_*.sql"):
        shutil.copy(path, before / path.name)
    dsn = await fresh_reporting_database(infra, "upgrade", before)
    conn = await asyncpg.connect(dsn)
    try:  # what that release had projected
        await conn.execute("INSERT INTO report_facts (event_id, event_type, lead_id, occurred_at, data) "
                           "VALUES ($1, 'LeadCreated', 'L1', $2, '{}')", uuid.uuid4(), AS_OF)
    finally:
        await conn.close()
    env = {**infra.kafka_env(), "SALESFLOW_TOPIC_PREFIX": f"t{RUN_ID}upg{uuid.uuid4().hex[:6]}",
           "REPORTING_DATABASE_URL": dsn}
    service = await start_service("reporting", env)  # the upgrade: it migrates 0009 onwards at start
    try:
        async with httpx.AsyncClient(base_url=service.url, timeout=30, headers=auth_headers("director")) as client:
            ready = (await client.get("/health/ready")).json()
            assert ready["checks"]["read_model"]["rebuild_needed"] is True, ready
            assert "0009_hourly_summaries" in ready["checks"]["read_model"]["reasons"][0]
            refused = await client.get("/v1/reports/funnel", params={"as_of": AS_OF.isoformat()})
            assert refused.status_code == 503, refused.text
            assert refused.json()["error"]["code"] == "rebuild_needed"
            assert "salesflow rebuild" in refused.json()["error"]["message"]
            assert (await client.get("/v1/reports/funnel")).status_code == 200  # "now" keeps answering

            process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "services.reporting", "rebuild", cwd=REPO, env={**inherited_env(), **env},
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
            _, err = await process.communicate()
            assert process.returncode == 0, err.decode()

            ready = (await client.get("/health/ready")).json()
            assert ready["checks"]["read_model"] == {"ok": True, "rebuild_needed": False, "reasons": []}, ready
            answered = await client.get("/v1/reports/funnel", params={"as_of": AS_OF.isoformat()})
            assert answered.status_code == 200, answered.text
    finally:
        await stop_service(service)
        await drop_database(infra, dsn)
