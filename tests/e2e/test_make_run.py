"""`make run` (deploy/native/run_services.py): Ctrl-C stops every service and exits 0 with a clean message."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import tempfile
from pathlib import Path

import pytest

from tests.conftest import CreateDatabase
from tests.support.auth import auth_env
from tests.support.infra import REPO, Infra
from tests.support.processes import free_port, inherited_env
from tests.support.waiting import eventually

pytestmark = pytest.mark.e2e

SERVICES = ("leads", "orders", "aftersales", "reporting", "webhooks")


async def test_ctrl_c_stops_every_service_and_exits_0(
    infra: Infra, create_database: CreateDatabase, unique: str
) -> None:
    # As the admin principal: the services' own have ACLs for the default topic prefix only.
    env = {**inherited_env(), **auth_env(), **infra.kafka_env(), "SALESFLOW_TOPIC_PREFIX": unique}
    ports = {}
    for name in SERVICES:
        ports[name] = free_port()
        env[f"{name.upper()}_DATABASE_URL"] = await create_database(name)
        env[f"{name.upper()}_HTTP_PORT"] = str(ports[name])
    fd, name = tempfile.mkstemp(prefix="salesflow-make-run-", suffix=".log")
    out = Path(name)
    # Its own process group, like a terminal's foreground job: Ctrl-C is SIGINT to the whole group.
    runner = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "deploy.native.run_services", cwd=REPO, env=env, stdout=fd, stderr=fd,
        start_new_session=True)
    os.close(fd)
    try:
        await eventually(lambda: asyncio.to_thread(out.read_text), until=lambda text: "salesflow is running" in text
                         or runner.returncode is not None, timeout=120, interval=0.5, what="make run to be ready")
        assert runner.returncode is None, await asyncio.to_thread(out.read_text)
        os.killpg(runner.pid, signal.SIGINT)
        code = await asyncio.wait_for(runner.wait(), 60)
    finally:
        if runner.returncode is None:
            os.killpg(runner.pid, signal.SIGKILL)
            await runner.wait()
    text = await asyncio.to_thread(out.read_text)
    assert code == 0, text
    assert "salesflow stopped" in text
    assert "Traceback" not in text
    assert "stopped unexpectedly" not in text
    assert "exited with an error" not in text
