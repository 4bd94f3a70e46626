"""``python -m shared.runtime.migrate`` (the Kubernetes migration Job's command) against a real database."""

from __future__ import annotations

import asyncio
import sys

import asyncpg
import pytest

from services.leads.main import MIGRATIONS as LEADS_MIGRATIONS
from shared.runtime.migrate import main
from tests.conftest import CreateDatabase
from tests.support.infra import REPO

pytestmark = pytest.mark.integration


async def run_command(*args: str, env: dict[str, str]) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "shared.runtime.migrate", *args, cwd=REPO, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await process.communicate()
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_it_applies_the_kernel_and_service_migrations_once(create_database: CreateDatabase) -> None:
    dsn = await create_database("migrate_cmd")
    env = {"LEADS_DATABASE_URL": dsn, "PATH": "/usr/bin:/bin"}
    code, out, err = await run_command("leads", str(LEADS_MIGRATIONS), env=env)
    assert code == 0, err
    assert out.startswith("migrate: leads: applied kernel/0001_"), out
    conn = await asyncpg.connect(dsn)
    try:
        namespaces = {r["namespace"] for r in await conn.fetch("SELECT namespace FROM schema_migrations")}
    finally:
        await conn.close()
    assert namespaces == {"kernel", "leads"}

    code, out, err = await run_command("leads", str(LEADS_MIGRATIONS), env=env)
    assert (code, out.strip()) == (0, "migrate: leads: up to date"), err


def test_a_missing_database_url_names_the_variable(monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("ORDERS_DATABASE_URL", raising=False)
    assert main(["orders", str(LEADS_MIGRATIONS)]) == 2
    assert "ORDERS_DATABASE_URL is not set" in capsys.readouterr().err


def test_a_folder_that_does_not_exist_is_refused(monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("ORDERS_DATABASE_URL", "postgresql://nobody@127.0.0.1:1/none")
    assert main(["orders", "/nonexistent/migrations"]) == 2
    assert "folder: /nonexistent/migrations is not a directory" in capsys.readouterr().err
