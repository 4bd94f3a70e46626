"""Running salesflow services as real processes for end-to-end tests."""

from __future__ import annotations

import asyncio
import os
import socket
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.support.auth import auth_env
from tests.support.infra import REPO


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class ServiceProcess:
    name: str
    port: int
    process: asyncio.subprocess.Process
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-5000:]


def inherited_env() -> dict[str, str]:
    """This process's environment without the services' own Kafka principals (``LEADS_KAFKA_SASL_USERNAME`` ...
    from ``stack.sh env``): their ACLs name the default topic prefix, not a test's, so a service a test starts
    signs in with the unprefixed ``KAFKA_SASL_*`` (the admin) unless the test passes a principal itself."""
    own_principal = ("_KAFKA_SASL_USERNAME", "_KAFKA_SASL_PASSWORD")
    return {k: v for k, v in os.environ.items() if not k.endswith(own_principal)}


def consumer_groups(topic_prefix: str) -> dict[str, str]:
    """This run's own consumer group ids (``<SERVICE>_CONSUMER_GROUP``). The broker is shared by every test run on
    the machine: services that kept the default group (``aftersales``...) joined one group across runs, so one
    run's start-up rebalanced another's consumers and its events waited out the rebalance (30-s waits failed)."""
    return {f"{service.upper()}_CONSUMER_GROUP": f"{topic_prefix}-{service}"
            for service in ("leads", "orders", "aftersales", "reporting", "webhooks")}


async def start_service(
    name: str, env: Mapping[str, str], *, timeout: float = 60.0, port: int | None = None
) -> ServiceProcess:
    """Start ``python -m services.<name>`` (on ``port``, else a free one) and wait until /health/ready answers 200
    (deadline ``timeout``). The service trusts this process's test issuer (tests/support/auth.py) unless ``env``
    names another; given a topic prefix, it joins that prefix's consumer group (``consumer_groups``) unless ``env``
    names one."""
    port = port or free_port()
    prefix = name.upper()
    if "SALESFLOW_TOPIC_PREFIX" in env:
        env = {**consumer_groups(env["SALESFLOW_TOPIC_PREFIX"]), **env}
    log_file = tempfile.NamedTemporaryFile(prefix=f"salesflow-{name}-", suffix=".log", delete=False)  # noqa: SIM115
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", f"services.{name}", cwd=REPO, stdout=log_file, stderr=log_file,
        env={**inherited_env(), **auth_env(), **env, f"{prefix}_HTTP_PORT": str(port), f"{prefix}_LOG_JSON": "true"},
    )
    service = ServiceProcess(name, port, process, Path(log_file.name))
    deadline = asyncio.get_running_loop().time() + timeout
    async with httpx.AsyncClient() as client:
        while True:
            if process.returncode is not None:
                raise AssertionError(f"{name} exited with {process.returncode}:\n{service.log()}")
            try:
                if (await client.get(f"{service.url}/health/ready", timeout=2)).status_code == 200:
                    return service
            except httpx.TransportError:
                pass
            if asyncio.get_running_loop().time() > deadline:
                await stop_service(service)
                raise AssertionError(f"{name} not ready after {timeout}s:\n{service.log()}")
            await asyncio.sleep(0.1)


async def stop_service(service: ServiceProcess) -> None:
    if service.process.returncode is None:
        service.process.terminate()
        try:
            await asyncio.wait_for(service.process.wait(), 15)
        except TimeoutError:
            service.process.kill()
            await service.process.wait()
