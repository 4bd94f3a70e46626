"""Running salesflow's image as containers (podman, host network) for tests/image. The podman flags this sandbox
needs are in deploy/image/podman.sh."""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import httpx

from tests.support.auth import auth_env
from tests.support.infra import REPO
from tests.support.waiting import eventually

PODMAN = ["bash", str(REPO / "deploy" / "image" / "podman.sh")]


def podman(*args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([*PODMAN, *args], capture_output=True, text=True, timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(f"podman {' '.join(args)} exited {result.returncode}:\n{result.stdout}{result.stderr}")
    return result


def run_once(
    image: str, command: Sequence[str], env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``podman run --rm`` a one-off command (read-only root, host network); returns the finished process."""
    env_args = [arg for key, value in (env or {}).items() for arg in ("-e", f"{key}={value}")]
    return podman("run", "--rm", "--read-only", "--network", "host", *env_args, image, *command, check=False)


@dataclass
class ServiceContainer:
    service: str
    name: str
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def logs(self) -> str:
        result = podman("logs", "--tail", "60", self.name, check=False)
        return (result.stdout + result.stderr)[-6000:]

    def running(self) -> bool:
        state = podman("inspect", "--format", "{{.State.Running}}", self.name, check=False)
        return state.stdout.strip() == "true"


async def start_service_container(
    image: str, service: str, port: int, env: Mapping[str, str], *, timeout: float = 90.0
) -> ServiceContainer:
    """Start ``python -m services.<service>`` from the image as Kubernetes would run it (the image's non-root user,
    read-only root filesystem, /tmp a tmpfs) on the host network, trusting the test issuer (tests/support/auth.py,
    on loopback, so reachable from the host network), and wait until /health/ready answers 200."""
    prefix = service.upper()
    container = ServiceContainer(service, f"salesflow-test-{service}-{uuid.uuid4().hex[:8]}", port)
    settings = {**auth_env(), **env, f"{prefix}_HTTP_HOST": "127.0.0.1", f"{prefix}_HTTP_PORT": str(port),
                f"{prefix}_LOG_JSON": "true"}
    env_args = [arg for key, value in settings.items() for arg in ("-e", f"{key}={value}")]
    podman("run", "--detach", "--name", container.name, "--network", "host", "--read-only", "--tmpfs", "/tmp",
           *env_args, image, "python", "-m", f"services.{service}")

    async with httpx.AsyncClient(timeout=3) as client:
        async def ready() -> int:
            if not container.running():
                raise AssertionError(f"{service} container exited:\n{container.logs()}")
            try:
                return (await client.get(f"{container.url}/health/ready")).status_code
            except httpx.TransportError:
                return 0

        try:
            await eventually(ready, until=lambda status: status == 200, timeout=timeout, interval=0.5,
                             what=f"{service} container ready")
        except AssertionError as exc:
            logs = container.logs()
            stop_container(container)
            raise AssertionError(f"{exc}\n{logs}") from None
    return container


def stop_container(container: ServiceContainer) -> None:
    podman("stop", "--time", "15", container.name, check=False)
    podman("rm", "--force", container.name, check=False)
