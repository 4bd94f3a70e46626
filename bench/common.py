"""Measurement helpers shared by the benchmarks: percentiles, CPU accounting per process, versions."""

from __future__ import annotations

import contextlib
import glob
import importlib.metadata
import os
import platform
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def percentile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100) of unsorted values; None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


def summary_ms(samples_s: Sequence[float]) -> dict[str, float | int | None]:
    """p50/p99/p99.9/max in milliseconds of samples given in seconds."""
    def ms(v: float | None) -> float | None:
        return None if v is None else round(v * 1000, 3)
    return {"count": len(samples_s), "p50_ms": ms(percentile(samples_s, 50)), "p99_ms": ms(percentile(samples_s, 99)),
            "p999_ms": ms(percentile(samples_s, 99.9)), "max_ms": ms(max(samples_s) if samples_s else None)}


def cpu_seconds(pid: int) -> float:
    """utime + stime of one process, in seconds (from /proc)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def is_local_postgres(pid: int) -> bool:
    """Whether ``pid`` (from pg_backend_pid()) is a PostgreSQL process on this machine, so /proc can meter it."""
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip() == "postgres"
    except OSError:
        return False


def pids_of(pattern: str) -> list[int]:
    """PIDs whose command line contains ``pattern`` (pgrep -f)."""
    out = subprocess.run(["pgrep", "-f", pattern], capture_output=True, text=True).stdout
    return [int(p) for p in out.split() if int(p) != os.getpid()]


Pids = list[int] | Callable[[], list[int]]


@dataclass
class CpuMeter:
    """CPU seconds used by named groups of processes between start() and stop(). A group given as a function is
    looked up again at stop(), so processes that started meanwhile (PostgreSQL backends of new connections) count
    with all their CPU; processes that ended meanwhile are lost (reported per group as ``<name>_ended``)."""

    groups: Mapping[str, Pids]
    _start: dict[int, float] = field(default_factory=dict)
    _started: dict[str, list[int]] = field(default_factory=dict)

    def _pids(self) -> dict[str, list[int]]:
        return {name: pids() if callable(pids) else list(pids) for name, pids in self.groups.items()}

    @staticmethod
    def _read(pids: dict[str, list[int]]) -> dict[int, float]:
        seconds = {}
        for group in pids.values():
            for pid in group:
                with contextlib.suppress(FileNotFoundError, ProcessLookupError):  # the process ended meanwhile
                    seconds[pid] = cpu_seconds(pid)
        return seconds

    def start(self) -> None:
        self._started = self._pids()
        self._start = self._read(self._started)

    def stop(self) -> dict[str, float]:
        pids = self._pids()
        end = self._read(pids)
        used: dict[str, float] = {}
        for name, group in pids.items():
            used[name] = round(sum(end[p] - self._start.get(p, 0.0) for p in group if p in end), 3)
            ended = [p for p in self._started.get(name, []) if p not in end]
            if ended:
                used[f"{name}_ended"] = len(ended)
        return used


def versions(extra: Iterable[str] = ()) -> dict[str, Any]:
    """Versions of everything that shapes the numbers."""
    def pkg(name: str) -> str | None:
        try:
            return importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            return None
    cpu_model = ""
    try:
        with open("/proc/cpuinfo") as f:
            cpu_model = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), "")
    except OSError:
        pass
    kafka_libs = os.path.expanduser("~/.cache/salesflow")
    kafka = sorted(d for d in os.listdir(kafka_libs) if d.startswith("kafka-")) if os.path.isdir(kafka_libs) else []
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu_model": cpu_model,
        "cores": os.cpu_count(),
        "kafka": kafka[-1].removeprefix("kafka-") if kafka else None,
        **{name: pkg(name) for name in ("aiokafka", "asyncpg", "faststream", "fastapi", "uvicorn", "uvloop",
                                         "pydantic", "orjson", "eventsourcing", "psycopg", *extra)},
    }


def disk_flush_latency_us(directory: str, writes: int = 200) -> dict[str, Any]:
    """p50/p99 of one 8 kB write + fdatasync in ``directory`` (PostgreSQL's data directory when we can write
    there): a command's answer waits for its WAL flush, so this floor differs between machines and explains
    latency differences between runs that the code does not (what pg_test_fsync measures, in-process)."""
    block = os.urandom(8192)
    samples: list[float] = []
    with tempfile.NamedTemporaryFile(dir=directory, prefix=".salesflow-flush-probe-") as f:
        for _ in range(writes):
            started = time.perf_counter()
            os.pwrite(f.fileno(), block, 0)
            os.fdatasync(f.fileno())
            samples.append(time.perf_counter() - started)
    us = [s * 1e6 for s in samples]
    return {"directory": directory, "writes": writes, "p50_us": percentile(us, 50), "p99_us": percentile(us, 99)}


def postgres_flush_directory() -> str:
    """The local PostgreSQL's data directory if it is readable here (root on the bench machine), else the cwd."""
    for candidate in sorted(glob.glob("/var/lib/postgresql/*/main"), reverse=True):
        if os.access(candidate, os.W_OK):
            return candidate
    return os.getcwd()


class Stopwatch:
    def __init__(self) -> None:
        self.started = time.perf_counter()

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self.started
