"""Start-up and shutdown pieces every service's ``main`` wires together."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import structlog
import uvicorn
from fastapi import FastAPI

from shared.db import connect, create_pool
from shared.logs import configure_logging
from shared.migrations import KERNEL_MIGRATIONS, migrate
from shared.settings import KafkaSettings, ServiceSettings, load_settings

log = structlog.get_logger(__name__)


async def prepare_database(
    dsn: str, *, service: str, migrations: Path | None, min_size: int = 2, max_size: int = 20
) -> asyncpg.Pool:
    """Apply the kernel's and the service's migrations, then open the pool."""
    sources = [("kernel", KERNEL_MIGRATIONS)]
    if migrations is not None:
        sources.append((service, migrations))
    conn = await connect(dsn)
    try:
        applied = await migrate(conn, sources)
    finally:
        await conn.close()
    if applied:
        log.info("database.migrated", applied=applied)
    return await create_pool(dsn, min_size=min_size, max_size=max_size)


class Supervisor:
    """Runs long-lived background coroutines (relay, timers) and cancels them at shutdown. A task that dies
    with an unexpected error is logged loudly; readiness reports it."""

    def __init__(self) -> None:
        self._tasks: dict[str, asyncio.Task[Any]] = {}

    def start(self, name: str, coroutine: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.create_task(coroutine, name=name)
        task.add_done_callback(self._on_done)
        self._tasks[name] = task

    def _on_done(self, task: asyncio.Task[Any]) -> None:
        if not task.cancelled() and task.exception() is not None:
            log.error("background_task.crashed", task=task.get_name(), error=repr(task.exception()))

    def healthy(self) -> dict[str, bool]:
        return {name: not task.done() for name, task in self._tasks.items()}

    async def stop(self) -> None:
        for task in self._tasks.values():
            task.cancel()
        for task in self._tasks.values():
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


async def database_ready(pool: asyncpg.Pool) -> bool:
    try:
        return bool(await pool.fetchval("SELECT true", timeout=2))
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError):
        return False


SettingsT = TypeVar("SettingsT", bound=ServiceSettings)


def run_service(
    service: str, settings_class: type[SettingsT], create_app: Callable[[SettingsT, KafkaSettings], FastAPI]
) -> None:
    """A service's ``main``: settings from the environment (failing fast, naming what is missing), logging,
    then the HTTP server until SIGINT/SIGTERM."""
    settings = load_settings(settings_class)
    kafka = load_settings(KafkaSettings)
    configure_logging(service, settings.log_level, settings.log_json)
    serve(create_app(settings, kafka), host=settings.http_host, port=settings.http_port)


def serve(app: FastAPI, *, host: str, port: int) -> None:
    """Run the ASGI app with uvicorn until SIGINT/SIGTERM (graceful: lifespan shutdown runs)."""
    # proxy_headers off: nothing reads client addresses, and the middleware runs on every request.
    uvicorn.run(app, host=host, port=port, loop="uvloop", http="httptools", access_log=False, log_config=None,
                proxy_headers=False, server_header=False, timeout_graceful_shutdown=10)
