#!/usr/bin/env python3
"""The image's HEALTHCHECK: GET /health/ready of the service this container runs; exit 0 when it answers 200.

One image runs any of the five services, so the service is read from PID 1's command line
(``python -m services.<name>``), and its port from ``<NAME>_HTTP_PORT`` as the service itself reads it. Standard
library only: it runs every few seconds and must start fast.
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request
from pathlib import Path

# The services' own defaults (their settings classes); used only when <NAME>_HTTP_PORT is not set.
DEFAULT_PORTS = {"leads": 8001, "orders": 8002, "aftersales": 8003, "reporting": 8004, "webhooks": 8005}


def service_of(cmdline: list[str]) -> str | None:
    for arg in cmdline:
        if arg.startswith("services."):
            name = arg.removeprefix("services.")
            if name in DEFAULT_PORTS:
                return name
    return None


def main() -> int:
    cmdline = Path("/proc/1/cmdline").read_bytes().decode(errors="replace").split("\0")
    service = service_of(cmdline)
    if service is None:
        print(f"healthcheck: PID 1 runs no salesflow service: {' '.join(cmdline).strip()}", file=sys.stderr)
        return 1
    prefix = service.upper()
    host = os.environ.get(f"{prefix}_HTTP_HOST", "127.0.0.1")
    if host in ("", "0.0.0.0", "::"):
        host = "127.0.0.1"
    port = int(os.environ.get(f"{prefix}_HTTP_PORT", DEFAULT_PORTS[service]))
    url = f"http://{host}:{port}/health/ready"
    try:
        with urllib.request.urlopen(url, timeout=4) as response:
            return 0 if response.status == 200 else 1
    except (urllib.error.URLError, OSError) as exc:
        print(f"healthcheck: {url}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
