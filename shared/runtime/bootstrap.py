"""Start-up and shutdown pieces every service's ``main`` wires together."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import shutil
import signal
import socket
import sys
import tempfile
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
from shared.observability.metrics import MULTIPROC_ENV, enable_multiprocess, mark_worker_dead
from shared.observability.tracing import configure_tracing
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
    then the HTTP server (``workers`` processes of it) until SIGINT/SIGTERM."""
    settings = load_settings(settings_class)
    kafka = load_settings(KafkaSettings).for_service(settings)  # the service's own principal, where it has one
    configure_logging(service, settings.log_level, settings.log_json)

    def make_app() -> FastAPI:
        # In the worker, after the fork: the exporter's background thread must not exist before it.
        if configure_tracing(service):
            log.info("tracing.exporting", endpoint=os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
                     or os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"))
        return create_app(settings, kafka)

    serve(make_app, host=settings.http_host, port=settings.http_port, workers=settings.workers)


def serve(make_app: Callable[[], FastAPI], *, host: str, port: int, workers: int = 1) -> None:
    """Serve the app until SIGINT/SIGTERM, in this process or in ``workers`` forked processes.

    One Python process uses one core, so a service that should use more runs several workers. Each worker is a
    whole service instance; the design already lets instances share a database and a consumer group (one relay
    holds the advisory lock and the others stand by, timers are taken with SKIP LOCKED, consumers split the
    partitions), so workers need no coordination of their own. They share one listening socket, bound here before
    forking, so a port conflict fails once, up front; the kernel hands each connection to one of them.
    """
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    if workers == 1:
        # uvicorn re-raises the signal that stopped it once it has shut down gracefully; with Python's default
        # SIGINT handler that is a KeyboardInterrupt traceback on every Ctrl-C. This handler (also in force
        # before uvicorn starts) makes it a clean exit 0.
        signal.signal(signal.SIGINT, _exit_cleanly)
        signal.signal(signal.SIGTERM, _exit_cleanly)
        _serve_socket(make_app(), sock)
        return
    # Metrics from every worker in one scrape: prometheus-client's multiprocess mode, in a directory of this
    # service's own (PROMETHEUS_MULTIPROC_DIR if set, emptied now; else a fresh temporary one, removed at exit).
    given = os.environ.get(MULTIPROC_ENV)
    metrics_dir = Path(given or tempfile.mkdtemp(prefix="salesflow-metrics-"))
    enable_multiprocess(metrics_dir)
    children: list[int] = []
    parent = os.getpid()
    for _ in range(workers):
        pid = os.fork()  # before any event loop or thread exists in this process
        if pid == 0:
            _die_with_parent(parent)
            # uvicorn re-raises the signal that stopped it, for the handler it replaced, once it has shut down
            # gracefully; in a worker that handler only has to let it exit 0 (the default would kill it by signal).
            signal.signal(signal.SIGTERM, lambda *_: None)
            signal.signal(signal.SIGINT, lambda *_: None)
            code = 1
            try:
                _serve_socket(make_app(), sock)
                code = 0
            finally:
                os._exit(code)
        children.append(pid)
    sock.close()
    code = _supervise(children)
    if not given:
        shutil.rmtree(metrics_dir, ignore_errors=True)
    sys.exit(code)


def _exit_cleanly(*_: object) -> None:
    sys.exit(0)


PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def _die_with_parent(parent: int) -> None:
    """Ask the kernel to send this worker SIGTERM (a graceful uvicorn shutdown) when its parent dies. Without it a
    parent killed with SIGKILL leaves its workers serving on the port: the orchestrator restarting the service finds
    the port taken (the fault suite found this, `make faults`). Linux only; elsewhere the orchestrator's
    process-group kill is the safeguard."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) != 0:
            log.warning("worker.pdeathsig_unavailable", errno=ctypes.get_errno())
    if os.getppid() != parent:  # the parent died before the request took effect
        os._exit(1)


def _serve_socket(app: FastAPI, sock: socket.socket) -> None:
    # proxy_headers off: nothing reads client addresses, and the middleware runs on every request.
    config = uvicorn.Config(app, loop="uvloop", http="httptools", access_log=False, log_config=None,
                            proxy_headers=False, server_header=False, timeout_graceful_shutdown=10)
    uvicorn.Server(config).run(sockets=[sock])


def _supervise(children: list[int]) -> int:
    """Wait for the workers. SIGTERM/SIGINT are passed on (each worker shuts down gracefully); a worker that exits
    on its own takes the others down too, so the orchestrator sees one failed service rather than a half-dead one
    that still answers on the port."""
    stopping = False

    def stop(signum: int = signal.SIGTERM, _: object = None) -> None:
        nonlocal stopping
        stopping = True
        for pid in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    exit_code = 0
    running = set(children)
    while running:
        pid, status = os.wait()
        running.discard(pid)
        mark_worker_dead(pid)
        code = os.waitstatus_to_exitcode(status)
        if code != 0 and exit_code == 0:
            exit_code = code if code > 0 else 1
        if running and not stopping:
            log.error("worker.exited", pid=pid, exit_code=code, remaining=len(running))
            stop()
    return exit_code
