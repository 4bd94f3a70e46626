"""No answer precedes its commit, proven with a crash: a worker process whose group commit pauses between
executing its commands and committing them (``SALESFLOW_TEST_PAUSE_BEFORE_COMMIT``) is killed with SIGKILL there;
nothing was acknowledged and nothing is stored. Without the pause, everything acknowledged is stored."""

from __future__ import annotations

import asyncio
import os
import pathlib
import signal
import subprocess
import sys
import time

import asyncpg
import pytest

pytestmark = pytest.mark.integration

ROOT = pathlib.Path(__file__).resolve().parents[2]


def start_worker(dsn: str, prefix: str, n: int, pause_marker: pathlib.Path | None) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if k != "SALESFLOW_TEST_PAUSE_BEFORE_COMMIT"}
    if pause_marker is not None:
        env["SALESFLOW_TEST_PAUSE_BEFORE_COMMIT"] = str(pause_marker)
    return subprocess.Popen([sys.executable, "-m", "tests.support.group_commit_worker", dsn, prefix, str(n)],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


async def stored_counters(pool: asyncpg.Pool, prefix: str) -> set[str]:
    rows = await pool.fetch("SELECT stream_id FROM events WHERE stream_id LIKE $1", f"counter-{prefix}-%")
    return {r["stream_id"].removeprefix("counter-") for r in rows}


async def test_killed_between_execute_and_commit_nothing_was_acknowledged_or_stored(
    pool: asyncpg.Pool, kernel_db: str, tmp_path: pathlib.Path
) -> None:
    marker = tmp_path / "paused-before-commit"
    worker = start_worker(kernel_db, "killed", 20, marker)
    try:
        deadline = time.monotonic() + 60
        while not marker.exists():
            assert worker.poll() is None, worker.stderr.read() if worker.stderr else ""
            assert time.monotonic() < deadline, "the worker never reached its commit"
            await asyncio.sleep(0.05)
        # Executed, not committed: the rows exist only inside the paused transaction.
        in_flight = await pool.fetchval("SELECT count(*) FROM pg_stat_activity WHERE state = 'idle in transaction'"
                                        " AND datname = current_database()")
        assert in_flight >= 1
    finally:
        worker.send_signal(signal.SIGKILL)
        out, _ = worker.communicate(timeout=30)
    assert worker.returncode == -signal.SIGKILL
    assert [line for line in out.splitlines() if line.startswith("ack ")] == []
    assert await stored_counters(pool, "killed") == set()


async def test_everything_acknowledged_is_stored(pool: asyncpg.Pool, kernel_db: str) -> None:
    worker = start_worker(kernel_db, "done", 20, None)
    out, err = worker.communicate(timeout=60)
    assert worker.returncode == 0, err
    acknowledged = {line.removeprefix("ack ") for line in out.splitlines() if line.startswith("ack ")}
    assert acknowledged == {f"done-{i}" for i in range(20)}
    assert await stored_counters(pool, "done") == acknowledged
