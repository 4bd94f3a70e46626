"""Sampling profiles of running services with py-spy, summarised as text for the results file.

py-spy's "raw" output is one line per distinct stack ("frame;frame;...;leaf count"). py-spy counts a thread as
busy while it sits in a system call such as the socket ``write`` that wakes PostgreSQL, and on a loaded machine the
process is often descheduled right there: those samples are waiting, not computing. So the stacks are recorded with
native frames, samples whose innermost frame is a blocking system call are set aside (their share is reported as
``in_syscalls``), and the rest, the on-CPU samples, are summarised by Python frame: the frames with the most samples
innermost (self time, native work counted to the Python frame that called it) and anywhere on the stack
(inclusive time).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
from collections import Counter
from pathlib import Path
from typing import Any


async def record(pid: int, seconds: float, out: Path) -> bool:
    """Sample ``pid`` for ``seconds`` into ``out`` (raw collapsed stacks). False if py-spy is unavailable."""
    # Installed into the same virtualenv as the interpreter running the benchmark.
    py_spy = os.path.join(os.path.dirname(sys.executable), "py-spy")
    if not os.path.exists(py_spy):  # noqa: ASYNC240  (one stat before a subprocess)
        py_spy = shutil.which("py-spy") or ""
        if not py_spy:
            return False
    process = await asyncio.create_subprocess_exec(
        py_spy, "record", "--pid", str(pid), "--duration", str(int(seconds)), "--rate", "200",
        "--format", "raw", "--output", str(out), "--native",
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )
    return await process.wait() == 0 and os.path.exists(out)  # noqa: ASYNC240


def _frame_name(frame: str) -> str:
    # "function (path/to/module.py:123)" -> "function (module.py)"
    name, _, where = frame.partition(" (")
    return f"{name} ({Path(where.split(':')[0]).name})" if where else name


# Innermost native frames that mean "blocked in (or descheduled inside) a system call".
_SYSCALLS = ("write (", "read (", "epoll_wait (", "epoll_pwait (", "sendto (", "recvfrom (", "sendmsg (", "recvmsg (",
             "poll (", "select (", "futex (", "nanosleep (", "clock_nanosleep (")


def _is_python(frame: str) -> bool:
    return ".py:" in frame or "(<frozen" in frame or "(<string>" in frame


def summarise(raw: Path, top: int = 15) -> dict[str, Any]:
    self_time: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = in_syscalls = 0
    for line in raw.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        raw_frames = [f for f in stack.split(";") if f]
        total += count
        if raw_frames and raw_frames[-1].startswith(_SYSCALLS):
            in_syscalls += count
            continue
        frames = [_frame_name(f) for f in raw_frames if _is_python(f)]
        if frames:
            self_time[frames[-1]] += count
        for frame in set(frames):
            inclusive[frame] += count
    on_cpu = total - in_syscalls

    def table(counter: Counter[str]) -> list[dict[str, Any]]:
        return [{"frame": f, "share": round(n / on_cpu, 3)} for f, n in counter.most_common(top)] if on_cpu else []

    return {"samples": total, "on_cpu_samples": on_cpu, "in_syscalls": round(in_syscalls / total, 3) if total else None,
            "self": table(self_time), "inclusive": table(inclusive)}
