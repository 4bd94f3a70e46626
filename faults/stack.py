"""The suite's own PostgreSQL cluster and Kafka broker, brought up by the project's deploy/native/stack.sh with
other ports and another state directory — so the suite may kill them. The shared stack (5432/9092) is never touched:
every process this module signals is one whose pid it read from its own state directory or its own cluster."""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
STACK_SH = REPO / "deploy" / "native" / "stack.sh"
SHARED_KAFKA_LIBS = Path.home() / ".cache" / "salesflow"


@dataclass(frozen=True)
class StackConfig:
    state_dir: Path
    pg_port: int
    kafka_port: int
    kafka_controller_port: int
    pg_cluster: str  # Debian "<version>/<name>", e.g. 15/faults

    @property
    def pg_version(self) -> str:
        return self.pg_cluster.split("/", 1)[0]

    @property
    def pg_name(self) -> str:
        return self.pg_cluster.split("/", 1)[1]


def _kafka_lib_dir() -> str | None:
    """Reuse the jars the shared stack already resolved (no second Maven download); stack.sh resolves them into
    the private state dir otherwise."""
    found = sorted(SHARED_KAFKA_LIBS.glob("kafka-*/libs"))
    return str(found[-1]) if found else None


def _as_root(argv: list[str]) -> list[str]:
    return argv if os.geteuid() == 0 else ["sudo", "-n", *argv]


@dataclass
class PrivateStack:
    config: StackConfig
    env: dict[str, str] = field(default_factory=dict)

    def settings(self) -> dict[str, str]:
        """stack.sh's own settings, pointing at the private copy."""
        settings = {
            "SALESFLOW_STACK": "native",
            "SALESFLOW_STATE_DIR": str(self.config.state_dir),
            "SALESFLOW_PG_PORT": str(self.config.pg_port),
            "SALESFLOW_KAFKA_PORT": str(self.config.kafka_port),
            "SALESFLOW_KAFKA_CONTROLLER_PORT": str(self.config.kafka_controller_port),
            "SALESFLOW_PG_CLUSTER": self.config.pg_cluster,
            # The services trust the suite's own test issuer: no Keycloak here (and none started or reused on the
            # shared stack's 8180).
            "SALESFLOW_KEYCLOAK": "off",
            # Small heap: the broker shares two cores and memory with the shared stack and everybody's tests.
            "SALESFLOW_KAFKA_HEAP_OPTS": os.environ.get("FAULTS_KAFKA_HEAP_OPTS", "-Xms128m -Xmx512m"),
        }
        libs = _kafka_lib_dir()
        if libs and "SALESFLOW_KAFKA_LIB_DIR" not in os.environ:
            settings["SALESFLOW_KAFKA_LIB_DIR"] = libs
        return settings

    def _stack(self, *args: str, capture: bool = False) -> str:
        # The caller's own stack settings must not leak in (they would point at the shared stack).
        base = {k: v for k, v in os.environ.items() if not k.startswith("SALESFLOW_")}
        done = subprocess.run(["bash", str(STACK_SH), *args], env={**base, **self.settings()}, check=True,
                              capture_output=capture, text=True)
        return done.stdout if capture else ""

    # ---------------------------------------------------------------------------------------------- lifecycle

    def wipe(self) -> None:
        """Start from nothing: drop the private cluster and the private broker's data (never the shared ones)."""
        if self.config.pg_port == 5432 or self.config.kafka_port == 9092 or self.config.pg_name == "main":
            raise RuntimeError("refusing to wipe what looks like the shared stack (port 5432/9092 or cluster main)")
        self.kill_kafka()
        if Path(f"/etc/postgresql/{self.config.pg_version}/{self.config.pg_name}").exists():
            subprocess.run(_as_root(["pg_dropcluster", "--stop", self.config.pg_version, self.config.pg_name]),
                           check=True)
        # pg_dropcluster leaves files it did not create (stack.sh's conf.d/salesflow.conf), and a config folder
        # left behind makes stack.sh think the cluster exists.
        conf = f"/etc/postgresql/{self.config.pg_version}/{self.config.pg_name}"
        if Path(conf).exists():
            subprocess.run(_as_root(["rm", "-rf", conf]), check=True)
        shutil.rmtree(self.config.state_dir / "kafka", ignore_errors=True)

    def up(self) -> dict[str, str]:
        """`stack.sh up` (idempotent), then read the environment contract (`stack.sh env`: addresses, database URLs,
        credentials) exactly as `make` does."""
        self._stack("up")
        self.env = {}
        for line in self._stack("env", capture=True).splitlines():
            if line.startswith("export "):
                key, _, value = line[len("export "):].partition("=")
                self.env[key] = shlex.split(value)[0] if value else ""
        return self.env

    def down(self) -> None:
        """Stop the private broker and cluster (the state stays for inspection until the next run wipes it)."""
        self.kill_kafka(signal.SIGTERM)
        self.kill_kafka()  # still there after the wait for a graceful stop: nothing is left running
        if Path(f"/etc/postgresql/{self.config.pg_version}/{self.config.pg_name}").exists():
            subprocess.run(_as_root(["pg_ctlcluster", "--skip-systemctl-redirect", self.config.pg_version,
                                     self.config.pg_name, "stop", "-m", "fast"]), check=False)

    # ------------------------------------------------------------------------------------------------- faults

    def kafka_pid(self) -> int | None:
        # deploy/native/kafka.sh's names (KAFKA_PID_FILE, KAFKA_CONFIG) since the SASL/ACL switch.
        pid_file = self.config.state_dir / "kafka" / "broker.pid"
        try:
            pid = int(pid_file.read_text().strip())
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (OSError, ValueError):
            return None
        # The pid file is ours; the command line must name our broker.properties, or it is not our broker.
        ours = str(self.config.state_dir / "kafka" / "broker.properties")
        return pid if "kafka.Kafka" in cmdline and ours in cmdline else None

    def kill_kafka(self, sig: signal.Signals = signal.SIGKILL) -> bool:
        pid = self.kafka_pid()
        if pid is None:
            return False
        os.kill(pid, sig)
        deadline = time.monotonic() + 60
        while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        return True

    def restart_kafka(self) -> None:
        self._stack("up")

    def _pg_ctl(self, *action: str) -> None:
        subprocess.run(_as_root(["pg_ctlcluster", "--skip-systemctl-redirect", self.config.pg_version,
                                 self.config.pg_name, *action]), check=True, capture_output=True)

    def pg_restart_immediate(self) -> None:
        """Immediate mode: no checkpoint, every backend killed — a crash as far as the clients can tell."""
        self._pg_ctl("restart", "-m", "immediate")

    def pg_stop_immediate(self) -> None:
        self._pg_ctl("stop", "-m", "immediate")

    def pg_start(self) -> None:
        self._pg_ctl("start")
