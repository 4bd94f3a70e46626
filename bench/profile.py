"""Sampling profiles of running services with py-spy, summarised as text for the results file.

py-spy's "raw" output is one line per distinct stack ("frame;frame;...;leaf count"). The summary lists the
frames with the most samples at the top of the stack (self time) and anywhere on it (inclusive time).
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
        "--format", "raw", "--output", str(out), "--nonblocking",
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )
    return await process.wait() == 0 and os.path.exists(out)  # noqa: ASYNC240


def _frame_name(frame: str) -> str:
    # "function (path/to/module.py:123)" -> "function (module.py)"
    name, _, where = frame.partition(" (")
    return f"{name} ({Path(where.split(':')[0]).name})" if where else name


def summarise(raw: Path, top: int = 15) -> dict[str, Any]:
    self_time: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [_frame_name(f) for f in stack.split(";") if f]
        total += count
        if frames:
            self_time[frames[-1]] += count
        for frame in set(frames):
            inclusive[frame] += count

    def table(counter: Counter[str]) -> list[dict[str, Any]]:
        return [{"frame": f, "share": round(n / total, 3)} for f, n in counter.most_common(top)] if total else []

    return {"samples": total, "self": table(self_time), "inclusive": table(inclusive)}
