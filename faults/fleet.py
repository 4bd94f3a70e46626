"""The four services as real processes (``python -m services.<name>``, ``<NAME>_WORKERS`` forked workers each),
started, killed and restarted the way an orchestrator would: a service whose process exited is started again."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from faults.stack import REPO

SERVICES = ("leads", "orders", "aftersales", "reporting")


@dataclass
class Service:
    name: str
    port: int
    workers: int
    log_path: Path
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def worker_pids(self) -> list[int]:
        if self.process is None:
            return []
        out = subprocess.run(["pgrep", "-P", str(self.process.pid)], capture_output=True, text=True).stdout
        return [int(p) for p in out.split()]


def _children_of(pid: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def _port_free(port: int) -> bool:
    import socket

    with socket.socket() as s:
        # As the services bind (SO_REUSEADDR): connections of the killed process in TIME_WAIT do not count, only a
        # process still listening does.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


@dataclass
class Fleet:
    env: Mapping[str, str]
    ports: Mapping[str, int]
    workers: Mapping[str, int]
    log_dir: Path
    services: dict[str, Service] = field(default_factory=dict)
    # Workers left running after their parent died (pid -> service): an orchestrator that kills only the main
    # process would find the port still taken. Recorded as a finding, then cleaned up.
    orphans: list[dict[str, object]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        for name in SERVICES:
            self.services[name] = Service(name, self.ports[name], self.workers.get(name, 1),
                                          self.log_dir / f"{name}.log")

    def service_env(self, name: str) -> dict[str, str]:
        prefix = name.upper()
        return {**os.environ, **self.env, f"{prefix}_HTTP_PORT": str(self.ports[name]),
                f"{prefix}_WORKERS": str(self.workers.get(name, 1)), f"{prefix}_LOG_LEVEL": "WARNING",
                f"{prefix}_LOG_JSON": "true", "FAULTS_RUN_ID": self.env.get("FAULTS_RUN_ID", "faults")}

    def spawn(self, name: str) -> None:
        service = self.services[name]
        log = open(service.log_path, "ab")  # noqa: SIM115  (the child keeps it)
        log.write(f"\n===== faults: starting {name} at {time.strftime('%H:%M:%S')} =====\n".encode())
        log.flush()
        service.process = subprocess.Popen([sys.executable, "-m", f"services.{name}"], cwd=REPO, stdout=log,
                                           stderr=log, env=self.service_env(name))
        log.close()
        service.starts += 1

    async def ready(self, name: str, client: httpx.AsyncClient) -> bool:
        try:
            response = await client.get(f"{self.services[name].url}/health/ready", timeout=10)
        except httpx.HTTPError:
            return False
        return response.status_code == 200

    async def wait_ready(self, names: list[str] | None = None, *, timeout: float = 180,
                         exited_is_failure: bool = False) -> None:
        """Until every named service answers /health/ready. ``exited_is_failure``: without the orchestrator
        (at the first start) a service that exited will not come back, so say so at once, with its log."""
        names = names or list(SERVICES)
        deadline = time.monotonic() + timeout
        async with httpx.AsyncClient() as client:
            pending = set(names)
            while pending:
                for name in list(pending):
                    if await self.ready(name, client):
                        pending.discard(name)
                    elif exited_is_failure and (process := self.services[name].process) and process.poll() is not None:
                        raise RuntimeError(f"{name} exited {process.returncode} at start; the end of its log:\n"
                                           + self.log_tail(name))
                if not pending:
                    return
                if time.monotonic() > deadline:
                    raise RuntimeError(f"not ready after {timeout}s: {sorted(pending)} (logs in {self.log_dir})")
                await asyncio.sleep(0.25)

    async def start_all(self) -> None:
        for name in SERVICES:
            self.spawn(name)
        await self.wait_ready(exited_is_failure=True)

    def log_tail(self, name: str, *, chars: int = 3000) -> str:
        with contextlib.suppress(OSError):
            return self.services[name].log_path.read_bytes()[-chars:].decode(errors="replace")
        return ""

    async def supervise(self) -> None:
        """The orchestrator: restart any service whose main process has exited (a dead worker takes its parent
        down with it, by design — see shared/runtime/bootstrap.py)."""
        while True:
            for name, service in self.services.items():
                if service.process is not None and service.process.poll() is not None:
                    await self._restart(name)
            await asyncio.sleep(0.2)

    async def _restart(self, name: str) -> None:
        service = self.services[name]
        assert service.process is not None
        parent = service.process.pid
        # Wait for the port: the old workers (if the parent was killed) must let it go first.
        deadline = time.monotonic() + 30
        while not _port_free(service.port) and time.monotonic() < deadline:  # noqa: ASYNC110  (polls the OS)
            await asyncio.sleep(0.2)
        holders = [] if _port_free(service.port) else self._holders(service.port)
        if holders:
            self.orphans.append({"service": name, "parent": parent, "pids": holders, "at": time.time()})
            for pid in holders:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            while not _port_free(service.port):  # noqa: ASYNC110  (polls the OS)
                await asyncio.sleep(0.1)
        self.spawn(name)

    def _holders(self, port: int) -> list[int]:
        """Pids of this suite's service processes that still listen on ``port`` (never anybody else's)."""
        out = subprocess.run(["ss", "-Hltnp", f"sport = :{port}"], capture_output=True, text=True).stdout
        pids = {int(part.split("=")[1]) for part in out.replace(")", ",").split(",") if part.startswith("pid=")}
        ours = []
        for pid in pids:
            try:
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
                environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
            except OSError:
                continue
            if b"services." in b" ".join(cmdline) and any(e.startswith(b"FAULTS_RUN_ID=") for e in environ):
                ours.append(pid)
        return ours

    # ------------------------------------------------------------------------------------------------- faults

    def kill_service(self, name: str) -> list[int]:
        """kill -9 of every process of the service at once (what the OOM killer or a node loss does)."""
        service = self.services[name]
        assert service.process is not None
        pids = [*service.worker_pids(), service.process.pid]
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        return pids

    def kill_worker(self, name: str) -> list[int]:
        """kill -9 of one worker (the parent then stops the others and exits non-zero)."""
        workers = self.services[name].worker_pids()
        if not workers:
            return self.kill_service(name)
        os.kill(workers[-1], signal.SIGKILL)
        return [workers[-1]]

    def kill_parent(self, name: str) -> list[int]:
        """kill -9 of the multi-worker parent only."""
        service = self.services[name]
        assert service.process is not None
        os.kill(service.process.pid, signal.SIGKILL)
        return [service.process.pid]

    def stop_service(self, name: str) -> None:
        service = self.services[name]
        if service.process is None:
            return
        if service.process.poll() is None:
            service.process.terminate()
            try:
                service.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill_service(name)
                service.process.wait()
        service.process = None

    def stop_all(self) -> None:
        for name in SERVICES:
            self.stop_service(name)
